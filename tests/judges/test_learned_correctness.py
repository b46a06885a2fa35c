"""The learned correctness grader, smoke-sized: about 40 correctness pairs from the demo golden set's
reference answers, trained once per module in seconds on one thread.  Like the faithfulness smoke judge it
learns its training pairs and nothing more, so it keeps its last step and the pairs it is asked to order
are pairs it trained on; what the grader is worth on answers it never saw (RAGChecker) is measured by the
full recipe, never here.  The RAGChecker test runs a real calibration on a small sample: it checks the
record, not the agreement."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
import yaml

from ragft_eval.errors import ConfigError, LeakageError, SuiteConfigError
from ragft_eval.golden import load_golden_set
from ragft_eval.judges import LearnedJudge, load_judge_train_config, train_judge
from ragft_eval.judges.correctness_pairs import (
    correctness_pairs,
    grader_context,
    reference_of,
)
from ragft_eval.judges.labels import PairwiseItem
from ragft_eval.judges.measure import correctness_preference, measure_correctness, prefer
from ragft_eval.judges.pairs import swap_unit
from ragft_eval.judges.training import build_data
from ragft_eval.metrics._base import ScoreContext
from ragft_eval.metrics.judged import JudgeGrade
from ragft_eval.metrics.selection import WithJudge, build_metrics
from ragft_eval.records import Response
from ragft_eval.runner.suite import load_suite

from .smoke_training import train_smoke

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "golden_sets" / "demo"
EXAMPLE = ROOT / "golden_sets" / "example"
DATASETS = ROOT.parent / "shared" / "datasets"

SMOKE = {
    "name": "smoke-grader",
    "task": "correctness",
    "sources": [{"kind": "correctness", "golden_set": str(DEMO), "limit": 40, "per_case": 2,
                 "negatives": ["number", "unit", "other_question"]}],
    "splits": {"validation": 0.2, "test": 0.0, "seed": 0},
    "train": {"epochs": 6, "learning_rate": 3e-4, "batch_size": 8, "max_length": 96, "eval_every": 4,
              "patience": 100, "threads": 1, "restore_best": False},
}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return train_smoke(tmp_path_factory.mktemp("grader"), "grader.yaml", SMOKE)


# ---------------------------------------------------------------- pairs (no model)


def test_correctness_pairs_include_aliases_and_near_misses():
    gs = load_golden_set(DEMO)
    pairs = correctness_pairs(gs, limit=None, per_case=2, seed=0, validation=0.1, test=0.1)
    by_case = {c.id: c for c in gs.cases}
    right = [p for p in pairs if p.label]
    wrong = [p for p in pairs if not p.label]
    assert abs(len(right) - len(wrong)) <= len(pairs) * 0.02  # balanced, case by case
    aliases = [p for p in right if p.kind == "alias"]
    assert aliases and all(any(a.rstrip(".") in p.answer for a in by_case[p.id.split(":")[2]].expected.aliases)
                           for p in aliases)  # fmt: skip
    numbers = [p for p in wrong if p.kind == "number"]
    assert numbers
    for p in numbers:  # a changed number: the reference never says the new one
        case = by_case[p.id.split(":")[2]]
        assert p.answer not in case.expected.answers and p.answer.rstrip(".") not in reference_of(case)
    assert {"other_question", "unit"} <= {p.kind for p in wrong}
    assert {"refusal"} <= {p.kind for p in right}  # unanswerable cases: declining is correct
    # the first segment is what judge_grade sends, and no case is in two splits
    assert all(p.context == grader_context(by_case[p.id.split(":")[2]].question,
                                           reference_of(by_case[p.id.split(":")[2]])) for p in pairs)  # fmt: skip
    splits: dict[str, set[str]] = {}
    for p in pairs:
        splits.setdefault(p.id.split(":")[2], set()).add(p.split)
    assert all(len(s) == 1 for s in splits.values())
    assert {"train", "validation"} <= {s for v in splits.values() for s in v}
    again = correctness_pairs(gs, limit=None, per_case=2, seed=0, validation=0.1, test=0.1)
    assert again == pairs  # seeded


def test_a_unit_swap_changes_the_unit_and_keeps_the_number():
    assert swap_unit("15 minutes", random.Random(0), avoid="15 minutes").startswith("15 ")
    assert swap_unit("15 minutes", random.Random(0), avoid="15 minutes") != "15 minutes"
    assert swap_unit("AES-256", random.Random(0), avoid="") is None


def test_the_built_in_grader_trains_on_the_suite_golden_sets_and_names_what_it_skipped(tmp_path):
    judge = LearnedJudge(model="correctness-minilm", golden_sets=[str(EXAMPLE)], cache_dir=tmp_path / "cache",
                         datasets=str(tmp_path / "absent"))  # fmt: skip
    assert judge.capabilities == frozenset({"grade"}) and judge.task == "correctness"
    cfg = judge.train_config()
    assert cfg.task == "correctness" and cfg.held_out == ("ragchecker",)
    data = build_data(cfg)  # a fresh clone: no ../shared, the suite's own golden set alone
    assert {p.source for p in data.pairs} == {"correctness:example"}
    assert sorted(s.split(":")[0] for s in data.skipped) == ["clapnq", "hotpotqa"]
    assert LearnedJudge(model="faithfulness-minilm").capabilities == frozenset({"faithful"})
    with pytest.raises(ConfigError, match="does not train a correctness judge"):
        load_judge_train_config(_write(tmp_path, {**SMOKE, "sources": [{"kind": "synthetic", "golden_set": "x"}]}))
    with pytest.raises(ConfigError, match="not a correctness set"):
        load_judge_train_config(_write(tmp_path, {**SMOKE, "held_out": ["qags-xsum"]}))


def _write(tmp_path: Path, cfg: dict) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


# ---------------------------------------------------------------- the trained smoke grader


def test_training_records_the_task_and_the_questions_it_saw(smoke):
    _, cfg, artifact, _ = smoke
    rec = artifact.record
    assert not artifact.cached and rec["task"] == "correctness" and 0.0 < rec["threshold"] < 1.0
    assert rec["train_examples"] >= 24 and rec["validation_examples"] > 0 and rec["seen_question_hashes"]
    assert rec["stopped"] == "completed" and len(rec["validation_loss"]) >= 2
    assert train_judge(cfg, progress=False).cached


def _train_case(cfg, gs):
    """A train-split case with a correct and a wrong training pair."""
    pairs = build_data(cfg).split("train")
    for case in sorted(gs.cases, key=lambda c: c.id):
        mine = [p for p in pairs if p.id.split(":")[2] == case.id]
        right = [p for p in mine if p.label]
        wrong = [p for p in mine if not p.label]
        if right and wrong and case.answerable and case.expected.json_value is None:
            return case, right[0], wrong[0]
    raise AssertionError("no train case with both kinds of pair")


def test_grades_through_the_judge_grade_metric(smoke, tmp_path):
    path, cfg, artifact, judge = smoke
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(yaml.safe_dump({
        "name": "t", "golden_sets": [str(DEMO)], "systems": [{"name": "s", "kind": "replay", "path": "r.jsonl"}],
        "judges": {"grader": {"kind": "learned", "config": str(path), "threads": 1}},
        "metrics": [{"metric": "judge_grade", "judge": "grader"}], "cache_dir": str(tmp_path / "cache"),
    }))  # fmt: skip
    metrics, described = build_metrics(load_suite(suite_path))
    grade = metrics[0]
    assert isinstance(grade, WithJudge) and grade.judge.capabilities == frozenset({"grade"})
    assert described["judge_grade"]["judge"] == "grader"
    gs = load_golden_set(DEMO)
    case, right, wrong = _train_case(cfg, gs)
    ctx = ScoreContext(golden_set=gs)
    good = asyncio.run(grade.score(case, Response(case_id=case.id, system="s", answer=right.answer), ctx))
    bad = asyncio.run(grade.score(case, Response(case_id=case.id, system="s", answer=wrong.answer), ctx))
    assert good.status == bad.status == "scored"
    assert 0.0 <= bad.value < good.value <= 1.0
    verdict = good.details["verdicts"][0]
    assert good.details["judge_model"] == "learned:smoke-grader" and verdict["label"] in ("pass", "fail")
    assert verdict["label"] == ("pass" if good.value >= judge.threshold else "fail")
    assert good.details["template_hash"] == artifact.key

    class Recording:  # the real grader, keeping what the metric sent it
        spec = judge.spec

        def __init__(self):
            self.calls = []

        async def grade(self, **fields):
            self.calls.append(fields)
            return await judge.grade(**fields)

    rec = Recording()
    asyncio.run(JudgeGrade().score(case, Response(case_id=case.id, system="s", answer=right.answer),
                                   ScoreContext(golden_set=gs, judge=rec)))  # fmt: skip
    sent = rec.calls[0]
    assert grader_context(sent["question"], sent["reference"]) == right.context  # what it trained on


def test_a_grader_is_refused_for_other_metrics_and_calls(smoke, tmp_path):
    path, *_, judge = smoke
    suite_path = tmp_path / "suite.yaml"
    suite_path.write_text(yaml.safe_dump({
        "name": "t", "golden_sets": [str(DEMO)], "systems": [{"name": "s", "kind": "replay", "path": "r.jsonl"}],
        "judges": {"grader": {"kind": "learned", "config": str(path)}},
        "metrics": [{"metric": "faithfulness", "judge": "grader"}], "cache_dir": str(tmp_path / "cache"),
    }))  # fmt: skip
    with pytest.raises(SuiteConfigError, match="cannot judge 'faithfulness'"):
        build_metrics(load_suite(suite_path))
    v = asyncio.run(judge.faithful(context="x", answer="y"))
    assert v.status == "error" and "correctness only" in v.problem


def test_calibrating_on_questions_it_trained_on_is_refused(smoke):
    _, cfg, _, judge = smoke
    seen = next(p for p in build_data(cfg).split("train"))
    reference = seen.context.split("\nReference answer: ", 1)[1]
    same_question = PairwiseItem(id="new", source="x", question=seen.question, answer_a="A new answer.",
                                 answer_b="Another.", label="a", context="Some other reference.")  # fmt: skip
    with pytest.raises(LeakageError):
        judge.check_not_trained_on([same_question])
    with pytest.raises(LeakageError):
        asyncio.run(measure_correctness("x", [same_question], judge))
    same_text = PairwiseItem(id="new2", source="x", question=seen.question + " ", answer_a=seen.answer,
                             answer_b="b", label="a", context=reference)  # fmt: skip
    with pytest.raises(LeakageError):
        judge.check_not_trained_on([same_text])
    fresh = PairwiseItem(id="fresh", source="x", question="Who wrote Hamlet?", answer_a="Shakespeare",
                         answer_b="Marlowe", label="a", context="William Shakespeare")  # fmt: skip
    judge.check_not_trained_on([fresh])


def test_the_preference_reads_the_correctness_votes():
    item = PairwiseItem(id="i", source="s", question="q", answer_a="a", answer_b="b", label="b", context="r",
                        meta={"correctness_votes": (-1, -2), "overall_votes": (1, 1)})  # fmt: skip
    assert correctness_preference(item) == ("a", "correctness_votes")
    plain = PairwiseItem(id="j", source="s", question="q", answer_a="a", answer_b="b", label="b", context="r")
    assert correctness_preference(plain) == ("b", "label")
    assert prefer(0.7, 0.2, tie=1e-4) == "a" and prefer(0.2, 0.7, tie=1e-4) == "b" and prefer(0.3, 0.3, tie=0) == "tie"


@pytest.mark.skipif(not DATASETS.is_dir(), reason=f"shared datasets folder {DATASETS} not found (a fresh clone)")
def test_a_calibration_on_ragchecker_runs_on_a_small_sample(smoke):
    from ragft_eval.judges.calibration import Calibration
    from ragft_eval.judges.labels import load_ragchecker, stratified_sample

    judge = smoke[3]
    items = load_ragchecker(DATASETS)
    assert len(items) == 280
    sample = stratified_sample(items, 10, 0, key=lambda it: correctness_preference(it)[0])
    cal = asyncio.run(measure_correctness("ragchecker", sample, judge))
    assert isinstance(cal, Calibration) and cal.kind == "correctness" and cal.n_items == 10
    ties = sum(correctness_preference(it)[0] == "tie" for it in sample)
    assert cal.n_usable == 10 - ties and cal.extra["human_ties_left_out"] == ties
    assert cal.extra["label_source"] == "correctness_votes"
    assert 0.0 <= cal.agreement <= 1.0 and cal.agreement_ci is not None
    assert 0.0 <= cal.extra["judge_tie_share"] <= 1.0
    assert 0.0 <= cal.extra["baseline"]["agreement"] <= 1.0
    assert len(cal.extra["scores"]) == cal.n_usable and cal.extra["seconds_per_answer"] > 0
    assert cal.as_dict()["set"] == "ragchecker" and cal.key  # storable as a calibration artifact
