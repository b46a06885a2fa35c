"""Measuring a learned judge on held-out human labels: the calibration record plus balanced accuracy, the
F1 of the unfaithful class and the ROC AUC of its P(supported) (threshold-free: does the score rank
faithful answers above unfaithful ones?), each with a 95% bootstrap CI (seeded, items resampled).

The judge must not have seen the items: :meth:`LearnedJudge.check_not_trained_on` refuses them first.
Balanced accuracy is the mean of the recall of each class (0.5 for a constant judge); the F1 of the
unfaithful class treats "unfaithful" as the positive class, what a faithfulness check is for catching.

>>> balanced_accuracy([True, True, False, False], [True, False, False, False])
0.75
>>> round(f1_unfaithful([True, True, False, False], [True, False, False, False]), 3)
0.8
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from .calibration import Calibration, bootstrap_ci, calibrate
from .labels import FaithfulnessItem
from .learned import LearnedJudge


def balanced_accuracy(human: Sequence[Any], judge: Sequence[Any]) -> float | None:
    """Mean per-class recall over the classes the humans used; None without items."""
    classes = sorted({str(h) for h in human})
    if not classes:
        return None
    recalls = []
    for c in classes:
        idx = [i for i, h in enumerate(human) if str(h) == c]
        recalls.append(sum(str(judge[i]) == c for i in idx) / len(idx))
    return sum(recalls) / len(recalls)


def f1_unfaithful(human: Sequence[Any], judge: Sequence[Any]) -> float | None:
    """F1 with unfaithful (False) as the positive class; None when neither side says unfaithful."""
    tp = sum(h is False and j is False for h, j in zip(human, judge, strict=True))
    fp = sum(h is not False and j is False for h, j in zip(human, judge, strict=True))
    fn = sum(h is False and j is not False for h, j in zip(human, judge, strict=True))
    return 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else None


def _pairs_from_confusion(confusion: dict[str, dict[str, int]]) -> tuple[list[bool], list[bool]]:
    # the bootstrap resamples items, and the confusion matrix holds exactly the multiset of (human, judge)
    human, judge = [], []
    for h, row in sorted(confusion.items()):
        for j, n in sorted(row.items()):
            human += [h == "True"] * n
            judge += [j == "True"] * n
    return human, judge


def with_binary_scores(cal: Calibration, *, seed: int) -> Calibration:
    """``cal`` with balanced accuracy and unfaithful-class F1 (and CIs) added to its ``extra``."""
    h, j = _pairs_from_confusion(cal.confusion)
    extra = dict(cal.extra)
    for name, stat in (("balanced_accuracy", balanced_accuracy), ("f1_unfaithful", f1_unfaithful)):
        extra[name] = stat(h, j)
        extra[f"{name}_ci"] = bootstrap_ci(h, j, stat, seed=seed)
    extra["human_unfaithful"] = sum(not x for x in h)
    extra["judge_unfaithful"] = sum(not x for x in j)
    return dataclasses.replace(cal, extra=extra)


class _Recording:
    """The judge, keeping each item's P(supported) (calibration keeps only labels)."""

    def __init__(self, judge: LearnedJudge):
        self._judge = judge
        self.scores: dict[tuple[str, str], float] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._judge, name)

    async def faithful(self, *, context: str, answer: str, repeat: int = 0):
        v = await self._judge.faithful(context=context, answer=answer, repeat=repeat)
        if v.score is not None:
            self.scores[(context, answer)] = v.score
        return v


def auc(labels: Sequence[Any], scores: Sequence[Any]) -> float | None:
    """ROC AUC of ``scores`` for the faithful (True) class; None with one class only."""
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(list(labels), list(scores))) if len(set(labels)) == 2 else None


async def measure_faithfulness(
    name: str, items: Sequence[FaithfulnessItem], judge: LearnedJudge, *, seed: int = 0, progress=None
) -> Calibration:
    """Calibrate ``judge`` on ``items`` (refused when it trained on any of them) with the binary scores."""
    judge.check_not_trained_on(items)
    recording = _Recording(judge)
    cal = await calibrate(name, "faithfulness", items, recording, sample=None, seed=seed, concurrency=1,
                          progress=progress)  # type: ignore[arg-type]  # fmt: skip
    cal = with_binary_scores(cal, seed=seed)
    scored = [(bool(it.label), recording.scores[(it.context, it.answer)]) for it in items
              if (it.context, it.answer) in recording.scores and it.label is not None]  # fmt: skip
    ys, ps = [y for y, _ in scored], [p for _, p in scored]
    cal.extra["auc"] = auc(ys, ps)
    cal.extra["auc_ci"] = bootstrap_ci(ys, ps, auc, seed=seed)
    cal.extra["threshold"] = judge.threshold
    cal.extra["training"] = judge.training_note()
    cal.extra["seconds_per_item"] = round(cal.seconds / len(items), 4) if items else None
    return cal


def format_measurement(cal: Calibration) -> str:
    """One line: n, balanced accuracy, unfaithful F1 and kappa, each with its 95% CI."""

    def fmt(value: float | None, ci: Sequence[float] | None) -> str:
        if value is None:
            return "undefined"
        return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")

    e = cal.extra
    return (f"{cal.set}: n {cal.n_usable}/{cal.n_items} (unfaithful: humans {e['human_unfaithful']}, judge "
            f"{e['judge_unfaithful']}), balanced accuracy {fmt(e['balanced_accuracy'], e['balanced_accuracy_ci'])}, "
            f"F1 unfaithful {fmt(e['f1_unfaithful'], e['f1_unfaithful_ci'])}, kappa {fmt(cal.kappa, cal.kappa_ci)}"
            f", AUC {fmt(e.get('auc'), e.get('auc_ci'))}, threshold {e.get('threshold')}"
            f"{'' if cal.reliable else ' (kappa CI reaches 0)'}, {e['seconds_per_item']} s/item")  # fmt: skip


def measurement_sets(judge: LearnedJudge, root: Any) -> dict[str, list[FaithfulnessItem]]:
    """What ``judge train --calibrate`` measures: each held-out set whole (cross-dataset), and the test
    split of each training source (in-dataset), by name (``<source>:test``)."""
    from pathlib import Path

    from .labels import CALIBRATION_SETS
    from .training import build_data

    cfg = judge.train_config()
    root = Path(root)
    out: dict[str, list[FaithfulnessItem]] = {}
    for name in cfg.held_out:
        if root.is_dir():
            out[name] = [it for it in CALIBRATION_SETS[name](root) if it.label is not None]
    test_ids = set(judge.artifact().record["test_ids"])
    for p in build_data(cfg).pairs:
        if p.id in test_ids:
            item = FaithfulnessItem(id=p.id, source=p.source, context=p.context, answer=p.answer, label=p.label,
                                    category=p.kind)  # fmt: skip
            out.setdefault(f"{p.source}:test", []).append(item)
    return out
