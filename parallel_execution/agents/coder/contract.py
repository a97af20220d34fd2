"""Read a natural-language contract: node name, operation, entity, target and contract lines.

The contract is the only specification a scaffold has, so this module extracts what can be
derived deterministically and nothing more:

- **Contract lines** (:class:`Clause`): the contract split at line breaks, sentence ends,
  ``with ...``, ``by <verb>ing ...``, ``then``, and commas or colons followed by a known verb
  ("signup: create the account, send a welcome email"), so prose such as "auth.py:24" or
  "argument: 'salt'" stays one line. The first
  line is the node's main action; the rest are steps. Each keeps its verbatim text, so a scaffold's
  ``NotImplementedError`` can name exactly the line a human (or model) must implement.
- **Verb and entity**: "writes user data to PostgreSQL users table" -> verb ``write``, entity
  ``user``; "optimizes database queries" -> ``optimize`` / ``query``. The default node name is
  ``<entity>_<agent noun>`` (``user_writer``, ``query_optimizer``); for weak verbs ("implements
  Redis caching for API responses") it is ``<for-object>_<noun>`` (``api_cache``).
- **Target and store**: "users table" -> target ``users`` (else the entity's plural);
  "PostgreSQL" -> store. Effects pass these to their injected I/O client.

Everything here is pure string work: same contract, same result.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from parallel_execution.agents.coder.naming import snake_case

__all__ = ["Clause", "ContractReading", "IoKind", "pluralize", "read_contract", "safe_field_name", "singularize"]

IoKind = Literal["read", "write", "update", "delete", "send", "other"]
Phase = Literal["main", "pre", "post"]

_AGENT_NOUNS = {
    "write": "writer", "read": "reader", "update": "updater", "delete": "deleter", "create": "creator",
    "insert": "inserter", "fetch": "fetcher", "load": "loader", "save": "saver", "store": "storer",
    "send": "sender", "emit": "emitter", "publish": "publisher", "notify": "notifier",
    "validate": "validator", "compute": "computer", "calculate": "calculator", "aggregate": "aggregator",
    "optimize": "optimizer", "optimise": "optimiser", "transform": "transformer", "parse": "parser",
    "process": "processor", "sync": "syncer", "synchronize": "synchronizer", "coordinate": "coordinator",
    "orchestrate": "orchestrator", "reduce": "reducer", "track": "tracker", "count": "counter",
    "merge": "merger", "filter": "filter", "rank": "ranker", "score": "scorer", "route": "router",
    "schedule": "scheduler", "generate": "generator", "index": "indexer", "handle": "handler",
    "manage": "manager", "monitor": "monitor", "build": "builder", "convert": "converter",
    "export": "exporter", "import": "importer", "upload": "uploader", "download": "downloader",
    "analyze": "analyzer", "analyse": "analyser", "check": "checker", "collect": "collector",
    "dispatch": "dispatcher", "register": "registrar", "cache": "cache", "log": "logger",
    "archive": "archiver", "encrypt": "encryptor", "decrypt": "decryptor", "compress": "compressor",
    "format": "formatter", "normalize": "normalizer", "serialize": "serializer", "map": "mapper",
    "sort": "sorter", "deduplicate": "deduplicator", "enrich": "enricher", "poll": "poller",
    "consume": "consumer", "produce": "producer", "get": "getter", "list": "lister",
    "search": "searcher", "find": "finder", "apply": "applier", "summarize": "summarizer",
    "extract": "extractor", "classify": "classifier", "detect": "detector", "predict": "predictor",
    "match": "matcher", "resolve": "resolver", "accumulate": "accumulator", "combine": "combiner",
    "execute": "executor", "invoke": "invoker", "call": "caller", "authenticate": "authenticator",
    "authorize": "authorizer", "ingest": "ingester", "remove": "remover", "purge": "purger",
    "modify": "modifier", "set": "setter", "change": "changer", "patch": "patcher", "rewrite": "rewriter",
    "clean": "cleaner", "render": "renderer", "sum": "summer", "total": "totaler",
}
# More verbs, so that "reserve stock, then charge the card" reads as two contract lines.
_MORE_VERBS = frozenset({
    "reserve", "charge", "verify", "ship", "refund", "bill", "cancel", "confirm", "approve", "reject",
    "start", "stop", "lock", "unlock", "assign", "allocate", "release", "commit", "rollback", "persist",
    "return", "respond", "reply", "enqueue", "dequeue", "append", "increment", "decrement", "reset",
    "ignore", "skip", "drop", "keep", "add", "split", "join", "group", "partition", "batch", "alert",
    "email", "audit", "record", "trace", "measure", "sample", "limit", "throttle", "buffer", "flush",
    "evict", "expire", "invalidate", "refresh", "renew", "rotate", "sign", "hash", "encode", "decode",
    "copy", "move", "rename", "receive", "accept", "wrap", "broadcast", "subscribe", "listen", "wait",
    "retry", "notify", "deliver", "prepare", "finalize", "finalise", "open", "close", "read", "write",
})
_WEAK_VERBS = frozenset({"implement", "provide", "perform", "support", "do", "use", "offer", "contain"})
_IO_KINDS: dict[str, IoKind] = {
    **dict.fromkeys(("read", "fetch", "load", "get", "find", "search", "list", "download", "poll",
                     "consume"), "read"),
    **dict.fromkeys(("write", "create", "insert", "save", "store", "upload", "register", "ingest",
                     "archive", "log"), "write"),
    **dict.fromkeys(("update", "modify", "change", "set", "patch", "sync", "synchronize"), "update"),
    **dict.fromkeys(("delete", "remove", "purge"), "delete"),
    **dict.fromkeys(("send", "emit", "publish", "notify", "dispatch", "produce", "call", "invoke"), "send"),
}
_PREAMBLE = frozenset({"effect", "compute", "reducer", "orchestrator", "node", "onex", "a", "an", "the",
                       "that", "which", "to", "for", "who"})
_DETERMINERS = frozenset({"the", "a", "an", "all", "any", "each", "every", "new", "existing", "incoming",
                          "given", "its", "their", "some", "multiple", "several", "one", "single",
                          "current", "latest"})
_FILLER = frozenset({"data", "database", "db", "record", "records", "information", "info", "details",
                     "table", "tables", "row", "rows", "collection", "store"})
_TECH = {w.lower(): w for w in ("PostgreSQL", "Postgres", "MySQL", "SQLite", "MongoDB", "Mongo", "Redis",
                                "Kafka", "RabbitMQ", "S3", "DynamoDB", "Elasticsearch", "HTTP", "HTTPS",
                                "REST", "gRPC", "GraphQL", "SQL", "JSON", "CSV", "XML", "YAML",
                                "Memcached", "SQS", "SNS", "PubSub", "SMTP", "Cassandra")}
_PREPOSITIONS = frozenset({"to", "from", "in", "into", "for", "with", "by", "on", "onto", "at", "using",
                           "via", "and", "or", "then", "through", "over", "of", "as", "when", "if",
                           "while", "without", "across", "per", "within", "after", "before"})
_TARGET_NOUNS = ("table", "collection", "topic", "queue", "bucket", "index", "stream", "channel",
                 "endpoint", "cache", "bus", "store", "repository")
_GENERIC_NOUNS = frozenset({"field", "value", "attribute", "property", "column", "setting"})
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")
_PRE_KEYWORDS = ("valid", "verif", "check", "sanitiz", "sanitis", "normaliz", "auth", "permission",
                 "schema", "dedup", "lookup", "rate limit", "throttl")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_SENTENCE = re.compile(r"(?<=[.;!?])\s+")
_SPLIT = re.compile(
    r"(,?\s+(?=(?:with|while)\s)|,?\s+(?=by\s+\w+ing\b)|,?\s+(?:and\s+)?then\s+|,\s+(?:and\s+)?|:\s+)",
    re.IGNORECASE,
)
_MAX_NAME_WORDS = 4
# Names a payload field must not take: BaseModel attributes and the names generated code uses.
_RESERVED_FIELDS = frozenset({*dir(BaseModel), "self", "input_data", "state", "event", "result",
                              "results", "payload", "filters", "changes", "key", "event_type", "entries",
                              "version", "success", "operation", "target", "attempts", "completed_steps",
                              "timeout_seconds", "retry_policy", "any", "field"})


@dataclass(frozen=True, slots=True)
class Clause:
    """One contract line: verbatim text, its step name and when it runs relative to the I/O."""

    text: str
    step: str
    phase: Phase


@dataclass(frozen=True, slots=True)
class ContractReading:
    """What the contract determines."""

    contract: str
    node_name: str  # snake_case, derived unless given
    verb: str | None
    io_kind: IoKind
    entity: str
    payload_name: str  # the input field carrying the entity ("user"), "payload" when unclear
    attribute: str | None  # "updates order status" -> "status"
    listed_fields: tuple[str, ...]  # "updates fields (name, email) ..." -> ("name", "email"): named, untyped
    target: str
    store: str | None
    clauses: tuple[Clause, ...]
    concurrent: bool  # "in parallel", "concurrently": an orchestrator runs its steps together


def read_contract(contract: str, node_name: str | None = None) -> ContractReading:
    """Derive names and contract lines from ``contract``; ``node_name`` overrides the derived name."""
    clauses = _clauses(contract)
    first = clauses[0].text if clauses else contract
    listed = _listed_fields(first)
    words = _words(_PARENS.sub(" ", first))  # a parenthesised list names fields, not the entity
    verb_at, verb = _find_verb(words)
    entity, attribute, noun_phrase_end = _entity(words, verb_at)
    target = _target(contract)
    if entity in _GENERIC_NOUNS:  # "updates fields ... in the users store": the entity is the store's
        store_noun = next((w for w in words[noun_phrase_end:] if w not in _PREPOSITIONS and w not in _DETERMINERS
                           and w not in _TECH and w not in _GENERIC_NOUNS and w not in _FILLER), None)
        entity = singularize(target.lower()) if target else (singularize(store_noun) if store_noun else entity)
        attribute = None
    derived = _derive_name(words, verb_at, verb, entity, noun_phrase_end)
    name = snake_case(node_name) if node_name else derived
    lowered = contract.lower()
    return ContractReading(
        contract=contract,
        node_name=name or "generated",
        verb=verb,
        io_kind=_IO_KINDS.get(verb or "", "other"),
        entity=entity or "payload",
        payload_name=safe_field_name(entity) if entity and verb and entity not in _FILLER else "payload",
        attribute=attribute,
        listed_fields=listed,
        target=target or pluralize(entity or "item"),
        store=next((_TECH[w.lower()] for w in _WORD.findall(contract) if w.lower() in _TECH), None),
        clauses=clauses,
        concurrent=any(k in lowered for k in ("in parallel", "concurrent", "simultaneous")),
    )


def safe_field_name(word: str) -> str:
    """``word`` usable as a pydantic field: not a keyword, builtin-shadowing or BaseModel name."""
    name = snake_case(word) or "payload"
    if keyword.iskeyword(name) or name in _RESERVED_FIELDS or name.startswith("model_"):
        name = f"{name}_data"
    return name


def singularize(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith(("sses", "xes", "ches", "shes", "zes")):
        return word[:-2]
    if word.endswith("s") and not word.endswith(("ss", "us", "is")) and len(word) > 3:
        return word[:-1]
    return word


def pluralize(word: str) -> str:
    if word.endswith("y") and len(word) > 1 and word[-2] not in "aeiou":
        return word[:-1] + "ies"
    if word.endswith(("s", "x", "ch", "sh", "z")):
        return word + "es"
    return word + "s"


def _words(text: str) -> list[str]:
    words = [w.lower() for w in _WORD.findall(text)]
    start = 0
    while start < len(words) and start < 5 and words[start] in _PREAMBLE:
        start += 1
    return words[start:] if start < len(words) else words


def _verb_stem(word: str) -> str | None:
    """The base form of a verb in 3rd person or imperative ("queries" -> "query")."""
    candidates = [word]
    if word.endswith("ies"):
        candidates.append(word[:-3] + "y")
    if word.endswith("es"):
        candidates.append(word[:-2])
    if word.endswith("s"):
        candidates.append(word[:-1])
    return next((c for c in candidates if c in _AGENT_NOUNS or c in _MORE_VERBS or c in _WEAK_VERBS), None)


def _agent_noun(verb: str) -> str:
    """``write`` -> ``writer``; verbs outside the table: ``reserve`` -> ``reserver``, ``verify`` -> ``verifier``."""
    if verb in _AGENT_NOUNS:
        return _AGENT_NOUNS[verb]
    if verb.endswith("e"):
        return verb + "r"
    if verb.endswith("y") and verb[-2:-1] not in ("a", "e", "i", "o", "u"):
        return verb[:-1] + "ier"
    return verb + "er"


def _find_verb(words: list[str]) -> tuple[int | None, str | None]:
    for index, word in enumerate(words[:8]):
        stem = _verb_stem(word)
        # a bare base form only counts as the verb at the start ("log events"), not mid-phrase
        if stem is not None and (stem != word or index == 0):
            return index, stem
    return None, None


def _noun(word: str) -> str:
    if word.endswith("ing") and len(word) > 5:  # caching -> cache, logging -> log
        base = word[:-3]
        for candidate in (base + "e", base, base[:-1]):
            if candidate in _AGENT_NOUNS:
                return candidate
    return singularize(word)


def _entity(words: list[str], verb_at: int | None) -> tuple[str | None, str | None, int]:
    """First meaningful noun after the verb (else before it), a following attribute, phrase end."""
    start = 0 if verb_at is None else verb_at + 1
    phrase: list[str] = []
    end = start
    for end in range(start, len(words)):
        if words[end] in _PREPOSITIONS:
            break
        phrase.append(words[end])
    else:
        end = len(words)
    meaningful = [w for w in phrase if w not in _DETERMINERS and w not in _TECH]
    nouns = [w for w in meaningful if w not in _FILLER]
    if len(nouns) > 1 and nouns[0].endswith("ed"):  # "expired sessions": a participle, not the noun
        nouns = nouns[1:]
    if nouns:
        head = nouns[0]
        rest = nouns[1:]
        return _noun(head), (rest[0] if rest else None), end
    if meaningful:
        return _noun(meaningful[0]), None, end
    before = [w for w in words[:verb_at or 0] if w not in _DETERMINERS and w not in _TECH]
    return (_noun(before[-1]) if before else None), None, end


def _derive_name(words: list[str], verb_at: int | None, verb: str | None, entity: str | None,
                 phrase_end: int) -> str:
    if verb is not None and verb not in _WEAK_VERBS and entity:
        return snake_case(f"{entity} {_agent_noun(verb)}")
    if verb is not None and verb in _WEAK_VERBS and entity:
        rest = words[phrase_end:]
        if len(rest) > 1 and rest[0] == "for":
            beneficiary, _, _ = _entity(rest, 0)
            if beneficiary and beneficiary != entity:
                return snake_case(f"{beneficiary} {entity}")
        return snake_case(entity)
    meaningful = [w for w in words if w not in _DETERMINERS and w not in _PREPOSITIONS and w not in _TECH]
    return snake_case(" ".join(meaningful[:_MAX_NAME_WORDS]))


def _target(contract: str) -> str | None:
    nouns = "|".join(_TARGET_NOUNS)
    for match in re.finditer(rf"\b([A-Za-z_][A-Za-z0-9_.]*)\s+(?:{nouns})\b", contract):
        word = match.group(1)
        if word.lower() not in _DETERMINERS and word.lower() not in _FILLER and word.lower() not in _TECH \
                and word.lower() not in _PREPOSITIONS:
            return word
    return None


def _clauses(contract: str) -> tuple[Clause, ...]:
    texts: list[str] = []
    for raw_line in contract.splitlines():
        line = raw_line.strip().lstrip("-*•").strip()
        for sentence in _SENTENCE.split(line):
            texts.extend(_split_sentence(sentence))
    clauses: list[Clause] = []
    used: set[str] = set()
    for index, text in enumerate(texts):
        step = _step_name(text) or f"step_{index + 1}"
        while step in used:
            step = f"{step}_{index + 1}"
        used.add(step)
        lowered = text.lower()
        phase: Phase = "main" if index == 0 else (
            "pre" if any(k in lowered for k in _PRE_KEYWORDS) else "post")
        clauses.append(Clause(text=text, step=step, phase=phase))
    return tuple(clauses)


def _listed_fields(text: str) -> tuple[str, ...]:
    """Identifiers listed in the first parenthesis: ``(name, email, role)`` -> the fields it names."""
    for group in _PARENS.finditer(text):
        items = [i.strip() for i in re.split(r",|\band\b|\bor\b", group.group(0)[1:-1])]
        if len(items) > 1 and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", i) for i in items if i):
            return tuple(dict.fromkeys(safe_field_name(i) for i in items if i))
    return ()


def _split_sentence(sentence: str) -> list[str]:
    """Split at ``with``/``by <verb>ing``/``then``, and at commas only before a new verb phrase; never
    inside parentheses or brackets (a list there is one thing, not several contract lines)."""
    protected = _PARENS.sub(lambda m: m.group(0).replace(",", "\0").replace(":", "\1"), sentence)
    return [p.replace("\0", ",").replace("\1", ":") for p in _split_unprotected(protected)]


def _split_unprotected(sentence: str) -> list[str]:
    parts = _SPLIT.split(sentence)  # text, separator, text, ... (the separator is captured)
    merged: list[str] = []
    for index in range(0, len(parts), 2):
        piece = parts[index]
        if not piece.strip(" ,.;"):
            continue
        first = _WORD.match(piece.strip())
        word = first.group(0).lower() if first else ""
        separator = parts[index - 1].lower() if index else ""
        starts_clause = _verb_stem(word) is not None or word in ("with", "by", "while") or "then" in separator
        if merged and not starts_clause:
            merged[-1] += parts[index - 1] + piece
        else:
            merged.append(piece)
    return [m.strip(" ,.;") for m in merged]


def _step_name(text: str) -> str:
    words = [w.lower() for w in _WORD.findall(text)]
    words = [w for w in words if w not in _PREPOSITIONS and w not in _DETERMINERS and w not in _PREAMBLE]
    if words and (stem := _verb_stem(words[0])) is not None:
        words[0] = stem
    return snake_case(" ".join(words[:_MAX_NAME_WORDS]))
