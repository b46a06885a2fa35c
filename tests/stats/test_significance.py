"""Paired significance (:mod:`ragft_eval.stats.significance`), checked against its docstrings.

The tests against references: the exact sign-flip test equals scipy's exact paired permutation test, McNemar
equals a hand-computed binomial test, Holm equals statsmodels, the minimum detectable difference is near
statsmodels' power solvers.  The rules the product needs: errors count as failures in the pairs, unscored
cases are left out and counted, a comparison that cannot be made says why, nothing is NaN, and seeds do not
depend on the order of the results.  A simulation checks the family-wise false-positive rate under Holm and
prints the power against a stated true difference.
"""

from __future__ import annotations

import math
import random
from itertools import combinations, pairwise, product

import numpy as np
import pytest
import scipy.stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.power import NormalIndPower, TTestPower

from ragft_eval.records import CaseResult, MetricResult, Response
from ragft_eval.stats import (
    OVERALL,
    Comparison,
    compare_systems,
    holm,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_values,
    power_by_slice,
    sign_flip_test,
    significance_letters,
)

# --- helpers ----------------------------------------------------------------------------------------


def _case(system: str, case: str, *results: MetricResult, task: str = "qa", tags=(), gs: str = "g") -> CaseResult:
    return CaseResult(run_id="r", system=system, case_id=case, golden_set=gs, task_type=task, tags=tuple(tags),
                      response=Response(case_id=case, system=system), results=results)  # fmt: skip


def _recall(value: float | None, metric: str = "token_recall") -> MetricResult:
    return MetricResult.scored(metric, value) if value is not None else MetricResult.unscored(metric, "no answer")


def _scipy_exact(a: np.ndarray, b: np.ndarray) -> float:
    return scipy.stats.permutation_test((a, b), statistic=lambda x, y: np.mean(x - y), permutation_type="samples",
                                        alternative="two-sided", n_resamples=np.inf).pvalue  # fmt: skip


# --- sign-flip test ---------------------------------------------------------------------------------

RNG = np.random.default_rng(11)
EXACT_DATA = {
    "continuous": (RNG.random(11), RNG.random(11)),
    # quarters: many exact ties among the patterns' sums
    "binary fractions with ties": (np.array([0.25, 0.5, 0.75, 1, 0, 0.5, 0.25, 1, 0.75, 0.5, 0, 1]),
                                   np.array([0, 0.5, 0.25, 0.75, 0.25, 0.5, 1, 0.5, 0.5, 0, 0.25, 0.25])),
    # tenths: ties that are exact in decimal but not in floating point (0.1 + 0.2 vs 0.3)
    "decimal ties": (np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.9, 0.3, 0.5, 0.5]),
                     np.array([0.0, 0.0, 0.6, 0.1, 0.2, 0.8, 0.5, 0.2, 0.5, 0.4])),
    "0/1": (np.array([1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1.0]), np.array([0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1.0])),
}  # fmt: skip


@pytest.mark.parametrize("name", EXACT_DATA)
def test_exact_sign_flip_equals_scipy_exact_paired_permutation_test(name):
    a, b = EXACT_DATA[name]
    assert 2 ** np.count_nonzero(a - b) <= 10000  # the exact mode
    assert sign_flip_test(a - b) == pytest.approx(_scipy_exact(a, b), abs=1e-12)


def test_sign_flip_counts_floating_point_ties_as_ties():
    # in tenths the patterns' sums are integers, so the count is exact; in floating point some patterns
    # whose sum equals the observed one come out a hair smaller, and a bare >= would miss them (7/64)
    tenths = [-6, 6, 3, 8, 2, 9, 4]
    observed = abs(sum(tenths))
    extreme = sum(abs(sum(s * t for s, t in zip(signs, tenths, strict=True))) >= observed
                  for signs in product((1, -1), repeat=len(tenths)))  # fmt: skip
    assert extreme / 2 ** len(tenths) == 0.125
    assert sign_flip_test(np.array(tenths) / 10) == 0.125


def test_sign_flip_edge_cases():
    assert sign_flip_test([0.0, 0.0, 0.0]) == 1.0  # all differences zero
    assert sign_flip_test([0.3]) == 1.0  # one non-zero difference: both signs are as extreme
    d = [0.5, 0.25, 0.75, -0.25, 1.0, 0.5]
    assert sign_flip_test(d + [0.0] * 5) == sign_flip_test(d)  # zeros contribute nothing
    assert sign_flip_test([1.0] * 5) == 2 / 32  # exact: only the all-plus and all-minus patterns
    for bad in ([], [0.1, math.nan], [math.inf]):
        with pytest.raises(ValueError):
            sign_flip_test(bad)
    with pytest.raises(ValueError):
        sign_flip_test([0.1], resamples=0)


def test_monte_carlo_sign_flip_counts_the_observed_pattern_and_is_seeded():
    d = np.full(40, 0.1)  # the observed pattern is the most extreme of 2^40: no random pattern beats it
    assert sign_flip_test(d, resamples=1000) == 1 / 1001  # the +1 correction: never 0
    x = np.random.default_rng(3).normal(0.15, 1, 60)
    assert sign_flip_test(x, seed=4) == sign_flip_test(x, seed=4)
    assert sign_flip_test(x, seed=4) != sign_flip_test(x, seed=5)
    # Monte Carlo agrees with the exact value (16 differences: exact with resamples = 2^16)
    y = np.random.default_rng(5).normal(0.4, 1, 16)
    exact = sign_flip_test(y, resamples=2**16)
    assert exact == pytest.approx(_scipy_exact(y, np.zeros(16)), abs=1e-12)
    assert sign_flip_test(y, resamples=20000, seed=1) == pytest.approx(exact, abs=0.01)  # ~3 MC standard errors


# --- McNemar and Holm -------------------------------------------------------------------------------


def test_mcnemar_exact_is_the_binomial_test_on_discordant_pairs():
    a = np.array([1, 1, 1, 0, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1])
    b = np.array([0, 0, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0])
    k, n = 8, 9  # a=1,b=0 on 8 cases; a=0,b=1 on 1
    assert (np.sum((a == 1) & (b == 0)), np.sum(a != b)) == (k, n)
    hand = 2 * sum(math.comb(n, i) for i in range(0, min(k, n - k) + 1)) / 2**n
    assert mcnemar_exact(a, b) == pytest.approx(hand, rel=1e-12)
    assert mcnemar_exact(a, b) == pytest.approx(scipy.stats.binomtest(k, n, 0.5).pvalue, rel=1e-12)
    assert mcnemar_exact(b, a) == pytest.approx(mcnemar_exact(a, b), rel=1e-12)
    assert mcnemar_exact(a, a) == 1.0  # no discordant pair
    # on 0/1 data the exact sign-flip test is the same test
    assert mcnemar_exact(a, b) == pytest.approx(sign_flip_test(a - b, resamples=2**20), rel=1e-9)
    with pytest.raises(ValueError):
        mcnemar_exact([0.5, 1], [0, 1])
    with pytest.raises(ValueError):
        mcnemar_exact([1, 0], [1])


@pytest.mark.parametrize(
    "p",
    [
        [0.01, 0.04, 0.03, 0.2, 0.5, 0.001],
        [0.02, 0.02, 0.02, 0.9],  # ties
        [0.3, 0.4, 0.6, 0.9, 0.95],  # caps at 1
        list(np.random.default_rng(7).random(15) ** 3),
    ],
)
def test_holm_equals_statsmodels(p):
    assert holm(p) == pytest.approx(list(multipletests(p, method="holm")[1]), abs=1e-15)


def test_holm_passes_none_through_and_leaves_it_out_of_the_family():
    p = [0.01, None, 0.04, 0.03, None]
    want = multipletests([0.01, 0.04, 0.03], method="holm")[1]
    got = holm(p)
    assert got[1] is None and got[4] is None
    assert [got[0], got[2], got[3]] == pytest.approx(list(want), abs=1e-15)
    assert holm([]) == [] and holm([None]) == [None]
    with pytest.raises(ValueError):
        holm([0.1, math.nan])


# --- pairing on records -----------------------------------------------------------------------------


def test_errors_count_as_failures_so_crashing_on_hard_cases_does_not_help():
    # A is a little better on the easy cases and errors on the hard ones, where B scored 0.2
    results = []
    for i in range(6):
        results += [_case("A", f"easy{i}", _recall(0.9)), _case("B", f"easy{i}", _recall(0.8))]
        results += [_case("A", f"hard{i}", MetricResult.error("token_recall", "system raised TimeoutError")),
                    _case("B", f"hard{i}", _recall(0.2))]  # fmt: skip
    a, b, left_out = paired_values(results, "token_recall", "A", "B")
    assert left_out == 0 and a.size == 12
    keys = sorted(f"{k}{i}" for k in ("easy", "hard") for i in range(6))
    hard = np.array([k.startswith("hard") for k in keys])
    assert np.all(a[hard] == 0.0) and np.all(b[hard] == 0.2)
    (c,) = compare_systems(results, tags=False, resamples=2000)[:1]
    assert c.slice == OVERALL and c.difference == pytest.approx((6 * 0.1 - 6 * 0.2) / 12)
    assert c.difference < 0  # A does not look better; leaving its errors out would have made it look better
    assert c.mean_a == pytest.approx(0.45) and c.mean_b == pytest.approx(0.5)


def test_unscored_and_scorer_errors_are_left_out_and_counted():
    judge_error = MetricResult.error("token_recall", "judge endpoint down", details={"stage": "judge"})
    results = [
        _case("A", "c1", _recall(0.5)), _case("B", "c1", _recall(0.4)),
        _case("A", "c2", _recall(None)), _case("B", "c2", _recall(0.4)),  # unscored on one side
        _case("A", "c3", _recall(0.5)), _case("B", "c3", judge_error),  # the scorer failed: not B's fault
        _case("A", "c4", _recall(0.7)), _case("B", "c4", _recall(0.1)),
        _case("A", "only-a", _recall(0.9)),  # not shared: neither paired nor left out
    ]  # fmt: skip
    a, b, left_out = paired_values(results, "token_recall", "A", "B")
    assert a.tolist() == [0.5, 0.7] and b.tolist() == [0.4, 0.1] and left_out == 2
    (c,) = [c for c in compare_systems(results, tags=False) if c.slice == OVERALL]
    assert (c.n_paired, c.n_left_out, c.test) == (2, 2, "sign_flip")


def test_operational_errors_are_left_out_and_lower_is_better():
    def lat(v):
        if v is None:
            return MetricResult.error("latency", "system failed", unit="s", higher_is_better=False)
        return MetricResult.scored("latency", v, unit="s", higher_is_better=False)

    results = []
    for i in range(12):
        results += [_case("fast", f"c{i}", lat(None if i == 0 else 0.2 + 0.01 * i)),
                    _case("slow", f"c{i}", lat(1.0 + 0.02 * i))]  # fmt: skip
    (c,) = [c for c in compare_systems(results, tags=False) if c.slice == OVERALL]
    assert (c.n_paired, c.n_left_out, c.higher_is_better, c.test) == (11, 1, False, "sign_flip")
    assert c.difference < 0 and c.significant and c.winner == "fast"
    assert c.p_value == pytest.approx(2 / 2**11)  # exact: every difference negative


def test_no_shared_cases_or_no_values_give_no_test_and_a_reason():
    results = [_case("A", "c1", _recall(0.5)), _case("B", "c2", _recall(0.5)),
               _case("C", "c1", MetricResult.scored("other", 1.0)), _case("C", "c2", _recall(None))]  # fmt: skip
    by_pair = {(c.system_a, c.system_b): c for c in compare_systems(results, metrics=["token_recall"], tags=False)
               if c.slice == OVERALL}  # fmt: skip
    ab, ac = by_pair[("A", "B")], by_pair[("A", "C")]
    assert ab.n_paired == 0 and ab.n_left_out == 0 and ab.p_value is None and ab.p_holm is None
    assert not ab.significant and ab.test is None and ab.difference is None and ab.ci_low is None
    assert "share no case" in ab.reason
    assert ac.n_paired == 0 and ac.n_left_out == 1 and "C has no value for token_recall" in ac.reason
    assert by_pair[("B", "C")].reason and by_pair[("B", "C")].n_left_out == 1


def test_hashes_pair_only_cases_whose_content_is_unchanged():
    results = [_case("A", f"c{i}", _recall(0.1 * i)) for i in range(4)]
    results += [_case("B", f"c{i}", _recall(0.05 * i)) for i in range(4)]
    old = {"g": {"c0": "h0", "c1": "h1", "c2": "h2", "c3": "h3"}}
    new = {"g": {"c0": "h0", "c1": "CHANGED", "c2": "h2"}}  # c1 changed under its id, c3 has no hash
    a, b, left_out = paired_values(results, "token_recall", "A", "B", hashes_a=old, hashes_b=new)
    assert a.tolist() == pytest.approx([0.0, 0.2]) and b.tolist() == pytest.approx([0.0, 0.1]) and left_out == 0
    a, _, _ = paired_values(results, "token_recall", "A", "B", case_hashes=old)  # one run: every listed case
    assert a.size == 4
    a, _, _ = paired_values(results, "token_recall", "A", "B", where=lambda cr: cr.case_id != "c2")
    assert a.size == 3
    a, _, _ = paired_values(results, "token_recall", "A", "B", hashes_a=old, hashes_b={})  # schema 1: no hashes
    assert a.size == 4
    with pytest.raises(ValueError):
        paired_values(results, "token_recall", "A", "B", hashes_a=old)
    with pytest.raises(ValueError):  # two results for one (system, case)
        paired_values(results + results[:1], "token_recall", "A", "B")


def _suite_results(seed: int = 0) -> list[CaseResult]:
    """Three systems, two task types, a tag on 12 cases and one on 3, a 0/1 and a graded metric."""
    rng = np.random.default_rng(seed)
    skill = {"alpha": 0.8, "beta": 0.75, "gamma": 0.3}
    results = []
    for i in range(40):
        tags = ["long"] * (i < 12) + ["rare"] * (i < 3)
        for s, p in skill.items():
            hit = float(rng.random() < p)
            results.append(_case(s, f"c{i:02d}", MetricResult.scored("exact_match", hit),
                                 _recall(float(np.clip(p + rng.normal(0, 0.2), 0, 1))),
                                 task="factual" if i % 2 else "multi_hop", tags=tags))  # fmt: skip
    return results


def test_compare_systems_slices_tests_family_and_determinism():
    results = _suite_results()
    comps = compare_systems(results, resamples=2000, seed=3)
    slices = list(dict.fromkeys(c.slice for c in comps))
    assert slices == [OVERALL, "task_type=factual", "task_type=multi_hop", "tag=long"]  # "rare" has 3 < 10 cases
    assert len(comps) == 2 * 4 * 3  # metrics x slices x pairs
    assert {c.test for c in comps if c.metric == "exact_match"} == {"mcnemar_exact"}
    assert {c.test for c in comps if c.metric == "token_recall"} == {"sign_flip"}
    assert all(c.system_a < c.system_b for c in comps)
    overall = [c for c in comps if c.metric == "token_recall" and c.slice == OVERALL]
    assert [c.p_holm for c in overall] == pytest.approx(holm([c.p_value for c in overall]))
    assert all(c.significant == (c.p_holm < 0.05) for c in overall)
    assert {c.winner for c in overall if c.significant} == {"alpha", "beta"}  # both beat gamma
    assert [c.n_paired for c in comps if c.slice == "tag=long"] == [12] * 6
    for c in comps:  # never NaN
        for v in c.as_dict().values():
            assert not (isinstance(v, float) and math.isnan(v))
        assert c.ci_low <= c.difference <= c.ci_high
    # the same numbers whatever the order of results, metrics and systems
    shuffled = list(results)
    random.Random(1).shuffle(shuffled)
    again = compare_systems(shuffled, metrics=["token_recall", "exact_match"], systems=["gamma", "beta", "alpha"],
                            resamples=2000, seed=3)  # fmt: skip
    assert sorted(again, key=lambda c: (c.metric, c.slice, c.system_a, c.system_b)) == sorted(
        comps, key=lambda c: (c.metric, c.slice, c.system_a, c.system_b))  # fmt: skip
    assert compare_systems(results, resamples=2000, seed=4) != comps  # the seed matters
    with pytest.raises(ValueError):
        compare_systems(results, metrics=["nope"])
    with pytest.raises(ValueError):
        compare_systems(results, systems=["alpha", "nope"])


# --- simulation: family-wise error under Holm, and power --------------------------------------------

SIM_REPS = 500
SIM_CASES = 100
SIM_SYSTEMS = 4
SIM_RESAMPLES = 1000  # fewer than the default 10000 to keep the simulation fast; p >= 1/1001 is plenty here
PAIRS = list(combinations(range(SIM_SYSTEMS), 2))


def _simulate(effect: float, kind: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Raw and Holm p-values, shape (reps, 6 pairs), for 4 systems where system 0 is better by ``effect``.

    The golden set is fixed: per-case difficulty is drawn once; each repetition draws every system's
    outcomes anew.  ``binary``: per-case success probability from 0.7 * Beta(2, 2) (so + effect stays in
    [0, 1] and the true mean difference is exactly ``effect``), McNemar.  ``graded``: per-case quality the
    same way plus N(0, 0.25) noise per system, clipped to [0, 1], sign-flip test.
    """
    rng = np.random.default_rng(seed)
    base = 0.7 * rng.beta(2, 2, SIM_CASES)
    mu = np.tile(base, (SIM_SYSTEMS, 1))
    mu[0] += effect
    if kind == "binary":
        outcomes = (rng.random((SIM_REPS, SIM_SYSTEMS, SIM_CASES)) < mu).astype(float)
    else:
        outcomes = np.clip(mu + rng.normal(0, 0.25, (SIM_REPS, SIM_SYSTEMS, SIM_CASES)), 0, 1)
    raw = np.empty((SIM_REPS, len(PAIRS)))
    for r in range(SIM_REPS):
        for j, (a, b) in enumerate(PAIRS):
            x, y = outcomes[r, a], outcomes[r, b]
            raw[r, j] = mcnemar_exact(x, y) if kind == "binary" else sign_flip_test(x - y, resamples=SIM_RESAMPLES,
                                                                                     seed=r * 10 + j)  # fmt: skip
    adjusted = np.array([holm(list(row)) for row in raw])
    return raw, adjusted


@pytest.mark.parametrize("kind", ["binary", "graded"])
def test_aa_family_wise_false_positive_rate_under_holm(kind):
    raw, adjusted = _simulate(0.0, kind, seed=100)
    fwer = float(np.mean((adjusted < 0.05).any(axis=1)))
    uncorrected = float(np.mean((raw < 0.05).any(axis=1)))
    print(f"\nA/A {kind}: family-wise false-positive rate {fwer:.3f} with Holm, {uncorrected:.3f} without "
          f"({SIM_REPS} repetitions x {len(PAIRS)} pairs, {SIM_CASES} cases)")  # fmt: skip
    assert fwer <= 0.07
    assert uncorrected > 0.07  # without the correction this check fails: it can see a missing Holm


@pytest.mark.parametrize(("kind", "per_pair_floor"), [("binary", 0.2), ("graded", 0.8)])
def test_power_to_find_a_system_better_by_015_on_100_cases(kind, per_pair_floor):
    _, adjusted = _simulate(0.15, kind, seed=200)
    found = adjusted[:, [j for j, (a, _) in enumerate(PAIRS) if a == 0]] < 0.05  # system 0 vs each of the others
    per_pair, any_, all_ = float(found.mean()), float(found.any(axis=1).mean()), float(found.all(axis=1).mean())
    print(f"\npower {kind} (+0.15, {SIM_CASES} cases, Holm over {len(PAIRS)} pairs): found vs one given system "
          f"{per_pair:.3f}, vs at least one {any_:.3f}, vs all three {all_:.3f}")  # fmt: skip
    assert per_pair >= per_pair_floor  # a test that never (or seldom) rejects cannot pass
    # the other pairs are A/A: none of them may look significant more often than the level allows
    null = adjusted[:, [j for j, (a, _) in enumerate(PAIRS) if a != 0]] < 0.05
    assert float(null.any(axis=1).mean()) <= 0.07


# --- letters ----------------------------------------------------------------------------------------


def _comp(metric, a, b, difference, significant, higher_is_better=True) -> Comparison:
    p = 0.001 if significant else 0.5
    return Comparison(metric=metric, slice=OVERALL, system_a=a, system_b=b, n_paired=30, n_left_out=0,
                      mean_a=None, mean_b=None, difference=difference, ci_low=None, ci_high=None, test="sign_flip",
                      p_value=p, p_holm=p, significant=significant, higher_is_better=higher_is_better)  # fmt: skip


def test_letters_name_the_systems_each_beats():
    comps = [_comp("m", "A", "B", 0.02, False), _comp("m", "A", "C", 0.3, True), _comp("m", "B", "C", 0.25, True)]
    letters = significance_letters(comps, ["A", "B", "C"])
    assert letters == {("m", OVERALL, "A"): "c", ("m", OVERALL, "B"): "c", ("m", OVERALL, "C"): ""}
    # lower is better (latency): a positive difference means B beats A
    lat = significance_letters([_comp("latency", "A", "B", 0.4, True, higher_is_better=False)], ["A", "B"])
    assert lat == {("latency", OVERALL, "A"): "", ("latency", OVERALL, "B"): "a"}
    with pytest.raises(ValueError):
        significance_letters([], ["A", "A"])


def test_letters_from_compare_systems():
    results = _suite_results()
    comps = [c for c in compare_systems(results, resamples=2000) if c.slice == OVERALL]
    letters = significance_letters(comps, ["alpha", "beta", "gamma"])
    for metric in ("exact_match", "token_recall"):
        assert [letters[(metric, OVERALL, s)] for s in ("alpha", "beta", "gamma")] == ["c", "c", ""]


# --- minimum detectable difference and power by slice -----------------------------------------------


@pytest.mark.parametrize("n", [20, 30, 50, 100, 400])
@pytest.mark.parametrize("alpha", [0.05, 0.05 / 6])
def test_minimum_detectable_difference_against_statsmodels(n, alpha):
    sd = 0.4
    mdd = minimum_detectable_difference(n, sd, alpha=alpha, power=0.8)
    normal = NormalIndPower().solve_power(nobs1=n, ratio=0, alpha=alpha, power=0.8) * sd  # one-sample z test
    t = TTestPower().solve_power(nobs=n, alpha=alpha, power=0.8) * sd  # one-sample (paired) t test
    assert mdd == pytest.approx(normal, rel=1e-3)  # the same formula, up to the far tail statsmodels adds
    assert mdd == pytest.approx(t, rel=0.10) and mdd < t  # the normal approximation is a little optimistic


def test_minimum_detectable_difference_edge_cases_and_monotonicity():
    values = [minimum_detectable_difference(n, 0.5) for n in range(2, 200)]
    assert all(x > y for x, y in pairwise(values))
    assert minimum_detectable_difference(30, 0.5, alpha=0.01) > minimum_detectable_difference(30, 0.5)
    assert minimum_detectable_difference(30, 0.5, power=0.9) > minimum_detectable_difference(30, 0.5)
    for n, sd in ((0, 0.5), (1, 0.5), (10, None), (10, math.nan), (10, -1.0), (10, 0.0)):
        assert minimum_detectable_difference(n, sd) is None
    assert minimum_detectable_difference(16, 0.0, binary=True) == minimum_detectable_difference(16, 0.5)
    assert minimum_detectable_difference(16, 0.5) == pytest.approx(0.35, abs=0.005)  # 2.80 * 0.5 / 4
    with pytest.raises(ValueError):
        minimum_detectable_difference(10, 0.5, alpha=0)


def test_power_by_slice_reports_cases_sd_and_mdd():
    results = _suite_results()
    power = power_by_slice(results, metric="token_recall")
    assert list(power) == [OVERALL, "task_type=factual", "task_type=multi_hop", "tag=long"]
    factual = power["task_type=factual"]
    assert (factual["n_paired"], factual["n_pairs"], factual["binary"], factual["reason"]) == (20, 3, False, None)
    assert factual["mdd"] == pytest.approx(minimum_detectable_difference(20, factual["sd"]))
    assert factual["mdd_corrected"] > factual["mdd"] > power[OVERALL]["mdd"]
    em = power_by_slice(results, metric="exact_match")[OVERALL]
    assert em["binary"] and em["n_paired"] == 40 and 0 < em["sd"] <= 1
    # one system: no pair, a 0/1 metric falls back to the planning sd 0.5; a graded one cannot say
    alone = [r for r in results if r.system == "alpha"]
    one = power_by_slice(alone, metric="exact_match")[OVERALL]
    assert (one["n_pairs"], one["sd"], one["n_paired"]) == (0, 0.5, 40) and one["mdd"] is not None
    graded = power_by_slice(alone, metric="token_recall")[OVERALL]
    assert graded["mdd"] is None and "no pair" in graded["reason"]


def test_one_sided_sign_flip_matches_scipy_exact():
    import scipy.stats

    from ragft_eval.stats.significance import sign_flip_test

    rng = np.random.default_rng(5)
    d = np.round(rng.normal(0.1, 0.3, size=11), 3)
    for alt in ("greater", "less"):
        ref = scipy.stats.permutation_test((d,), np.mean, permutation_type="samples", alternative=alt,
                                           n_resamples=np.inf).pvalue  # fmt: skip
        assert sign_flip_test(d, alternative=alt) == pytest.approx(ref, abs=1e-12)
    # the two one-sided p-values of an exact test add up to 1 plus the probability of the observed value
    assert sign_flip_test(d, alternative="greater") + sign_flip_test(d, alternative="less") >= 1.0
