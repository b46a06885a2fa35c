"""The Metric protocol and what a metric is given besides the case and the response."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..records import Case, MetricResult, Response

if TYPE_CHECKING:
    from ..golden import GoldenSet


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
    """Read-only facts a metric may need: the case's golden set (schemas, refusal patterns) and services."""

    golden_set: GoldenSet
    services: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Metric(Protocol):
    """Scores one response to one case.

    ``name`` is unique within a suite (it includes parameters, e.g. ``recall@10``); ``unit`` is ``ratio``
    for quality metrics in [0, 1], else ``s``, ``tokens`` or ``usd``.  The runner never calls ``score``
    for a response that failed: those results are ``error`` by construction.
    """

    name: str
    unit: str
    higher_is_better: bool

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult: ...


class BaseMetric:
    """Shared plumbing for built-in metrics: the result constructors fill name, unit and direction."""

    name: str = "metric"
    unit: str = "ratio"
    higher_is_better: bool = True
    # What the response must record for the metric to be defined ("retrieved", "context", "route").
    needs: str | None = None

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
