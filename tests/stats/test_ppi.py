"""PPI++ mean (:mod:`ragft_eval.stats.ppi`), checked against the reference and on real human labels.

The reference is ``ppi_py`` (package ``ppi-python``, test extra): estimate, CI and tuned lambda agree to
1e-9 on seeded synthetic sets that reach every lambda regime (clipped to 0, inside (0, 1), clipped to 1).
The human-only and judge-only parts are plain normal CIs (scipy).  Bad input raises a ValueError that
names the parameter.  On FaithBench's 659 binary human labels, with a lexical stand-in judge, 200 seeded
draws of 150 labels check coverage of the full-set human mean and that PPI is never wider than the
human-only interval; both figures are printed.
"""

from __future__ import annotations

import dataclasses
import doctest
import math
import warnings

import numpy as np
import pytest
import scipy.stats

from ragft_eval.answers import tokens
from ragft_eval.judges.labels import load_faithbench
from ragft_eval.stats import ppi
from ragft_eval.stats.ppi import PPIEstimate, ppi_mean
from tests.conftest import SHARED_DATASETS, shared_dataset

TOL = 1e-9


@pytest.fixture(scope="module")
def ppi_py():
    # ppi_py runs warnings.simplefilter("ignore") at import: confine it, or it silences the whole session
    with warnings.catch_warnings():
        return pytest.importorskip("ppi_py", reason="needs ppi-python (the test extra), the reference implementation")


def _reference(ppi_py, y, f, f_u, alpha, lam=None):
    """(estimate, ci_low, ci_high, lambda) as ppi_py computes them."""
    lo, hi = ppi_py.ppi_mean_ci(y, f, f_u, alpha=alpha, lam=lam)
    est = ppi_py.ppi_mean_pointestimate(y, f, f_u, lam=lam)
    if lam is None:
        # ppi_py does not return lambda: recompute it with its own routine, as ppi_mean_ci does
        theta = ppi_py.ppi_mean_pointestimate(y, f, f_u, lam=1)
        lam = ppi_py.ppi._calc_lam_glm(y - theta, f - theta, f_u - theta, np.eye(1), coord=None, clip=True)
    return float(np.squeeze(est)), float(np.squeeze(lo)), float(np.squeeze(hi)), float(lam)


def _synthetic(kind: str, seed: int, n: int, big_n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, judge on labelled, judge on unlabelled) of one seeded synthetic set."""
    rng = np.random.default_rng(seed)
    m = n + big_n
    if kind == "binary labels, informative judge":
        y = (rng.random(m) < 0.3).astype(float)
        f = np.clip(0.2 + 0.5 * y + rng.normal(0, 0.2, m), 0, 1)
    elif kind == "binary labels, binary biased judge":
        y = (rng.random(m) < 0.6).astype(float)
        f = np.where(rng.random(m) < 0.8, y, 1 - y) * (rng.random(m) < 0.9)  # flips, and misses some positives
    elif kind == "continuous, noisy judge":
        y = rng.normal(0.5, 0.2, m)
        f = y + 0.1 + rng.normal(0, 0.3, m)
    elif kind == "anti-correlated judge (lambda clipped to 0)":
        y = rng.random(m)
        f = 1 - y + rng.normal(0, 0.05, m)
    elif kind == "labels 3 x judge (lambda clipped to 1)":
        f = rng.random(m)
        y = 3 * f + rng.normal(0, 0.1, m)
    else:
        raise AssertionError(kind)
    return y[:n], f[:n], f[n:]


SYNTHETIC = [
    ("binary labels, informative judge", 1, 150, 1000),
    ("binary labels, informative judge", 2, 40, 60),
    ("binary labels, binary biased judge", 3, 200, 2000),
    ("continuous, noisy judge", 4, 50, 500),
    ("continuous, noisy judge", 5, 300, 40),  # more labelled than unlabelled
    ("anti-correlated judge (lambda clipped to 0)", 6, 80, 400),
    ("labels 3 x judge (lambda clipped to 1)", 7, 100, 900),
    ("continuous, noisy judge", 8, 2, 1),  # the smallest input allowed
]


# --- (a) agreement with ppi_py ----------------------------------------------------------------------


def test_tuned_estimate_ci_and_lambda_agree_with_ppi_py(ppi_py):
    worst, lambdas = 0.0, []
    for kind, seed, n, big_n in SYNTHETIC:
        y, f, f_u = _synthetic(kind, seed, n, big_n)
        for alpha in (0.05, 0.1, 0.01):
            r = ppi_mean(y, f, f_u, alpha=alpha)
            ref = _reference(ppi_py, y, f, f_u, alpha)
            ours = (r.estimate, r.ci_low, r.ci_high, r.lambda_)
            dev = max(abs(a - b) for a, b in zip(ours, ref, strict=True))
            assert dev <= TOL, f"{kind} (seed {seed}, n={n}, N={big_n}, alpha={alpha}): {ours} vs ppi_py {ref}"
            assert r.lambda_tuned and (r.n_labelled, r.n_unlabelled, r.alpha) == (n, big_n, alpha)
            worst = max(worst, dev)
        lambdas.append(r.lambda_)
    # the sets reach every regime of the clipped lambda, so the agreement is not only in the interior
    assert min(lambdas) == 0.0 and max(lambdas) == 1.0 and any(0 < lam < 1 for lam in lambdas)
    print(f"\nPPI++ vs ppi_py: max |deviation| {worst:.2e} over {len(SYNTHETIC)} sets x 3 alphas")


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0])
def test_fixed_lambda_agrees_with_ppi_py(ppi_py, lam):
    for kind, seed, n, big_n in SYNTHETIC:
        y, f, f_u = _synthetic(kind, seed, n, big_n)
        r = ppi_mean(y, f, f_u, alpha=0.1, lambda_=lam)
        ref = _reference(ppi_py, y, f, f_u, 0.1, lam=lam)
        assert np.allclose((r.estimate, r.ci_low, r.ci_high, r.lambda_), ref, rtol=0, atol=TOL), kind
        assert not r.lambda_tuned


def test_the_docstring_example_runs():
    result = doctest.testmod(ppi, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 3 and result.failed == 0


# --- (b) the human-only and judge-only parts ---------------------------------------------------------


@pytest.mark.parametrize(("kind", "seed", "n", "big_n"), SYNTHETIC)
def test_human_only_and_judge_only_are_plain_normal_cis(kind, seed, n, big_n):
    y, f, f_u = _synthetic(kind, seed, n, big_n)
    alpha = 0.05
    r = ppi_mean(y, f, f_u, alpha=alpha)
    # ddof = 0 as ppi_py.classical_mean_ci, so human-only is exactly PPI with lambda 0
    lo, hi = scipy.stats.norm.interval(1 - alpha, loc=y.mean(), scale=y.std() / math.sqrt(n))
    assert np.allclose((r.human_only_estimate, r.human_only_ci_low, r.human_only_ci_high), (y.mean(), lo, hi),
                       rtol=0, atol=TOL)  # fmt: skip
    judged = np.concatenate([f, f_u])
    lo, hi = scipy.stats.norm.interval(1 - alpha, loc=judged.mean(), scale=judged.std() / math.sqrt(n + big_n))
    assert np.allclose((r.judge_only_mean, r.judge_only_ci_low, r.judge_only_ci_high), (judged.mean(), lo, hi),
                       rtol=0, atol=TOL)  # fmt: skip
    zero = ppi_mean(y, f, f_u, alpha=alpha, lambda_=0)
    human = (r.human_only_estimate, r.human_only_ci_low, r.human_only_ci_high)
    assert np.allclose((zero.estimate, zero.ci_low, zero.ci_high), human, rtol=0, atol=TOL)


def test_human_only_matches_ppi_py_classical_ci(ppi_py):
    y, f, f_u = _synthetic("binary labels, informative judge", 1, 150, 1000)
    r = ppi_mean(y, f, f_u, alpha=0.1)
    assert np.allclose((r.human_only_ci_low, r.human_only_ci_high), ppi_py.classical_mean_ci(y, alpha=0.1),
                       rtol=0, atol=TOL)  # fmt: skip


# --- record rules --------------------------------------------------------------------------------------


def test_constant_judge_gives_lambda_zero_not_nan(ppi_py):
    y = np.array([1.0, 0, 1, 1, 0])
    r = ppi_mean(y, [0.5] * 5, [0.5] * 20)
    assert r.lambda_ == 0.0 and r.estimate == r.human_only_estimate
    assert all(math.isfinite(v) for v in r.as_dict().values() if isinstance(v, float))
    with np.errstate(all="ignore"):  # the one documented deviation: the reference's lambda is 0/0
        assert math.isnan(_reference(ppi_py, y, np.full(5, 0.5), np.full(20, 0.5), 0.05)[0])


def test_record_is_frozen_and_inputs_are_not_mutated():
    y, f, f_u = _synthetic("continuous, noisy judge", 4, 50, 500)
    copies = (y.copy(), f.copy(), f_u.copy())
    r = ppi_mean(y, f, f_u)
    assert all(np.array_equal(a, b) for a, b in zip((y, f, f_u), copies, strict=True))
    assert isinstance(r, PPIEstimate) and set(r.as_dict()) == {fl.name for fl in dataclasses.fields(r)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.estimate = 0.0  # type: ignore[misc]


def test_lists_bools_and_arrays_give_the_same_estimate():
    labels, judge, rest = [True, False, True, True], [0.9, 0.1, 0.7, 0.8], [0.2, 0.9, 0.6]
    as_lists = ppi_mean(labels, judge, rest)
    as_arrays = ppi_mean(np.array(labels, dtype=float), np.array(judge), np.array(rest))
    assert as_lists == as_arrays


def test_interval_is_never_wider_unless_the_labelled_judge_scores_vary_much_more():
    # the module docstring's condition: with n <= N / 2, wider needs var(f) > 2 var(f_u)
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(2000):
        n = int(rng.integers(2, 60))
        big_n = int(rng.integers(2 * n, 400))
        f_all = rng.random(n + big_n) ** rng.uniform(0.2, 3)
        y_all = (rng.random(n + big_n) < np.clip(f_all + rng.normal(0, 0.3, n + big_n), 0, 1)).astype(float)
        y, f, f_u = y_all[:n], f_all[:n], f_all[n:]
        if f.var() > 2 * f_u.var():
            continue
        r = ppi_mean(y, f, f_u)
        assert r.ci_high - r.ci_low <= (r.human_only_ci_high - r.human_only_ci_low) * (1 + 1e-12), (n, big_n)
        checked += 1
    assert checked > 1500
    # and the condition is needed: spread-out labelled judge scores, near-constant unlabelled ones
    # cov(y, f) = 0.05 and var(f) = 0.25: this sample's best lambda is ~0.2, the tuned one (clipped) 1
    f = np.tile([0.0, 1.0], 5)
    y = np.array([0.0, 1, 1, 0, 0, 1, 1, 0, 0, 1])
    f_u = 0.5 + np.tile([-0.01, 0.01], 50)
    r = ppi_mean(y, f, f_u)
    assert r.ci_high - r.ci_low > r.human_only_ci_high - r.human_only_ci_low


# --- (c) input errors --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        (([1, 0, 1], [0.5, 0.5], [0.1]), {}, r"labelled_y and labelled_judge of equal length .*got 3 and 2"),
        (([1], [0.5], [0.2, 0.3]), {}, r"at least 2 labelled items in labelled_y, got 1"),
        (([1, 0], [0.5, 0.4], []), {}, r"at least 1 item in unlabelled_judge, got 0"),
        (([1, 0], [0.5, math.nan], [0.2]), {}, r"finite numbers in labelled_judge, got nan at index 1"),
        (([1, 0], [0.5, 0.4], [0.2, math.inf]), {}, r"finite numbers in unlabelled_judge, got inf at index 1"),
        (([1, None], [0.5, 0.4], [0.2]), {}, r"finite numbers in labelled_y, got nan at index 1"),
        (([[1, 0], [1, 1]], [0.5, 0.4], [0.2]), {}, r"1-d sequence of numbers for labelled_y, .*shape \(2, 2\)"),
        ((["yes", "no"], [0.5, 0.4], [0.2]), {}, r"1-d sequence of numbers for labelled_y, got list"),
        (([1, 0], [0.5, 0.4], [0.2]), {"alpha": 0}, r"alpha in \(0, 1\), got 0"),
        (([1, 0], [0.5, 0.4], [0.2]), {"alpha": 1.5}, r"alpha in \(0, 1\), got 1.5"),
        (([1, 0], [0.5, 0.4], [0.2]), {"alpha": math.nan}, r"alpha in \(0, 1\), got nan"),
        (([1, 0], [0.5, 0.4], [0.2]), {"lambda_": 1.5}, r"lambda_ in \[0, 1\] or None .*got 1.5"),
        (([1, 0], [0.5, 0.4], [0.2]), {"lambda_": -0.1}, r"lambda_ in \[0, 1\] or None .*got -0.1"),
    ],
)
def test_bad_input_names_the_parameter(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ppi_mean(*args, **kwargs)


# --- (d) coverage on real human labels ---------------------------------------------------------------

DRAWS, LABELLED = 200, 150


def k_precision(summary: str, source: str) -> float:
    """Share of the summary's tokens (SQuAD-normalised) that occur in the source.

    A stand-in judge for testing coverage, NOT a production faithfulness judge: it is cheap, deterministic
    and weakly informative on FaithBench (correlation ~0.17 with the human label), which is what the test
    needs; PPI's interval is valid for any fixed judge, and gains width only as the judge correlates.
    """
    summary_tokens = tokens(summary)
    source_tokens = set(tokens(source))
    return sum(t in source_tokens for t in summary_tokens) / len(summary_tokens) if summary_tokens else 1.0


@pytest.mark.datasets
def test_coverage_and_width_on_faithbench_human_labels():
    shared_dataset("faithbench", "FaithBench.csv")  # skips with the reason when ../shared/datasets is absent
    # binary human labels only: Consistent -> 1 (faithful), Unwanted -> 0; Benign/Questionable (None) left out
    items = [it for it in load_faithbench(SHARED_DATASETS) if it.label is not None]
    assert len(items) == 659
    y = np.array([float(it.label) for it in items])
    judge = np.array([k_precision(it.answer, it.context) for it in items])
    truth = y.mean()  # the mean over every human label: what each draw's interval should cover

    rng = np.random.default_rng(20231103)
    order = np.argsort(rng.random((DRAWS, y.size)), axis=1)  # one random permutation per draw
    covered, ratios = [], []
    for perm in order:
        lab, rest = perm[:LABELLED], perm[LABELLED:]
        r = ppi_mean(y[lab], judge[lab], judge[rest], alpha=0.05)
        covered.append(r.ci_low <= truth <= r.ci_high)
        ratios.append((r.ci_high - r.ci_low) / (r.human_only_ci_high - r.human_only_ci_low))
    coverage, ratio = float(np.mean(covered)), np.array(ratios)
    wider = int(np.sum(ratio > 1 + 1e-9))
    print(f"\nFaithBench ({y.size} items, human mean {truth:.4f}), judge = K-precision (stand-in), {DRAWS} draws of "
          f"{LABELLED} labels: PPI++ 95% CI coverage {coverage:.3f}, median width PPI / human-only "
          f"{np.median(ratio):.4f} (min {ratio.min():.4f}, max {ratio.max():.4f}), wider in {wider} draws")  # fmt: skip
    assert coverage >= 0.90
    assert wider == 0, f"PPI wider than human-only in {wider} of {DRAWS} draws (max ratio {ratio.max():.6f})"
    assert np.median(ratio) < 1
