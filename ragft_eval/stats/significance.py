"""Paired significance: does one system beat another beyond noise, on one metric in one slice?

Every comparison pairs the two systems on the cases both have a value for, with the same values the
means use (:func:`~ragft_eval.stats.aggregate.value_for_mean`: a system's error on a quality metric is the
worst value, unscored results and scorer errors are left out), so a system cannot look better by
crashing on the hard cases.  The test is McNemar's exact test for 0/1 metrics and a sign-flip
permutation test otherwise.  Holm-Bonferroni adjusts across all system pairs of the same
(metric, slice).  :func:`power_by_slice` says how large a difference the cases can detect at all.

A comparison that cannot be made carries None and a ``reason``; no number here is ever NaN.
"""

from __future__ import annotations

import hashlib
import math
import string
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np
import scipy.stats

from ..records import CaseResult, MetricResult
from ..resample import bootstrap_ci
from .aggregate import OVERALL, value_for_mean

Key = tuple[str, str]  # (golden_set, case_id)
Where = Callable[[CaseResult], bool]
CaseHashes = dict[str, dict[str, str]]  # golden set -> case id -> content hash (RunManifest.case_hashes)

# sd of a single 0/1 outcome at p = 0.5, the largest a 0/1 value can have: the planning sd for a 0/1
# metric when the data give none (no pairs, or every paired difference 0)
BINARY_SD = 0.5
# elements per block of sign patterns, so memory stays bounded (~8 MB of float64) for large golden sets
_BLOCK = 2**20


@dataclass(frozen=True)
class Comparison:
    """One paired comparison of two systems on one metric in one slice."""

    metric: str
    slice: str  # "(all)" (stats.OVERALL), "task_type=<name>" or "tag=<name>"
    system_a: str
    system_b: str
    n_paired: int  # cases both systems have a value for (errors count as failures, as the means do)
    n_left_out: int  # shared cases left out because the metric is unscored (or a scorer error) for either
    mean_a: float | None
    mean_b: float | None
    difference: float | None  # mean of (a - b) over the paired cases
    ci_low: float | None  # paired bootstrap 95% CI of the mean difference
    ci_high: float | None
    test: str | None  # "sign_flip" or "mcnemar_exact"
    p_value: float | None
    p_holm: float | None  # Holm-Bonferroni across all system pairs of the same (metric, slice)
    significant: bool  # p_holm < alpha
    higher_is_better: bool
    reason: str | None = None  # why no test, when p_value is None

    @property
    def winner(self) -> str | None:
        """The significantly better system in the metric's direction, or None."""
        if not self.significant or not self.difference:
            return None
        return self.system_a if (self.difference > 0) == self.higher_is_better else self.system_b

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "winner": self.winner}


# --- pairing ----------------------------------------------------------------------------------------


def _index(results: Iterable[CaseResult], systems: set[str] | None = None) -> dict[str, dict[Key, CaseResult]]:
    """system -> (golden_set, case_id) -> result; two results for one (system, case) are refused."""
    out: dict[str, dict[Key, CaseResult]] = defaultdict(dict)
    for cr in results:
        if systems is not None and cr.system not in systems:
            continue
        key = (cr.golden_set, cr.case_id)
        if key in out[cr.system]:
            raise ValueError(f"two results for system {cr.system!r} on case {key}: pass the results of one run")
        out[cr.system][key] = cr
    return out


def _metric_result(cr: CaseResult, metric: str) -> MetricResult | None:
    found = [m for m in cr.results if m.metric == metric]
    if len(found) > 1:
        raise ValueError(f"{cr.system!r} has {len(found)} results for {metric!r} on case {cr.case_id!r}")
    return found[0] if found else None


def _values(records: dict[Key, CaseResult], metric: str) -> dict[Key, float | None]:
    """Key -> the value the case contributes to the mean (None: unscored, scorer error, or not reported)."""
    out: dict[Key, float | None] = {}
    for key, cr in records.items():
        m = _metric_result(cr, metric)
        out[key] = None if m is None else value_for_mean(m)
    return out


def _hash_of(hashes: CaseHashes, key: Key) -> str | None:
    return hashes.get(key[0], {}).get(key[1])


def _shared(
    recs_a: dict[Key, CaseResult],
    recs_b: dict[Key, CaseResult],
    where: Where | None,
    hashes_a: CaseHashes | None,
    hashes_b: CaseHashes | None,
) -> list[Key]:
    # sorted, so the arrays (and with them the bootstrap) do not depend on the order results came in
    keys = sorted(recs_a.keys() & recs_b.keys())
    if where is not None:
        keys = [k for k in keys if where(recs_a[k]) and where(recs_b[k])]
    if hashes_a is not None and hashes_b is not None:
        keys = [k for k in keys if (h := _hash_of(hashes_a, k)) is not None and h == _hash_of(hashes_b, k)]
    return keys


def _pair(
    vals_a: dict[Key, float | None], vals_b: dict[Key, float | None], keys: list[Key]
) -> tuple[list[Key], np.ndarray, np.ndarray, int]:
    both = [(k, vals_a[k], vals_b[k]) for k in keys if vals_a[k] is not None and vals_b[k] is not None]
    a = np.array([x for _, x, _ in both], dtype=float)
    b = np.array([y for _, _, y in both], dtype=float)
    return [k for k, _, _ in both], a, b, len(keys) - len(both)


def paired_cases(
    results: Iterable[CaseResult],
    metric: str,
    system_a: str,
    system_b: str,
    *,
    case_hashes: CaseHashes | None = None,
    where: Where | None = None,
    hashes_a: CaseHashes | None = None,
    hashes_b: CaseHashes | None = None,
) -> tuple[list[Key], np.ndarray, np.ndarray, int]:
    """The two systems' values of ``metric`` on the cases they share: ``(keys, a, b, n_left_out)``, where
    ``keys[i]`` is the ``(golden_set, case_id)`` of ``a[i]`` and ``b[i]``; the pairing is
    :func:`paired_values`'s.
    """
    if (hashes_a is None) != (hashes_b is None) and case_hashes is None:
        raise ValueError("pass both hashes_a and hashes_b (or case_hashes for both sides)")
    hashes_a = case_hashes if hashes_a is None else hashes_a
    hashes_b = case_hashes if hashes_b is None else hashes_b
    if not hashes_a or not hashes_b:  # a schema-1 manifest recorded no hashes: nothing to check against
        hashes_a = hashes_b = None
    index = _index(results, {system_a, system_b})
    recs_a, recs_b = index.get(system_a, {}), index.get(system_b, {})
    keys = _shared(recs_a, recs_b, where, hashes_a, hashes_b)
    return _pair(_values(recs_a, metric), _values(recs_b, metric), keys)


def paired_values(
    results: Iterable[CaseResult],
    metric: str,
    system_a: str,
    system_b: str,
    *,
    case_hashes: CaseHashes | None = None,
    where: Where | None = None,
    hashes_a: CaseHashes | None = None,
    hashes_b: CaseHashes | None = None,
) -> tuple[np.ndarray, np.ndarray, int]:
    """The two systems' values of ``metric`` on the cases they share: ``(a, b, n_left_out)``.

    A case is shared when both systems have a result for the same ``(golden_set, case_id)``, ``where``
    (a filter on :class:`CaseResult`, for slices) accepts both results, and, when hashes are given, both
    sides' content hashes of the case are known and equal.  ``case_hashes`` (a manifest's ``case_hashes``:
    golden set -> case id -> hash) applies to both sides, as in one run, where it limits the comparison to
    the cases the manifest selected; ``hashes_a`` / ``hashes_b`` (default ``case_hashes``) are for a
    comparison across two runs, where a golden-set bump can change a case under the same id: such a case
    is a different case, not a shared one, and is not counted.  An empty mapping on either side (a
    schema-1 manifest recorded no hashes) checks nothing: the pairing is then on ids alone.

    Each value is :func:`value_for_mean` of the metric's result: a system's error on a quality metric is
    the worst value (0, or 1 when lower is better), exactly as in the means.  A shared case where either
    value is None (unscored, a scorer error, an operational metric's error, or no result for the metric)
    is left out and counted in ``n_left_out``.  ``a[i]`` and ``b[i]`` are the same case; cases are in
    ``(golden_set, case_id)`` order.  The results must hold one result per (system, case) (ValueError
    otherwise, e.g. for two runs' results under the same system names).
    """
    _, a, b, left_out = paired_cases(results, metric, system_a, system_b, case_hashes=case_hashes, where=where,
                                     hashes_a=hashes_a, hashes_b=hashes_b)  # fmt: skip
    return a, b, left_out


def sign_flip_test(
    diffs: Sequence[float] | np.ndarray,
    *,
    resamples: int = 10000,
    seed: int = 0,
    alternative: str = "two-sided",
) -> float:
    """Paired permutation test of "mean difference 0" by random sign flips: the p-value.

    ``alternative``: ``two-sided`` (the default, below), ``greater`` (H1: mean > 0; the share of patterns
    with ``S* >= S_obs``) or ``less`` (H1: mean < 0; ``S* <= S_obs``).  A one-sided test of "mean <= c"
    is this test on ``d - c`` (what the regression gates use).

    Under the null each paired difference is as likely to be ``d`` as ``-d``, so the reference
    distribution is that of ``S* = sum(s_i * d_i)`` over signs ``s_i = ±1``; the p-value is the share of
    sign patterns with ``|S*| >= |S_obs|`` (the sum and the mean order patterns the same way).  Zero
    differences contribute nothing (flipping them changes nothing), so only the m non-zero ones are
    flipped.

    - Exact when ``2**m <= resamples``: all 2^m patterns, ``p = #{|S*| >= |S_obs|} / 2**m`` (the observed
      pattern is one of them, so no correction is needed).  Equal to
      ``scipy.stats.permutation_test(..., permutation_type="samples", n_resamples=np.inf)``.
    - Otherwise Monte Carlo: ``resamples`` patterns drawn with ``numpy.random.default_rng(seed)``,
      ``p = (1 + #{|S*| >= |S_obs|}) / (1 + resamples)``; the +1 counts the observed pattern, so p is never
      0 and the test keeps its level (Phipson & Smyth 2010).  Deterministic for a seed.
    - Every difference 0 (m = 0): p = 1.0.

    ``>=`` is taken with a tolerance of ``1e-9 * sum|d|``: a pattern whose sum equals the observed one
    in exact arithmetic can differ from it in the last bits (0.1 + 0.2 vs 0.3), and must count as a tie.

    Raises ValueError for no differences, a non-finite difference, or ``resamples`` < 1.
    """
    # by hand: scipy.stats.permutation_test evaluates a Python statistic per batch and keeps the zero
    # differences in the patterns; one matrix product per block is much faster, which the report needs
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError("sign_flip_test needs a non-empty 1-d sequence of paired differences")
    if not np.all(np.isfinite(d)):
        raise ValueError("sign_flip_test: the differences must be finite")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples!r}")
    if alternative not in ("two-sided", "greater", "less"):
        raise ValueError(f"alternative: expected two-sided, greater or less, got {alternative!r}")
    d = d[d != 0]
    m = d.size
    if m == 0:
        return 1.0
    if alternative == "less":  # S* <= S_obs  <=>  -S* >= -S_obs
        d = -d
    total = float(d.sum())  # S* = 2 * (bits @ d) - total, bits = 1 where the sign is kept
    tol = 1e-9 * float(np.abs(d).sum())
    threshold = (abs(total) if alternative == "two-sided" else total) - tol
    stat = np.abs if alternative == "two-sided" else (lambda x: x)
    rows = max(1, _BLOCK // m)
    hits = 0
    if m < 63 and 2**m <= resamples:
        shifts = np.arange(m, dtype=np.int64)
        for start in range(0, 2**m, rows):
            idx = np.arange(start, min(start + rows, 2**m), dtype=np.int64)
            bits = ((idx[:, None] >> shifts) & 1).astype(float)
            hits += int(np.count_nonzero(stat(2 * (bits @ d) - total) >= threshold))
        return hits / 2**m
    rng = np.random.default_rng(seed)
    n_bytes = (m + 7) // 8
    for start in range(0, resamples, rows):
        k = min(rows, resamples - start)
        bits = np.unpackbits(rng.integers(0, 256, size=(k, n_bytes), dtype=np.uint8), axis=1, count=m)
        hits += int(np.count_nonzero(stat(2 * (bits.astype(float) @ d) - total) >= threshold))
    return (1 + hits) / (1 + resamples)


def _as_binary(x: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x, dtype=float)
    if arr.ndim != 1 or not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"mcnemar_exact: {name} must be a 1-d sequence of 0/1 values")
    return arr.astype(bool)


def mcnemar_exact(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float:
    """Exact McNemar test for paired 0/1 outcomes: the two-sided p-value.

    Only discordant pairs carry evidence: with ``k`` cases where a = 1 and b = 0, and ``n`` discordant
    cases in all, ``p = scipy.stats.binomtest(k, n, 0.5).pvalue`` (two-sided).  No discordant pair: 1.0.
    Raises ValueError when a and b differ in length or hold anything but 0 and 1.
    """
    x, y = _as_binary(a, "a"), _as_binary(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"mcnemar_exact: a and b must be paired (lengths {x.size} and {y.size})")
    k = int(np.count_nonzero(x & ~y))
    n = k + int(np.count_nonzero(~x & y))
    if n == 0:
        return 1.0
    return float(min(1.0, scipy.stats.binomtest(k, n, 0.5).pvalue))


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm-Bonferroni adjusted p-values, in the input order.

    With the m non-None p-values sorted ascending, ``p_(1) <= ... <= p_(m)``, the adjusted value of
    ``p_(i)`` is ``min(1, max_{j <= i} (m - j + 1) * p_(j))`` (the running max keeps them monotone).  Equal
    to statsmodels ``multipletests(p, method="holm")[1]``.  None entries (comparisons that could not be
    made) stay None and are not counted in m.  Raises ValueError for a p-value outside [0, 1] or NaN.
    """
    # by hand because statsmodels does not take None entries, and a few lines are clearer than masking
    present = [(i, float(p)) for i, p in enumerate(p_values) if p is not None]
    for _, p in present:
        if not 0 <= p <= 1:
            raise ValueError(f"holm: p-values must lie in [0, 1], got {p!r}")
    out: list[float | None] = [None] * len(p_values)
    m = len(present)
    running = 0.0
    for rank, (i, p) in enumerate(sorted(present, key=lambda t: t[1])):
        running = max(running, min(1.0, (m - rank) * p))
        out[i] = running
    return out


def minimum_detectable_difference(
    n: int, sd: float | None, *, alpha: float = 0.05, power: float = 0.8, binary: bool = False
) -> float | None:
    """Smallest true mean difference a two-sided paired test at level ``alpha`` detects with ``power``.

    ``(z_{1 - alpha/2} + z_{power}) * sd / sqrt(n)`` for n pairs whose differences have standard deviation
    ``sd``.  A normal approximation: with few pairs the t distribution (and the discreteness of exact tests)
    make the true figure somewhat larger (about 5% at n = 30).  Holm across k system pairs tests the
    smallest p-value at ``alpha / k`` and the others at levels between that and ``alpha``, so pass
    ``alpha / k`` for the strictest figure.

    - n < 2, or ``sd`` None, negative or not finite: None (no estimate of the spread).
    - ``sd == 0`` (every observed difference equal, typically two identical systems): for a 0/1 metric
      (``binary``) the planning sd 0.5 is used, the sd of one 0/1 outcome at p = 0.5; otherwise None, since
      0 would claim that every difference is detectable.

    Raises ValueError for ``alpha`` or ``power`` outside (0, 1).
    """
    if not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError(f"alpha and power must lie in (0, 1), got {alpha!r} and {power!r}")
    if n < 2 or sd is None or not math.isfinite(sd) or sd < 0:
        return None
    if sd == 0:
        if not binary:
            return None
        sd = BINARY_SD
    z = scipy.stats.norm.ppf(1 - alpha / 2) + scipy.stats.norm.ppf(power)
    return float(z * sd / math.sqrt(n))


# --- comparing systems ------------------------------------------------------------------------------


def derived_seed(seed: int, *parts: str) -> int:
    # sha256 rather than hash(): the same on every machine and run (PYTHONHASHSEED), whatever the loop order
    text = "\x1f".join([str(seed), *parts])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def _slices(index: dict[str, dict[Key, CaseResult]], min_slice_cases: int, tags: bool) -> list[tuple[str, Where]]:
    """(name, filter): overall, every task type, every tag with at least ``min_slice_cases`` cases."""
    task_types: set[str] = set()
    tag_cases: dict[str, set[Key]] = defaultdict(set)
    for records in index.values():
        for key, cr in records.items():
            task_types.add(cr.task_type)
            for tag in cr.tags:
                tag_cases[tag].add(key)
    out: list[tuple[str, Where]] = [(OVERALL, lambda cr: True)]
    for t in sorted(task_types):
        out.append((f"task_type={t}", lambda cr, t=t: cr.task_type == t))
    if tags:
        for tag in sorted(tag_cases):
            if len(tag_cases[tag]) >= min_slice_cases:
                out.append((f"tag={tag}", lambda cr, tag=tag: tag in cr.tags))
    return out


def _metric_meta(index: dict[str, dict[Key, CaseResult]]) -> dict[str, tuple[str, bool]]:
    """metric -> (unit, higher_is_better), refusing a metric whose results disagree on them."""
    meta: dict[str, tuple[str, bool]] = {}
    for records in index.values():
        for cr in records.values():
            for m in cr.results:
                seen = meta.setdefault(m.metric, (m.unit, m.higher_is_better))
                if seen != (m.unit, m.higher_is_better):
                    raise ValueError(f"metric {m.metric!r} has results with unit/direction {seen} and "
                                     f"{(m.unit, m.higher_is_better)}")  # fmt: skip
    return meta


def _no_pairs_reason(metric: str, a: str, b: str, n_shared: int, has_a: bool, has_b: bool) -> str:
    if n_shared == 0:
        return f"{a} and {b} share no case in this slice"
    if not has_a and not has_b:
        return f"neither {a} nor {b} has a value for {metric} on the {n_shared} shared cases"
    if not has_a or not has_b:
        return f"{a if not has_a else b} has no value for {metric} on any of the {n_shared} shared cases"
    return f"no shared case has a value for {metric} from both systems ({n_shared} shared cases left out)"


def _compare(
    metric: str,
    slice_name: str,
    a: str,
    b: str,
    x: np.ndarray,
    y: np.ndarray,
    n_left_out: int,
    unit: str,
    higher_is_better: bool,
    resamples: int,
    seed: int,
    has: tuple[bool, bool],
) -> Comparison:
    """One comparison before correction (p_holm and significant are set afterwards)."""
    common = dict(metric=metric, slice=slice_name, system_a=a, system_b=b, n_paired=int(x.size),
                  n_left_out=n_left_out, higher_is_better=higher_is_better, p_holm=None, significant=False)  # fmt: skip
    if x.size == 0:
        reason = _no_pairs_reason(metric, a, b, n_left_out, *has)
        return Comparison(**common, mean_a=None, mean_b=None, difference=None, ci_low=None, ci_high=None,
                          test=None, p_value=None, reason=reason)  # fmt: skip
    diffs = x - y
    ci = bootstrap_ci(diffs, resamples=resamples, seed=derived_seed(seed, "ci", metric, slice_name, a, b))
    assert ci is not None  # non-empty differences always have an interval
    binary = unit == "ratio" and bool(np.all((x == 0) | (x == 1)) and np.all((y == 0) | (y == 1)))
    if binary:
        test, p = "mcnemar_exact", mcnemar_exact(x, y)
    else:
        test_seed = derived_seed(seed, "test", metric, slice_name, a, b)
        test, p = "sign_flip", sign_flip_test(diffs, resamples=resamples, seed=test_seed)
    return Comparison(**common, mean_a=float(x.mean()), mean_b=float(y.mean()), difference=float(diffs.mean()),
                      ci_low=ci[0], ci_high=ci[1], test=test, p_value=p)  # fmt: skip


def compare_systems(
    results: Iterable[CaseResult],
    *,
    metrics: Sequence[str] | None = None,
    systems: Sequence[str] | None = None,
    case_hashes: CaseHashes | None = None,
    resamples: int = 10000,
    seed: int = 0,
    alpha: float = 0.05,
    min_slice_cases: int = 10,
    tags: bool = True,
) -> list[Comparison]:
    """Every pair of systems on every metric in every slice, with Holm-corrected significance.

    - Metrics: ``metrics`` (each must occur in the results), or every metric name in the results, sorted.
      Operational metrics (unit s, tokens, usd; lower is better) are compared too; their errors are left
      out, as in the means.
    - Systems: ``systems`` (each must occur), or every system in the results; pairs are unordered,
      ``system_a < system_b`` by name, and ``difference`` is the mean of ``a - b``.
    - Slices: :data:`OVERALL`, ``task_type=<name>`` for every task type, and ``tag=<name>`` for every tag
      (when ``tags``) held by at least ``min_slice_cases`` cases (fewer say nothing and crowd the family).
    - Pairing: :func:`paired_values`; ``case_hashes`` (the run's manifest ``case_hashes``) limits it to
      the cases the manifest lists; None or ``{}`` (a schema-1 manifest recorded none) checks nothing.
    - Test: :func:`mcnemar_exact` when the unit is ratio and every paired value of both systems is 0 or 1,
      else :func:`sign_flip_test` with ``resamples``.  ``ci_low``/``ci_high``: the percentile bootstrap
      (``resample.bootstrap_ci``, ``resamples``, 95%) of the mean paired difference; ``mean_a``/``mean_b``
      are over the paired cases only, so they can differ from the table's means.
    - Correction: :func:`holm` across all pairs of the same (metric, slice); ``significant`` is
      ``p_holm < alpha``.
    - n_paired = 0: no means, CI or test (None) and a ``reason``.  n_paired = 1: the test runs (p = 1.0).

    Seeds are derived from ``(seed, metric, slice, pair)`` by a hash, so every number is the same whatever
    the order of the results, metrics or systems.  Ordered by metric (sorted, or as ``metrics`` lists them),
    then slice (in the order above), then pair.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1), got {alpha!r}")
    results = list(results)
    index = _index(results, None if systems is None else set(systems))
    names = sorted(index) if systems is None else sorted(set(systems))
    missing = [s for s in names if s not in index]
    if missing:
        raise ValueError(f"no results for system(s) {missing}")
    meta = _metric_meta(index)
    wanted = sorted(meta) if metrics is None else list(dict.fromkeys(metrics))
    unknown = [m for m in wanted if m not in meta]
    if unknown:
        raise ValueError(f"no results for metric(s) {unknown}")
    hashes = case_hashes or None
    slices = _slices(index, min_slice_cases, tags)
    pairs = list(combinations(names, 2))
    shared = {(name, a, b): _shared(index[a], index[b], where, hashes, hashes) for name, where in slices
              for a, b in pairs}  # fmt: skip
    out: list[Comparison] = []
    for metric in wanted:
        unit, higher_is_better = meta[metric]
        values = {s: _values(index[s], metric) for s in names}
        for slice_name, _ in slices:
            family = []
            for a, b in pairs:
                keys = shared[(slice_name, a, b)]
                _, x, y, n_left_out = _pair(values[a], values[b], keys)
                has = (any(values[a][k] is not None for k in keys), any(values[b][k] is not None for k in keys))
                family.append(_compare(metric, slice_name, a, b, x, y, n_left_out, unit, higher_is_better,
                                       resamples, seed, has))  # fmt: skip
            adjusted = holm([c.p_value for c in family])
            for c, p in zip(family, adjusted, strict=True):
                out.append(_with_holm(c, p, alpha))
    return out


def _with_holm(c: Comparison, p_holm: float | None, alpha: float) -> Comparison:
    return Comparison(**{**asdict(c), "p_holm": p_holm, "significant": p_holm is not None and p_holm < alpha})


def power_by_slice(
    results: Iterable[CaseResult],
    *,
    metric: str,
    alpha: float = 0.05,
    power: float = 0.8,
    systems: Sequence[str] | None = None,
    min_slice_cases: int = 10,
    tags: bool = True,
) -> dict[str, dict[str, Any]]:
    """Per slice (as in :func:`compare_systems`): how large a difference its cases can detect.

    For each slice, over the system pairs with at least 2 paired cases:

    - ``n_paired``: the fewest paired cases of any such pair (the figure then holds for every pair); with
      no such pair, the most cases any one system has a value for.
    - ``n_pairs``: how many such pairs.
    - ``sd``: the pooled sd of the paired differences, ``sqrt(sum((n_i - 1) * s_i**2) / sum(n_i - 1))``;
      for a 0/1 metric with no pair (or every difference 0) the planning sd 0.5; otherwise None.
    - ``binary``: every value is 0 or 1 and the unit is ratio.
    - ``mdd``: :func:`minimum_detectable_difference` at ``alpha`` and ``power``; ``mdd_corrected``: the same
      at ``alpha / n_pairs``, the level Holm applies to the smallest p-value of the slice.
    - ``reason``: why ``mdd`` is None, else None.

    So a report can say "with 16 cases, differences under 0.28 are not detectable".
    """
    index = _index(results, None if systems is None else set(systems))
    names = sorted(index)
    if systems is not None and set(systems) - set(names):
        raise ValueError(f"no results for system(s) {sorted(set(systems) - set(names))}")
    meta = _metric_meta(index)
    if metric not in meta:
        raise ValueError(f"no results for metric {metric!r}")
    unit = meta[metric][0]
    values = {s: _values(index[s], metric) for s in names}
    out: dict[str, dict[str, Any]] = {}
    for slice_name, where in _slices(index, min_slice_cases, tags):
        in_slice = {s: {k: v for k, v in values[s].items() if v is not None and where(index[s][k])} for s in names}
        seen = [v for s in names for v in in_slice[s].values()]
        binary = unit == "ratio" and bool(seen) and all(v in (0.0, 1.0) for v in seen)
        sizes, sums = [], 0.0
        for a, b in combinations(names, 2):
            _, x, y, _ = _pair(values[a], values[b], _shared(index[a], index[b], where, None, None))
            if x.size >= 2:
                sizes.append(x.size)
                sums += float(np.var(x - y, ddof=1)) * (x.size - 1)
        if sizes:
            n, sd = min(sizes), math.sqrt(sums / sum(s - 1 for s in sizes))
        else:
            n, sd = max((len(v) for v in in_slice.values()), default=0), None
        if sd is None and binary:
            sd = BINARY_SD
        mdd = minimum_detectable_difference(n, sd, alpha=alpha, power=power, binary=binary)
        corrected = (minimum_detectable_difference(n, sd, alpha=alpha / len(sizes), power=power, binary=binary)
                     if sizes else mdd)  # fmt: skip
        if sd == 0 and binary:
            sd = BINARY_SD  # what minimum_detectable_difference used
        reason = None
        if mdd is None:
            if n < 2:
                reason = f"{n} case(s) with a value for {metric}: no spread to estimate"
            elif sd is None:
                reason = f"no pair of systems has 2 or more paired cases for {metric}"
            else:
                reason = "every paired difference is 0: the spread of the next sample is unknown"
        out[slice_name] = {"n_paired": n, "n_pairs": len(sizes), "sd": sd, "binary": binary, "mdd": mdd,
                           "mdd_corrected": corrected, "reason": reason}  # fmt: skip
    return out


def significance_letters(comparisons: Iterable[Comparison], systems: Sequence[str]) -> dict[tuple[str, str, str], str]:
    """ranx-style letters: for every (metric, slice, system), the letters of the systems it beats.

    Each system in ``systems`` gets a letter in order (a, b, c, ...); the value for (metric, slice,
    system) is the letters, in that order, of the systems it beats significantly after correction in the
    metric's direction (:attr:`Comparison.winner`), and "" when it beats none.  Every (metric, slice) that
    occurs in ``comparisons`` has an entry for every listed system; comparisons involving a system not
    listed are not shown (the caller chose what to display).  Raises ValueError for more than 26 systems
    or a repeated name.
    """
    if len(systems) > len(string.ascii_lowercase) or len(set(systems)) != len(systems):
        raise ValueError("significance_letters takes at most 26 distinct systems")
    letter = dict(zip(systems, string.ascii_lowercase, strict=False))
    beaten: dict[tuple[str, str, str], set[str]] = {}
    for c in comparisons:
        for s in systems:
            beaten.setdefault((c.metric, c.slice, s), set())
        winner = c.winner
        if winner is None or c.system_a not in letter or c.system_b not in letter:
            continue
        loser = c.system_b if winner == c.system_a else c.system_a
        beaten[(c.metric, c.slice, winner)].add(loser)
    return {key: "".join(letter[s] for s in systems if s in losers) for key, losers in beaten.items()}
