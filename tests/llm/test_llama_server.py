"""The local server's logprobs sort (``ragft_eval.llm.llama_server.pairs_sorted``) returns exactly what
the builtin ``sorted`` returns: same elements, same order, same objects, on the inputs llama-cpp-python
gives it (a logprob row zipped with token ids) and on anything else."""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragft_eval.llm import LocalServer, LocalServerSpec
from ragft_eval.llm.llama_server import pairs_sorted, stable_order


def same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(x is y or (type(x) is type(y) and x == y) for x, y in zip(a, b, strict=True))


def test_a_vocabulary_row_sorts_like_the_builtin():
    rng = np.random.default_rng(0)
    row = rng.normal(size=262_144).astype(np.float32)
    row[rng.integers(0, row.size, 5000)] = row[0]  # many ties: ordered by token id
    row[:10] = -np.inf
    for values in (row, row.tolist()):
        for reverse in (True, False):
            got = pairs_sorted(zip(values, range(len(values)), strict=True), reverse=reverse)
            want = sorted(zip(values, range(len(values)), strict=True), reverse=reverse)
            assert [p[1] for p in got] == [p[1] for p in want]
            assert same(got, want)


pairs = st.lists(
    st.tuples(
        st.sampled_from([0.0, -0.0, 1.5, -2.0, float("-inf"), float("inf")]) | st.floats(allow_nan=False),
        st.integers(-3, 3),
    ),
    min_size=0,
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(pairs, st.booleans(), st.integers(0, 4100))
def test_equal_to_the_builtin_on_small_and_padded_inputs(items, reverse, pad):
    # pad pushes the input over the fast-path size; duplicates, signed zeros and infinities stay in
    items = items + [(float(i % 7), i % 5) for i in range(pad)]
    assert same(pairs_sorted(iter(items), reverse=reverse), sorted(items, reverse=reverse))


def test_other_inputs_go_to_the_builtin():
    mixed = [(1.0, 1)] * 5000 + [(2, 2)]
    assert pairs_sorted(mixed, reverse=True) == sorted(mixed, reverse=True)
    nan = [(float("nan"), 1)] + [(float(i), i) for i in range(5000)]
    assert same(pairs_sorted(nan), sorted(nan))
    words = ["b", "a", "c"] * 2000
    assert pairs_sorted(words, key=str.upper) == sorted(words, key=str.upper)


class StockServer(LocalServer):
    """The same local server launched as the stock ``python -m llama_cpp.server``: the reference."""

    def command(self, port: int) -> list[str]:
        cmd = super().command(port)
        return [cmd[0], "-m", "llama_cpp.server", *cmd[3:]]


@pytest.mark.model
def test_the_server_returns_the_stock_servers_logprobs(gguf_path):
    """Real llama.cpp servers, ours and the stock one, with logits_all: the same text, token logprobs and
    top logprobs for a greedy completion (the fast sort changes speed, never an answer)."""
    spec = LocalServerSpec(logits_all=True)
    body = {"model": "lp", "prompt": "Question: What is the capital of France?\nAnswer:", "max_tokens": 12,
            "temperature": 0.0, "logprobs": 3, "seed": 0}  # fmt: skip

    def complete(server) -> dict:
        asyncio.run(server.start())
        try:
            resp = httpx.post(f"{server.base_url}/completions", json=body, timeout=120)
            resp.raise_for_status()
            return resp.json()["choices"][0]
        finally:
            server.stop()

    ours = complete(LocalServer(spec, alias="lp", gguf=gguf_path))
    stock = complete(StockServer(spec, alias="lp", gguf=gguf_path))
    assert ours["text"] == stock["text"] and ours["text"].strip()
    assert ours["logprobs"]["tokens"] == stock["logprobs"]["tokens"]
    assert ours["logprobs"]["token_logprobs"] == pytest.approx(stock["logprobs"]["token_logprobs"], abs=1e-6)
    assert [list(t) for t in ours["logprobs"]["top_logprobs"]] == [list(t) for t in stock["logprobs"]["top_logprobs"]]


def test_the_fast_float32_order_is_numpys_stable_order():
    """The packed-key sort of float32 rows equals numpy's stable argsort: ties by position, -0.0 equal to
    0.0 (as Python compares them), infinities at the ends."""
    rng = np.random.default_rng(1)
    row = rng.normal(size=262_144).astype(np.float32)
    row[rng.integers(0, row.size, 5000)] = row[3]
    row[:10], row[10:20], row[20:30], row[30:40] = -np.inf, np.inf, -0.0, 0.0
    assert np.array_equal(stable_order(row), np.argsort(row, kind="stable"))
    rng.shuffle(row)
    assert np.array_equal(stable_order(row), np.argsort(row, kind="stable"))
    assert np.array_equal(stable_order(row.astype(np.float64)), np.argsort(row, kind="stable"))
