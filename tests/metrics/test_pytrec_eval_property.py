"""Property test: score() equals pytrec_eval to 1e-9 on randomized runs with many ties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragft_eval.metrics.retrieval import score

pytrec_eval = pytest.importorskip("pytrec_eval", reason="pytrec-eval-terrier is a test dependency")

MEASURES = [
    "P_1",
    "P_3",
    "P_10",
    "recall_2",
    "recall_10",
    "recip_rank",
    "map",
    "map_cut_5",
    "ndcg",
    "ndcg_cut_3",
    "ndcg_cut_10",
    "success_1",
    "success_5",
]
PYTREC_NAMES = {"P", "recall", "recip_rank", "map", "map_cut", "ndcg", "ndcg_cut", "success"}

docs = st.sampled_from([f"d{i}" for i in range(12)])
# few distinct scores -> many ties
scores = st.sampled_from([0.0, 0.5, 1.0, 1.5, 2.0])
labels = st.integers(min_value=0, max_value=3)
query = st.tuples(
    st.dictionaries(docs, labels, min_size=0, max_size=8),
    st.dictionaries(docs, scores, min_size=1, max_size=12),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(query, min_size=1, max_size=5))
def test_equals_pytrec_eval(queries):
    qrels = {f"q{i}": q for i, (q, _) in enumerate(queries)}
    run = {f"q{i}": r for i, (_, r) in enumerate(queries)}
    # pytrec_eval's cutoff measures are requested as "P.1,3,10" style
    evaluator = pytrec_eval.RelevanceEvaluator(
        qrels,
        {"P.1,3,10", "recall.2,10", "recip_rank", "map", "map_cut.5", "ndcg", "ndcg_cut.3,10", "success.1,5"},
    )
    theirs = evaluator.evaluate(run)
    ours = score(qrels, run, MEASURES)
    assert set(ours) == set(theirs)
    for qid in ours:
        for m in MEASURES:
            assert ours[qid][m] == pytest.approx(theirs[qid][m], abs=1e-9), (qid, m, qrels[qid], run[qid])
