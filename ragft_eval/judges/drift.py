"""Judge drift: today's judge against the verdicts stored when the answers were first judged.

Pure computation (no store, no model): :func:`drift_report` takes, per judged metric, one triple per
re-judged item, ``(stored, now, again)``: the verdict stored at first judging, today's judge's verdict
and today's judge's second verdict on the very same request.  A verdict is a category
(:func:`verdict_of`); None is an unusable one (unparseable, refused, a judge error), and an item with
any unusable verdict is left out and counted.

Reported per metric (each CI a 95% percentile bootstrap over items, seeded, as in
:mod:`.calibration`):

* ``agreement`` (share of items where ``now == stored``) and Cohen's ``kappa`` of stored against now;
* ``flipped`` = 1 - agreement, the share of verdicts that changed since they were stored;
* ``noise``: the share where ``again != now``, the judge's own flip rate today (a temperature-0 judge:
  ~0).  Two independent draws of an unchanged judge disagree as often as stored and now do, so noise is
  what ``flipped`` would be with no drift at all;
* ``excess`` = flipped - noise, the mean of the per-item differences ``[now != stored] - [again !=
  now]``, with a paired bootstrap CI;
* ``drifted`` when the excess CI's lower bound is above ``tolerance`` (default 0.05: five verdicts in
  a hundred beyond the judge's own noise).  The lower bound, not the estimate, so that drift is claimed
  only when the sample rules out a change no larger than the tolerance.

>>> r = drift_report({"judge_grade": [(1.0, 1.0, 1.0)] * 80 + [(0.0, 1.0, 1.0)] * 20}, suite="s")
>>> m = r.metrics[0]
>>> (m.n, m.flipped, m.noise, m.drifted)
(100, 0.2, 0.0, True)
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..resample import bootstrap_ci as _mean_ci
from .calibration import agreement, bootstrap_ci, kappa

SCHEMA_VERSION = 1
DEFAULT_TOLERANCE = 0.05
Triple = tuple[Hashable | None, Hashable | None, Hashable | None]


def verdict_of(details: Mapping[str, Any]) -> Hashable | None:
    """The category of a judged metric's first verdict, from its stored ``details`` (None: unusable).

    Pairwise: the outcome of the first repeat (``win``/``loss``/``tie``, both orders combined).  Binary
    (``yes``/``no``): the label (a learned judge's probability varies continuously; its label is its
    verdict).  Graded (``judge_grade``, ``judge_style``): the normalised score, since the metric's value is
    the score (a 4 that becomes a 5 moves it; the pass/fail label does not say so).
    """
    if "outcomes" in details:
        outcomes = details.get("outcomes") or []
        return outcomes[0] if outcomes and outcomes[0] is not None else None
    verdicts = details.get("verdicts") or []
    if not verdicts or verdicts[0].get("status") != "ok":
        return None
    first = verdicts[0]
    if first.get("label") in ("yes", "no") or first.get("score") is None:
        return first.get("label")
    return round(float(first["score"]), 6)  # stored JSON and a fresh float compare equal


@dataclass(frozen=True)
class MetricDrift:
    """Drift of one judged metric's verdicts (see the module docstring for each number).

    ``n``: items with three usable verdicts; ``n_sampled``: items re-judged; ``n_unusable``: left out;
    ``changes``: ``"stored -> now"`` -> count, for the flipped items.  Numbers are None when ``n`` is 0."""

    metric: str
    n: int
    n_sampled: int
    n_unusable: int
    agreement: float | None
    agreement_ci: tuple[float, float] | None
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    flipped: float | None
    flipped_ci: tuple[float, float] | None
    noise: float | None
    noise_ci: tuple[float, float] | None
    excess: float | None
    excess_ci: tuple[float, float] | None
    tolerance: float
    drifted: bool
    changes: dict[str, int] = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION


@dataclass(frozen=True)
class DriftReport:
    """One drift check: what was re-judged (window, sample, seed), by which judge, and the drift per metric.

    Stored as an artifact of kind ``judge_drift`` (``as_dict``), which the quarterly report shows."""

    suite: str
    metrics: tuple[MetricDrift, ...]
    tolerance: float
    checked_at: str = ""
    since: str | None = None
    until: str | None = None
    sample: int | None = None
    seed: int = 0
    judge_model: str = ""
    judge_identity: str | None = None
    runs: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    schema_version: int = SCHEMA_VERSION

    @property
    def drifted(self) -> bool:
        return any(m.drifted for m in self.metrics)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "drifted": self.drifted}


def measure_drift(metric: str, triples: Sequence[Triple], *, tolerance: float = DEFAULT_TOLERANCE,
                  seed: int = 0, resamples: int = 1000) -> MetricDrift:  # fmt: skip
    """The drift of one metric from its ``(stored, now, again)`` triples."""
    if not 0 <= tolerance < 1:
        raise ValueError(f"tolerance: expected a share in [0, 1), got {tolerance}")
    usable = [t for t in triples if all(v is not None for v in t)]
    stored, now, again = ([t[i] for t in usable] for i in range(3))
    n = len(usable)
    agree = agreement(stored, now)
    if not n or agree is None:
        return MetricDrift(metric=metric, n=0, n_sampled=len(triples), n_unusable=len(triples), agreement=None,
                           agreement_ci=None, kappa=None, kappa_ci=None, flipped=None, flipped_ci=None,
                           noise=None, noise_ci=None, excess=None, excess_ci=None, tolerance=tolerance,
                           drifted=False)  # fmt: skip
    flips = [float(s != a) for s, a in zip(stored, now, strict=True)]
    noisy = [float(a != b) for a, b in zip(now, again, strict=True)]
    diffs = [f - x for f, x in zip(flips, noisy, strict=True)]
    agree_ci = bootstrap_ci(stored, now, agreement, seed=seed, resamples=resamples)
    excess_ci = _mean_ci(diffs, seed=seed, resamples=resamples)
    changes: dict[str, int] = {}
    for s, a in zip(stored, now, strict=True):
        if s != a:
            changes[f"{s} -> {a}"] = changes.get(f"{s} -> {a}", 0) + 1
    return MetricDrift(
        metric=metric, n=n, n_sampled=len(triples), n_unusable=len(triples) - n, agreement=agree,
        agreement_ci=agree_ci, kappa=kappa(stored, now),
        kappa_ci=bootstrap_ci(stored, now, kappa, seed=seed, resamples=resamples),
        flipped=sum(flips) / n, flipped_ci=(1 - agree_ci[1], 1 - agree_ci[0]) if agree_ci else None,
        noise=sum(noisy) / n, noise_ci=_mean_ci(noisy, seed=seed, resamples=resamples),
        excess=sum(diffs) / n, excess_ci=excess_ci, tolerance=tolerance,
        drifted=excess_ci is not None and excess_ci[0] > tolerance, changes=dict(sorted(changes.items())),
    )  # fmt: skip


def drift_report(triples: Mapping[str, Sequence[Triple]], *, suite: str, tolerance: float = DEFAULT_TOLERANCE,
                 seed: int = 0, resamples: int = 1000, **provenance: Any) -> DriftReport:  # fmt: skip
    """A :class:`DriftReport` over every metric of ``triples`` (sorted by name); ``provenance``: the other
    fields of the report (``checked_at``, ``since``, ``sample``, ``judge_model``, ``runs``, ``notes``...)."""
    metrics = tuple(measure_drift(name, triples[name], tolerance=tolerance, seed=seed, resamples=resamples)
                    for name in sorted(triples))  # fmt: skip
    return DriftReport(suite=suite, metrics=metrics, tolerance=tolerance, seed=seed, **provenance)
