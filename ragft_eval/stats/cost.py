"""Latency percentiles, tokens, cost per query, a monthly projection, break-even volumes and the Pareto front.

Rules, written down because they decide the numbers:

- Errored responses are left out of latency, tokens and cost (what a failed call took or cost is not
  known) and counted; a successful response that reports no latency, token count or cost is left out and
  counted as not reported: a missing count is never 0.
- A latency percentile is shown only where the sample can tell it from the maximum (see
  :func:`min_n_for_percentile`); below that it is None with the reason.
- System cost is what the responses report (``Response.cost_usd``); judge cost is the judge's tokens
  recorded in the metric details times the caller's price, None when no price is given.
- The projection uses the system's own cost per query: the judge is a cost of evaluating, not of serving.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from ..records import CaseResult, MetricResult
from ..resample import bootstrap_ci
from ..runner.suite import CostSpec

PERCENTILES = (50, 95, 99)
JUDGE_NOT_PRICED = "judge cost not priced"


def _by_system(results: Iterable[CaseResult]) -> dict[str, list[CaseResult]]:
    out: dict[str, list[CaseResult]] = defaultdict(list)
    for cr in results:
        out[cr.system].append(cr)
    # sorted by case, so the bootstrap does not depend on the order results came in
    return {s: sorted(crs, key=lambda c: (c.golden_set, c.case_id)) for s, crs in sorted(out.items())}


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


# --- latency ----------------------------------------------------------------------------------------


def min_n_for_percentile(percent: int) -> int:
    """The fewest values for which the ``percent``-th percentile is shown: ``ceil(1 / (1 - p))``, p = percent/100.

    With n values, about ``n * (1 - p)`` of them lie above the p-th percentile; below one such value the
    estimate is the maximum, or an interpolation towards it, and says nothing the maximum does not.  So
    p50 needs 2 values, p95 needs 20, p99 needs 100.  Computed in integers (``ceil(100 / (100 - percent))``)
    because ``1 / (1 - 0.99)`` is 100.00000000000009 in floating point.  ValueError outside 1..99.
    """
    if not 1 <= percent <= 99:
        raise ValueError(f"percent must lie in 1..99, got {percent!r}")
    return -(-100 // (100 - percent))


@dataclass(frozen=True)
class Percentile:
    """One latency percentile in seconds with its bootstrap CI; None with ``reason`` when not shown."""

    percent: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    reason: str | None = None


@dataclass(frozen=True)
class LatencyStats:
    """A system's latency: p50/p95/p99 over the ``n`` successful responses that report a latency."""

    system: str
    n_cases: int
    n: int
    n_error: int  # errored responses, left out
    n_not_reported: int  # successful responses without latency_s, left out
    p50: Percentile
    p95: Percentile
    p99: Percentile

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile_with_ci(values: Sequence[float], percent: int, *, resamples: int = 1000, seed: int = 0) -> Percentile:
    """The ``percent``-th percentile of ``values`` and its percentile-bootstrap 95% CI.

    The percentile is ``numpy.percentile(values, percent)`` (linear interpolation); the CI is
    :func:`ragft_eval.resample.bootstrap_ci` with that statistic on ``resamples`` resamples drawn with
    ``seed``.  With fewer than :func:`min_n_for_percentile` values: None, and the reason names the rule.
    A high percentile's upper CI bound is often the sample maximum: the bootstrap cannot see past it.
    """
    need = min_n_for_percentile(percent)
    n = len(values)
    if n < need:
        reason = f"p{percent} needs n >= {need} (n >= 1/(1-p)); {n} latenc{'y' if n == 1 else 'ies'} measured"
        return Percentile(percent, None, None, None, reason)
    arr = np.asarray(values, dtype=float)
    ci = bootstrap_ci(n, lambda idx: float(np.percentile(arr[idx], percent)), resamples=resamples, seed=seed)
    assert ci is not None  # n >= 2 and the statistic is always defined
    return Percentile(percent, float(np.percentile(arr, percent)), ci[0], ci[1])


def latency(results: Iterable[CaseResult], *, resamples: int = 1000, seed: int = 0) -> list[LatencyStats]:
    """Per system (sorted): p50, p95 and p99 of ``Response.latency_s`` with seeded bootstrap CIs
    (:func:`percentile_with_ci`), over successful responses that report a latency."""
    out = []
    for system, crs in _by_system(results).items():
        ok = [cr.response for cr in crs if not cr.response.failed]
        values = [r.latency_s for r in ok if r.latency_s is not None]
        p = {q: percentile_with_ci(values, q, resamples=resamples, seed=seed) for q in PERCENTILES}
        out.append(LatencyStats(system=system, n_cases=len(crs), n=len(values), n_error=len(crs) - len(ok),
                                n_not_reported=len(ok) - len(values), p50=p[50], p95=p[95], p99=p[99]))  # fmt: skip
    return out


# --- tokens -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenStats:
    """A system's mean prompt (in) and completion (out) tokens per case, over the successful responses that
    report each count; None with a reason when none does."""

    system: str
    n_cases: int
    n_error: int
    prompt_tokens_mean: float | None
    n_prompt_reported: int
    completion_tokens_mean: float | None
    n_completion_reported: int
    prompt_reason: str | None = None
    completion_reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tokens(results: Iterable[CaseResult]) -> list[TokenStats]:
    """Per system (sorted): means of ``usage.prompt_tokens`` and ``usage.completion_tokens`` over the
    successful responses that report them (errored responses left out; a None count is not reported, not 0)."""
    out = []
    for system, crs in _by_system(results).items():
        ok = [cr.response for cr in crs if not cr.response.failed]
        prompt = [r.usage.prompt_tokens for r in ok if r.usage.prompt_tokens is not None]
        completion = [r.usage.completion_tokens for r in ok if r.usage.completion_tokens is not None]
        none = "no successful response" if not ok else "the system reports no {} tokens"
        out.append(TokenStats(
            system=system, n_cases=len(crs), n_error=len(crs) - len(ok),
            prompt_tokens_mean=_mean(prompt), n_prompt_reported=len(prompt),
            completion_tokens_mean=_mean(completion), n_completion_reported=len(completion),
            prompt_reason=None if prompt else none.format("prompt"),
            completion_reason=None if completion else none.format("completion"),
        ))  # fmt: skip
    return out


# --- cost -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CostStats:
    """A system's cost per query, split into the system's own (what its responses report) and the judge's.

    ``system_usd_per_query``: mean ``cost_usd`` over the ``n_cost_reported`` successful responses that
    report one, with its bootstrap CI; ``system_usd_per_1k`` is 1,000 times it.  ``judge_usd_per_query``:
    the judge's cost over the run divided by ``n_cases``; ``judge_usd_per_1k`` 1,000 times it.  Each is
    None with its reason when it cannot be computed.
    """

    system: str
    n_cases: int
    n_error: int
    n_cost_reported: int
    n_cost_not_reported: int
    system_usd_per_query: float | None
    system_ci_low: float | None
    system_ci_high: float | None
    system_usd_per_1k: float | None
    system_reason: str | None
    n_judge_calls: int
    n_judge_calls_unreported: int
    judge_prompt_tokens: int | None
    judge_completion_tokens: int | None
    judge_usd_total: float | None
    judge_usd_per_query: float | None
    judge_usd_per_1k: float | None
    judge_reason: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _count(x: Any) -> int | None:
    return x if isinstance(x, int) and not isinstance(x, bool) and x >= 0 else None


def judge_calls(m: MetricResult) -> list[tuple[int, int | None, int | None]]:
    """The judge calls recorded in one metric result: ``(calls, prompt_tokens, completion_tokens)`` entries.

    A judge metric's ``details["verdicts"]`` holds one entry per call, each with its own ``prompt_tokens``
    and ``completion_tokens`` (None or absent: not reported).  ragas faithfulness records its calls as one
    tally: ``details["calls"]`` calls with ``details["prompt_tokens"]`` / ``["completion_tokens"]`` in all.
    Anything else made no judge call: [] (an unscored "not selected" result, a metric that is not judged).
    """
    d = m.details
    verdicts = d.get("verdicts")
    if isinstance(verdicts, list):
        return [(1, _count(v.get("prompt_tokens")), _count(v.get("completion_tokens")))
                for v in verdicts if isinstance(v, dict)]  # fmt: skip
    calls = _count(d.get("calls"))
    if calls and ("prompt_tokens" in d or "completion_tokens" in d):
        return [(calls, _count(d.get("prompt_tokens")), _count(d.get("completion_tokens")))]
    return []


def judge_call_costs(m: MetricResult) -> list[tuple[int, float | None]]:
    """The judge calls of one metric result with what they cost at the judge model's price, as recorded
    when they were made: ``(calls, usd)`` entries (usd None: not priced), like :func:`judge_calls`."""
    d = m.details
    verdicts = d.get("verdicts")
    if isinstance(verdicts, list):
        return [(1, _usd(v.get("cost_usd"))) for v in verdicts if isinstance(v, dict)]
    calls = _count(d.get("calls"))
    return [(calls, _usd(d.get("cost_usd")))] if calls and ("prompt_tokens" in d or "completion_tokens" in d) else []


def _usd(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0 else None


def costs(
    results: Iterable[CaseResult],
    *,
    judge_usd_per_1k_prompt_tokens: float | None = None,
    judge_usd_per_1k_completion_tokens: float | None = None,
    resamples: int = 1000,
    seed: int = 0,
) -> list[CostStats]:
    """Per system (sorted): cost per query and per 1,000 queries, the system's and the judge's.

    - System: mean ``Response.cost_usd`` over successful responses that report it (errors and
      unreported costs left out and counted); CI :func:`ragft_eval.resample.bootstrap_ci` of that mean.
      None when no response reports a cost.
    - Judge: every judge call in the system's metric details (:func:`judge_calls`), priced as
      ``prompt_tokens / 1000 * prompt_price + completion_tokens / 1000 * completion_price`` when the suite
      sets those prices (``costs.judge_usd_per_1k_*``), else at the judge model's own price as each call
      recorded it (:func:`judge_call_costs`; a local judge: its machine time), summed over
      the run and divided by the system's ``n_cases`` (every case, judged or not: a ``where:`` that judges
      a share of the cases is part of what judging costs per case).  None, with the reason, when either
      price is missing ("judge cost not priced") or any judge call did not report its tokens (a partial sum
      would pass for the whole).  No judge call at all: 0, with ``n_judge_calls`` 0 saying why.
    """
    priced = judge_usd_per_1k_prompt_tokens is not None and judge_usd_per_1k_completion_tokens is not None
    out = []
    for system, crs in _by_system(results).items():
        ok = [cr.response for cr in crs if not cr.response.failed]
        usd = [r.cost_usd for r in ok if r.cost_usd is not None]
        ci = bootstrap_ci(usd, resamples=resamples, seed=seed)
        per_query = _mean(usd)
        system_reason = None
        if per_query is None:
            system_reason = "no successful response" if not ok else "the system reports no cost"

        calls = [c for cr in crs for m in cr.results for c in judge_calls(m)]
        n_calls = sum(c for c, _, _ in calls)
        unreported = sum(c for c, p, q in calls if p is None or q is None)
        prompt = sum(p for _, p, q in calls if p is not None and q is not None)
        completion = sum(q for _, p, q in calls if p is not None and q is not None)
        judge_total = None
        if priced:
            problems = [f"judge tokens not reported for {unreported} of {n_calls} judge calls"] if unreported else []
            if not problems:
                judge_total = (prompt / 1000 * judge_usd_per_1k_prompt_tokens
                               + completion / 1000 * judge_usd_per_1k_completion_tokens)  # fmt: skip
        else:  # the judge model's own price, as each call recorded it
            recorded = [(c, usd) for cr in crs for m in cr.results for c, usd in judge_call_costs(m)]
            unpriced = sum(c for c, usd in recorded if usd is None)
            problems = [JUDGE_NOT_PRICED] if unpriced else []
            if unreported:
                problems.append(f"judge tokens not reported for {unreported} of {n_calls} judge calls")
            if not unpriced:
                judge_total = sum(usd or 0.0 for _, usd in recorded)
        judge_per_query = judge_total / len(crs) if judge_total is not None else None
        out.append(CostStats(
            system=system, n_cases=len(crs), n_error=len(crs) - len(ok), n_cost_reported=len(usd),
            n_cost_not_reported=len(ok) - len(usd), system_usd_per_query=per_query,
            system_ci_low=ci[0] if ci else None, system_ci_high=ci[1] if ci else None,
            system_usd_per_1k=per_query * 1000 if per_query is not None else None, system_reason=system_reason,
            n_judge_calls=n_calls, n_judge_calls_unreported=unreported,
            judge_prompt_tokens=None if unreported else prompt,
            judge_completion_tokens=None if unreported else completion,
            judge_usd_total=judge_total, judge_usd_per_query=judge_per_query,
            judge_usd_per_1k=judge_per_query * 1000 if judge_per_query is not None else None,
            judge_reason="; ".join(problems) or None,
        ))  # fmt: skip
    return out


# --- projection and break-even ----------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    """A system's monthly cost at ``volume_per_month`` queries.

    ``monthly_fixed_usd`` (F) = ``fixed_monthly_usd`` + ``one_time_usd / amortise_months``;
    ``monthly_usd`` = volume x ``usd_per_query`` (c) + F, None with ``reason`` when the volume or c is
    unknown.  ``declared`` lists which of the suite's costs were declared for the system (a cost not
    declared is none: it enters as 0, and this says so).
    """

    system: str
    volume_per_month: int | None
    usd_per_query: float | None
    fixed_monthly_usd: float
    one_time_usd: float
    amortise_months: int
    monthly_fixed_usd: float
    monthly_usd: float | None
    declared: tuple[str, ...]
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def project(cost_stats: Iterable[CostStats], spec: CostSpec, *, volume: int | None = None) -> list[Projection]:
    """Monthly cost per system (in the order given) at ``volume`` queries a month (default the spec's).

    ``monthly = V * c + F_fixed + F_one_time / amortise_months``, with c the system's own cost per query
    (``CostStats.system_usd_per_query``), F_fixed the spec's ``fixed_monthly_usd`` for it and F_one_time its
    ``one_time_usd``.  Names in the spec that are not among ``cost_stats`` are ignored (the run may have
    selected fewer systems).  ValueError for a negative volume.
    """
    volume = spec.volume_per_month if volume is None else volume
    if volume is not None and volume < 0:
        raise ValueError(f"volume must be >= 0, got {volume!r}")
    out = []
    for cs in cost_stats:
        fixed = spec.fixed_monthly_usd.get(cs.system, 0.0)
        once = spec.one_time_usd.get(cs.system, 0.0)
        declared = tuple(k for k in ("fixed_monthly_usd", "one_time_usd") if cs.system in getattr(spec, k))
        f = fixed + once / spec.amortise_months
        c = cs.system_usd_per_query
        reason = None
        if volume is None:
            reason = "no monthly volume stated (costs.volume_per_month)"
        elif c is None:
            reason = f"no cost per query: {cs.system_reason}"
        monthly = volume * c + f if reason is None else None
        out.append(Projection(system=cs.system, volume_per_month=volume, usd_per_query=c, fixed_monthly_usd=fixed,
                              one_time_usd=once, amortise_months=spec.amortise_months, monthly_fixed_usd=f,
                              monthly_usd=monthly, declared=declared, reason=reason))  # fmt: skip
    return out


@dataclass(frozen=True)
class BreakEven:
    """The monthly volume at which two systems cost the same: below it ``cheaper_below`` costs less, above it
    ``cheaper_above``.  ``volume`` None with ``reason`` when the lines do not cross at a volume >= 0."""

    system_a: str
    system_b: str
    volume: float | None
    cheaper_below: str | None
    cheaper_above: str | None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def break_even(a: Projection, b: Projection) -> BreakEven:
    """The monthly volume V* where a's and b's monthly costs are equal.

    With monthly cost ``F + V * c`` (F: :attr:`Projection.monthly_fixed_usd`, c: cost per query),
    ``F_a + V c_a = F_b + V c_b`` gives ``V* = (F_b - F_a) / (c_a - c_b)``.  Below V* the system with the
    smaller F is cheaper, above it the one with the smaller c.

    - c unknown for either: None ("no cost per query for X").
    - ``c_a == c_b``: the lines are parallel.  Equal F: None, "equal at every volume" (no system cheaper);
      otherwise None, the one with the smaller F "cheaper at every volume".
    - V* < 0: None; the lines cross only at a negative volume, so the system cheaper at 0 (smaller F) is
      cheaper at every volume >= 0.
    - V* = 0 (equal F, different c): 0.0, the one with the smaller c cheaper at every volume above 0.
    """
    for p in (a, b):
        if p.usd_per_query is None:
            return BreakEven(a.system, b.system, None, None, None, f"no cost per query for {p.system}")
    fa, fb, ca, cb = a.monthly_fixed_usd, b.monthly_fixed_usd, a.usd_per_query, b.usd_per_query
    lower_f = a.system if fa < fb else b.system
    if ca == cb:
        if fa == fb:
            return BreakEven(a.system, b.system, None, None, None, "equal monthly cost at every volume")
        return BreakEven(a.system, b.system, None, lower_f, lower_f,
                         f"the same cost per query: {lower_f} is cheaper at every volume")  # fmt: skip
    v = 0.0 if fa == fb else (fb - fa) / (ca - cb)  # not -0.0
    lower_c = a.system if ca < cb else b.system
    if v < 0:
        reason = f"the costs cross only at a negative volume: {lower_f} is cheaper at every volume"
        return BreakEven(a.system, b.system, None, lower_f, lower_f, reason)
    return BreakEven(a.system, b.system, float(v), lower_f if v > 0 else None, lower_c)


def break_evens(projections: Sequence[Projection]) -> list[BreakEven]:
    """:func:`break_even` of every pair of systems, ``system_a < system_b`` by name, sorted by the pair."""
    ordered = sorted(projections, key=lambda p: p.system)
    return [break_even(a, b) for a, b in combinations(ordered, 2)]


# --- Pareto front -----------------------------------------------------------------------------------


def pareto_front(points: Mapping[str, tuple[float, float]]) -> set[str]:
    """The systems no other system beats on both quality and cost: system -> (quality, cost).

    Higher quality and lower cost are better.  ``s`` is dominated when some ``t`` has
    ``quality_t >= quality_s`` and ``cost_t <= cost_s`` with at least one strict; the front is every system
    not dominated.  Ties: systems at the same point do not dominate one another, so all of them are on the
    front or none is; a system equal to another on one axis and worse on the other is dominated.  Leave
    out systems whose quality or cost is unmeasured (ValueError for None or a non-finite value: a made-up
    value would decide the front).  Empty in, empty out.
    """
    for system, (q, c) in points.items():
        if q is None or c is None or not np.isfinite(q) or not np.isfinite(c):
            raise ValueError(f"pareto_front: {system!r} needs a finite quality and cost, got {(q, c)!r}")
    return {
        s
        for s, (qs, cs) in points.items()
        if not any(qt >= qs and ct <= cs and (qt > qs or ct < cs) for t, (qt, ct) in points.items() if t != s)
    }
