"""Benchmark: generation tokens/s through ragft-eval's model client vs calling the llama.cpp server
directly, with the same prompts and parameters, on one server, interleaved (so drift hits both sides).

Run: python tests/benchmarks/llm_overhead.py [--prompts 20]
Target: overhead ratio (direct tokens/s / ours) <= 1.10.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

import httpx

from ragft_eval import prompts
from ragft_eval.golden import load_golden_set
from ragft_eval.llm import ModelClient, ModelSpec

ROOT = Path(__file__).resolve().parents[2]


async def main(n: int) -> None:
    gs = load_golden_set(ROOT / "golden_sets" / "demo")
    cases = [c for c in gs.select(splits=["test"]) if c.expected and c.expected.json_value is None][:n]
    texts = [prompts.render(prompts.PROMPT_ONLY, c)[0] for c in cases]
    spec = ModelSpec(model="gemma", local={"n_threads": 2}, max_tokens=48, stop=())
    client = ModelClient("gemma", spec, base_dir=ROOT)
    await client.start()
    body = {"model": "gemma", "max_tokens": 48, "temperature": 0.0, "seed": 0, "repeat_penalty": 1.0}
    ours = [0, 0.0]
    direct = [0, 0.0]
    try:
        async with httpx.AsyncClient(base_url=client.server.base_url, timeout=120) as http:
            for text in texts:
                t = time.perf_counter()
                r = (await http.post("/completions", json={**body, "prompt": text})).json()
                direct[1] += time.perf_counter() - t
                direct[0] += r["usage"]["completion_tokens"]
                t = time.perf_counter()
                out = await client.complete(text, max_tokens=48, stop=())
                ours[1] += time.perf_counter() - t
                ours[0] += out.completion_tokens
    finally:
        await client.close()
    d, o = direct[0] / direct[1], ours[0] / ours[1]
    print(f"{len(texts)} prompts, 48 max tokens, greedy, one llama.cpp server (n_threads 2)")
    print(f"{'':22} {'tokens':>7} {'seconds':>8} {'tokens/s':>9}")
    print(f"{'llama.cpp directly':22} {direct[0]:7d} {direct[1]:8.2f} {d:9.1f}")
    print(f"{'ragft-eval client':22} {ours[0]:7d} {ours[1]:8.2f} {o:9.1f}")
    print(f"overhead ratio (direct / ours): {d / o:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=20)
    asyncio.run(main(ap.parse_args().prompts))
