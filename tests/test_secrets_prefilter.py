"""The credential prefilter never changes an answer: with or without it, the same text is found and replaced.

``traces.secrets`` skips its (slow) full pattern when a literal that every match needs is absent. These
tests compare the public functions with the full patterns applied directly, on text built from the
fragments each branch keys on, near misses ("task-1" holds "sk-") and non-ASCII letters that fold
to ASCII ones under case-insensitive matching.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parallel_execution.traces import redact, secrets
from parallel_execution.traces.redact import REDACTED, Redactor

_FRAGMENTS = [
    "ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "sk-", "task-", "sk-ant-", "sk-proj-", "xoxb-", "xoxz-",
    "AKIA", "ASIA", "AIza", "glpat-", "npm_", "hf_", "sk_live_", "rk_live_", "eyJ", ".", "Bearer ", "bearer\t",
    "BEARER ", "Basic ", "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "postgres://", "app",
    ":", "@", "/", "--", "-", "_", "password", "PASSWD", "Token", "apikey", "api-key", "access_key", "Secret",
    "AUTH", "credentials", "pwd", "=", " ", "\t", "\n", '"', "'", "\\", "ABCDEFGHIJKLMNOP", "a1B2c3D4e5F6g7H8i9J0",
    "0123456789", "xyz", "\u212a", "\u017f", "é", "PaSs", "\\t", "\x01", "\x08", "\r", "\f",
    "ghp_" + "a" * 24, "hunter22",
]
_TEXT = st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=3), max_size=24).map("".join)


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_the_prefilter_changes_no_result(text):
    data = text.encode("utf-8", "surrogatepass")
    full_found = secrets._FULL.data.search(data) is not None or secrets._FULL.flag_item.search(data) is not None
    assert secrets.has_secret_bytes(data) == full_found
    assert secrets.sub_bytes(data) == secrets._FULL.data.sub(secrets._BYTES_SUB, data)
    assert secrets.sub_text(text) == secrets._FULL.text.sub(secrets._TEXT_SUB, text)


def test_every_credential_shape_passes_the_prefilter():
    samples = ["ghp_" + "a" * 24, "github_pat_" + "b" * 24, "sk-ant-" + "c" * 20, "sk-" + "d" * 24,
               "xoxb-1234567890ab", "AKIA" + "A" * 16, "glpat-" + "e" * 20, "AIza" + "f" * 35, "npm_" + "g" * 36,
               "hf_" + "h" * 30, "sk_live_" + "i" * 20, "eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2Q",
               "Bearer abcdefghijklmnopq", "Basic YWxhZGRpbjpvcGVuc2VzYW1l", "https://u:pw@host/x",
               "--password=hunter2", "--db-pass hunter2", "-----BEGIN PRIVATE KEY-----x-----END PRIVATE KEY-----"]
    for sample in samples:
        assert secrets.has_secret_bytes(f"say {sample} now".encode()), sample
        assert "[REDACTED]" in secrets.sub_text(f"say {sample} now"), sample
    assert secrets.has_secret_bytes(b'["--token", "x"]')
    assert not secrets.has_secret_bytes(b'{"task_id": "task-12", "status": "success", "execution_time_ms": 1.5}')


def test_every_pair_of_fragments_before_a_value_agrees():
    # Systematic where the random test samples: each branch keyed on what precedes or follows a value.
    value = "a1B2c3D4e5F6g7H8i9J0xyzABC"
    for first in _FRAGMENTS:
        for second in _FRAGMENTS:
            for glue in ("", "=", " "):
                text = f"{first}{second}{glue}{value}"
                data = text.encode()
                full_found = secrets._FULL.data.search(data) is not None or secrets._FULL.flag_item.search(data) is not None
                assert secrets.has_secret_bytes(data) == full_found, text
                assert secrets.sub_text(text) == secrets._FULL.text.sub(secrets._TEXT_SUB, text), text


_JSON = st.recursive(st.none() | st.integers() | _TEXT,
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3), max_leaves=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(_JSON, min_size=1, max_size=4))
def test_unchanged_is_never_wrong(values):
    redactor = Redactor(["hunter2hunter2"])
    if redactor.unchanged(*values):
        assert all(redactor.scrub(v) == v for v in values)
    else:  # a false alarm is allowed, but not for plain clean text
        assert not all(isinstance(v, str) and redactor.scrub(v) == v for v in values)


def test_a_tab_before_a_token_is_a_separator_in_documents_too():
    # Serialised, the tab is the two bytes "\\t": the document scan must still see a credential.
    redactor = Redactor()
    document = {"stdout_tail": "Authorization: Bearer\tabcdefghijklmnopqrstuvwx", "argv": "--password\thunter22"}
    assert redactor.scrub(document) == {"stdout_tail": f"Authorization: Bearer\t{REDACTED}",
                                        "argv": f"--password\t{REDACTED}"}
    assert not redactor.unchanged(document)
    assert redactor.scrub_bytes(b'"Bearer\\tabcdefghijklmnopqrstuvwx"') == b'"Bearer\\t[REDACTED]"'


@settings(max_examples=400, deadline=None)
@given(_TEXT)
def test_a_string_inside_a_document_is_cleaned_as_the_string_alone(text):
    # The document check scans serialised JSON (escapes: "\\n", "\\u0001"); it must find whatever the
    # text patterns find in the string itself, e.g. a token at the start of a line of a stdout tail.
    redactor = Redactor()
    assert redactor.scrub({"stdout_tail": text}) == {"stdout_tail": redactor.scrub(text)}
    assert redactor.scrub([text]) == [redactor.scrub(text)]


def test_credentials_after_a_new_line_are_found_in_serialised_documents():
    token = "ghp_" + "a" * 30
    redactor = Redactor()
    for text in (f"ok\n{token}", "ok\n--password=hunter22", "ok\npostgres://u:pw@db/x", f"ok\x01{token}"):
        assert redactor.scrub({"stdout_tail": text})["stdout_tail"] == redactor.scrub(text) != text, text
    assert redactor.scrub_bytes(b'{"t": "ok\\n' + token.encode() + b'"}') == b'{"t": "ok\\n[REDACTED]"}'


_NAMES = st.lists(st.sampled_from(["api", "_", "-", "KEY", "key", "Key", "secret", "token", "tokens", "passwd", "pass",
                                   "phrase", "credential", "auth", "orization", "cookie", "PWD", "PAT", "pat", "h",
                                   "private", "ID", "db", "x", "\u212a", "\u017f", "é"]), min_size=1, max_size=4).map("".join)
_KEYED = st.recursive(st.none() | st.integers(-(2**63), 2**63 - 1) | _TEXT,  # inputs refuse wider ints
                      lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_NAMES | _TEXT, inner, max_size=3),
                      max_leaves=6)


@settings(max_examples=400, deadline=None)
@given(_KEYED)
def test_the_key_name_prefilter_never_hides_a_secret_name(value):
    # redact._may_name_secret reads the serialised bytes for the words every secret name holds; the
    # walk over the keys runs only when it says maybe. It may raise false alarms, never miss one.
    redactor = Redactor()
    if redactor._has_suspect_key(value):
        assert redact._may_name_secret(redact.serialise(value))
