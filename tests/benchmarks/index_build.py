"""Benchmark: building the demo corpus's indexes — BM25 (bm25s) and dense (MiniLM) — through ragft-eval
(cold: nothing cached; warm: loaded from the on-disk cache) beside bm25s and sentence-transformers called
directly on the same texts.

Run: python tests/benchmarks/index_build.py
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from ragft_eval.golden import load_golden_set
from ragft_eval.retrieval import BM25Retriever, DenseRetriever, chunk_documents
from ragft_eval.retrieval.dense import load_encoder, model_path

ROOT = Path(__file__).resolve().parents[2]


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    import bm25s

    docs = load_golden_set(ROOT / "golden_sets" / "demo").corpus_as_of()
    texts = [c.text for c in chunk_documents(docs, None)]
    encoder = load_encoder(model_path("all-MiniLM-L6-v2"))  # model load excluded from every row
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        rows = []
        for name, make in (("bm25", BM25Retriever), ("dense", DenseRetriever)):
            cold = timed(lambda make=make: asyncio.run(make().build(docs, cache)))
            warm = timed(lambda make=make: asyncio.run(make().build(docs, cache)))
            rows.append((name, cold, warm))

    def raw_bm25():
        index = bm25s.BM25(method="lucene")
        index.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)

    raw = {"bm25": timed(raw_bm25),
           "dense": timed(lambda: encoder.encode(texts, batch_size=64, normalize_embeddings=True,
                                                 show_progress_bar=False))}  # fmt: skip
    print(f"demo corpus: {len(docs)} documents (latest versions)")
    print(f"{'index':6} {'ragft-eval cold':>16} {'ragft-eval warm':>16} {'library directly':>17}")
    for name, cold, warm in rows:
        print(f"{name:6} {cold:15.3f}s {warm:15.3f}s {raw[name]:16.3f}s")


if __name__ == "__main__":
    main()
