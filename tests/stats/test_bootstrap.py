"""The package's one percentile bootstrap (:func:`ragft_eval.resample.bootstrap_ci`) and its two callers.

Checked against its docstring: deterministic for a seed; None for n = 0; the point for n = 1 and for
constant values; the same interval as scipy's percentile bootstrap (up to Monte Carlo error, the random
streams differ); the advertised coverage by simulation; the statistic path (resamples where the statistic
is None left out, None when fewer than half are usable); and the exact floats the two former
implementations gave, pinned so that a refactor cannot move a reported number.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from ragft_eval.judges.calibration import agreement, kappa
from ragft_eval.judges.calibration import bootstrap_ci as calibration_ci
from ragft_eval.resample import bootstrap_ci
from ragft_eval.stats.aggregate import bootstrap_ci as aggregate_ci

# spread enough that a 90% interval passed off as 95% lies ~0.02 away from scipy's, twice the tolerance
SAMPLE = np.random.default_rng(2024).normal(0.6, 0.6, 60)


def _hex(ci: tuple[float, float] | None) -> tuple[str, str] | None:
    return None if ci is None else (ci[0].hex(), ci[1].hex())


# --- determinism and edge cases ---------------------------------------------------------------------


def test_a_seed_gives_the_same_floats_and_another_seed_other_floats():
    first = bootstrap_ci(SAMPLE, seed=7)
    assert bootstrap_ci(SAMPLE, seed=7) == first
    assert bootstrap_ci(list(SAMPLE), seed=7) == first  # a list and an array are the same input
    assert bootstrap_ci(SAMPLE, seed=8) != first
    low, high = first
    assert low < SAMPLE.mean() < high

    def mean_of(idx: np.ndarray) -> float:
        return float(SAMPLE[idx].mean())

    by_index = bootstrap_ci(len(SAMPLE), mean_of, seed=7)
    assert bootstrap_ci(len(SAMPLE), mean_of, seed=7) == by_index
    assert by_index == pytest.approx(first, abs=1e-12)  # same draws, same statistic


def test_no_values_no_interval():
    assert bootstrap_ci([]) is None
    assert bootstrap_ci(np.array([])) is None
    assert bootstrap_ci(0, lambda idx: 1.0) is None
    assert aggregate_ci([]) is None
    assert calibration_ci([], [], agreement) is None


@pytest.mark.parametrize("values", [[0.7], [3], [0.1] * 7, [0.7] * 3, [0.2] * 50, [-1.5] * 4])
def test_one_value_or_equal_values_give_the_point_exactly(values):
    # averaging copies of 0.1 gives 0.09999999999999999: the point must come back as given
    v = float(values[0])
    assert bootstrap_ci(values) == (v, v)
    assert aggregate_ci(values, seed=3) == (v, v)


def test_a_statistic_of_one_item_gives_its_value():
    seen: list[np.ndarray] = []

    def stat(idx: np.ndarray) -> float:
        seen.append(idx)
        return 0.42

    assert bootstrap_ci(1, stat, resamples=50) == (0.42, 0.42)
    assert len(seen) == 50 and all(idx.tolist() == [0] for idx in seen)


def test_the_statistic_receives_one_resample_of_indices_per_call():
    rows: list[np.ndarray] = []

    def stat(idx: np.ndarray) -> float:
        rows.append(idx.copy())
        return float(idx.sum())

    bootstrap_ci(9, stat, resamples=200, seed=5)
    drawn = np.random.default_rng(5).integers(0, 9, size=(200, 9))
    assert len(rows) == 200
    assert all(r.shape == (9,) for r in rows)
    assert np.array_equal(np.stack(rows), drawn)  # row i is resample i, from default_rng(seed)


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((SAMPLE,), {"alpha": 0.0}, ValueError),
        ((SAMPLE,), {"alpha": 1.0}, ValueError),
        ((SAMPLE,), {"resamples": 0}, ValueError),
        ((-1, lambda idx: 1.0), {}, ValueError),
        ((5,), {}, TypeError),
        ((SAMPLE, np.mean), {}, TypeError),
    ],
    ids=["alpha-0", "alpha-1", "no-resamples", "negative-n", "n-without-statistic", "values-with-statistic"],
)
def test_bad_arguments_are_refused(args, kwargs, error):
    with pytest.raises(error):
        bootstrap_ci(*args, **kwargs)


# --- the method: scipy's percentile bootstrap, and coverage -----------------------------------------


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_agrees_with_scipy_percentile_bootstrap_of_the_mean(level):
    ours = aggregate_ci(SAMPLE, resamples=20_000, seed=1, level=level)
    theirs = scipy.stats.bootstrap(
        (SAMPLE,), np.mean, n_resamples=20_000, method="percentile", confidence_level=level,
        rng=np.random.default_rng(12345),
    ).confidence_interval  # fmt: skip
    # another random stream: equal up to Monte Carlo error (at most ~0.002 here; the half-width is ~0.15)
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.01)
    assert bootstrap_ci(SAMPLE, resamples=20_000, seed=1, alpha=1 - level) == ours


def test_agrees_with_scipy_percentile_bootstrap_of_a_paired_statistic():
    other = SAMPLE + np.random.default_rng(9).normal(-0.1, 0.3, SAMPLE.size)
    ours = bootstrap_ci(SAMPLE.size, lambda idx: float(np.mean(SAMPLE[idx] - other[idx])), resamples=20_000)
    theirs = scipy.stats.bootstrap(
        (SAMPLE, other), lambda a, b, axis=-1: np.mean(a - b, axis=axis), paired=True, n_resamples=20_000,
        method="percentile", rng=np.random.default_rng(12345),
    ).confidence_interval  # fmt: skip
    assert ours == pytest.approx((theirs.low, theirs.high), abs=0.01)


@pytest.mark.parametrize(
    ("draw", "true_mean"),
    [
        (lambda rng: rng.normal(2.0, 1.0, 50), 2.0),
        (lambda rng: (rng.random(50) < 0.3).astype(float), 0.3),  # a 0/1 quality metric
    ],
    ids=["normal", "bernoulli"],
)
@pytest.mark.parametrize(("level", "band"), [(0.95, (0.90, 0.99)), (0.8, (0.72, 0.88))])
def test_coverage_by_simulation(draw, true_mean, level, band):
    """Over 300 seeded samples of n = 50 the CI covers the true mean in about ``level`` of them."""
    covered = 0
    for i in range(300):
        ci = aggregate_ci(draw(np.random.default_rng(1000 + i)), seed=i, level=level)
        covered += ci[0] <= true_mean <= ci[1]
    assert band[0] <= covered / 300 <= band[1], covered / 300


# --- the statistic path: undefined resamples ---------------------------------------------------------


def test_resamples_where_the_statistic_is_none_are_left_out():
    values = np.array([0.0, 1.0, 0.5, 0.25, 0.75, 1.0])

    def mean_unless_item_0_repeats(idx: np.ndarray) -> float | None:
        return None if np.count_nonzero(idx == 0) > 1 else float(values[idx].mean())

    got = bootstrap_ci(values.size, mean_unless_item_0_repeats, resamples=400, seed=3)
    drawn = np.random.default_rng(3).integers(0, values.size, size=(400, values.size))
    usable = [values[row].mean() for row in drawn if np.count_nonzero(row == 0) <= 1]
    assert 200 <= len(usable) < 400  # the case is meaningful: some, not most, are left out
    assert got == tuple(np.quantile(usable, [0.025, 0.975]))
    assert got != bootstrap_ci(values, resamples=400, seed=3)  # the same draws with none left out


@pytest.mark.parametrize(("undefined", "want_interval"), [(0, True), (5, True), (6, False), (10, False)])
def test_fewer_than_half_usable_resamples_give_none(undefined, want_interval):
    calls = iter(range(10))

    def stat(idx: np.ndarray) -> float | None:
        return None if next(calls) < undefined else float(idx.mean())

    ci = bootstrap_ci(4, stat, resamples=10, seed=0)
    assert (ci is not None) is want_interval, ci


def test_calibration_ci_is_the_shared_bootstrap_over_paired_items():
    human = [True, True, False, True, False, False, True, True, False, True, True, False]
    judge = [True, False, False, True, False, True, True, True, False, True, False, False]
    for stat in (agreement, kappa):
        want = bootstrap_ci(
            len(human), lambda idx, stat=stat: stat([human[i] for i in idx], [judge[i] for i in idx]), seed=4
        )
        assert calibration_ci(human, judge, stat, seed=4) == want
    # pairs stay together: perfect agreement resamples to perfect agreement
    assert calibration_ci(human, human, agreement) == (1.0, 1.0)


def test_calibration_ci_is_none_for_one_item_or_an_undefined_kappa():
    assert calibration_ci([True], [True], agreement) is None  # calibration's rule: no spread from one item
    assert calibration_ci(["a"] * 8, ["a"] * 8, kappa) is None  # kappa undefined on every resample
    assert calibration_ci(["a"] * 8, ["a"] * 8, agreement) == (1.0, 1.0)


# --- the numbers the two former implementations gave -------------------------------------------------

# Computed with the code before the refactor (stats/aggregate.py and judges/calibration.py at c00306c).
PINNED_AGGREGATE = [
    (([1, 1, 0, 0, 1, 0, 1, 1], {}), ("0x1.0000000000000p-2", "0x1.c000000000000p-1")),
    (([0.5, 0.5, 1.0, 0.0, 0.25, 0.5, 1.0, 1.0, 0.0, 0.75], {"seed": 11}),
     ("0x1.4cccccccccccdp-2", "0x1.8cccccccccccdp-1")),
    (([0.12, 0.9, 0.33, 0.47, 0.81, 0.05, 0.66], {"resamples": 101, "level": 0.9, "seed": 2}),
     ("0x1.202ecfb9c8696p-2", "0x1.5d9f7390d2a6dp-1")),
    # its low end moves in the last bits if the lower quantile is taken at 0.025 instead of (1 - 0.95) / 2
    (([0.64, 0.27, 0.04, 0.02, 0.81, 0.91, 0.61, 0.73, 0.54, 0.94], {"seed": 3}),
     ("0x1.4dc5d63886596p-2", "0x1.7126e978d4fdfp-1")),
]  # fmt: skip

PINNED_CALIBRATION = [
    (([1, 1, 0, 0, 1, 0, 1, 1, 0, 1], [1, 0, 0, 0, 1, 1, 1, 1, 0, 0], "kappa", {}),
     ("-0x1.9999999999998p-3", "0x1.0000000000000p+0")),
    ((list("aabtbatbba"), list("abbtbaaabt"), "kappa", {"seed": 9, "resamples": 2000}),
     ("-0x1.0842108421088p-3", "0x1.a62ce98b3a62dp-1")),
    ((list("aabtbatbba"), list("abbtbaaabt"), "agreement", {"seed": 9}),
     ("0x1.3333333333333p-2", "0x1.ccccccccccccdp-1")),
    # its low end moves in the last bits if the lower quantile is taken at (1 - 0.95) / 2 instead of 0.025
    ((list("aabtbatbbaabtbbatabt"), list("abbtbaaabtabttbaaatb"), "kappa", {"seed": 9}),
     ("0x1.0e916e916e916p-4", "0x1.627dd9b29d1e1p-1")),
]  # fmt: skip


@pytest.mark.parametrize(("case", "want"), PINNED_AGGREGATE)
def test_aggregate_ci_floats_are_unchanged(case, want):
    values, kwargs = case
    assert _hex(aggregate_ci(values, **kwargs)) == want


@pytest.mark.parametrize(("case", "want"), PINNED_CALIBRATION)
def test_calibration_ci_floats_are_unchanged(case, want):
    human, judge, stat, kwargs = case
    assert _hex(calibration_ci(human, judge, {"kappa": kappa, "agreement": agreement}[stat], **kwargs)) == want


def test_balanced_abstention_puts_refusing_everything_at_one_half():
    """abstention_balanced = (abstention + 1 - false_refusal) / 2: a system that declines every case and one
    that declines none both score 0.5; one that declines exactly the unanswerable cases scores 1."""
    from ragft_eval.records import CaseResult, MetricResult, Response
    from ragft_eval.stats.aggregate import BALANCED, OVERALL, aggregate

    def results(system: str, declines_unanswerable: bool, declines_answerable: bool) -> list[CaseResult]:
        out = []
        for i in range(6):
            unanswerable = i < 2
            declined = declines_unanswerable if unanswerable else declines_answerable
            abst = (MetricResult.scored("abstention", float(declined)) if unanswerable
                    else MetricResult.unscored("abstention", "the case is answerable"))  # fmt: skip
            lower = {"higher_is_better": False}
            fr = (MetricResult.unscored("false_refusal", "the case is unanswerable", **lower) if unanswerable
                  else MetricResult.scored("false_refusal", float(declined), **lower))  # fmt: skip
            task = "unanswerable" if unanswerable else "factual"
            out.append(CaseResult(run_id="r", system=system, case_id=f"c{i}", golden_set="g", task_type=task,
                                  response=Response(case_id=f"c{i}", system=system, answer="x"),
                                  results=(abst, fr)))  # fmt: skip
        return out

    cells = aggregate(results("refuses-all", True, True) + results("never", False, False)
                      + results("exact", True, False), resamples=200)  # fmt: skip
    got = {(c.system, c.task_type): c for c in cells if c.metric == BALANCED}
    assert got[("refuses-all", "unanswerable")].mean == 0.5 and got[("never", "unanswerable")].mean == 0.5
    exact = got[("exact", "unanswerable")]
    assert exact.mean == 1.0 and (exact.ci_low, exact.ci_high) == (1.0, 1.0)
    assert exact.n_cases == 6 and exact.n_scored == 6 and exact.n_unscored == 0
    assert got[("exact", OVERALL)].mean == 1.0
