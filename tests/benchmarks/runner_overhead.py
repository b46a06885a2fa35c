"""Benchmark: what the harness's call path costs over a bare HTTP client, against an endpoint of fixed latency.

Run: python tests/benchmarks/runner_overhead.py [--calls 2000] [--concurrency 32] [--latency 0.1]

N chat calls at concurrency C to a loopback server that answers every call after ``latency`` seconds,
printed side by side in one run: the harness (``ModelClient.call``: the endpoint's limiter, retry policy
and breaker on; and, when the call cache is there, through the cache, cold: every request a miss that is
written), a bare ``httpx.AsyncClient`` posting the same JSON, and the ideal ``N x latency / C``.  Two
servers, both on 127.0.0.1 in a process of their own (so they do not share the client's interpreter): the
threaded stand-in of the tests (``tests/judges/fault_server.py``) and a lighter uvicorn/starlette app.
A script, not a test: nothing here is collected by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
MODEL = "bench-model"
COMPLETION = {"id": "c0", "object": "chat.completion", "created": 0, "model": MODEL, "system_fingerprint": "fp_bench",
              "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "ok"}}],
              "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6}}  # fmt: skip


# --- the servers, each in a process of its own ---------------------------------------------------------


def _threaded(conn, latency: float) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.judges.fault_server import FaultServer

    with FaultServer(models=[MODEL], delay_s=latency) as server:
        conn.send(server.base_url)
        conn.recv()  # until told to stop


def _uvicorn(conn, latency: float) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def models(request: Request) -> JSONResponse:
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0,
                                                         "owned_by": "bench"}]})  # fmt: skip

    async def chat(request: Request) -> JSONResponse:
        await request.json()
        await asyncio.sleep(latency)
        return JSONResponse(COMPLETION)

    app = Starlette(routes=[Route("/v1/models", models), Route("/v1/chat/completions", chat, methods=["POST"])])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))

    def stop() -> None:
        conn.recv()
        server.should_exit = True

    threading.Thread(target=stop, daemon=True).start()
    conn.send(f"http://127.0.0.1:{sock.getsockname()[1]}/v1")
    server.run(sockets=[sock])


class Served:
    """One server process: ``with Served(target, latency) as base_url``."""

    def __init__(self, target, latency: float):
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(child, latency), daemon=True)

    def __enter__(self) -> str:
        self.proc.start()
        if not self.conn.poll(30):
            raise RuntimeError("the server did not start within 30 s")
        base_url = self.conn.recv()
        for _ in range(100):  # bounded: 10 s for it to answer
            try:
                httpx.get(base_url + "/models", timeout=1).raise_for_status()
                return base_url
            except httpx.HTTPError:
                if not self.proc.is_alive():
                    break
                time.sleep(0.1)
        raise RuntimeError(f"the server at {base_url} does not answer (process exit code {self.proc.exitcode})")

    def __exit__(self, *exc: object) -> None:
        self.conn.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.terminate()


# --- the clients ---------------------------------------------------------------------------------------


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question {i}: how long do pagination cursors stay valid?"}]


async def harness(base_url: str, n: int, concurrency: int, *, cache_dir: Path | None = None) -> tuple[float, str]:
    """N calls through ``ModelClient.call`` (limits, retries, breaker); all N at once, gated by the limiter."""
    from ragft_eval.llm import ModelClient, ModelRequest, ModelSpec

    spec = ModelSpec(model=MODEL, base_url=base_url, max_tokens=16, limits={"concurrency": concurrency})
    client = ModelClient("bench", spec, base_dir=ROOT)
    await client.start()
    call = client.call
    cache = None
    if cache_dir is not None:
        from ragft_eval.llm.cache import CallCache, cache_key, model_identity

        cache = CallCache(cache_dir)
        identity = model_identity(client.describe())

        async def call(request):  # read_write on a cold cache: a miss, the call, a write
            return await cache.through(cache_key(identity, request), identity, "read_write",
                                       lambda: client.call(request))  # fmt: skip

    try:
        await call(ModelRequest.chat(_messages(-1)))  # connect and warm up, off the clock
        requests = [ModelRequest.chat(_messages(i)) for i in range(n)]
        t0 = time.perf_counter()
        out = await asyncio.gather(*(call(r) for r in requests))
        wall = time.perf_counter() - t0
        assert all(r.text == "ok" and r.attempts == 1 for r in out)
        summary = client.endpoint.summary()
    finally:
        await client.close()
        if cache is not None:
            cache.close()
    lim = summary["limit"]
    return wall, f"attempts {summary['attempts']}, peak in flight {lim['peak_in_flight']}, 429s {lim['throttled']}"


async def bare(base_url: str, n: int, concurrency: int) -> tuple[float, str]:
    """N posts of the same JSON with a bare ``httpx.AsyncClient``, at most ``concurrency`` at once."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    gate = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base_url + "/", timeout=120, limits=limits) as http:

        async def one(i: int) -> str:
            async with gate:
                r = await http.post("chat/completions", json={"model": MODEL, "messages": _messages(i),
                                                                "max_tokens": 16})  # fmt: skip
                r.raise_for_status()
                return r.json()["choices"][0]["message"]["content"]

        await one(-1)
        t0 = time.perf_counter()
        out = await asyncio.gather(*(one(i) for i in range(n)))
        wall = time.perf_counter() - t0
    assert all(t == "ok" for t in out)
    return wall, ""


def _has_cache() -> bool:
    try:
        from ragft_eval.llm.cache import CallCache, cache_key, model_identity  # noqa: F401
    except ImportError:
        return False
    return True


def main(n: int, concurrency: int, latency: float) -> None:
    ideal = n * latency / concurrency
    print(f"{n} chat calls, concurrency {concurrency}, server latency {latency * 1000:.0f} ms, all on 127.0.0.1; "
          f"ideal = {n} x {latency} / {concurrency} = {ideal:.2f} s")  # fmt: skip
    print(f"{'server':22} {'client':38} {'wall s':>7} {'x ideal':>8} {'calls/s':>8}  notes")
    for label, target in (("threaded stand-in", _threaded), ("uvicorn + starlette", _uvicorn)):
        with Served(target, latency) as base_url:
            rows = [("ModelClient.call (limits+retries)", asyncio.run(harness(base_url, n, concurrency)))]
            if _has_cache():
                with tempfile.TemporaryDirectory() as d:
                    rows.append(("  + call cache, cold", asyncio.run(harness(base_url, n, concurrency,
                                                                             cache_dir=Path(d)))))  # fmt: skip
            rows.append(("bare httpx.AsyncClient", asyncio.run(bare(base_url, n, concurrency))))
        for name, (wall, notes) in rows:
            print(f"{label:22} {name:38} {wall:7.2f} {wall / ideal:8.2f} {n / wall:8.0f}  {notes}")
        print(f"{label:22} {'ideal':38} {ideal:7.2f} {1:8.2f} {n / ideal:8.0f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    main(args.calls, args.concurrency, args.latency)
