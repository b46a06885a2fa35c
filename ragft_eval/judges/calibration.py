"""Calibration: run the configured judge on a human-labelled set and measure how far to trust it.

Reported per set: agreement with the humans (share of items where the judge's label equals theirs) and
Cohen's kappa, each with a 95% percentile-bootstrap CI over items (seeded); for pairwise sets the
position consistency (share of items where the two orders agree) and agreement with and without human
ties (as the MT-Bench paper reports); the confusion matrix; how many verdicts were unusable.  Items the
judge could not judge (unparseable, refused, truncated, endpoint errors) are left out of agreement and
counted.  A judge whose kappa CI reaches down to 0 or below is marked unreliable.

Label mapping: pairwise — the judge sees (a, b) and (b, a); "a" wins only when both orders prefer it,
likewise "b", else "tie".  Faithfulness — "yes, supported" is faithful (True).  Hallucination —
"yes, hallucinated" is True.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from ..hashing import content_hash
from ..resample import bootstrap_ci as _bootstrap_ci
from ._base import Judge
from .labels import FaithfulnessItem, HallucinationItem, PairwiseItem
from .llm import swap_verdicts

Item = PairwiseItem | FaithfulnessItem | HallucinationItem


def kappa(human: Sequence[Any], judge: Sequence[Any]) -> float | None:
    """Cohen's kappa (scikit-learn's); None when undefined (both raters constant and equal)."""
    if not human:
        return None
    labels = sorted({*map(str, human), *map(str, judge)})
    if len(labels) < 2:
        return None
    value = cohen_kappa_score([str(h) for h in human], [str(j) for j in judge], labels=labels)
    return float(value) if np.isfinite(value) else None


def bootstrap_ci(
    human: Sequence[Any], judge: Sequence[Any], stat: Callable[[list[Any], list[Any]], float | None], *,
    resamples: int = 1000, seed: int = 0,
) -> tuple[float, float] | None:  # fmt: skip
    """Percentile 95% CI of ``stat(human, judge)`` over items resampled with replacement, pairs kept together.

    :func:`ragft_eval.resample.bootstrap_ci` with the item indices; None with fewer than two items (no
    spread to estimate) or when ``stat`` is None on more than half of the resamples.
    """
    if len(human) < 2:
        return None
    h, j = np.asarray(human, dtype=object), np.asarray(judge, dtype=object)
    return _bootstrap_ci(
        len(h), lambda idx: stat(list(h[idx]), list(j[idx])), resamples=resamples, seed=seed, alpha=0.05
    )


def agreement(human: Sequence[Any], judge: Sequence[Any]) -> float | None:
    return sum(h == j for h, j in zip(human, judge, strict=True)) / len(human) if human else None


@dataclass
class Calibration:
    """One calibration of one judge on one labelled set."""

    set: str
    kind: str
    judge_model: str
    judge_identity: str
    template_hash: str
    params: dict[str, Any]
    sample: int | None
    seed: int
    n_items: int
    n_usable: int
    agreement: float | None
    agreement_ci: tuple[float, float] | None
    kappa: float | None
    kappa_ci: tuple[float, float] | None
    confusion: dict[str, dict[str, int]]
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    created_at: str = ""

    @property
    def reliable(self) -> bool:
        return self.kappa_ci is not None and self.kappa_ci[0] > 0

    @property
    def key(self) -> str:
        return content_hash({"judge": self.judge_identity, "template": self.template_hash, "set": self.set,
                             "sample": self.sample, "seed": self.seed})  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "reliable": self.reliable}

    def summary(self) -> str:
        """``judge: model X, agreement 78% ±4 on mtbench-human, kappa 0.55 [0.4, 0.7], n 200``."""
        if self.agreement is None:
            return f"judge {self.judge_model} on {self.set}: no usable verdicts (n {self.n_items})"
        half = (self.agreement_ci[1] - self.agreement_ci[0]) / 2 if self.agreement_ci else 0.0
        k = f"{self.kappa:.2f}" if self.kappa is not None else "undefined"
        kci = f" [{self.kappa_ci[0]:.2f}, {self.kappa_ci[1]:.2f}]" if self.kappa_ci else ""
        flag = "" if self.reliable else " — UNRELIABLE (kappa CI reaches 0)"
        return (f"judge {self.judge_model}: agreement {self.agreement:.0%} ±{half:.0%} on {self.set}, kappa {k}{kci}, "
                f"n {self.n_usable}/{self.n_items} usable{flag}")  # fmt: skip


SHIPPED_FILE = "calibrations.jsonl"


@functools.cache
def _shipped() -> tuple[dict[str, Any], ...]:
    path = resources.files(__package__).joinpath(SHIPPED_FILE)
    if not path.is_file():
        return ()
    lines = path.read_text(encoding="utf-8").splitlines()
    return tuple({**json.loads(line), "shipped": True} for line in lines if line.strip())


def shipped_calibrations() -> list[dict[str, Any]]:
    """The calibrations measured for the judges this package ships (``calibrations.jsonl`` beside this
    module, one ``Calibration.as_dict()`` per line, marked ``shipped``), oldest first, like a store's:
    a run of a shipped judge on a new store is shown its measured agreement, not "uncalibrated".  Each
    is keyed by the judge's exact identity, so a judge that differs in any recorded way matches none."""
    return [dict(r) for r in _shipped()]


def judge_identity(judge: Judge) -> str:
    """What makes two judges the same: model (and its server flags and file hashes) and sampling parameters."""
    return identity_of(judge.describe())


def identity_of(described: dict[str, Any]) -> str:
    """:func:`judge_identity` from a judge's ``describe()`` (as stored in a run manifest)."""
    spec = {k: v for k, v in described["spec"].items() if k not in ("repeats", "seed")}
    model = {k: v for k, v in described["model"].items() if k != "price"}  # what a call costs is no verdict
    # no effect on verdicts: how long to wait, how requests share the CPU, how the server is launched
    model["sampling"] = {k: v for k, v in model["sampling"].items() if k != "timeout_s"}
    if "local" in model:
        model["local"] = {k: v for k, v in model["local"].items() if k not in ("cpu_slots", "launcher")}
    # the endpoint a judge used before ``api`` was recorded: the same judge as one that records its default
    if model.get("api") == ("completions" if "local" in model else "chat"):
        model.pop("api")
    return content_hash({"model": model, "spec": spec})


async def _judge_item(judge: Judge, item: Item) -> tuple[Any, dict[str, Any]]:
    """The judge's label for one item (None when unusable) and what to keep of it."""
    if isinstance(item, PairwiseItem):
        first = await judge.pairwise(question=item.question, answer_a=item.answer_a, answer_b=item.answer_b)
        second = await judge.pairwise(question=item.question, answer_a=item.answer_b, answer_b=item.answer_a)
        outcome, consistent = swap_verdicts(first, second)
        label = {"win": "a", "loss": "b", "tie": "tie", None: None}[outcome]
        statuses = [first.status, second.status]
        return label, {"consistent": consistent if outcome else None, "statuses": statuses,
                       "problems": [v.problem for v in (first, second) if v.problem],
                       "template_hash": first.template_hash, "raw": [first.raw[:300], second.raw[:300]]}  # fmt: skip
    if isinstance(item, FaithfulnessItem):
        v = await judge.faithful(context=item.context, answer=item.answer)
    else:
        v = await judge.hallucinated(question=item.question, answer=item.answer)
    label = None if v.status != "ok" else v.label == "yes"
    return label, {"statuses": [v.status], "problems": [v.problem] if v.problem else [],
                   "template_hash": v.template_hash, "raw": [v.raw[:300]]}  # fmt: skip


async def calibrate(
    name: str, kind: str, items: Sequence[Item], judge: Judge, *, sample: int | None, seed: int,
    concurrency: int = 2, progress=None,
) -> Calibration:  # fmt: skip
    """Run ``judge`` on every item and measure its agreement with the human labels."""
    t0 = time.perf_counter()
    limit = asyncio.Semaphore(concurrency)

    async def one(item: Item):
        async with limit:
            out = await _judge_item(judge, item)
        if progress:
            progress()
        return out

    judged = await asyncio.gather(*(one(it) for it in items))
    humans = [it.label for it in items]
    usable = [(h, j, meta) for h, (j, meta) in zip(humans, judged, strict=True) if j is not None and h is not None]
    hs, js = [u[0] for u in usable], [u[1] for u in usable]
    confusion: dict[str, dict[str, int]] = {}
    for h, j in zip(hs, js, strict=True):
        confusion.setdefault(str(h), {}).setdefault(str(j), 0)
        confusion[str(h)][str(j)] += 1
    extra: dict[str, Any] = {
        "unusable": dict(Counter(s for (_, meta) in judged for s in meta["statuses"] if s != "ok")),
        "problems": sorted({p[:200] for (_, meta) in judged for p in meta["problems"]})[:10],
        "agreement_counting_unusable_as_wrong": (sum(h == j for h, j in zip(hs, js, strict=True)) / len(items))
        if items else None,
    }  # fmt: skip
    if kind == "pairwise":
        consistent = [meta["consistent"] for (_, meta) in judged if meta["consistent"] is not None]
        extra["position_consistency"] = sum(consistent) / len(consistent) if consistent else None
        no_tie = [(h, j) for h, j in zip(hs, js, strict=True) if h != "tie"]
        extra["agreement_without_human_ties"] = agreement([h for h, _ in no_tie], [j for _, j in no_tie])
        extra["n_without_human_ties"] = len(no_tie)
    if kind == "faithfulness":
        other = Counter()
        for it, (j, _) in zip(items, judged, strict=True):
            if it.label is None:
                other[
                    f"{it.category}: judge says {'faithful' if j else 'unfaithful' if j is not None else 'unusable'}"
                ] += 1
        extra["non_binary_categories"] = dict(other)
    templates = {meta["template_hash"] for _, meta in judged}
    return Calibration(
        set=name, kind=kind, judge_model=judge.model, judge_identity=judge_identity(judge),
        template_hash=sorted(templates)[0] if templates else "", params=judge.params(0), sample=sample, seed=seed,
        n_items=len(items), n_usable=len(usable), agreement=agreement(hs, js),
        agreement_ci=bootstrap_ci(hs, js, agreement, seed=seed), kappa=kappa(hs, js),
        kappa_ci=bootstrap_ci(hs, js, kappa, seed=seed), confusion=confusion, extra=extra,
        seconds=round(time.perf_counter() - t0, 1), created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip
