"""A loopback stand-in for a remote OpenAI-compatible endpoint, with injectable faults.

This is a test double at a boundary we cannot reach from here (a hosted API such as OpenAI's): it
answers ``/v1/models``, ``/v1/chat/completions`` and, unless ``chat_only``, ``/v1/completions``.  With
``chat_only=True`` it answers ``/v1/completions`` with 404 and OpenAI's error body, as OpenAI does for
its chat models.  Replies come from a script of canned texts or from ``respond(body) -> str``; every
request body is recorded in ``requests`` (path and JSON), so tests can check what the harness sent.
After ``fail_after`` completions it starts failing (HTTP 500 or a dropped connection), as a flaky
provider does mid-run.  It reports a served model id and a ``system_fingerprint`` like OpenAI's, and
returns per-token logprobs on chat when asked.  It listens on 127.0.0.1 only and stops when the test ends.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 refuses connections when many cases are in flight
    daemon_threads = True


class FaultServer:
    def __init__(
        self,
        replies: list[str] | None = None,
        *,
        fail_after: int = 10**9,
        mode: str = "500",
        model: str = "judge-x",
        models: list[str] | None = None,
        chat_only: bool = False,
        respond: Callable[[dict[str, Any]], str] | None = None,
        served_model: str | None = None,
        fingerprint: str | None = "fp_loopback",
    ):
        self.replies = replies or ["ok"]
        self.fail_after = fail_after
        self.mode = mode
        self.model = model
        self.models = models or [model]
        self.chat_only = chat_only
        self.respond = respond
        self.served_model = served_model
        self.fingerprint = fingerprint
        self.calls = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                if self.path.endswith("/models"):
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                chat = self.path.endswith("/chat/completions")
                with server._lock:
                    server.requests.append((self.path, body))
                if not chat and server.chat_only:
                    # what OpenAI answers for a chat model on the legacy endpoint
                    self._send(404, {"error": {
                        "message": "This is a chat model and not supported in the v1/completions endpoint. "
                                   "Did you mean to use v1/chat/completions?",
                        "type": "invalid_request_error", "param": "model", "code": None}})  # fmt: skip
                    return
                with server._lock:
                    n = server.calls
                    server.calls += 1
                if n >= server.fail_after:
                    if server.mode == "drop":
                        self.connection.close()
                        return
                    self._send(500, {"error": {"message": "injected failure", "type": "server_error"}})
                    return
                text = server.respond(body) if server.respond else server.replies[n % len(server.replies)]
                finish = "length" if text.endswith("<<truncated>>") else "stop"
                text = text.removesuffix("<<truncated>>")
                usage = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
                served = server.served_model or body.get("model") or server.model
                if chat:
                    choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                                              "message": {"role": "assistant", "content": text}}  # fmt: skip
                    if body.get("logprobs"):
                        # a confident model: every token -0.1 (a whitespace split stands in for tokens)
                        choice["logprobs"] = {"content": [{"token": t, "logprob": -0.1, "bytes": None,
                                                           "top_logprobs": []} for t in text.split()]}  # fmt: skip
                    self._send(200, {"id": f"c{n}", "object": "chat.completion", "created": 0, "model": served,
                                     "system_fingerprint": server.fingerprint, "choices": [choice],
                                     "usage": usage})  # fmt: skip
                else:
                    self._send(200, {"id": f"c{n}", "object": "text_completion", "created": 0, "model": served,
                                     "choices": [{"index": 0, "text": text, "finish_reason": finish,
                                                  "logprobs": None}], "usage": usage})  # fmt: skip

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def bodies(self, path_suffix: str = "/chat/completions") -> list[dict[str, Any]]:
        """The JSON bodies of the requests sent to ``path_suffix``, in arrival order."""
        with self._lock:
            return [b for p, b in self.requests if p.endswith(path_suffix)]

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
