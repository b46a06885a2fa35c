"""The Metric protocol and what a metric is given besides the case and the response."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..golden import GoldenSet
from ..judges import Judge
from ..records import Case, MetricResult, Response

# Why a metric is unscored when the response lacks what it ``needs``: one wording whether the case
# succeeded without it or failed on a system that never records it.
NOT_RECORDED = {
    "retrieved": "the system records no retrieval",
    "context": "no context: the system records no retrieved context",
    "route": "the system does not route",
}


def not_recorded_reason(needs: str) -> str:
    """The unscored reason for a response without what a metric ``needs``."""
    return NOT_RECORDED.get(needs, f"the system records no {needs}")


@dataclass(frozen=True)
class ScoreContext:
    """Read-only facts a metric may need: the case's golden set (schemas, refusal patterns) and the
    suite's judge (None when the suite has none)."""

    golden_set: GoldenSet
    judge: Judge | None = None


@runtime_checkable
class Metric(Protocol):
    """Scores one response to one case.

    ``name`` is unique within a suite (it includes parameters, e.g. ``recall@10``); ``unit`` is ``ratio``
    for quality metrics in [0, 1], else ``s``, ``tokens``, ``usd`` or ``share``.  What a metric declares
    decides its status before it is called (:func:`ragft_eval.metrics.scoring.precheck`, the one status
    rule): ``undefined_reason(case)`` (undefined whatever the answer: unscored), ``needs`` (what the
    response must record: ``retrieved``, ``context``, ``route``), ``needs_judge`` (the suite must have a
    judge) and ``baseline`` (a metric that compares with a named baseline system, scored by
    ``score_pair`` once the baseline has answered: :class:`PairMetric`).  ``score`` is never called for a
    response that failed.  :class:`BaseMetric` gives the defaults.
    """

    name: str
    unit: str
    higher_is_better: bool
    needs: str | None
    needs_judge: bool
    baseline: str | None

    def undefined_reason(self, case: Case) -> str | None: ...

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult: ...


@runtime_checkable
class PairMetric(Metric, Protocol):
    """A metric scored against the baseline system's response to the same case."""

    async def score_pair(self, case: Case, response: Response, baseline: Response, ctx: ScoreContext) -> MetricResult:
        ...


class BaseMetric:
    """Shared plumbing for built-in metrics: the result constructors fill name, unit and direction."""

    name: str = "metric"
    unit: str = "ratio"
    higher_is_better: bool = True
    # What the response must record for the metric to be defined ("retrieved", "context", "route").
    needs: str | None = None
    needs_judge: bool = False
    baseline: str | None = None

    def undefined_reason(self, case: Case) -> str | None:
        """Why the metric is undefined for ``case`` whatever the answer (None: it is defined).

        The runner asks this before marking a failed response's result ``error``: a metric that would
        be ``unscored`` anyway stays ``unscored``.
        """
        return None

    def not_recorded(self) -> MetricResult:
        """Unscored: the response lacks what this metric ``needs``."""
        return self.unscored(not_recorded_reason(self.needs or ""))

    def scored(self, value: float, **details: Any) -> MetricResult:
        return MetricResult.scored(
            self.name, value, unit=self.unit, higher_is_better=self.higher_is_better, details=details
        )

    def unscored(self, reason: str, **details: Any) -> MetricResult:
        return MetricResult.unscored(
            self.name, reason, unit=self.unit, higher_is_better=self.higher_is_better, details=details
        )

    def error(self, reason: str, **details: Any) -> MetricResult:
        return MetricResult.error(
            self.name, reason, unit=self.unit, higher_is_better=self.higher_is_better, details=details
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"
