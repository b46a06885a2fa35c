"""Prediction-powered inference (PPI++): a judged metric's mean, corrected by a few human labels.

A judge scores every case; humans label a small random subset.  The judge alone is cheap but biased; the
humans alone are unbiased but few.  PPI++ (ARES's recipe) uses the labelled cases to measure the judge's
bias and the unlabelled ones to shrink the variance, so the interval is valid for the human mean whatever
the judge, and narrower than the human-only interval when the judge is informative.

Specification (one metric, 1-d; human labels ``y`` and judge scores ``f`` on the ``n`` labelled cases,
judge scores ``f_u`` on the ``N`` unlabelled ones)::

    estimate  = mean(lambda * f_u) + mean(y - lambda * f)
    se        = sqrt( var(lambda * f_u) / N  +  var(y - lambda * f) / n )
    CI        = estimate -/+ z * se,    z = Phi^-1(1 - alpha / 2)      (normal approximation)

    lambda    = cov(y, f) / ((1 + n / N) * var([f, f_u])),  clipped to [0, 1]   (power tuning)

``var`` and ``cov`` divide by the count (ddof = 0), except ``var([f, f_u])``, the variance of all
``n + N`` judge scores pooled, which divides by ``n + N - 1`` (``numpy.cov``): exactly what the
reference implementation does.  The tuned lambda minimises the estimate's asymptotic variance
``(var y - 2 lambda cov(y, f) + lambda^2 var f) / n + lambda^2 var f / N`` over lambda.  ``lambda = 0`` is
the human-only estimate (the judge is ignored), ``lambda = 1`` plain PPI.  Because 0 is among the candidates,
the tuned interval is asymptotically never wider than the human-only one.  In a finite sample it is wider
only when the tuned lambda exceeds twice the lambda that would minimise this sample's ``se``; as the
pooled variance is at least ``(n var f + N var f_u) / (n + N)``, that needs (for ``n <= N / 2``, the usual
split) the labelled cases' judge scores to vary more than twice as much as the unlabelled ones'.

No interval is clipped to the labels' range (with 6 labels the human-only interval of the example in
:func:`ppi_mean` ends above 1).

The record also carries the two estimates PPI sits between, each with the same normal interval:

- ``human_only``: ``mean(y) -/+ z * sd(y) / sqrt(n)`` (ddof = 0; equal to PPI with ``lambda = 0``);
- ``judge_only``: the mean of all ``n + N`` judge scores ``-/+ z * sd / sqrt(n + N)``.  This is an interval
  for the *judge's* mean, which misses the human mean by the judge's bias: shown for contrast, not trusted.

One deviation from the reference, so no number in the record is NaN: when every judge score is the same
(``var([f, f_u]) = 0``) the reference's lambda is 0/0 = NaN; here it is 0 (a constant judge carries no
information), giving the human-only estimate.

References: A. N. Angelopoulos, J. C. Duchi, T. Zrnic, "PPI++: Efficient Prediction-Powered Inference",
arXiv:2311.01453 (2023), the mean estimator with power tuning; the reference code is
``ppi_py.ppi_mean_ci`` / ``ppi_py.ppi_mean_pointestimate`` with ``lam=None`` (package ``ppi-python``); ARES
(Saad-Falcon et al., "ARES: An Automated Evaluation Framework for Retrieval-Augmented
Generation Systems", NAACL 2024) applies it to RAG judges.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import scipy.stats


@dataclass(frozen=True)
class PPIEstimate:
    """A PPI++ estimate of a mean with its ``1 - alpha`` normal CI, and the two estimates it improves on."""

    estimate: float  # PPI++ estimate of the human mean
    ci_low: float
    ci_high: float
    n_labelled: int  # cases with a human label (and a judge score)
    n_unlabelled: int  # cases with a judge score only
    lambda_: float  # the lambda used: power-tuned (clipped to [0, 1]) or the one passed
    lambda_tuned: bool  # True when lambda_ was estimated from the data
    human_only_estimate: float  # mean of the human labels alone
    human_only_ci_low: float
    human_only_ci_high: float
    judge_only_mean: float  # mean of the judge scores on all n_labelled + n_unlabelled cases
    judge_only_ci_low: float  # a CI for the judge's mean, not the human mean (the judge's bias is not in it)
    judge_only_ci_high: float
    alpha: float  # the CIs aim at 1 - alpha coverage

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def ppi_mean(
    labelled_y: Sequence[float] | np.ndarray,
    labelled_judge: Sequence[float] | np.ndarray,
    unlabelled_judge: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    lambda_: float | None = None,
) -> PPIEstimate:
    """PPI++ estimate of the mean human label with its normal ``1 - alpha`` CI (module docstring: the formula).

    ``labelled_y[i]`` and ``labelled_judge[i]`` are the human label and the judge score of the same case;
    ``unlabelled_judge`` are the judge's scores on the cases no human labelled.  The labelled cases must be
    a uniform random sample of all cases, or the estimate is not of the mean over all of them.
    ``lambda_=None`` tunes lambda (clipped to [0, 1]); a number in [0, 1] fixes it (0: human-only, 1: plain
    PPI).  Raises ``ValueError`` naming the parameter when the inputs are not 1-d finite numbers, the
    labelled pair differ in length, fewer than 2 cases are labelled or none is unlabelled, ``alpha`` is not
    in (0, 1) or ``lambda_`` is not in [0, 1].

    >>> r = ppi_mean([1, 0, 1, 1, 0, 1], [0.9, 0.2, 0.8, 0.7, 0.4, 0.6], [0.9, 0.1, 0.8, 0.3, 0.7, 0.6, 0.2, 0.9])
    >>> round(r.estimate, 4), round(r.ci_low, 4), round(r.ci_high, 4), round(r.lambda_, 4)
    (0.6405, 0.3378, 0.9431, 0.6985)
    >>> round(r.human_only_estimate, 4), round(r.human_only_ci_low, 4), round(r.human_only_ci_high, 4)
    (0.6667, 0.2895, 1.0439)
    >>> round(r.judge_only_mean, 4), r.n_labelled, r.n_unlabelled
    (0.5786, 6, 8)
    """
    y = _vector("labelled_y", labelled_y)
    f = _vector("labelled_judge", labelled_judge)
    f_u = _vector("unlabelled_judge", unlabelled_judge)
    if y.size != f.size:
        raise ValueError(
            f"expected labelled_y and labelled_judge of equal length (one human label and one judge score per "
            f"labelled case), got {y.size} and {f.size}"
        )
    if y.size < 2:
        raise ValueError(f"expected at least 2 labelled items in labelled_y, got {y.size}")
    if f_u.size < 1:
        raise ValueError("expected at least 1 item in unlabelled_judge, got 0")
    if not (isinstance(alpha, int | float) and 0 < alpha < 1):  # also refuses NaN
        raise ValueError(f"expected alpha in (0, 1), got {alpha!r}")
    if lambda_ is not None and not (isinstance(lambda_, int | float) and 0 <= lambda_ <= 1):
        raise ValueError(f"expected lambda_ in [0, 1] or None (tune it), got {lambda_!r}")

    n, big_n = y.size, f_u.size
    z = float(scipy.stats.norm.ppf(1 - alpha / 2))
    lam = _tuned_lambda(y, f, f_u) if lambda_ is None else float(lambda_)

    estimate = float(np.mean(lam * f_u) + np.mean(y - lam * f))
    se = math.sqrt(np.var(lam * f_u) / big_n + np.var(y - lam * f) / n)
    human_mean, human_se = float(np.mean(y)), float(np.std(y)) / math.sqrt(n)
    judged = np.concatenate([f, f_u])
    judge_mean, judge_se = float(np.mean(judged)), float(np.std(judged)) / math.sqrt(judged.size)
    return PPIEstimate(
        estimate=estimate,
        ci_low=estimate - z * se,
        ci_high=estimate + z * se,
        n_labelled=n,
        n_unlabelled=big_n,
        lambda_=lam,
        lambda_tuned=lambda_ is None,
        human_only_estimate=human_mean,
        human_only_ci_low=human_mean - z * human_se,
        human_only_ci_high=human_mean + z * human_se,
        judge_only_mean=judge_mean,
        judge_only_ci_low=judge_mean - z * judge_se,
        judge_only_ci_high=judge_mean + z * judge_se,
        alpha=float(alpha),
    )


def _tuned_lambda(y: np.ndarray, f: np.ndarray, f_u: np.ndarray) -> float:
    """The variance-minimising lambda, clipped to [0, 1] (as ``ppi_py._calc_lam_glm`` with ``clip=True``)."""
    n, big_n = y.size, f_u.size
    cov = float(np.mean((y - y.mean()) * (f - f.mean())))  # ddof = 0, as the reference
    var = float(np.var(np.concatenate([f, f_u]), ddof=1))  # pooled judge scores, ddof = 1 (numpy.cov)
    if var == 0:
        return 0.0  # a constant judge: the reference gives NaN; no information, so the human-only estimate
    return float(np.clip(cov / ((1 + n / big_n) * var), 0.0, 1.0))


def _vector(name: str, values: Sequence[float] | np.ndarray) -> np.ndarray:
    """``values`` as a 1-d float array (a copy), or a ValueError naming ``name``."""
    try:
        arr = np.array(values, dtype=float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"expected a 1-d sequence of numbers for {name}, got {type(values).__name__}: {exc}") from None
    if arr.ndim != 1:
        raise ValueError(f"expected a 1-d sequence of numbers for {name}, got an array of shape {arr.shape}")
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise ValueError(f"expected finite numbers in {name}, got {float(arr[bad[0]])!r} at index {int(bad[0])}")
    return arr
