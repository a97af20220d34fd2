"""A local stand-in of the Anthropic Messages API, so the *real* Claude Code CLI can run offline.

Point the CLI at it with ``ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`` and any
``ANTHROPIC_API_KEY``. Each ``POST /v1/messages`` takes the next step of ``script``:

- ``("text", "answer")``: a streamed assistant text answer (``end_turn``);
- ``("tool", name, input)``: a streamed ``tool_use`` block (the CLI runs the tool and asks again);
- ``("error", status, type, message)``: an HTTP error with the API's error body.

When the script is used up, every further request is answered with ``("text", "done")``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Step = tuple[Any, ...]


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
        if "count_tokens" in self.path:
            self._json(200, {"input_tokens": 10})
            return
        with self.server.lock:
            self.server.requests.append(body)
            step = self.server.script.pop(0) if self.server.script else ("text", "done")
        if step[0] == "error":
            _, status, kind, message = step
            self._json(status, {"type": "error", "error": {"type": kind, "message": message}})
            return
        model = body.get("model", "claude-sonnet-4-5")
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        usage = {"input_tokens": 100, "output_tokens": 1, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        out = [_sse("message_start", {"type": "message_start", "message": {
            "id": f"msg_{len(self.server.requests)}", "type": "message", "role": "assistant", "model": model,
            "content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}})]
        if step[0] == "tool":
            _, name, tool_input = step
            out += [_sse("content_block_start", {"type": "content_block_start", "index": 0, "content_block": {
                        "type": "tool_use", "id": f"toolu_{len(self.server.requests)}", "name": name, "input": {}}}),
                    _sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {
                        "type": "input_json_delta", "partial_json": json.dumps(tool_input)}})]
            stop = "tool_use"
        else:
            out += [_sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                 "content_block": {"type": "text", "text": ""}}),
                    _sse("content_block_delta", {"type": "content_block_delta", "index": 0,
                                                 "delta": {"type": "text_delta", "text": step[1]}})]
            stop = "end_turn"
        out += [_sse("content_block_stop", {"type": "content_block_stop", "index": 0}),
                _sse("message_delta", {"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": None},
                                       "usage": {"output_tokens": 20}}),
                _sse("message_stop", {"type": "message_stop"})]
        self.wfile.write(b"".join(out))
        self.wfile.flush()

    def _json(self, status: int, value: dict[str, Any]) -> None:
        data = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: list[Step]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()


@contextmanager
def fake_api(script: list[Step]) -> Iterator[_Server]:
    """Serve ``script`` on a free local port; ``server.server_address[1]`` is the port."""
    server = _Server(script)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
