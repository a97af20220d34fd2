"""A stand-in of the Anthropic Messages API that scripts each conversation, for the real Claude Code CLI.

The real CLI (``ANTHROPIC_BASE_URL=http://127.0.0.1:<port>``, any ``ANTHROPIC_API_KEY``) sends one
``POST /v1/messages`` per model turn, carrying the whole conversation so far. One CLI run can hold
several conversations at once (the main session, a subagent it starts, small side requests), so a
reply cannot be "the next line of one script". Instead a test registers **conversations**: each has
a marker (text that appears in that conversation's system prompt or first user message) and a list
of steps; the reply to a request is the step whose index is the number of assistant turns already
in the request's ``messages``. A request that matches no conversation, or runs past its steps, is
answered with a short text (``end_turn``), so side requests never block a run.

Steps:

- ``Text("answer")``: a streamed text answer (``end_turn``);
- ``Tool("Bash", {"command": "..."})``: a streamed ``tool_use`` block (the CLI runs it and asks again);
- ``Error(429, "rate_limit_error", "...")``: an HTTP error with the API's error body.

For a single-conversation run, ``serve(script=[...])`` answers every request with the next step in
turn (``Text("done")`` once they are used up), whatever the request says.

Every request and every ``tool_result`` the CLI sent back is kept (``server.requests``,
``server.tool_results(marker)``) so a test can assert what ran and what the CLI answered.

Example::

    with serve([Conversation("You turn a plain-language request", [Tool("Bash", {"command": "ls"}), Text("ok")])]) as api:
        env["ANTHROPIC_BASE_URL"] = api.url
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Conversation", "Error", "FakeMessagesAPI", "Text", "Tool", "serve"]


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Tool:
    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Error:
    status: int
    kind: str
    message: str


Step = Text | Tool | Error


@dataclass
class Conversation:
    marker: str
    steps: Sequence[Step]
    requests: list[dict[str, Any]] = field(default_factory=list)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(block.get("text", block.get("content", ""))) for block in content
                         if isinstance(block, dict))
    return ""


def _opening(body: dict[str, Any]) -> str:
    """The system prompt and the first user message: what identifies a conversation."""
    messages = body.get("messages") or []
    system = _text_of(body.get("system")) + "".join(_text_of(m.get("content")) for m in messages
                                                   if m.get("role") == "system")
    first_user = next((_text_of(m.get("content")) for m in messages if m.get("role") == "user"), "")
    return system + "\n" + first_user


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: FakeMessagesAPI

    def log_message(self, *args: Any) -> None:
        pass

    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        self._json(200, {})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if "count_tokens" in self.path:
            self._json(200, {"input_tokens": 10})
            return
        if not self.path.startswith("/v1/messages"):
            self._json(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
            return
        step = self.server.reply_to(body)
        if isinstance(step, Error):
            self._json(step.status, {"type": "error", "error": {"type": step.kind, "message": step.message}})
            return
        self._stream(body.get("model", "claude-sonnet-4-5"), step)

    def _stream(self, model: str, step: Step) -> None:
        number = len(self.server.requests)
        usage = {"input_tokens": 100, "output_tokens": 1, "cache_creation_input_tokens": 0,
                 "cache_read_input_tokens": 0}
        out = [_sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_{number}", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": usage}})]
        if isinstance(step, Tool):
            block = {"type": "tool_use", "id": f"toolu_{number:04d}", "name": step.name, "input": {}}
            delta = {"type": "input_json_delta", "partial_json": json.dumps(step.input)}
            stop = "tool_use"
        else:
            block, delta, stop = {"type": "text", "text": ""}, {"type": "text_delta", "text": step.text}, "end_turn"
        out += [_sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block}),
                _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}),
                _sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
                _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": 20}}),
                _sse("message_stop", {"type": "message_stop"})]
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        self.wfile.write(b"".join(out))
        self.wfile.flush()

    def _json(self, status: int, value: dict[str, Any]) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FakeMessagesAPI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, conversations: Sequence[Conversation] = (), script: Sequence[Step] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.conversations = list(conversations)
        self.script = None if script is None else list(script)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def reply_to(self, body: dict[str, Any]) -> Step:
        opening = _opening(body)
        turn = sum(1 for m in body.get("messages") or [] if m.get("role") == "assistant")
        with self.lock:
            self.requests.append(body)
            if self.script is not None:
                return self.script.pop(0) if self.script else Text("done")
            for conversation in self.conversations:
                if conversation.marker in opening and body.get("tools"):
                    conversation.requests.append(body)
                    return conversation.steps[turn] if turn < len(conversation.steps) else Text("done")
        return Text("ok")

    def tool_results(self, marker: str) -> list[str]:
        """The text of every ``tool_result`` sent back in the conversation marked ``marker``, in order."""
        conversation = next(c for c in self.conversations if c.marker == marker)
        if not conversation.requests:
            return []
        last = conversation.requests[-1]
        return [_text_of(block.get("content")) for m in last.get("messages") or [] if m.get("role") == "user"
                for block in (m.get("content") if isinstance(m.get("content"), list) else [])
                if isinstance(block, dict) and block.get("type") == "tool_result"]


@contextmanager
def serve(conversations: Sequence[Conversation] = (), script: Sequence[Step] | None = None) -> Iterator[FakeMessagesAPI]:
    server = FakeMessagesAPI(conversations, script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
