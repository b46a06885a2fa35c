"""Benchmark: score a 10,000-query x 1,000-doc run with ragft-eval and with pytrec_eval, side by side.

Run: python tests/benchmarks/retrieval_metrics.py [--queries 10000] [--docs 1000]
Both get the same dicts and the same measures; the values are checked equal before timing is reported.
"""

from __future__ import annotations

import argparse
import random
import time

MEASURES = ["P_5", "P_10", "recall_10", "recall_100", "recip_rank", "ndcg_cut_10", "map", "success_5"]
PYTREC = {"P.5,10", "recall.10,100", "recip_rank", "ndcg_cut.10", "map", "success.5"}


def make_data(n_queries: int, n_docs: int, seed: int = 0):
    rng = random.Random(seed)
    qrels, run = {}, {}
    for q in range(n_queries):
        qid = f"q{q}"
        rel = rng.sample(range(n_docs * 2), 20)
        qrels[qid] = {f"d{d}": rng.choice((0, 1, 1, 2)) for d in rel}
        # scores rounded to 2 decimals: many ties, as real BM25 runs have
        run[qid] = {f"d{d}": round(rng.random() * 10, 2) for d in rng.sample(range(n_docs * 2), n_docs)}
    return qrels, run


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=10_000)
    ap.add_argument("--docs", type=int, default=1_000)
    args = ap.parse_args()
    from ragft_eval.metrics.retrieval import score

    t = time.perf_counter()
    qrels, run = make_data(args.queries, args.docs)
    print(f"data: {args.queries} queries x {args.docs} docs built in {time.perf_counter() - t:.1f} s")

    t = time.perf_counter()
    ours = score(qrels, run, MEASURES)
    ours_s = time.perf_counter() - t

    try:
        import pytrec_eval
    except ImportError:
        print(f"ragft-eval   {ours_s:8.2f} s   (pytrec_eval not installed: pip install pytrec-eval-terrier)")
        return
    t = time.perf_counter()
    theirs = pytrec_eval.RelevanceEvaluator(qrels, PYTREC).evaluate(run)
    theirs_s = time.perf_counter() - t

    worst = max(abs(ours[q][m] - theirs[q][m]) for q in ours for m in MEASURES)
    print(f"{'':12} {'seconds':>8}   queries/s")
    print(f"{'ragft-eval':12} {ours_s:8.2f}   {args.queries / ours_s:9.0f}")
    print(f"{'pytrec_eval':12} {theirs_s:8.2f}   {args.queries / theirs_s:9.0f}")
    print(f"ratio ours/pytrec_eval: {ours_s / theirs_s:.2f}  (max abs difference of values: {worst:.1e})")


if __name__ == "__main__":
    main()
