"""The metrics a suite scores: built from its ``metrics:`` list, each optionally limited by ``where:``
and optionally judged by a judge of the suite's ``judges:`` (``judge: NAME``) instead of its ``judge:``."""

from __future__ import annotations

import dataclasses
from typing import Any

from ..errors import ConfigError, SuiteConfigError
from ..judges import Judge
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


class WithJudge:
    """A judged metric scored with a named judge of ``judges:``: it is given that judge in place of the
    suite's.  It needs no suite ``judge:`` (``needs_judge`` is False), and is still recorded as judged."""

    def __init__(self, metric: Metric, judge: Judge, judge_name: str):
        self.metric, self.judge, self.judge_name = metric, judge, judge_name
        self.name, self.unit, self.higher_is_better = metric.name, metric.unit, metric.higher_is_better
        self.needs, self.baseline = metric.needs, metric.baseline
        self.needs_judge = False

    def undefined_reason(self, case: Case) -> str | None:
        return self.metric.undefined_reason(case)

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
        return await self.metric.score(case, response, dataclasses.replace(ctx, judge=self.judge))

    async def score_pair(self, case: Case, response: Response, baseline: Response, ctx: ScoreContext):
        if not isinstance(self.metric, PairMetric):
            raise TypeError(f"metric {self.name!r} is not scored in pairs")
        return await self.metric.score_pair(case, response, baseline, dataclasses.replace(ctx, judge=self.judge))


def named_judges(metrics: list[Metric]) -> dict[str, Judge]:
    """The judges of ``judges:`` the built metrics name, by name (a judge shared by metrics once)."""
    out: dict[str, Judge] = {}
    for metric in metrics:
        inner = metric.metric if isinstance(metric, Selected) else metric
        if isinstance(inner, WithJudge):
            out.setdefault(inner.judge_name, inner.judge)
    return out


def build_judge(suite: Suite, name: str) -> Judge:
    """The judge ``name`` of the suite's ``judges:``; its kind is given the suite's folder, cache and golden
    sets (``base_dir``, ``cache_dir``, ``golden_sets``) unless the entry sets them."""
    spec = suite.judges[name]
    context = {"base_dir": str(suite.base_dir), "cache_dir": str(suite.resolve(suite.cache_dir)),
               "golden_sets": [str(suite.resolve(g)) for g in suite.golden_sets]}  # fmt: skip
    try:
        return create("judge", spec.kind, **{**context, **spec.params})
    except ConfigError as exc:
        raise SuiteConfigError(f"{suite.path}: judges.{name}: {exc}") from exc


def describe_metric(metric: Metric, kind: str, where: Where | None, judge: str | None = None) -> dict[str, Any]:
    """A metric's entry in the run manifest (``judge``: the name of its judge in ``judges:``, when it names one)."""
    inner = metric.metric if isinstance(metric, WithJudge) else metric
    out = {"kind": kind, "unit": metric.unit, "higher_is_better": metric.higher_is_better,
           "judged": inner.needs_judge, "baseline": metric.baseline,
           "where": where.model_dump(mode="json", exclude_defaults=True) if where else None}  # fmt: skip
    if judge is not None:  # only then: the manifests of suites without judges: are unchanged
        out["judge"] = judge
    if (detector := getattr(inner, "detector", None)) is not None:  # which refusal detector (abstention)
        out["detector"] = detector
    return out


def build_metrics(suite: Suite) -> tuple[list[Metric], dict[str, dict[str, Any]]]:
    """The suite's metrics (in suite order) and their manifest entries; config errors name the key."""
    metrics: list[Metric] = []
    described: dict[str, dict[str, Any]] = {}
    systems = {s.name for s in suite.systems}
    judges: dict[str, Judge] = {}  # one judge per name, shared by the metrics that name it
    for i, spec in enumerate(suite.metrics):
        where = f"{suite.path}: metrics.{i}"
        params = spec.params
        judge_name = params.pop("judge", None)
        try:
            metric = create("metric", spec.metric, **params)
        except ConfigError as exc:
            raise SuiteConfigError(f"{where}: {exc}") from exc
        missing = [a for a in _DECLARED if not hasattr(metric, a)]
        if missing:
            raise SuiteConfigError(f"{where}: metric {spec.metric!r} does not declare {', '.join(missing)} "
                                   "(subclass ragft_eval.metrics.BaseMetric for the defaults)")  # fmt: skip
        if judge_name is not None:
            if not metric.needs_judge:
                raise SuiteConfigError(f"{where}.judge: metric {metric.name!r} is not judged; it takes no judge")
            if judge_name not in judges:
                judges[judge_name] = build_judge(suite, judge_name)
            judge = judges[judge_name]
            call = getattr(metric, "judge_call", None)
            able = getattr(judge, "capabilities", None)
            if call is not None and able is not None and call not in able:
                raise SuiteConfigError(f"{where}.judge: judge {judge_name!r} ({suite.judges[judge_name].kind}) "
                                       f"cannot judge {metric.name!r}: it does {', '.join(sorted(able))}, "
                                       f"the metric asks for {call}")  # fmt: skip
            metric = WithJudge(metric, judge, judge_name)
        elif metric.needs_judge and suite.judge is None:
            raise SuiteConfigError(f"{where}: metric {metric.name!r} needs a judge: add judge: to the suite")
        if metric.baseline is not None and metric.baseline not in systems:
            raise SuiteConfigError(
                f"{where}.baseline: unknown system {metric.baseline!r}; the suite has {sorted(systems)}"
            )
        if metric.name in described:
            raise SuiteConfigError(f"{where}: metric {metric.name!r} is listed twice")
        described[metric.name] = describe_metric(metric, spec.metric, spec.where, judge_name)
        metrics.append(Selected(metric, spec.where) if spec.where is not None else metric)
    return metrics, described
