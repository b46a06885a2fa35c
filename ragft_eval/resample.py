"""Resampling shared by every layer: the one percentile bootstrap of the package.

Base level: imports only numpy and the standard library, because ``judges`` (calibration CIs) sits below
``stats`` (aggregate CIs) and both use it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Statistic = Callable[[np.ndarray], float | None]


def bootstrap_ci(
    values_or_n: Sequence[float] | np.ndarray | int,
    statistic: Statistic | None = None,
    *,
    resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[float, float] | None:
    """Percentile bootstrap confidence interval ``(low, high)``, or None when there is none.

    Two ways to call it:

    - ``bootstrap_ci(values)``: the CI of the mean of ``values`` (n = ``len(values)``).
    - ``bootstrap_ci(n, statistic)``: the CI of any statistic of n items.  ``statistic(idx)`` receives one
      resample as an int array of n indices into the items (drawn with replacement) and returns a number,
      or None where it is undefined on that resample.  Indices rather than values let a statistic resample
      several aligned sequences together (paired human and judge labels).

    Method: with ``rng = numpy.random.default_rng(seed)``, draw ``rng.integers(0, n, size=(resamples, n))``
    (row i is resample i), compute the statistic on each row, and return the ``alpha / 2`` and
    ``1 - alpha / 2`` quantiles of those values (numpy's default, linear interpolation).  ``alpha`` is the
    chance the interval misses, split equally between the tails: 0.05 for a 95% CI.  (A miss probability
    rather than a level because ``0.05 / 2`` is exactly 0.025 in floating point and ``(1 - 0.95) / 2`` is
    not; ``stats`` passes ``1 - level``, ``judges`` 0.05, and each keeps its floats to the last bit.)  The
    same arguments always give the same floats.

    Edge cases:

    - n = 0: None (there is nothing to estimate).
    - Mean of n = 1 value, or of values that are all equal: ``(v, v)``, returned without resampling (the
      bootstrap distribution is that single point; averaging copies of v could round off it).
    - A statistic with n = 1: every resample is ``[0]``, so ``(s, s)`` for ``s = statistic([0])``.
    - Resamples whose statistic is None are left out; if fewer than ``resamples // 2`` (or none) are left,
      None: an interval over the few resamples where the statistic exists would describe something else.

    Raises ValueError for ``alpha`` outside (0, 1), ``resamples`` < 1 or n < 0, and TypeError when ``statistic``
    is given without an int n, or an int is given without a statistic.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples!r}")
    is_count = isinstance(values_or_n, int | np.integer)
    if statistic is None:
        if is_count:
            raise TypeError("bootstrap_ci(n) needs a statistic; pass the values to get the CI of their mean")
        arr = np.asarray(values_or_n, dtype=float)
        if arr.size == 0:
            return None
        if arr.size == 1 or np.all(arr == arr[0]):
            return float(arr[0]), float(arr[0])
        rng = np.random.default_rng(seed)
        stats = arr[rng.integers(0, arr.size, size=(resamples, arr.size))].mean(axis=1)
    else:
        if not is_count:
            raise TypeError("with a statistic, the first argument is the number of items (an int)")
        n = int(values_or_n)
        if n < 0:
            raise ValueError(f"the number of items must be >= 0, got {n}")
        if n == 0:
            return None
        rng = np.random.default_rng(seed)
        drawn = (statistic(idx) for idx in rng.integers(0, n, size=(resamples, n)))
        stats = [s for s in drawn if s is not None]
        if not stats or len(stats) < resamples // 2:
            return None
    tail = alpha / 2
    low, high = np.quantile(stats, [tail, 1 - tail])
    return float(low), float(high)
