"""Invariants every registered metric keeps, checked over a small synthetic golden set and responses.

For each metric in ``names("metric")`` (built with no parameters, and with ``k=3`` where it takes ``k``):
results are MetricResults named after the metric with status scored / unscored / error; scored values
are finite and quality metrics (unit ``ratio``) lie in [0, 1]; unscored and error results have a reason;
no NaN anywhere; ``undefined_reason`` agrees with ``score``; results do not depend on the order (or the
concurrency) in which cases are scored; the runner never calls ``score`` for a failed response; and a
retrieval metric scores a list with repeated doc ids as the same list without the repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import math
import random
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ragft_eval.errors import ConfigError
from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import Metric, ScoreContext, score_response
from ragft_eval.records import Case, ErrorInfo, Expected, MetricResult, Response, RetrievedDoc, Usage
from ragft_eval.registry import create, lookup, names

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
    "required": ["name", "age"],
}

CASES = (
    Case(
        id="fact",
        task_type="factual",
        input="How much is the Pro plan?",
        expected=Expected(answer="49 dollars", aliases=("$49",)),
        relevant_docs={"d1": 1, "d2": 2, "d3": 0},
    ),
    Case(
        id="city",
        task_type="factual",
        input="Capital of France?",
        expected=Expected(answer="Paris"),
        relevant_docs={"d4": 1},
    ),
    Case(id="unanswerable", task_type="unanswerable", input="What is the CEO's shoe size?", answerable=False),
    Case(
        id="json",
        task_type="json",
        input="Give Ada as JSON.",
        expected=Expected.model_validate({"json": {"name": "Ada", "age": 36}}),
        schema="person.json",
    ),
    Case(id="format", task_type="format", input="Month?", expected=Expected(pattern=r"^\d{4}-\d{2}$")),
    Case(
        id="no-rel", task_type="factual", input="Which doc?", expected=Expected(answer="none"), relevant_docs={"d1": 0}
    ),
    Case(id="schema-only", task_type="json", input="Any person.", schema="person.json", answerable=False),
    Case(id="code", task_type="code", input="Write add(a, b).",
         expected=Expected(tests="from solution import add\n\ndef test_add():\n    assert add(2, 3) == 5\n")),
)
GOLDEN = GoldenSet(
    path=Path("."),
    manifest=Manifest(name="synthetic", version="1"),
    cases=CASES,
    schemas={"person.json": PERSON},
)
CTX = ScoreContext(golden_set=GOLDEN)


def _docs(*ids: str) -> tuple[RetrievedDoc, ...]:
    return tuple(RetrievedDoc(doc_id=d, score=1.0 / r, rank=r) for r, d in enumerate(ids, 1))


GOOD_ANSWERS = {
    "fact": "It costs $49.",
    "city": "Paris",
    "unanswerable": "I don't know.",
    "json": '```json\n{"name": "Ada", "age": 36}\n```',
    "format": "2024-05",
    "no-rel": "none",
    "schema-only": '{"name": "Bob", "age": 7}',
    "code": "```python\ndef add(a, b):\n    return a + b\n```",
}


def _responses(case: Case) -> dict[str, Response]:
    """Variants of a response to ``case``: good, wrong, empty, refusing, and bare."""
    base = {"case_id": case.id, "system": "toy"}
    return {
        "good": Response(
            **base,
            answer=GOOD_ANSWERS[case.id],
            retrieved=_docs("d2", "d1", "d4", "d9"),
            context="The Pro plan costs $49 per month. Paris is the capital of France.",
            usage=Usage(prompt_tokens=120, completion_tokens=8, calls=1),
            latency_s=0.25,
            cost_usd=0.0001,
            extra={"route": "finetuned", "confidence": -0.4},
        ),
        "wrong": Response(
            **base,
            answer='{"name": 5, "age": -1} is my answer, the plan is free',
            retrieved=_docs("d9", "d8"),
            context="Unrelated text.",
            usage=Usage(prompt_tokens=50, completion_tokens=None, calls=1),
            latency_s=0.0,
            cost_usd=0.0,
            extra={"route": "rag", "confidence": -2.5},
        ),
        "empty": Response(**base, answer="", retrieved=(), context="", usage=Usage()),
        "refusal": Response(**base, answer="The answer is not mentioned in the documents.", extra={"abstained": True}),
        "bare": Response(**base),
    }


RESPONSES = {(c.id, variant): r for c in CASES for variant, r in _responses(c).items()}
CASE_BY_ID = {c.id: c for c in CASES}


def _service_needs(metric: Any) -> str | None:
    """Why a metric cannot be scored here (it needs a judge or another service), or None."""
    for attr in ("services", "requires_services", "needs_judge"):
        if getattr(metric, attr, None):
            return f"needs services ({attr}={getattr(metric, attr)!r}): judge-based metrics are not run here"
    return None


def _specs(name: str) -> list[dict[str, Any]]:
    """Parameters to build ``name`` with: none, and k=3 where it takes k (k=3 only where k is required)."""
    params = inspect.signature(lookup("metric", name)).parameters
    takes_k = "k" in params
    if "baseline" in params:  # pairwise metrics name the baseline system they compare against
        return [{"baseline": "base"}]
    specs = []
    try:
        create("metric", name)
        specs.append({})
    except ConfigError:
        if not takes_k:
            raise
    if takes_k:
        specs.append({"k": 3})
    return specs


def _metric_params() -> list[Any]:
    params = []
    for name in names("metric"):
        for spec in _specs(name):
            metric = create("metric", name, **spec)
            marks = [pytest.mark.skip(reason=why)] if (why := _service_needs(metric)) else []
            params.append(pytest.param(name, spec, id=metric.name, marks=marks))
    return params


METRIC_PARAMS = _metric_params()


def _fresh(name: str, spec: dict[str, Any]) -> Any:
    return create("metric", name, **spec)


def _score(metric: Any, case: Case, response: Response) -> MetricResult:
    return asyncio.run(metric.score(case, response, CTX))


def _walk_floats(value: Any):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _walk_floats(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _walk_floats(v)


def test_registry_lists_the_builtin_metrics():
    builtin = {
        "exact_match", "token_f1", "token_recall", "k_precision", "json_valid", "schema_valid",
        "json_field_match", "format_match", "abstention", "false_refusal", "latency", "tokens", "cost",
        "precision", "recall", "hit", "mrr", "ndcg", "map",
    }  # fmt: skip
    assert builtin <= set(names("metric"))
    assert len(METRIC_PARAMS) >= len(builtin)


@pytest.mark.parametrize(("name", "spec"), METRIC_PARAMS)
def test_results_are_well_formed(name, spec):
    metric = _fresh(name, spec)
    assert isinstance(metric, Metric)
    assert isinstance(metric.name, str) and metric.name
    assert metric.unit in {"ratio", "share", "s", "tokens", "usd"}
    statuses = set()
    for (case_id, variant), response in RESPONSES.items():
        case = CASE_BY_ID[case_id]
        where = f"{metric.name} on {case_id}/{variant}"
        result = _score(metric, case, response)
        assert isinstance(result, MetricResult), where
        assert (result.metric, result.unit, result.higher_is_better) == (
            metric.name,
            metric.unit,
            metric.higher_is_better,
        ), where
        assert result.status in {"scored", "unscored", "error"}, where
        statuses.add(result.status)
        if result.status == "scored":
            assert result.value is not None and math.isfinite(result.value), where
            if metric.unit in ("ratio", "share"):
                assert 0.0 <= result.value <= 1.0, (where, result.value)
            else:
                assert result.value >= 0.0, (where, result.value)
        else:
            assert result.value is None, where
            assert isinstance(result.reason, str) and result.reason.strip(), where
        assert not any(math.isnan(x) for x in _walk_floats(result.model_dump())), where
        assert MetricResult.model_validate_json(result.model_dump_json()) == result, where
    assert "scored" in statuses, f"{metric.name} scored nothing on the synthetic set"


@pytest.mark.parametrize(("name", "spec"), METRIC_PARAMS)
def test_undefined_reason_agrees_with_score(name, spec):
    metric = _fresh(name, spec)
    undefined = getattr(metric, "undefined_reason", None)
    if undefined is None:
        pytest.skip(f"{metric.name} has no undefined_reason")
    for (case_id, variant), response in RESPONSES.items():
        case = CASE_BY_ID[case_id]
        why = undefined(case)
        result = _score(metric, case, response)
        if why:
            assert (result.status, result.reason) == ("unscored", why), (metric.name, case_id, variant)
        # a defined metric may still be unscored for a response (e.g. no retrieval recorded), never for the case


def _all_results(metric: Any, keys: list[tuple[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {k: _score(metric, CASE_BY_ID[k[0]], RESPONSES[k]).model_dump() for k in keys}


@pytest.mark.parametrize(("name", "spec"), METRIC_PARAMS)
def test_results_do_not_depend_on_order(name, spec):
    metric = _fresh(name, spec)
    keys = list(RESPONSES)
    forward = _all_results(metric, keys)
    backward = _all_results(metric, keys[::-1])
    shuffled_keys = keys[:]
    random.Random(7).shuffle(shuffled_keys)
    shuffled = _all_results(metric, shuffled_keys)
    fresh = _all_results(_fresh(name, spec), shuffled_keys)

    async def concurrently() -> dict[tuple[str, str], dict[str, Any]]:
        results = await asyncio.gather(*(metric.score(CASE_BY_ID[k[0]], RESPONSES[k], CTX) for k in shuffled_keys))
        return {k: r.model_dump() for k, r in zip(shuffled_keys, results, strict=True)}

    assert forward == backward == shuffled == fresh == asyncio.run(concurrently())


class _Spy:
    """Records every call to a metric's ``score`` (which must never happen for a failed response)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def wrap(self, metric: Any) -> None:
        async def score(case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
            self.calls.append((metric.name, case.id))
            raise AssertionError("score called for a failed response")

        metric.score = score


@pytest.mark.parametrize(
    "error",
    [
        ErrorInfo(type="TimeoutError", message="took longer than 30 s", stage="timeout"),
        ErrorInfo(type="HTTPError", message="502 Bad Gateway", stage="system"),
    ],
    ids=["timeout", "system"],
)
def test_a_failed_response_never_reaches_score(error):
    metrics = [_fresh(*p.values) for p in METRIC_PARAMS if not p.marks]
    spy = _Spy()
    for metric in metrics:
        spy.wrap(metric)
    for case in CASES:
        # a partial answer and retrieval came back before the failure: they must be ignored
        failed = Response(
            case_id=case.id,
            system="toy",
            answer=GOOD_ANSWERS[case.id],
            retrieved=_docs("d1"),
            latency_s=1.0,
            error=error,
        )
        results = asyncio.run(score_response(case, failed, metrics, CTX))
        assert [r.metric for r in results] == [m.name for m in metrics]
        for metric, result in zip(metrics, results, strict=True):
            why = metric.undefined_reason(case) if hasattr(metric, "undefined_reason") else None
            where = (metric.name, case.id)
            assert (result.unit, result.higher_is_better) == (metric.unit, metric.higher_is_better), where
            if why:
                assert (result.status, result.reason) == ("unscored", why), where
            else:
                assert result.status == "error", where
                assert result.reason == f"{error.stage} error: {error.type}: {error.message}", where
            assert result.value is None, where
    assert spy.calls == []


def test_a_nan_from_a_system_never_becomes_a_record():
    with pytest.raises(ValidationError, match="latency_s: expected a finite number >= 0, got nan"):
        Response(case_id="fact", system="toy", answer="$49", latency_s=float("nan"))
    with pytest.raises(ValidationError, match="cost_usd: expected a finite number >= 0, got inf"):
        Response(case_id="fact", system="toy", answer="$49", cost_usd=float("inf"))


def test_response_rejects_nan():
    with pytest.raises(ValidationError):
        Response(case_id="fact", system="toy", latency_s=float("nan"))


def _retrieval_metrics() -> list[Any]:
    """Every registered metric that scores ``response.retrieved``: without k where it allows that, and at
    several k (below, at and beyond the lengths of the lists below)."""
    out = []
    for name in names("metric"):
        params = inspect.signature(lookup("metric", name)).parameters
        if "baseline" in params:
            continue
        for k in (None, 1, 2, 3, 5, 10) if "k" in params else (None,):
            with contextlib.suppress(ConfigError):  # k is required (precision@k) or other parameters are
                metric = create("metric", name) if k is None else create("metric", name, k=k)
                if getattr(metric, "needs", None) == "retrieved":
                    out.append(metric)
    return out


DUP_CASE = Case(
    id="dup",
    task_type="factual",
    input="q?",
    expected=Expected(answer="x"),
    relevant_docs={"d1": 1, "d2": 2, "d3": 0, "d4": 1, "d5": 3},
)


def _lists_with_duplicates() -> list[list[str]]:
    """Retrieved doc ids with repeats (several chunks of one doc): hand-picked ones, then seeded random ones."""
    lists = [
        ["d1", "d1", "d1"],
        ["d9", "d9", "d1", "d1", "d3", "d2", "d1", "d2", "d5"],  # a repeated miss ahead of the first hit
        ["d5", "d5", "d5", "d5", "d2", "d4"],  # the best doc repeated: P@k and recall@k would count it k times
        ["d3", "d3", "d8", "d1"],
        ["d9", "d9", "d8", "d8", "d7", "d7", "d3", "d3", "d9", "d8", "d1"],  # repeated misses push the hit past 10
    ]
    rng = random.Random(13)
    pool = ["d1", "d2", "d3", "d4", "d5", "d7", "d8", "d9"]
    while len(lists) < 40:
        ids = [rng.choice(pool) for _ in range(rng.randint(2, 12))]
        if len(set(ids)) < len(ids):
            lists.append(ids)
    return lists


def test_retrieval_metrics_count_a_duplicated_doc_once_at_its_first_rank():
    """A doc id listed twice counts once, at its best rank: the value on a list with duplicates equals the
    value on the same list with them removed (first occurrence kept, ranks renumbered)."""
    metrics = _retrieval_metrics()
    assert {m.name.split("@")[0] for m in metrics} >= {"precision", "recall", "hit", "mrr", "ndcg", "map"}
    mismatches = []
    for ids in _lists_with_duplicates():
        with_dups = Response(case_id="dup", system="toy", retrieved=_docs(*ids))
        deduped = Response(case_id="dup", system="toy", retrieved=_docs(*dict.fromkeys(ids)))
        for metric in metrics:
            got, want = _score(metric, DUP_CASE, with_dups), _score(metric, DUP_CASE, deduped)
            assert want.status == "scored" and 0.0 <= want.value <= 1.0, (metric.name, ids, want)
            if got.model_dump() != want.model_dump():
                mismatches.append(f"{metric.name} on {ids}: {got.value} with duplicates, {want.value} without")
    assert not mismatches, "\n".join(mismatches)
