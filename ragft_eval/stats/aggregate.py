"""Aggregation: per (system, task type, metric) means with 95% bootstrap CIs and honest counts.

Rules, written down because they decide the numbers:

- ``unscored`` results are left out of the mean and counted (``n_unscored``).
- ``error`` results of a *quality* metric (unit ``ratio``) count as a failure: the worst value
  (0 when higher is better, 1 when lower is better) enters the mean, so a system cannot raise its
  average by crashing on hard cases.  For operational metrics (latency, tokens, cost) errors are left
  out of the mean and shown in the error rate.  Scorer errors (a judge endpoint or a metric failed:
  ``details.stage`` is ``judge`` or ``metric``) are not the system's fault: they are left out of the mean
  and counted as ``n_scorer_error``.
- The CI is the percentile bootstrap of the mean (``resamples`` draws, ``seed``), deterministic for a
  given seed; with n = 1 it is the single value; with n = 0 there is no mean (None, shown as "—").
- ``abstention_balanced`` is derived, not scored per case: for a system with both ``abstention`` (on
  unanswerable cases) and ``false_refusal`` (on answerable ones), the balanced accuracy of declining,
  ``(abstention + (1 - false_refusal)) / 2``, in the task type(s) where abstention is scored and overall.
  A system that refuses everything scores 0.5 on it, as one that never refuses does; its CI resamples
  the two groups apart (a stratified bootstrap, the same ``seed``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np

from ..metrics.abstention import OUTSIDE_POPULATION
from ..records import CaseResult, MetricResult
from ..resample import bootstrap_ci as _bootstrap_ci

OVERALL = "(all)"
# The metric that heads a task type when the suite's ``headline`` does not name one: the first scored.
HEADLINE_PREFERENCE = (
    "abstention",
    "json_field_match",
    "schema_valid",
    "format_match",
    "judge_grade",
    "token_recall",
    "token_f1",
    "exact_match",
)


@dataclass(frozen=True)
class Cell:
    """One aggregated number with its evidence."""

    system: str
    task_type: str
    metric: str
    unit: str
    higher_is_better: bool
    n_cases: int
    n_scored: int
    n_unscored: int
    n_error: int
    n_scorer_error: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None

    @property
    def error_rate(self) -> float:
        return self.n_error / self.n_cases if self.n_cases else 0.0

    def as_dict(self) -> dict:
        return {**asdict(self), "error_rate": self.error_rate}


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 1000, seed: int = 0, level: float = 0.95
) -> tuple[float, float] | None:
    """Percentile bootstrap CI of the mean: ``(low, high)``; ``(v, v)`` for one value; None for none.

    :func:`ragft_eval.resample.bootstrap_ci` of ``values`` (its docstring is the specification).
    """
    return _bootstrap_ci(values, resamples=resamples, seed=seed, alpha=1 - level)


def _is_scorer_error(m: MetricResult) -> bool:
    return m.status == "error" and m.details.get("stage") in ("judge", "metric")


def value_for_mean(m: MetricResult) -> float | None:
    """The value a result contributes to a mean (None: it does not contribute)."""
    if m.status == "scored":
        return m.value
    if m.status == "error" and m.unit == "ratio" and not _is_scorer_error(m):
        return 0.0 if m.higher_is_better else 1.0
    return None


def aggregate(results: Iterable[CaseResult], *, resamples: int = 1000, seed: int = 0) -> list[Cell]:
    """Cells for every (system, task type and overall, metric), sorted for display."""
    groups: dict[tuple[str, str, str], list[MetricResult]] = defaultdict(list)
    for cr in results:
        for m in cr.results:
            groups[(cr.system, cr.task_type, m.metric)].append(m)
            groups[(cr.system, OVERALL, m.metric)].append(m)
    cells = []
    for (system, task, metric), ms in groups.items():
        values = [v for v in map(value_for_mean, ms) if v is not None]
        ci = bootstrap_ci(values, resamples=resamples, seed=seed)
        cells.append(
            Cell(
                system=system,
                task_type=task,
                metric=metric,
                unit=ms[0].unit,
                higher_is_better=ms[0].higher_is_better,
                n_cases=len(ms),
                n_scored=sum(m.status == "scored" for m in ms),
                n_unscored=sum(m.status == "unscored" for m in ms),
                n_error=sum(m.status == "error" and not _is_scorer_error(m) for m in ms),
                n_scorer_error=sum(_is_scorer_error(m) for m in ms),
                mean=float(np.mean(values)) if values else None,
                ci_low=ci[0] if ci else None,
                ci_high=ci[1] if ci else None,
            )
        )
    cells += balanced_abstention(groups, resamples=resamples, seed=seed)
    cells.sort(key=lambda c: (c.task_type != OVERALL, c.task_type, c.system, c.metric))
    return cells


BALANCED = "abstention_balanced"
OUTSIDE = frozenset(OUTSIDE_POPULATION.values())


def balanced_abstention(groups: Mapping[tuple[str, str, str], list[MetricResult]], *, resamples: int,
                        seed: int) -> list[Cell]:  # fmt: skip
    """The derived ``abstention_balanced`` cells (see the module docstring) from the grouped results."""
    out = []
    for (system, task, metric), abst in groups.items():
        if metric != "abstention":
            continue
        refusals = groups.get((system, OVERALL, "false_refusal"), [])
        a = np.array([v for v in map(value_for_mean, abst) if v is not None], dtype=float)
        f = np.array([v for v in map(value_for_mean, refusals) if v is not None], dtype=float)
        if not len(a) or not len(f):
            continue
        rng = np.random.default_rng(seed)
        draws = (rng.choice(a, (resamples, len(a))).mean(1) + 1 - rng.choice(f, (resamples, len(f))).mean(1)) / 2
        # the populations: unanswerable cases for abstention, answerable ones for false refusal (the
        # other cases are unscored by definition, not missing)
        both = [m for m in (*abst, *refusals) if not (m.status == "unscored" and m.reason in OUTSIDE)]
        out.append(Cell(
            system=system, task_type=task, metric=BALANCED, unit="ratio", higher_is_better=True,
            n_cases=len(both), n_scored=sum(m.status == "scored" for m in both),
            n_unscored=sum(m.status == "unscored" for m in both),
            n_error=sum(m.status == "error" and not _is_scorer_error(m) for m in both),
            n_scorer_error=sum(_is_scorer_error(m) for m in both),
            mean=float((a.mean() + 1 - f.mean()) / 2),
            ci_low=float(np.percentile(draws, 2.5)), ci_high=float(np.percentile(draws, 97.5)),
        ))  # fmt: skip
    return out


def error_rates(results: Iterable[CaseResult]) -> dict[str, tuple[int, int]]:
    """Per system: (failed responses, all responses)."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for cr in results:
        out[cr.system][0] += int(cr.response.failed)
        out[cr.system][1] += 1
    return {k: (v[0], v[1]) for k, v in out.items()}


def headline_metrics(cells: Sequence[Cell], overrides: Mapping[str, str] | None = None) -> dict[str, str]:
    """The metric that heads each task type: the suite's ``headline`` choice, else the first of
    :data:`HEADLINE_PREFERENCE` that is scored for that task type."""
    scored = {(c.task_type, c.metric) for c in cells if c.n_scored > 0}
    out = {}
    for task in sorted({c.task_type for c in cells if c.task_type != OVERALL}):
        if overrides and task in overrides:
            out[task] = overrides[task]
            continue
        for metric in HEADLINE_PREFERENCE:
            if (task, metric) in scored:
                out[task] = metric
                break
    return out
