"""Measuring a learned judge on held-out human labels: the calibration record plus balanced accuracy, the
F1 of the unfaithful class and the ROC AUC of its P(supported) (threshold-free: does the score rank
faithful answers above unfaithful ones?), each with a 95% bootstrap CI (seeded, items resampled).

A learned grader is measured on human correctness preferences (RAGChecker: two answers to a question,
the ground-truth answer as reference) by :func:`measure_correctness`: it prefers the answer of higher
P(correct), and its agreement with the humans' preference is reported with a 95% CI, beside the same
agreement of a token-F1 baseline (the answer closer to the reference in SQuAD token F1) on the same pairs.

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

from .calibration import Calibration, agreement, bootstrap_ci, calibrate, judge_identity, kappa
from .labels import FaithfulnessItem, PairwiseItem
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


def _with_ci(value: float | None, ci: Sequence[float] | None) -> str:
    """``0.667 [0.595, 0.733]``; ``undefined`` for no value."""
    if value is None:
        return "undefined"
    return f"{value:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def format_measurement(cal: Calibration) -> str:
    """One line: n, balanced accuracy, unfaithful F1 and kappa, each with its 95% CI (a grader's calibration:
    :func:`format_correctness`)."""
    if cal.kind == "correctness":
        return format_correctness(cal)

    e = cal.extra
    return (f"{cal.set}: n {cal.n_usable}/{cal.n_items} (unfaithful: humans {e['human_unfaithful']}, judge "
            f"{e['judge_unfaithful']}), balanced accuracy "
            f"{_with_ci(e['balanced_accuracy'], e['balanced_accuracy_ci'])}, "
            f"F1 unfaithful {_with_ci(e['f1_unfaithful'], e['f1_unfaithful_ci'])}, "
            f"kappa {_with_ci(cal.kappa, cal.kappa_ci)}"
            f", AUC {_with_ci(e.get('auc'), e.get('auc_ci'))}, threshold {e.get('threshold')}"
            f"{'' if cal.reliable else ' (kappa CI reaches 0)'}, {e['seconds_per_item']} s/item")  # fmt: skip


def measurement_sets(judge: LearnedJudge, root: Any) -> dict[str, list[Any]]:
    """What ``judge train --calibrate`` measures: each held-out set whole (cross-dataset), and the test
    split of each training source (in-dataset), by name (``<source>:test``); for a grader, each held-out
    correctness set whole (its pairwise items, for :func:`measure_correctness`)."""
    return held_out_sets(judge.train_config(), root, test_ids=set(judge.artifact().record["test_ids"]))


def held_out_sets(cfg: Any, root: Any, *, test_ids: set[str] | None = None) -> dict[str, list[Any]]:
    """:func:`measurement_sets` of a ``judge train`` config: the test pairs are those of ``test_ids`` (what
    a trained artifact recorded), or the config's test split."""
    from pathlib import Path

    from .labels import CALIBRATION_SETS
    from .training import build_data

    root = Path(root)
    if cfg.task == "correctness":
        return {name: CALIBRATION_SETS[name](root) for name in cfg.held_out if root.is_dir()}
    out: dict[str, list[Any]] = {}
    for name in cfg.held_out:
        if root.is_dir():
            out[name] = [it for it in CALIBRATION_SETS[name](root) if it.label is not None]
    for p in build_data(cfg).pairs:
        if p.id in test_ids if test_ids is not None else p.split == "test":
            item = FaithfulnessItem(id=p.id, source=p.source, context=p.context, answer=p.answer, label=p.label,
                                    category=p.kind)  # fmt: skip
            out.setdefault(f"{p.source}:test", []).append(item)
    return out


# ---------------------------------------------------------------- a grader on human correctness preferences


def correctness_preference(item: PairwiseItem) -> tuple[str, str]:
    """The humans' preference on *correctness* (``a``, ``b`` or ``tie``) and where it came from: the sign of
    the annotators' summed ``correctness_votes`` when ``meta`` has them (RAGChecker: positive means B is
    better), else the item's overall ``label``."""
    votes = item.meta.get("correctness_votes")
    if votes is None:
        return item.label, "label"
    total = sum(votes)
    return ("a" if total < 0 else "b" if total > 0 else "tie"), "correctness_votes"


def prefer(score_a: float, score_b: float, *, tie: float) -> str:
    """``a`` or ``b`` when its score is higher by more than ``tie``, else ``tie``.

    >>> prefer(0.9, 0.2, tie=1e-4), prefer(0.5, 0.50001, tie=1e-4)
    ('a', 'tie')
    """
    return "a" if score_a - score_b > tie else "b" if score_b - score_a > tie else "tie"


def _difference(human: list[Any], judge: list[Any]) -> float | None:
    # human: (human label, baseline label) per item; judge: the judge's label; agreement(judge) - agreement(baseline)
    if not human:
        return None
    return sum((j == h) - (b == h) for (h, b), j in zip(human, judge, strict=True)) / len(human)


async def measure_correctness(
    name: str, items: Sequence[PairwiseItem], judge: LearnedJudge, *, seed: int = 0, tie: float = 1e-4,
    progress=None,
) -> Calibration:  # fmt: skip
    """Calibrate the grader ``judge`` on human correctness preferences (refused when it trained on any item).

    Each item's two answers are graded against ``item.context`` (the reference) and ``item.question``; the
    judge prefers the answer of higher P(correct), and ties when the two are within ``tie``.  Items the
    humans tie on (:func:`correctness_preference`) are left out (counted in ``extra``), so ``agreement``
    is over pairs with a human preference, a judge tie counting as a disagreement
    (``agreement_without_judge_ties`` leaves them out); kappa is over the labels a, b, tie.  ``extra``
    holds the token-F1 baseline on the same pairs and the paired difference from it, each with its 95% CI.
    """
    import time
    from datetime import UTC, datetime

    from ..answers import token_f1

    judge.check_not_trained_on(items)
    t0 = time.perf_counter()
    sources = set()
    human, judged, baseline, scores = [], [], [], {}
    human_ties = unusable = graded = 0
    problems: set[str] = set()
    for it in items:
        label, source = correctness_preference(it)
        sources.add(source)
        if label == "tie" or not it.context:
            human_ties += label == "tie"
        else:
            va = await judge.grade(question=it.question, answer=it.answer_a, reference=it.context, rubric="")
            vb = await judge.grade(question=it.question, answer=it.answer_b, reference=it.context, rubric="")
            graded += 2
            if va.status == vb.status == "ok" and va.score is not None and vb.score is not None:
                human.append(label)
                judged.append(prefer(va.score, vb.score, tie=tie))
                baseline.append(prefer(token_f1(it.answer_a, it.context), token_f1(it.answer_b, it.context), tie=0.0))
                scores[it.id] = [round(va.score, 5), round(vb.score, 5)]
            else:
                unusable += 1
                problems |= {v.problem[:200] for v in (va, vb) if v.problem}
        if progress:
            progress()
    seconds = time.perf_counter() - t0
    confusion: dict[str, dict[str, int]] = {}
    for h, j in zip(human, judged, strict=True):
        confusion.setdefault(h, {}).setdefault(j, 0)
        confusion[h][j] += 1
    decided = [(h, j) for h, j in zip(human, judged, strict=True) if j != "tie"]
    paired = list(zip(human, baseline, strict=True))
    extra: dict[str, Any] = {
        "label_source": ", ".join(sorted(sources)),
        "human_ties_left_out": human_ties,
        "unusable": unusable,
        "problems": sorted(problems)[:10],
        "agreement_without_human_ties": agreement(human, judged),
        "n_without_human_ties": len(human),
        "judge_ties": judged.count("tie"),
        "judge_tie_share": judged.count("tie") / len(judged) if judged else None,
        "judge_tie_margin": tie,
        "agreement_without_judge_ties": agreement([h for h, _ in decided], [j for _, j in decided]),
        "baseline": {"name": "token_f1 (the answer of higher SQuAD token F1 against the reference)",
                     "agreement": agreement(human, baseline), "agreement_ci": bootstrap_ci(human, baseline, agreement,
                                                                                         seed=seed),
                     "ties": baseline.count("tie")},
        "difference_vs_baseline": _difference(paired, judged),
        "difference_vs_baseline_ci": bootstrap_ci(paired, judged, _difference, seed=seed),
        "threshold": judge.threshold,
        "training": judge.training_note(),
        "seconds_per_answer": round(seconds / graded, 4) if graded else None,
        "scores": scores,
    }  # fmt: skip
    return Calibration(
        set=name, kind="correctness", judge_model=judge.model, judge_identity=judge_identity(judge),
        template_hash=judge.template_hash, params=judge.params(0), sample=None, seed=seed, n_items=len(items),
        n_usable=len(human), agreement=agreement(human, judged),
        agreement_ci=bootstrap_ci(human, judged, agreement, seed=seed), kappa=kappa(human, judged),
        kappa_ci=bootstrap_ci(human, judged, kappa, seed=seed), confusion=confusion, extra=extra,
        seconds=round(seconds, 1), created_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )  # fmt: skip


def format_correctness(cal: Calibration) -> str:
    """One line: n, agreement with the humans' correctness preference, judge ties, the token-F1 baseline."""
    e, b = cal.extra, cal.extra["baseline"]
    return (
        f"{cal.set}: n {cal.n_usable}/{cal.n_items} ({e['human_ties_left_out']} human ties left out, "
        f"labels: {e['label_source']}), agreement {_with_ci(cal.agreement, cal.agreement_ci)}, judge ties "
        f"{e['judge_ties']} ({e['judge_tie_share'] or 0:.1%}), kappa {_with_ci(cal.kappa, cal.kappa_ci)}; token-F1 "
        f"baseline {_with_ci(b['agreement'], b['agreement_ci'])}; difference "
        f"{_with_ci(e['difference_vs_baseline'], e['difference_vs_baseline_ci'])}; {e['seconds_per_answer']} s/answer"
    )


async def measure_learned(name: str, items: Sequence[Any], judge: LearnedJudge, *, seed: int = 0, progress=None
                          ) -> Calibration:  # fmt: skip
    """:func:`measure_correctness` for a grader, :func:`measure_faithfulness` for a faithfulness judge."""
    if judge.task == "correctness":
        return await measure_correctness(name, items, judge, seed=seed, progress=progress)
    return await measure_faithfulness(name, items, judge, seed=seed, progress=progress)
