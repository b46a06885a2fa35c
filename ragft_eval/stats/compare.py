"""Comparing two runs: per system, metric and slice, the paired difference on the cases both runs share,
the cases that regressed and improved, and what changed between the runs (their manifests' diff).

Cases are shared when both runs have them with the same golden set, case id and content hash, so a
compare across a changed golden set compares only the shared cases and says how many.  Differences are
``b - a`` (the second run minus the first), tested two-sided with the sign-flip test, Holm-corrected
across the systems of one (metric, slice).  The manifest diff here is the one the regression gates and
the quarterly report read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..records import CaseResult
from ..runner import manifest_diff
from .aggregate import OVERALL
from .significance import CaseHashes, Key, Where, derived_seed, holm, paired_cases, sign_flip_test
from .summary import RunSummary

PASS_AT = 0.5  # a case passes a metric at value >= 0.5 (<= 0.5 when lower is better), for pass -> fail lists


def passes(value: float, higher_is_better: bool) -> bool:
    return value >= PASS_AT if higher_is_better else value <= PASS_AT


def pass_to_fail(keys: Sequence[Key], before: Sequence[float], after: Sequence[float], higher_is_better: bool,
                 ) -> tuple[str, ...]:  # fmt: skip
    """``golden_set/case_id`` of the cases that passed before and fail after."""
    return tuple(f"{g}/{c}" for (g, c), x, y in zip(keys, before, after, strict=True)
                 if passes(x, higher_is_better) and not passes(y, higher_is_better))  # fmt: skip


def pair_runs(a: Sequence[CaseResult], b: Sequence[CaseResult], metric: str, *, where: Where | None,
              hashes_a: CaseHashes, hashes_b: CaseHashes) -> tuple[list[Key], np.ndarray, np.ndarray, int]:  # fmt: skip
    """One system's results in two runs (``a``, ``b``), paired on the cases both share (same id and
    content hash): :func:`~ragft_eval.stats.significance.paired_cases` across runs."""
    left = [cr.model_copy(update={"system": "a"}) for cr in a]
    right = [cr.model_copy(update={"system": "b"}) for cr in b]
    return paired_cases(left + right, metric, "a", "b", where=where, hashes_a=hashes_a, hashes_b=hashes_b)


@dataclass(frozen=True)
class RunDelta:
    """One system's change on one metric in one slice between two runs."""

    system: str
    metric: str
    slice: str
    n_shared: int
    n_left_out: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None  # b - a
    p_value: float | None
    p_holm: float | None
    significant: bool
    higher_is_better: bool
    regressed: tuple[str, ...] = ()  # pass in a, fail in b ("golden_set/case_id")
    improved: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunComparison:
    run_a: str
    run_b: str
    shared_cases: int  # cases of the two runs with the same id and content hash
    only_a: int
    only_b: int
    changed: tuple[str, ...]  # dotted manifest keys that differ
    deltas: tuple[RunDelta, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "deltas": [d.as_dict() for d in self.deltas]}


def _slices(summary: RunSummary) -> list[str]:
    return [OVERALL] + [f"task_type={t}" for t in sorted({cr.task_type for cr in summary.results})]


def _where(slice_: str):
    if slice_ == OVERALL:
        return None
    value = slice_.partition("=")[2]
    return lambda cr: cr.task_type == value


def _hashed_keys(s: RunSummary) -> set[tuple[str, str, str | None]]:
    return {(g, c, h) for g, cases in s.manifest.case_hashes.items() for c, h in cases.items()}


def compare_runs(a: RunSummary, b: RunSummary, *, alpha: float = 0.05, resamples: int = 10000, seed: int = 0,
                 metrics: Sequence[str] | None = None) -> RunComparison:  # fmt: skip
    """Run ``b`` against run ``a`` (see the module docstring)."""
    ka, kb = _hashed_keys(a), _hashed_keys(b)
    systems = sorted({cr.system for cr in a.results} & {cr.system for cr in b.results})
    names = sorted({m.metric for cr in a.results for m in cr.results}
                   & {m.metric for cr in b.results for m in cr.results})  # fmt: skip
    if metrics is not None:
        names = [m for m in names if m in metrics]
    direction = {m.metric: m.higher_is_better for cr in b.results for m in cr.results}
    rows_a = {s: [cr for cr in a.results if cr.system == s] for s in systems}
    rows_b = {s: [cr for cr in b.results if cr.system == s] for s in systems}
    deltas: list[RunDelta] = []
    for metric in names:
        for slice_ in _slices(b):
            family = []
            for system in systems:
                keys, x, y, n_left = pair_runs(rows_a[system], rows_b[system], metric, where=_where(slice_),
                                               hashes_a=a.manifest.case_hashes,
                                               hashes_b=b.manifest.case_hashes)  # fmt: skip
                if not keys:
                    family.append((system, keys, x, y, n_left, None))
                    continue
                p = sign_flip_test(y - x, resamples=resamples, seed=derived_seed(seed, metric, slice_, system))
                family.append((system, keys, x, y, n_left, p))
            adjusted = holm([f[5] for f in family])
            for (system, keys, x, y, n_left, p), p_holm in zip(family, adjusted, strict=True):
                hib = direction[metric]
                deltas.append(RunDelta(
                    system=system, metric=metric, slice=slice_, n_shared=len(keys), n_left_out=n_left,
                    mean_a=float(x.mean()) if len(keys) else None, mean_b=float(y.mean()) if len(keys) else None,
                    difference=float((y - x).mean()) if len(keys) else None, p_value=p, p_holm=p_holm,
                    significant=p_holm is not None and p_holm < alpha, higher_is_better=hib,
                    regressed=pass_to_fail(keys, x, y, hib), improved=pass_to_fail(keys, y, x, hib),
                ))  # fmt: skip
    # cases without hashes (a schema-1 manifest) are compared on ids alone, as paired_cases does
    shared = len(ka & kb) if ka and kb else len({k[:2] for k in ka} & {k[:2] for k in kb})
    return RunComparison(run_a=a.run_id, run_b=b.run_id, shared_cases=shared, only_a=len(ka) - shared,
                         only_b=len(kb) - shared, changed=tuple(k for k in manifest_diff(a.manifest, b.manifest)
                                                                if k not in ("run_id", "created_at")),
                         deltas=tuple(deltas))  # fmt: skip
