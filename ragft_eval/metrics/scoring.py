"""Scoring one response: the one status rule, for the immediate pass and the pairwise (deferred) pass.

:func:`precheck` decides a result before the metric is called, in this order:

1. the metric is undefined for the case whatever the answer (its ``undefined_reason``, including cases
   a ``where:`` did not select) -> ``unscored``;
2. the metric needs something the system never records (recall of a system that does not retrieve)
   -> ``unscored``: it was never the system's to fail;
3. a pairwise metric on the baseline system itself -> ``unscored`` ("this system is the baseline");
4. the system failed on the case -> ``error`` (the system's error: counted as a failure);
5. a pairwise metric whose baseline has no response, or failed, for the case -> ``unscored``.

Otherwise the metric is called; an exception inside it is a scorer error (``details.stage = "metric"``),
not the system's.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import RunStopped
from ..records import Case, MetricResult, Response
from ._base import Metric, PairMetric, ScoreContext, not_recorded_reason


def _unscored(metric: Metric, reason: str) -> MetricResult:
    return MetricResult.unscored(metric.name, reason, unit=metric.unit, higher_is_better=metric.higher_is_better)


def precheck(
    metric: Metric,
    case: Case,
    response: Response,
    *,
    records: frozenset[str] | None,
    pair: tuple[str, Response | None] | None = None,
) -> MetricResult | None:
    """The result the status rule decides without calling the metric (None: call it).

    ``pair`` is ``(baseline system, its response or None)`` for a pairwise metric.
    """
    if why := metric.undefined_reason(case):
        return _unscored(metric, why)
    if metric.needs is not None and records is not None and metric.needs not in records:
        return _unscored(metric, not_recorded_reason(metric.needs))
    if pair is not None and response.system == pair[0]:
        return _unscored(metric, "this system is the baseline")
    if response.error is not None:
        err = response.error
        reason = f"{err.stage} error: {err.type}: {err.message}"
        return MetricResult.error(metric.name, reason, unit=metric.unit, higher_is_better=metric.higher_is_better)
    if pair is not None:
        baseline, other = pair
        if other is None:
            return _unscored(metric, f"the baseline {baseline!r} has no response for this case in this run")
        if other.failed:
            return _unscored(metric, f"the baseline {baseline!r} failed on this case")
    return None


def _scorer_error(metric: Metric, exc: Exception) -> MetricResult:
    return MetricResult.error(metric.name, f"metric failed: {type(exc).__name__}: {exc}", unit=metric.unit,
                              higher_is_better=metric.higher_is_better, details={"stage": "metric"})  # fmt: skip


async def score_response(
    case: Case,
    response: Response,
    metrics: Sequence[Metric],
    ctx: ScoreContext,
    records: frozenset[str] | None = None,
) -> list[MetricResult]:
    """Every (non-pairwise) metric's result for one response, under the status rule."""
    out = []
    for metric in metrics:
        decided = precheck(metric, case, response, records=records)
        if decided is not None:
            out.append(decided)
            continue
        try:
            out.append(await metric.score(case, response, ctx))
        except RunStopped:
            raise
        except Exception as exc:  # the scorer failed, not the system: not counted against it
            out.append(_scorer_error(metric, exc))
    return out


async def score_pair(
    metric: PairMetric,
    case: Case,
    response: Response,
    baseline: Response | None,
    ctx: ScoreContext,
    records: frozenset[str] | None = None,
) -> MetricResult:
    """A pairwise metric's result for one response against the baseline's response to the same case."""
    assert metric.baseline is not None
    decided = precheck(metric, case, response, records=records, pair=(metric.baseline, baseline))
    if decided is not None:
        return decided
    assert baseline is not None
    try:
        return await metric.score_pair(case, response, baseline, ctx)
    except RunStopped:
        raise
    except Exception as exc:  # the scorer failed, not the system
        return _scorer_error(metric, exc)


def is_pairwise(metric: Metric) -> bool:
    """A metric scored in the pairwise pass, against its baseline system."""
    return metric.baseline is not None
