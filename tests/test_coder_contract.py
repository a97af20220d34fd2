"""Reading contracts, ONEX naming and the node spec (coder agent: contract.py, naming.py, spec.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from parallel_execution.agents.coder.context import ContextFileError, mentioned_names, read_context_files
from parallel_execution.agents.coder.contract import pluralize, read_contract, singularize
from parallel_execution.agents.coder.naming import NodeType, node_names, pascal_case, snake_case
from parallel_execution.agents.coder.spec import build_spec


@pytest.mark.parametrize(
    ("contract", "name", "verb", "io_kind", "entity", "target", "store"),
    [
        ("Effect node that writes user data to PostgreSQL users table with validation",
         "user_writer", "write", "write", "user", "users", "PostgreSQL"),
        ("Effect node that reads product data from PostgreSQL products table with caching",
         "product_reader", "read", "read", "product", "products", "PostgreSQL"),
        ("Effect node that updates order status in PostgreSQL orders table with event emission",
         "order_updater", "update", "update", "order", "orders", "PostgreSQL"),
        ("Reducer node that implements Redis caching for API responses with TTL management",
         "api_cache", "implement", "other", "cache", "caches", "Redis"),
        ("Compute node that optimizes database queries by analyzing and rewriting query plans",
         "query_optimizer", "optimize", "other", "query", "queries", None),
        ("Effect node for database writes", "database_writer", "write", "write", "database", "databases", None),
        ("Orchestrator node that coordinates user signup: create the account, then log an audit event",
         "user_coordinator", "coordinate", "other", "user", "users", None),
        ("deletes expired sessions from the Redis sessions cache", "session_deleter", "delete", "delete",
         "session", "sessions", "Redis"),
    ],
)
def test_reading_a_contract(contract: str, name: str, verb: str, io_kind: str, entity: str, target: str,
                            store: str | None) -> None:
    reading = read_contract(contract)
    assert (reading.node_name, reading.verb, reading.io_kind, reading.entity, reading.target, reading.store) == (
        name, verb, io_kind, entity, target, store)


@pytest.mark.parametrize(
    ("contract", "lines"),
    [
        ("Effect node that writes user data to PostgreSQL users table with validation",
         ["Effect node that writes user data to PostgreSQL users table", "with validation"]),
        ("Compute node that optimizes database queries by analyzing and rewriting query plans",
         ["Compute node that optimizes database queries", "by analyzing and rewriting query plans"]),
        ("Orchestrator node that coordinates signup: create the account, send a welcome email, then log it",
         ["Orchestrator node that coordinates signup", "create the account", "send a welcome email", "log it"]),
        # a comma list of nouns is one line; only a new verb phrase starts a line
        ("Compute node that ranks products, prices and reviews by popularity",
         ["Compute node that ranks products, prices and reviews by popularity"]),
        # colons and commas in prose ("auth.py:24", "argument: 'salt'") do not start a line
        ("Fix: pass `salt` at auth.py:24; name 'sys' is not defined: `import sys` is missing.",
         ["Fix: pass `salt` at auth.py:24", "name 'sys' is not defined: `import sys` is missing"]),
        ("Orchestrator node that coordinates checkout: reserve stock, charge the card",
         ["Orchestrator node that coordinates checkout", "reserve stock", "charge the card"]),
        ("Reducer that counts page views per user\n- ignores bot traffic\n- resets daily",
         ["Reducer that counts page views per user", "ignores bot traffic", "resets daily"]),
    ],
)
def test_contract_lines_are_verbatim(contract: str, lines: list[str]) -> None:
    assert [c.text for c in read_contract(contract).clauses] == lines


def test_step_phase_and_names() -> None:
    clauses = read_contract("Effect node that writes users with validation with event emission").clauses
    assert [(c.step, c.phase) for c in clauses] == [
        ("write_users", "main"), ("validation", "pre"), ("event_emission", "post")]


def test_given_node_name_wins_and_concurrency_is_read() -> None:
    reading = read_contract("Orchestrator that runs in parallel: fetch prices, fetch stock", "PriceFetcher")
    assert reading.node_name == "price_fetcher"
    assert reading.concurrent


@pytest.mark.parametrize(
    ("text", "snake", "pascal"),
    [("UserWriter", "user_writer", "UserWriter"), ("user-writer", "user_writer", "UserWriter"),
     ("HTTPClient", "http_client", "HttpClient"), ("3d render", "n_3d_render", "N3dRender"),
     ("class", "class_node", "ClassNode")],
)
def test_case_conversion(text: str, snake: str, pascal: str) -> None:
    assert snake_case(text) == snake
    assert pascal_case(snake_case(text)) == pascal


@pytest.mark.parametrize(
    ("name", "node_type", "class_name", "file_name"),
    [("user_writer", "Effect", "NodeUserWriterEffect", "node_user_writer_effect.py"),
     ("node_user_writer_effect", "Effect", "NodeUserWriterEffect", "node_user_writer_effect.py"),
     ("QueryOptimizer", "Compute", "NodeQueryOptimizerCompute", "node_query_optimizer_compute.py"),
     ("effect", "Effect", "NodeEffectEffect", "node_effect_effect.py")],
)
def test_node_names(name: str, node_type: NodeType, class_name: str, file_name: str) -> None:
    names = node_names(name, node_type)
    assert (names.class_name, names.file_name) == (class_name, file_name)
    assert names.input_model == f"Model{names.pascal}Input"


def test_node_name_without_letters_is_refused() -> None:
    with pytest.raises(ValueError, match=r"node name '---' has no letters or digits"):
        node_names("---", "Effect")


@pytest.mark.parametrize(("word", "singular", "plural"),
                         [("queries", "query", "queries"), ("orders", "order", "orders"),
                          ("status", "status", "statuses"), ("boxes", "box", "boxes")])
def test_inflection(word: str, singular: str, plural: str) -> None:
    assert singularize(word) == singular
    assert pluralize(singular) == plural


@pytest.mark.parametrize(
    ("node_type", "contract", "inputs", "outputs"),
    [
        ("Effect", "writes user data", ["user"], ["success", "operation", "target", "attempts", "result"]),
        ("Effect", "reads product data", ["product_id", "filters"], ["success", "operation", "target",
                                                                      "attempts", "result"]),
        ("Effect", "updates order status", ["order_id", "status"], ["success", "operation", "target",
                                                                     "attempts", "result"]),
        ("Effect", "deletes sessions", ["session_id"], ["success", "operation", "target", "attempts", "result"]),
        ("Compute", "scores products", ["product"], ["result"]),
        ("Reducer", "counts page views", ["event_type", "key", "payload"], ["entries", "version"]),
        ("Orchestrator", "coordinates signup", ["signup"], ["completed_steps", "results"]),
        # a field name that would shadow a BaseModel attribute is renamed
        ("Compute", "validates schema definitions", ["schema_data"], ["result"]),
    ],
)
def test_model_fields(node_type: NodeType, contract: str, inputs: list[str], outputs: list[str]) -> None:
    spec = build_spec(contract, node_type)
    assert [f.name for f in spec.input_fields] == inputs
    assert [f.name for f in spec.output_fields] == outputs


def _context(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_context_names_and_entity_model(tmp_path: Path) -> None:
    models = _context(tmp_path, "context/models.py", (
        "import asyncpg\nfrom pydantic import BaseModel\n\n"
        "class User(BaseModel):\n    email: str\n\n"
        "class Admin(User):\n    level: int\n\n"
        "class Mailer:\n    pass\n\n"
        "def hash_password(raw, salt):\n    return raw\n"))
    files = read_context_files([models], workspace_root=tmp_path, search_roots=[tmp_path / "out", tmp_path])
    kinds = {n.name: (n.kind, n.module) for n in files[0].names}
    assert kinds == {"asyncpg": ("import", None), "User": ("model", "context.models"),
                     "Admin": ("model", "context.models"), "Mailer": ("class", "context.models"),
                     "hash_password": ("function", "context.models")}
    spec = build_spec("Effect node that writes user data, hashing with hash_password", "Effect", context_files=files)
    assert [n.name for n in spec.model_imports] == ["User"]
    assert spec.input_fields[0].annotation == "User"
    assert [n.name for n in spec.context_used] == ["User", "hash_password"]


@pytest.mark.parametrize(
    ("text", "mentioned"),
    [("writes UserRecord rows", ["UserRecord"]), ("stores user records", ["UserRecord"]),
     ("stores users", []), ("uses the DB pool", ["Pool"]), ("uses a pooling strategy", [])],
)
def test_mentions(tmp_path: Path, text: str, mentioned: list[str]) -> None:
    path = _context(tmp_path, "m.py", "class UserRecord:\n    pass\n\nclass Pool:\n    pass\n")
    files = read_context_files([path], workspace_root=tmp_path, search_roots=[tmp_path])
    assert [n.name for n in mentioned_names(files, text)] == mentioned


def test_unimportable_model_falls_back_to_dict(tmp_path: Path) -> None:
    path = _context(tmp_path, "my-context/models.py", "from pydantic import BaseModel\nclass User(BaseModel):\n    a: int\n")
    files = read_context_files([path], workspace_root=tmp_path, search_roots=[tmp_path])
    spec = build_spec("writes user data", "Effect", context_files=files)
    assert spec.model_imports == ()
    assert spec.input_fields[0].annotation == "dict[str, Any]"
    assert spec.warnings == ("context model User (my-context/models.py) is not importable from the output folder "
                             "or the workspace root; the payload is typed dict[str, Any]",)


@pytest.mark.parametrize(
    ("name", "content", "note"),
    [("broken.py", b"def f(:\n", "does not parse (line 1: invalid syntax)"),
     ("schema.sql", b"CREATE TABLE users (id int);", "not a Python file")],
)
def test_context_files_without_names_are_noted(tmp_path: Path, name: str, content: bytes, note: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    (context_file,) = read_context_files([path], workspace_root=tmp_path, search_roots=[tmp_path])
    assert context_file.names == ()
    assert context_file.note is not None and context_file.note.startswith(note)
    assert context_file.text == content.decode()


@pytest.mark.parametrize(
    ("setup", "message"),
    [("missing", r"context file 'gone\.py' does not exist"),
     ("directory", r"context file 'gone\.py' is not a regular file"),
     ("binary", r"context file 'gone\.py' is not UTF-8 text")],
)
def test_bad_context_files_raise(tmp_path: Path, setup: str, message: str) -> None:
    path = tmp_path / "gone.py"
    if setup == "directory":
        path.mkdir()
    elif setup == "binary":
        path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ContextFileError, match=message):
        read_context_files([path], workspace_root=tmp_path, search_roots=[tmp_path])


def test_a_parenthesised_list_is_kept_whole_and_names_the_fields() -> None:
    reading = read_contract("Updates fields (name, email, role) in the users store, then logs the change")
    assert [c.text for c in reading.clauses] == ["Updates fields (name, email, role) in the users store",
                                                 "logs the change"]
    assert (reading.entity, reading.target, reading.listed_fields) == ("user", "users", ("name", "email", "role"))
    assert reading.node_name == "user_updater"


def test_fields_come_from_the_contract_or_are_declared_unknown() -> None:
    listed = build_spec("Updates fields (name, email, role) in the users store", "Effect")
    assert [(f.name, f.annotation) for f in listed.input_fields] == [
        ("user_id", "str"), ("name", "Any | None"), ("email", "Any | None"), ("role", "Any | None")]
    assert all("type is not given" in f.description for f in listed.input_fields[1:])
    unnamed = build_spec("Writes user data to the users table", "Effect")
    assert unnamed.input_fields[0].description == "the user payload; the contract does not list its fields"
