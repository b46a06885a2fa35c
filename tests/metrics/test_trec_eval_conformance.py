"""Our retrieval metrics reproduce trec_eval's own expected per-query output (test/out.test.aq = -a -q)."""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from ragft_eval.metrics.retrieval import score
from tests.conftest import shared_dataset

MEASURE = re.compile(r"^(P|recall|success|ndcg_cut|map_cut)_\d+$|^(recip_rank|map|ndcg)$")


def _read(folder):
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (folder / "qrels.test").read_text().splitlines():
        qid, _, doc, rel = line.split()
        qrels[qid][doc] = int(rel)
    run: dict[str, dict[str, float]] = defaultdict(dict)
    for line in (folder / "results.test").read_text().splitlines():
        qid, _, doc, _rank, sim, _tag = line.split()
        run[qid][doc] = float(sim)
    expected: dict[str, dict[str, float]] = defaultdict(dict)
    for line in (folder / "out.test.aq").read_text().splitlines():
        name, qid, value = line.split()
        if MEASURE.match(name) and qid != "all":
            expected[qid][name] = float(value)
    return qrels, run, expected


def test_reproduces_trec_eval_expected_output_per_query():
    folder = shared_dataset("trec_eval", "test")
    qrels, run, expected = _read(folder)
    measures = sorted({m for per_q in expected.values() for m in per_q})
    assert len(measures) >= 30 and set(expected) == {"301", "302", "303"}
    ours = score(qrels, run, measures)
    for qid, per_q in expected.items():
        for name, want in per_q.items():
            # trec_eval prints 4 decimals
            assert ours[qid][name] == pytest.approx(want, abs=5.1e-5), (qid, name)


def test_query_without_relevant_docs_scores_zero_like_trec_eval():
    out = score(
        {"q": {"a": 0}},
        {"q": {"a": 1.0}},
        ["P_1", "recall_1", "ndcg_cut_1", "recip_rank", "map", "success_1"],
    )
    assert out == {
        "q": {"P_1": 0.0, "recall_1": 0.0, "ndcg_cut_1": 0.0, "recip_rank": 0.0, "map": 0.0, "success_1": 0.0}
    }


def test_precision_divides_by_k_even_when_fewer_retrieved():
    assert score({"q": {"a": 1}}, {"q": {"a": 1.0}}, ["P_5"]) == {"q": {"P_5": 0.2}}


def test_ties_broken_by_doc_id_descending():
    # equal scores: "b" ranks before "a"
    assert score({"q": {"a": 1}}, {"q": {"a": 1.0, "b": 1.0}}, ["recip_rank"])["q"]["recip_rank"] == 0.5


def test_unknown_measure_is_rejected_with_the_expected_names():
    with pytest.raises(ValueError, match="unknown measure 'P@5'; expected one of P_k"):
        score({}, {}, ["P@5"])
