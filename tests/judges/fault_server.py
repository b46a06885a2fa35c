"""A loopback stand-in for a remote OpenAI-compatible endpoint, with injectable faults.

This is a test double at a boundary we cannot reach from here (a hosted API such as OpenAI's): it
answers ``/v1/models``, ``/v1/chat/completions`` and, unless ``chat_only``, ``/v1/completions``.  With
``chat_only=True`` it answers ``/v1/completions`` with 404 and OpenAI's error body, as OpenAI does for
its chat models.  Replies come from a script of canned texts or from ``respond(body) -> str``; every
request body is recorded in ``requests`` (path and JSON), so tests can check what the harness sent.
After ``fail_after`` completions it starts failing (``mode``: HTTP 500, 503, or a dropped connection),
as a flaky provider does mid-run.  It reports a served model id and a ``system_fingerprint`` like
OpenAI's, and returns per-token logprobs on chat when asked.  It listens on 127.0.0.1 only and stops
when the test ends.

Faults of a hosted API, on completions only (``/v1/models`` always answers, so the harness starts):

* ``fault_rate`` / ``fault_kinds`` / ``seed``: each completion is a fault with probability
  ``fault_rate``, of a kind drawn from ``fault_kinds`` (:data:`FAULT_KINDS`).  The draw depends on the
  seed and the request's arrival index only, so a run injects the same schedule every time.
* ``admit=N``: a request that arrives while N others are in flight gets 429 (no hint), as an endpoint
  with a concurrency limit answers.
* ``delay_s``: every good answer waits that long (a model's latency); ``slow_s``: how long a ``slow``
  fault waits before it answers (set it past the client's timeout).
* ``echo_key``: error bodies quote the request's API key (the Authorization header), as some gateways do.

The Batch API, as OpenAI serves it (``POST /v1/files`` with purpose ``batch``, ``POST /v1/batches``,
``GET /v1/batches/{id}``, ``GET /v1/files/{id}/content``): a batch is ``validating``, then
``in_progress``, and ``completed`` at its ``batch_polls``-th retrieval (``None``: never, a batch that is
still pending when the harness stops waiting).  Its lines are answered like completions (``respond`` or
the replies; no faults), lines whose body contains a text of ``batch_fail`` get a 400 line in the error file, and
``batch_status`` ends every batch in another state (``failed``, ``expired``).  ``batches`` holds each
batch and ``batch_lines`` every line submitted, so tests see what was sent and how often.

What it served is counted: ``served`` (per kind: ``ok``, each fault kind, ``admit_429``, ``down``),
``injected`` (faults only), ``in_flight_samples`` ((monotonic t, requests in flight) at every arrival
and departure of a completion), ``peak`` and ``connections`` (TCP connections accepted: with
``HTTP/1.1`` keep-alive a client reuses them).
"""

from __future__ import annotations

import collections
import contextlib
import email.parser
import email.policy
import json
import random
import socket
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# kind -> what the server does; every kind but 400 and 401 is one a client should retry
FAULT_KINDS = {
    "429": "429 without any hint of when to retry",
    "429_retry_after": "429 with Retry-After (seconds)",
    "429_reset": "429 with OpenAI's x-ratelimit-reset-requests / -tokens",
    "500": "500 Internal Server Error",
    "503": "503 Service Unavailable",
    "slow": "answers after slow_s (past the client's timeout)",
    "reset": "closes the connection without answering",
    "truncated": "200 whose body stops half-way (Content-Length promises more)",
    "malformed": "200 whose body is not JSON",
    "no_choices": "200 whose JSON body is not a completion (no choices)",
    "400": "400 Bad Request",
    "401": "401 Unauthorized",
}
RETRYABLE = (
    "429",
    "429_retry_after",
    "429_reset",
    "500",
    "503",
    "slow",
    "reset",
    "truncated",
    "malformed",
    "no_choices",
)
MAX_SAMPLES = 200_000  # in-flight samples kept (two per completion): bounded even in a long benchmark


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # the default backlog of 5 refuses connections when many cases are in flight
    daemon_threads = True

    def handle_error(self, request, client_address):  # a client that gave up (timeout) is expected here
        pass


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
        fault_rate: float = 0.0,
        fault_kinds: tuple[str, ...] = RETRYABLE,
        seed: int = 0,
        admit: int | None = None,
        delay_s: float = 0.0,
        slow_s: float = 2.0,
        retry_after: str = "1",
        reset_after: str = "250ms",
        echo_key: bool = False,
        batch_polls: int | None = 2,
        batch_fail: tuple[str, ...] = (),
        batch_status: str = "completed",
    ):
        if mode not in ("500", "503", "drop"):
            raise ValueError(f"mode: expected 500, 503 or drop, got {mode!r}")
        unknown = set(fault_kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"fault_kinds: unknown {sorted(unknown)}; known: {sorted(FAULT_KINDS)}")
        self.replies = replies or ["ok"]
        self.fail_after = fail_after
        self.mode = mode
        self.model = model
        self.models = models or [model]
        self.chat_only = chat_only
        self.respond = respond
        self.served_model = served_model
        self.fingerprint = fingerprint
        self.fault_rate = fault_rate
        self.fault_kinds = tuple(fault_kinds)
        self.seed = seed
        self.admit = admit
        self.delay_s = delay_s
        self.slow_s = slow_s
        self.retry_after = retry_after
        self.reset_after = reset_after
        self.echo_key = echo_key
        self.batch_polls = batch_polls
        self.batch_fail = tuple(batch_fail)
        self.batch_status = batch_status
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.batch_lines: list[dict[str, Any]] = []
        self.calls = 0
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.served: collections.Counter[str] = collections.Counter()
        self.in_flight = 0
        self.peak = 0
        self.in_flight_samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=MAX_SAMPLES)
        self.connections = 0
        self.keys_seen: set[str] = set()
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            # keep-alive, as a hosted API serves: the openai client then reuses its connections
            # (tests/llm/test_resilience.py checks that it does)
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def setup(self):
                super().setup()
                with server._lock:
                    server.connections += 1

            def _send(self, code: int, body: dict, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, code: int, message: str, kind: str, headers: dict[str, str] | None = None) -> None:
                if server.echo_key:
                    message += f" (request made with key {self._key()})"
                self._send(code, {"error": {"message": message, "type": kind, "param": None, "code": None}}, headers)

            def _key(self) -> str:
                return self.headers.get("Authorization", "").removeprefix("Bearer ").strip()

            def _drop(self) -> None:
                """Close without an answer; SO_LINGER 0 makes it a reset (RST), not an orderly close."""
                self.close_connection = True
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.shutdown(socket.SHUT_RDWR)
                self.connection.close()

            def do_GET(self):
                if "/batches/" in self.path:
                    batch = server._poll_batch(self.path.rsplit("/", 1)[1])
                    self._send(*((200, batch) if batch else (404, {"error": {"message": "no such batch"}})))
                elif self.path.endswith("/content") and "/files/" in self.path:
                    data = server.files.get(self.path.split("/files/")[1].removesuffix("/content"), b"")
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                elif self.path.endswith("/models"):
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "loopback"} for m in server.models]
                    self._send(200, {"object": "list", "data": data})
                else:
                    self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.path.endswith("/files"):
                    self._send(200, server._upload(self.headers.get("Content-Type", ""), raw))
                    return
                body = json.loads(raw or b"{}")
                if self.path.endswith("/batches"):
                    self._send(200, server._create_batch(body))
                    return
                chat = self.path.endswith("/chat/completions")
                with server._lock:
                    server.requests.append((self.path, body))
                    server.keys_seen.add(self._key())
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
                    server.in_flight += 1
                    in_flight = server.in_flight
                    server.peak = max(server.peak, in_flight)
                    server.in_flight_samples.append((time.monotonic(), in_flight))
                try:
                    self._complete(n, in_flight, body, chat)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                        server.in_flight_samples.append((time.monotonic(), server.in_flight))

            def _complete(self, n: int, in_flight: int, body: dict, chat: bool) -> None:
                if n >= server.fail_after:
                    server._count("down")
                    if server.mode == "drop":
                        self._drop()
                    else:
                        code = int(server.mode)
                        self._error(code, "injected failure", "server_error")
                    return
                if server.admit is not None and in_flight > server.admit:
                    server._count("admit_429")
                    self._error(429, f"too many requests in flight (more than {server.admit})", "rate_limit_error")
                    return
                kind = server.fault(n)
                if kind is not None:
                    server._count(kind, injected=True)
                    if self._fault(kind):
                        return
                elif server.delay_s:
                    time.sleep(server.delay_s)
                if kind is None:
                    server._count("ok")
                self._answer(n, body, chat)

            def _fault(self, kind: str) -> bool:
                """Serve fault ``kind``; False when the fault is a delay and the answer still follows."""
                if kind == "429":
                    self._error(429, "Rate limit reached", "rate_limit_error")
                elif kind == "429_retry_after":
                    self._error(429, "Rate limit reached", "rate_limit_error", {"Retry-After": server.retry_after})
                elif kind == "429_reset":
                    self._error(429, "Rate limit reached", "rate_limit_error",
                                {"x-ratelimit-reset-requests": server.reset_after,
                                 "x-ratelimit-reset-tokens": "0s"})  # fmt: skip
                elif kind in ("500", "503"):
                    self._error(int(kind), "injected failure", "server_error")
                elif kind == "400":
                    self._error(400, "Invalid value for 'messages'", "invalid_request_error")
                elif kind == "401":
                    self._error(401, "Incorrect API key provided", "invalid_request_error")
                elif kind == "slow":
                    time.sleep(server.slow_s)
                    return False
                elif kind == "reset":
                    self._drop()
                elif kind == "truncated":
                    data = json.dumps(server._completion_body(0, "ok", chat=True)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self._drop()
                elif kind == "no_choices":
                    self._send(200, {"id": "c", "object": "chat.completion", "created": 0})
                elif kind == "malformed":
                    data = b"<html><body>502 Bad Gateway</body></html>"
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                return True

            def _answer(self, n: int, body: dict, chat: bool) -> None:
                text = server.respond(body) if server.respond else server.replies[n % len(server.replies)]
                with contextlib.suppress(OSError):  # a slow answer's client may have given up
                    self._send(200, server._completion_body(n, text, chat=chat, body=body))

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # --- the Batch API -------------------------------------------------------------------------------
    def _upload(self, content_type: str, raw: bytes) -> dict[str, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw
        )
        data = next(p.get_payload(decode=True) for p in message.iter_parts() if p.get_filename())
        with self._lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = data
        return self._file(file_id, "batch")

    def _file(self, file_id: str, purpose: str) -> dict[str, Any]:
        return {"id": file_id, "object": "file", "bytes": len(self.files[file_id]), "created_at": 0,
                "filename": f"{file_id}.jsonl", "purpose": purpose, "status": "processed"}  # fmt: skip

    def _create_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            batch_id = f"batch_{len(self.batches) + 1}"
            lines = [json.loads(x) for x in self.files[body["input_file_id"]].decode().splitlines() if x.strip()]
            self.batch_lines += lines
            self.batches[batch_id] = {
                "id": batch_id, "object": "batch", "endpoint": body["endpoint"], "errors": None,
                "input_file_id": body["input_file_id"], "completion_window": body["completion_window"],
                "status": "validating", "output_file_id": None, "error_file_id": None, "created_at": 0,
                "request_counts": {"total": len(lines), "completed": 0, "failed": 0},
                "metadata": body.get("metadata"), "polls": 0, "lines": lines}  # fmt: skip
            return self._public(batch_id)

    def _public(self, batch_id: str) -> dict[str, Any]:
        return {k: v for k, v in self.batches[batch_id].items() if k not in ("polls", "lines")}

    def _poll_batch(self, batch_id: str) -> dict[str, Any] | None:
        with self._lock:
            batch = self.batches.get(batch_id)
            if batch is None:
                return None
            batch["polls"] += 1
            if batch["status"] in ("validating", "in_progress"):
                done = self.batch_polls is not None and batch["polls"] >= self.batch_polls
                batch["status"] = "in_progress" if not done else self.batch_status
                if done and self.batch_status in ("completed", "expired"):
                    self._finish_batch(batch)
            return self._public(batch_id)

    def _finish_batch(self, batch: dict[str, Any]) -> None:
        """Answer a batch's lines (an expired batch: its first half only); called with the lock held."""
        lines = batch["lines"] if self.batch_status == "completed" else batch["lines"][: len(batch["lines"]) // 2]
        out, errors = [], []
        for i, line in enumerate(lines):
            if any(text in json.dumps(line["body"]) for text in self.batch_fail):
                errors.append({"id": f"r{i}", "custom_id": line["custom_id"], "error": None, "response": {
                    "status_code": 400, "request_id": f"q{i}",
                    "body": {"error": {"message": "Invalid value for 'messages'", "type": "invalid_request_error"}}}})
                continue
            chat = line["url"].endswith("/chat/completions")
            text = self.respond(line["body"]) if self.respond else self.replies[i % len(self.replies)]
            out.append({"id": f"r{i}", "custom_id": line["custom_id"], "error": None, "response": {
                "status_code": 200, "request_id": f"q{i}",
                "body": self._completion_body(i, text, chat=chat, body=line["body"])}})  # fmt: skip
        for name, rows in (("output_file_id", out), ("error_file_id", errors)):
            if rows:
                file_id = f"file-{len(self.files) + 1}"
                self.files[file_id] = "".join(json.dumps(r) + "\n" for r in rows).encode()
                batch[name] = file_id
        batch["request_counts"] = {"total": len(batch["lines"]), "completed": len(out), "failed": len(errors)}

    def fault(self, n: int) -> str | None:
        """The fault injected at completion ``n`` (None: a good answer); a function of the seed and ``n``."""
        if not self.fault_rate:
            return None
        rng = random.Random(f"{self.seed}:{n}")
        return rng.choice(self.fault_kinds) if rng.random() < self.fault_rate else None

    def _count(self, kind: str, *, injected: bool = False) -> None:
        with self._lock:
            self.served[kind] += 1
            if injected:
                self.served["injected"] += 1

    @property
    def injected(self) -> int:
        """Faults injected so far (every kind of :data:`FAULT_KINDS`; not ``admit_429`` or ``down``)."""
        with self._lock:
            return self.served["injected"]

    def _completion_body(self, n: int, text: str, *, chat: bool, body: dict | None = None) -> dict[str, Any]:
        body = body or {}
        finish = "length" if text.endswith("<<truncated>>") else "stop"
        text = text.removesuffix("<<truncated>>")
        usage = {"prompt_tokens": 50, "completion_tokens": 20, "total_tokens": 70}
        served = self.served_model or body.get("model") or self.model
        if chat:
            choice: dict[str, Any] = {"index": 0, "finish_reason": finish,
                                      "message": {"role": "assistant", "content": text}}  # fmt: skip
            if body.get("logprobs"):
                # a confident model: every token -0.1 (a whitespace split stands in for tokens)
                choice["logprobs"] = {"content": [{"token": t, "logprob": -0.1, "bytes": None,
                                                   "top_logprobs": []} for t in text.split()]}  # fmt: skip
            return {"id": f"c{n}", "object": "chat.completion", "created": 0, "model": served,
                    "system_fingerprint": self.fingerprint, "choices": [choice], "usage": usage}  # fmt: skip
        return {"id": f"c{n}", "object": "text_completion", "created": 0, "model": served,
                "choices": [{"index": 0, "text": text, "finish_reason": finish, "logprobs": None}],
                "usage": usage}  # fmt: skip

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
