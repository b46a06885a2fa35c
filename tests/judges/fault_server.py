"""A loopback, fault-injecting stand-in for a remote OpenAI-compatible judge endpoint.

This is a test double at a boundary we cannot reach from here (a remote judge API): it answers
``/v1/models`` and ``/v1/chat/completions`` from a script of canned replies, then starts failing
(HTTP 500 or a dropped connection) after ``fail_after`` completions, as a flaky provider does mid-run.
It listens on 127.0.0.1 only and stops when the test ends.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultServer:
    def __init__(self, replies: list[str], *, fail_after: int, mode: str = "500", model: str = "judge-x"):
        self.replies = replies
        self.fail_after = fail_after
        self.mode = mode
        self.model = model
        self.calls = 0
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
                    self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
                else:
                    self._send(404, {"error": "not found"})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                self.rfile.read(length)
                with server._lock:
                    n = server.calls
                    server.calls += 1
                if n >= server.fail_after:
                    if server.mode == "drop":
                        self.connection.close()
                        return
                    self._send(500, {"error": {"message": "injected failure", "type": "server_error"}})
                    return
                text = server.replies[n % len(server.replies)]
                finish = "length" if text.endswith("<<truncated>>") else "stop"
                text = text.removesuffix("<<truncated>>")
                self._send(200, {
                    "id": f"c{n}", "object": "chat.completion", "created": 0, "model": server.model,
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70},
                })  # fmt: skip

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> FaultServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
