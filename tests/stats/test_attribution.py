"""Failure attribution (:func:`ragft_eval.stats.attribution.attribute`) on hand-built case results.

Each test builds the few cases that decide one rule of the docstring: the four categories, the prompt's
documents rather than the longer retrieved list, errors as wrong answers, and every reason a case is left
out.
"""

from __future__ import annotations

from typing import Any

import pytest

from ragft_eval.records import CaseResult, ErrorInfo, MetricResult, Response, RetrievedDoc
from ragft_eval.stats.attribution import attribute

HEADLINE = {"factual": "token_recall", "json": "json_field_match"}
GS = "gs"


def _result(
    case_id: str,
    value: float | None = None,
    *,
    system: str = "rag",
    task_type: str = "factual",
    context_docs: list[str] | None = None,
    retrieved: list[str] | None = None,
    error: bool = False,
    metric: MetricResult | None = None,
    extra: dict[str, Any] | None = None,
) -> CaseResult:
    extra = dict(extra or {})
    if context_docs is not None:
        extra["context_doc_ids"] = context_docs
    docs = None if retrieved is None else tuple(RetrievedDoc(doc_id=d, rank=i) for i, d in enumerate(retrieved, 1))
    response = Response(
        case_id=case_id,
        system=system,
        answer=None if error else "an answer",
        retrieved=docs,
        extra=extra,
        error=ErrorInfo(type="Boom", message="failed") if error else None,
    )
    if metric is None:
        name = HEADLINE[task_type]
        metric = (MetricResult.error(name, "system error: Boom: failed") if error
                  else MetricResult.scored(name, value))  # fmt: skip
    return CaseResult(run_id="r", system=system, case_id=case_id, golden_set=GS, task_type=task_type,
                      response=response, results=(metric,))  # fmt: skip


def _labels(*case_ids: str, doc: str = "d1") -> dict[tuple[str, str], dict[str, int]]:
    return {(GS, c): {doc: 1, "d-irrelevant": 0} for c in case_ids}


def test_the_four_categories_with_counts_shares_and_case_ids():
    results = [
        _result("c1", 1.0, context_docs=["d1", "d2"]),  # right
        _result("c2", 0.0, context_docs=["d2", "d3"]),  # wrong, relevant doc not in the prompt
        _result("c3", 0.2, context_docs=["d3", "d1"]),  # wrong although d1 was in the prompt
        _result("c4", 0.0, context_docs=[]),  # retrieved nothing: a retrieval miss
        _result("c1", 0.0, system="prompt-only"),  # no retrieval, wrong
        _result("c2", 0.9, system="prompt-only"),  # no retrieval, right: correct wins
    ]
    prompt_only, rag = attribute(results, _labels("c1", "c2", "c3", "c4"), HEADLINE)
    assert prompt_only.system == "prompt-only" and rag.system == "rag"  # sorted by system
    assert rag.correct == ((GS, "c1"),)
    assert rag.retrieval_miss == ((GS, "c2"), (GS, "c4"))
    assert rag.generation_miss == ((GS, "c3"),)
    assert rag.no_retrieval == ()
    assert rag.counts == {"retrieval_miss": 2, "generation_miss": 1, "no_retrieval": 0, "correct": 1}
    assert rag.shares == {"retrieval_miss": 0.5, "generation_miss": 0.25, "no_retrieval": 0.0, "correct": 0.25}
    assert rag.n_attributed == 4 and rag.n_left_out == 0 and rag.share_reason is None
    assert prompt_only.no_retrieval == ((GS, "c1"),) and prompt_only.correct == ((GS, "c2"),)


def test_the_prompt_documents_decide_not_the_longer_retrieved_list():
    # d1 was retrieved at rank 5 (it counts for recall@10) but the model saw only the top 2 docs
    results = [_result("c1", 0.0, context_docs=["d2", "d3"], retrieved=["d2", "d3", "d4", "d5", "d1"])]
    (rag,) = attribute(results, _labels("c1"), HEADLINE)
    assert rag.retrieval_miss == ((GS, "c1"),)
    assert rag.generation_miss == ()


def test_grade_zero_documents_are_not_relevant():
    results = [_result("c1", 0.0, context_docs=["d-irrelevant"])]
    (rag,) = attribute(results, _labels("c1"), HEADLINE)
    assert rag.retrieval_miss == ((GS, "c1"),)


def test_the_threshold_is_inclusive_and_per_call():
    results = [_result("c1", 0.5, context_docs=["d1"]), _result("c2", 0.49, context_docs=["d1"])]
    (default,) = attribute(results, _labels("c1", "c2"), HEADLINE)
    assert default.correct == ((GS, "c1"),) and default.generation_miss == ((GS, "c2"),)
    (strict,) = attribute(results, _labels("c1", "c2"), HEADLINE, threshold=0.8)
    assert strict.correct == () and strict.threshold == 0.8
    assert strict.generation_miss == ((GS, "c1"), (GS, "c2"))


def test_the_headline_metric_is_chosen_by_task_type():
    field_match = MetricResult.scored("json_field_match", 0.0)
    results = [
        _result("c1", task_type="json", context_docs=["d1"], metric=field_match),
        # a token_recall result on a json case is not its headline: left out
        _result("c2", task_type="json", context_docs=["d1"], metric=MetricResult.scored("token_recall", 1.0)),
    ]
    (rag,) = attribute(results, _labels("c1", "c2"), HEADLINE)
    assert rag.generation_miss == ((GS, "c1"),)
    assert rag.left_out_reasons == {"headline metric json_field_match not among the case's results": 1}


def test_a_system_error_is_a_wrong_answer():
    # one response records its prompt's docs, so the system retrieves; an error that recorded nothing
    # cannot be attributed, one that recorded the docs can
    results = [
        _result("c1", 1.0, context_docs=["d1"]),
        _result("c2", error=True),
        _result("c3", error=True, context_docs=["d2"]),
        _result("c1", error=True, system="prompt-only"),
    ]
    prompt_only, rag = attribute(results, _labels("c1", "c2", "c3"), HEADLINE)
    assert rag.retrieval_miss == ((GS, "c3"),)
    assert [lo.case_id for lo in rag.left_out] == ["c2"]
    assert rag.left_out[0].reason == "system error before the documents given to the model were recorded"
    assert prompt_only.no_retrieval == ((GS, "c1"),)


def test_left_out_cases_are_counted_with_their_reasons():
    judge_error = MetricResult.error("token_recall", "judge error: down", details={"stage": "metric"})
    latency = MetricResult.scored("token_recall", 0.1, unit="s", higher_is_better=False)
    results = [
        _result("no-labels", 0.0, context_docs=["d1"]),
        _result("nothing-relevant", 0.0, context_docs=["d1"]),
        _result("unscored", context_docs=["d1"], metric=MetricResult.unscored("token_recall", "not selected")),
        _result("scorer-error", context_docs=["d1"], metric=judge_error),
        _result("wrong-kind", context_docs=["d1"], metric=latency),
        _result("no-headline", task_type="style", context_docs=["d1"], metric=MetricResult.scored("format_match", 0.0)),
        _result("docs-unknown", 0.0, retrieved=["d1"]),  # records retrieval but not the prompt's documents
    ]
    relevant = {**_labels("nothing-relevant", "unscored", "scorer-error", "wrong-kind", "no-headline", "docs-unknown"),
                (GS, "nothing-relevant"): {"d1": 0}}  # fmt: skip
    (rag,) = attribute(results, relevant, HEADLINE)
    assert rag.n_attributed == 0
    assert rag.shares == dict.fromkeys(rag.counts)  # None, not 0, with nothing attributed
    assert rag.share_reason == "no case could be attributed"
    reasons = {lo.case_id: lo.reason for lo in rag.left_out}
    assert reasons == {
        "docs-unknown": "the documents given to the model are not recorded (extra.context_doc_ids)",
        "no-headline": "no headline metric for task type 'style'",
        "no-labels": "no relevance labels",
        "nothing-relevant": "no document labelled relevant (grade >= 1)",
        "scorer-error": "headline metric token_recall scorer error: judge error: down",
        "unscored": "headline metric token_recall unscored: not selected",
        "wrong-kind": "headline metric token_recall is not a higher-is-better quality metric (unit s)",
    }
    assert rag.n_left_out == 7 and sum(rag.left_out_reasons.values()) == 7


def test_a_malformed_context_doc_list_is_left_out_not_guessed():
    results = [_result("c1", 0.0, extra={"context_doc_ids": "d1"})]
    (rag,) = attribute(results, _labels("c1"), HEADLINE)
    assert rag.left_out[0].reason == "extra.context_doc_ids is not a list of doc ids"


def test_as_dict_is_plain_data_and_the_threshold_is_checked():
    (rag,) = attribute([_result("c1", 1.0, context_docs=["d1"])], _labels("c1"), HEADLINE)
    d = rag.as_dict()
    assert d["cases"]["correct"] == [[GS, "c1"]] and d["counts"]["correct"] == 1 and d["shares"]["correct"] == 1.0
    with pytest.raises(ValueError, match="threshold"):
        attribute([], {}, HEADLINE, threshold=1.5)
    assert attribute([], {}, HEADLINE) == []
