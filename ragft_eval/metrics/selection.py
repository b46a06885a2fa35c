"""The metrics a suite scores: built from its ``metrics:`` list, each optionally limited by ``where:``."""

from __future__ import annotations

from typing import Any

from ..errors import ConfigError, SuiteConfigError
from ..records import Case, MetricResult, Response
from ..registry import create
from ..runner.suite import Suite, Where
from ._base import Metric, PairMetric, ScoreContext

_DECLARED = ("name", "unit", "higher_is_better", "needs", "needs_judge", "baseline", "undefined_reason", "score")


class Selected:
    """A metric restricted by ``where:``: the cases it does not select are undefined for it (unscored,
    "not selected"), so it is never called on them."""

    def __init__(self, metric: Metric, where: Where):
        self.metric, self.where = metric, where
        self.name, self.unit, self.higher_is_better = metric.name, metric.unit, metric.higher_is_better
        self.needs, self.needs_judge, self.baseline = metric.needs, metric.needs_judge, metric.baseline

    def undefined_reason(self, case: Case) -> str | None:
        if not self.where.selects(case):
            return f"not selected for this metric (where: {self.where.describe()})"
        return self.metric.undefined_reason(case)

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
        return await self.metric.score(case, response, ctx)

    async def score_pair(self, case: Case, response: Response, baseline: Response, ctx: ScoreContext):
        assert isinstance(self.metric, PairMetric)
        return await self.metric.score_pair(case, response, baseline, ctx)


def describe_metric(metric: Metric, kind: str, where: Where | None) -> dict[str, Any]:
    """A metric's entry in the run manifest."""
    return {"kind": kind, "unit": metric.unit, "higher_is_better": metric.higher_is_better,
            "judged": metric.needs_judge, "baseline": metric.baseline,
            "where": where.model_dump(mode="json", exclude_defaults=True) if where else None}  # fmt: skip


def build_metrics(suite: Suite) -> tuple[list[Metric], dict[str, dict[str, Any]]]:
    """The suite's metrics (in suite order) and their manifest entries; config errors name the key."""
    metrics: list[Metric] = []
    described: dict[str, dict[str, Any]] = {}
    systems = {s.name for s in suite.systems}
    for i, spec in enumerate(suite.metrics):
        where = f"{suite.path}: metrics.{i}"
        try:
            metric = create("metric", spec.metric, **spec.params)
        except ConfigError as exc:
            raise SuiteConfigError(f"{where}: {exc}") from exc
        missing = [a for a in _DECLARED if not hasattr(metric, a)]
        if missing:
            raise SuiteConfigError(f"{where}: metric {spec.metric!r} does not declare {', '.join(missing)} "
                                   "(subclass ragft_eval.metrics.BaseMetric for the defaults)")  # fmt: skip
        if metric.needs_judge and suite.judge is None:
            raise SuiteConfigError(f"{where}: metric {metric.name!r} needs a judge: add judge: to the suite")
        if metric.baseline is not None and metric.baseline not in systems:
            raise SuiteConfigError(
                f"{where}.baseline: unknown system {metric.baseline!r}; the suite has {sorted(systems)}"
            )
        if metric.name in described:
            raise SuiteConfigError(f"{where}: metric {metric.name!r} is listed twice")
        described[metric.name] = describe_metric(metric, spec.metric, spec.where)
        metrics.append(Selected(metric, spec.where) if spec.where is not None else metric)
    return metrics, described
