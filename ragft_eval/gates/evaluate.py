"""Evaluating gates on a run's summary (and, for the baseline gates, a promoted baseline run's).

Every number a gate reads comes from :mod:`ragft_eval.stats`, with the rules of the means: a system's
error on a quality metric counts as the worst value, never as a case left out, so a rate-limited run
cannot look better by dropping what failed.

The baseline gates pair the two runs on the cases they share (same golden set, case id and content
hash) and test the per-case differences with the sign-flip test, one-sided:

- ``no_regression``: H0 "the candidate is at most ``tolerance`` worse than the baseline"; the gate fails
  when H0 is rejected at ``alpha`` (p of the one-sided test on ``worse_i - tolerance``).  Under no real
  change the false-alarm rate is at most ``alpha``.
- ``non_inferiority``: H0 "the candidate is at least ``margin`` worse"; the gate passes only when H0 is
  rejected at ``alpha``.  The failure says how many cases a test of that margin would need for 80%
  power (normal approximation), since with small golden sets this mode fails often by design.

Judge noise: a judged metric with ``judge.repeats`` stores each case's mean over its repeats, so the
paired test's case-to-case variance already holds the judge's own noise; a shortfall fails only when it
is larger than that noise (and the case-to-case variation) can explain.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import scipy.stats

from ..records import CaseResult
from ..stats import OVERALL, RunSummary, aggregate, holm, paired_cases, sign_flip_test, value_for_mean
from ..stats.compare import pair_runs, pass_to_fail
from .result import GateResult
from .spec import (
    BudgetGate,
    ErrorsGate,
    Gate,
    NonInferiorityGate,
    NoRegressionGate,
    RelativeGate,
    ThresholdGate,
)

RESAMPLES = 10000


def slice_filter(slice_: str) -> Callable[[CaseResult], bool]:
    """The cases of a slice: ``(all)``, ``task_type=NAME`` or ``tag=NAME``."""
    if slice_ == OVERALL:
        return lambda cr: True
    kind, _, value = slice_.partition("=")
    if kind == "task_type" and value:
        return lambda cr: cr.task_type == value
    if kind == "tag" and value:
        return lambda cr: value in cr.tags
    raise ValueError(f"slice: expected (all), task_type=NAME or tag=NAME, got {slice_!r}")


def _direction(summary: RunSummary, metric: str) -> bool | None:
    """higher_is_better of ``metric`` in this run (None: the run has no such metric)."""
    for cr in summary.results:
        for m in cr.results:
            if m.metric == metric:
                return m.higher_is_better
    return None


def _threshold(g: ThresholdGate, s: RunSummary) -> GateResult:
    where = slice_filter(g.slice)
    rows = [cr for cr in s.results if cr.system == g.system and where(cr)]
    cells = [c for c in aggregate(rows, **s.manifest.bootstrap) if c.metric == g.metric and c.task_type == OVERALL]
    base = {"kind": g.kind, "system": g.system, "metric": g.metric, "slice": g.slice}
    if not cells or cells[0].mean is None:
        return GateResult(g.name, False, f"{g.metric} of {g.system} in {g.slice}: nothing scored", **base)
    c = cells[0]
    if g.min is not None:
        value = c.mean if g.on == "mean" else c.ci_low
        ok, bound, word = value >= g.min, g.min, "at least"
    else:
        value = c.mean if g.on == "mean" else c.ci_high
        ok, bound, word = value <= g.max, g.max, "at most"
    n_mean = c.n_scored + c.n_error  # the cases in the mean (errors count as failures)
    judged = f"mean {c.mean:.3f} [{c.ci_low:.3f}, {c.ci_high:.3f}]"
    if g.on == "ci":
        judged = f"CI {'low' if g.min is not None else 'high'} {value:.3f} ({judged})"
    message = (f"{g.metric} of {g.system} in {g.slice}: {judged}, n {n_mean} ({c.n_error} errors, "
               f"{c.n_unscored} unscored left out); must be {word} {bound}")  # fmt: skip
    return GateResult(g.name, ok, message, observed=c.mean, ci=(c.ci_low, c.ci_high), threshold=bound, n=n_mean,
                      worst_cases=_worst(rows, g.metric, c.higher_is_better), **base)  # fmt: skip


def _worst(rows: Sequence[CaseResult], metric: str, higher_is_better: bool, k: int = 5) -> tuple[str, ...]:
    scored = []
    for cr in rows:
        for m in cr.results:
            if m.metric == metric and (v := value_for_mean(m)) is not None:
                scored.append((v if higher_is_better else -v, cr.case_id))
    return tuple(cid for _, cid in sorted(scored)[:k])


def _oriented(a: np.ndarray, b: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """How much worse ``a`` is than ``b`` on each case (positive: worse)."""
    return (b - a) if higher_is_better else (a - b)


def _relative(gates: list[RelativeGate], s: RunSummary) -> list[GateResult]:
    rows = []
    for g in gates:
        hib = _direction(s, g.metric)
        _, a, b, left = paired_cases(s.results, g.metric, g.system, g.than, where=slice_filter(g.slice),
                                     case_hashes=s.manifest.case_hashes)  # fmt: skip
        if hib is None or a.size == 0:
            rows.append((g, None, None, 0, left))
            continue
        worse = _oriented(a, b, hib)
        rows.append((g, float(worse.mean()), sign_flip_test(worse, resamples=RESAMPLES, seed=0), a.size, left))
    adjusted = holm([p for _, _, p, _, _ in rows])  # the family: the relative gates of this set
    out = []
    for (g, mean_worse, p, n, left), p_holm in zip(rows, adjusted, strict=True):
        base = {"kind": g.kind, "system": g.system, "metric": g.metric, "slice": g.slice, "n": n}
        if p is None:
            out.append(GateResult(g.name, False, f"{g.system} vs {g.than} on {g.metric} in {g.slice}: no shared "
                                  f"case with a value for both ({left} left out)", **base))  # fmt: skip
            continue
        failed = p_holm < g.alpha and mean_worse > 0
        verdict = "significantly worse" if failed else "not shown worse"
        message = (f"{g.system} vs {g.than} on {g.metric} in {g.slice}: {verdict} (mean shortfall {mean_worse:+.3f}, "
                   f"n {n}, sign-flip p {p:.4f}, Holm p {p_holm:.4f}, alpha {g.alpha})")  # fmt: skip
        out.append(GateResult(g.name, not failed, message, observed=mean_worse, test="sign_flip", p_value=p_holm,
                              **base))  # fmt: skip
    return out


def _baseline_gate(g: NoRegressionGate | NonInferiorityGate, s: RunSummary, baseline: RunSummary | None,
                   baseline_name: str | None) -> GateResult:  # fmt: skip
    base = {"kind": g.kind, "system": g.system, "metric": g.metric, "slice": g.slice, "baseline": baseline_name}
    if baseline is None:  # the first run of a project has nothing to compare with: said, not failed
        return GateResult(g.name, True, f"skipped: no baseline given ({g.kind} needs --baseline NAME of a promoted "
                          "run)", skipped=True, **base)  # fmt: skip
    hib = _direction(s, g.metric)
    keys, prev, cand, left = pair_runs([cr for cr in baseline.results if cr.system == g.system],
                                       [cr for cr in s.results if cr.system == g.system], g.metric,
                                       where=slice_filter(g.slice), hashes_a=baseline.manifest.case_hashes,
                                       hashes_b=s.manifest.case_hashes)  # fmt: skip
    shared = f"{len(keys)} shared cases ({left} left out: unscored on either side)"
    if hib is None or not keys:
        return GateResult(g.name, False, f"{g.system} on {g.metric} in {g.slice}: no case shared with the "
                          f"baseline run {baseline.run_id} ({shared})", **base)  # fmt: skip
    worse = _oriented(cand, prev, hib)
    mean_worse = float(worse.mean())
    regressed = pass_to_fail(keys, prev, cand, hib)
    common = {**base, "observed": mean_worse, "n": len(keys), "regressed": regressed, "test": "sign_flip"}
    if isinstance(g, NoRegressionGate):
        p = sign_flip_test(worse - g.tolerance, resamples=RESAMPLES, seed=0, alternative="greater")
        failed = p < g.alpha
        verdict = (f"worse than baseline {baseline.run_id} by more than {g.tolerance}" if failed
                   else f"not shown worse than baseline {baseline.run_id} by more than {g.tolerance}")  # fmt: skip
        message = (f"{g.system} on {g.metric} in {g.slice}: {verdict} (mean shortfall {mean_worse:+.3f} on {shared}; "
                   f"one-sided sign-flip p {p:.4f}, alpha {g.alpha}); "
                   f"{len(regressed)} cases went from pass to fail")  # fmt: skip
        return GateResult(g.name, not failed, message, p_value=p, threshold=g.tolerance, **common)
    p = sign_flip_test(worse - g.margin, resamples=RESAMPLES, seed=0, alternative="less")
    shown = p < g.alpha
    message = (f"{g.system} on {g.metric} in {g.slice}: {'shown' if shown else 'not shown'} no worse than baseline "
               f"{baseline.run_id} by more than {g.margin} (mean shortfall {mean_worse:+.3f} on {shared}; one-sided "
               f"sign-flip p {p:.4f}, confidence {1 - g.alpha:.0%})")  # fmt: skip
    if not shown:
        needed = cases_needed(worse, g.margin, g.alpha)
        message += f"; about {needed} cases would show it at 80% power" if needed else ""
    return GateResult(g.name, shown, message, p_value=p, threshold=g.margin, **common)


def cases_needed(worse: np.ndarray, margin: float, alpha: float, power: float = 0.8) -> int | None:
    """Cases a one-sided non-inferiority test at ``alpha`` needs for ``power`` when the true shortfall is 0:
    ``n = ((z_{1-alpha} + z_{power}) * sd / margin)^2`` (normal approximation; sd of the paired differences,
    at least 0.5 for 0/1 data, so an all-equal sample does not promise n = 0)."""
    sd = float(np.std(worse, ddof=1)) if worse.size > 1 else 0.0
    if set(np.unique(np.abs(worse))) <= {0.0, 1.0}:
        sd = max(sd, 0.5)
    if sd == 0 or margin <= 0:
        return None
    z = scipy.stats.norm.ppf(1 - alpha) + scipy.stats.norm.ppf(power)
    return math.ceil((z * sd / margin) ** 2)


def _errors(g: ErrorsGate, s: RunSummary) -> GateResult:
    systems = [g.system] if g.system else sorted(s.error_rates)
    problems = []
    for name in systems:
        err, n = s.error_rates.get(name, (0, 0))
        if g.max_error_rate is not None and n and err / n > g.max_error_rate:
            problems.append((name, f"{name} errored on {err} of {n} cases ({err / n:.1%})"))
        if g.max_unscored is not None:
            rows = [m for cr in s.results if cr.system == name for m in cr.results
                    if g.metric is None or m.metric == g.metric]  # fmt: skip
            unscored = sum(m.status == "unscored" for m in rows)
            if rows and unscored / len(rows) > g.max_unscored:
                problems.append((name, f"{name}: {unscored} of {len(rows)} results unscored"))
    failing = tuple(sorted({name for name, _ in problems}))
    if g.name == "max_error_rate" and g.max_error_rate is not None and problems:
        # the suite's shorthand keeps the wording reports have always printed
        return GateResult(g.name, False, f"error rate above max_error_rate={g.max_error_rate:.0%} for: "
                          f"{', '.join(failing)}", failing, kind=g.kind)  # fmt: skip
    if problems:
        return GateResult(g.name, False, "; ".join(p for _, p in problems), failing, kind=g.kind, system=g.system)
    limits = ", ".join(x for x in (
        f"error rate <= {g.max_error_rate:.0%}" if g.max_error_rate is not None else "",
        f"unscored <= {g.max_unscored:.0%}" if g.max_unscored is not None else "") if x)  # fmt: skip
    return GateResult(g.name, True, f"{', '.join(systems)}: {limits}", kind=g.kind, system=g.system)


def _budget(g: BudgetGate, s: RunSummary) -> GateResult:
    from ..stats import percentile_with_ci  # latency percentiles: one rule for the report and the gates

    systems = [g.system] if g.system else sorted(s.error_rates)
    problems, notes = [], []
    for name in systems:
        rows = [cr for cr in s.results if cr.system == name]
        if g.p95_latency_s is not None:
            lat = [cr.response.latency_s for cr in rows if not cr.response.failed and cr.response.latency_s is not None]
            p95 = percentile_with_ci(lat, 95)
            if p95.value is None:
                problems.append(f"{name}: p95 latency not measurable ({p95.reason})")
            elif p95.value > g.p95_latency_s:
                problems.append(f"{name}: p95 latency {p95.value:.2f} s > {g.p95_latency_s} s")
            else:
                notes.append(f"{name}: p95 {p95.value:.2f} s")
        costs = [cr.response.cost_usd for cr in rows if cr.response.cost_usd is not None]
        if g.max_cost_per_query_usd is not None or g.max_total_cost_usd is not None:
            if len(costs) < len(rows):
                problems.append(f"{name}: cost not reported for {len(rows) - len(costs)} of {len(rows)} cases")
                continue
            total = sum(costs)
            if g.max_cost_per_query_usd is not None and rows and total / len(rows) > g.max_cost_per_query_usd:
                problems.append(f"{name}: ${total / len(rows):.6f} per query > ${g.max_cost_per_query_usd}")
            if g.max_total_cost_usd is not None and total > g.max_total_cost_usd:
                problems.append(f"{name}: total ${total:.4f} > ${g.max_total_cost_usd}")
            notes.append(f"{name}: ${total:.4f} in all")
    if problems:
        return GateResult(g.name, False, "; ".join(problems), kind=g.kind, system=g.system)
    return GateResult(g.name, True, "; ".join(notes) or "within budget", kind=g.kind, system=g.system)


def evaluate_gates(
    summary: RunSummary,
    gates: Sequence[Gate],
    *,
    baseline: RunSummary | None = None,
    baseline_name: str | None = None,
) -> list[GateResult]:
    """Every gate's result on ``summary`` (baseline gates against ``baseline``), in declaration order."""
    relative = [g for g in gates if isinstance(g, RelativeGate)]
    relative_results = iter(_relative(relative, summary)) if relative else iter(())
    out: list[GateResult] = []
    for g in gates:
        if isinstance(g, ThresholdGate):
            out.append(_threshold(g, summary))
        elif isinstance(g, RelativeGate):
            out.append(next(relative_results))
        elif isinstance(g, NoRegressionGate | NonInferiorityGate):
            out.append(_baseline_gate(g, summary, baseline, baseline_name))
        elif isinstance(g, ErrorsGate):
            out.append(_errors(g, summary))
        elif isinstance(g, BudgetGate):
            out.append(_budget(g, summary))
    return out
