"""The learned faithfulness judge, smoke-sized: 40 synthetic pairs from the example golden set's corpus,
short windows, trained once per module in about 20 seconds on one thread.  A judge this small learns its
training pairs and nothing more (its validation loss rises), so it keeps its last step and the "easy
pair" is a pair it trained on; what the judge is worth on data it never saw is measured by
``ragft-eval judge train evals/judge-faithfulness.yaml --calibrate``, never here."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from ragft_eval.errors import LeakageError, SuiteConfigError
from ragft_eval.golden import load_golden_set
from ragft_eval.judges import LearnedJudge, train_judge
from ragft_eval.judges.calibration import identity_of
from ragft_eval.judges.labels import FaithfulnessItem
from ragft_eval.judges.pairs import split_of
from ragft_eval.metrics._base import ScoreContext
from ragft_eval.metrics.selection import WithJudge, build_metrics
from ragft_eval.records import Case, Response
from ragft_eval.registry import lookup
from ragft_eval.runner.suite import load_suite

from .smoke_training import train_smoke

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "golden_sets" / "example"

SMOKE = {
    "name": "smoke",
    "sources": [{"kind": "synthetic", "golden_set": str(EXAMPLE), "limit": 40, "per_doc": 4,
                 "negatives": ["other_passage"]}],
    "splits": {"validation": 0.2, "test": 0.0, "seed": 3},  # seed 3: the example corpus has a validation doc
    "window": {"tokens": 48, "stride": 24},
    "train": {"epochs": 6, "learning_rate": 3e-4, "batch_size": 8, "max_length": 64, "eval_every": 4,
              "patience": 100, "threads": 1, "restore_best": False},
}  # fmt: skip


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    return train_smoke(tmp_path_factory.mktemp("learned"), "judge.yaml", SMOKE)


def test_training_produces_an_artifact_and_a_second_call_is_a_cache_hit(smoke):
    _, cfg, artifact, _ = smoke
    assert not artifact.cached
    assert (artifact.folder / "model.safetensors").is_file() and (artifact.folder / "record.json").is_file()
    rec = artifact.record
    assert rec["train_examples"] > 20 and rec["validation_examples"] > 0
    assert rec["validation_loss"][0][0] == 0 and len(rec["validation_loss"]) >= 2  # a loss curve
    assert rec["stopped"] == "completed" and rec["steps"] == rec["planned_steps"]
    assert rec["seen_ids"] and rec["artifact_bytes"] == artifact.bytes
    again = train_judge(cfg, progress=False)
    assert again.cached and again.key == artifact.key and again.folder == artifact.folder


def test_the_key_changes_with_a_hyper_parameter(smoke, tmp_path):
    from ragft_eval.judges.training import artifact_key, base_identity, build_data
    from ragft_eval.retrieval.dense import model_path

    _, cfg, artifact, _ = smoke
    base = base_identity(model_path(cfg.base))
    other = cfg.model_copy(update={"train": cfg.train.model_copy(update={"learning_rate": 1e-4})})
    assert artifact_key(cfg, base, build_data(cfg)) == artifact.key
    assert artifact_key(other, base, build_data(other)) != artifact.key


def test_a_supported_answer_beats_an_unsupported_one_on_an_easy_pair(smoke):
    from ragft_eval.judges.training import build_data

    _, cfg, _, judge = smoke
    train = {p.id: p for p in build_data(cfg).split("train")}
    wrong = next(p for p in train.values() if p.kind == "other_passage" and p.id.rsplit(":", 1)[0] + ":copy" in train)
    right = train[wrong.id.rsplit(":", 1)[0] + ":copy"]  # the same passage, its own sentence
    supported = asyncio.run(judge.faithful(context=right.context, answer=right.answer))
    unsupported = asyncio.run(judge.faithful(context=wrong.context, answer=wrong.answer))
    assert supported.status == unsupported.status == "ok"
    assert supported.score > unsupported.score
    assert supported.judge_model == "learned:smoke" and supported.template_hash == smoke[2].key
    assert supported.label in ("yes", "no") and 0.0 <= supported.score <= 1.0


def test_long_contexts_are_judged_against_the_best_window(smoke):
    judge = smoke[3]
    filler = " ".join(f"Sentence {i} talks about nothing in particular at all." for i in range(60))
    context = filler + " Exports larger than 2 GB are split into several files."
    v = asyncio.run(judge.faithful(context=context, answer="Exports larger than 2 GB are split into several files."))
    probs = json.loads(v.raw)
    assert len(probs) > 2  # several windows of 48 tokens every 24
    assert v.score == pytest.approx(max(probs), abs=1e-4)
    assert v.reason.startswith(f"best of {len(probs)} window(s)")
    enc = judge._encoder
    wins = enc.windows(context, tokens=32, stride=16)
    assert len(wins) > 10 and wins[-1].endswith("several files.") and all(w in context for w in wins)


def test_calibrating_on_training_items_is_refused(smoke):
    judge = smoke[3]
    rec = judge.artifact().record
    cfg = smoke[1]
    from ragft_eval.judges.training import build_data

    data = build_data(cfg)
    seen = next(p for p in data.pairs if p.id in rec["seen_ids"])
    item = FaithfulnessItem(id=seen.id, source="x", context=seen.context, answer=seen.answer, label=seen.label,
                            category="c")  # fmt: skip
    with pytest.raises(LeakageError):
        judge.check_not_trained_on([item])
    renamed = FaithfulnessItem(id="new-id", source="x", context=seen.context, answer=seen.answer,
                               label=seen.label, category="c")  # fmt: skip
    with pytest.raises(LeakageError):  # the same texts under another id
        judge.check_not_trained_on([renamed])
    fresh = FaithfulnessItem(id="fresh", source="x", context="A new document.", answer="Something new.", label=True,
                             category="c")  # fmt: skip
    judge.check_not_trained_on([fresh])


def test_the_judge_is_registered_and_describes_its_artifact(smoke):
    assert lookup("judge", "learned") is LearnedJudge
    judge = smoke[3]
    described = judge.describe()
    assert described["model"]["artifact_key"] == smoke[2].key
    assert identity_of(described)  # calibrations can be keyed by it
    assert judge.spec.repeats == 1 and judge.client is None


def _suite(tmp_path: Path, judge_path: Path, metrics: list[dict], **extra) -> Path:
    suite = {
        "name": "t",
        "golden_sets": [str(EXAMPLE)],
        "systems": [{"name": "s", "kind": "replay", "path": "r.jsonl"}],
        "judges": {"faith": {"kind": "learned", "config": str(judge_path), "threads": 1}},
        "metrics": metrics,
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


def test_a_metric_names_its_judge_in_the_suite(smoke, tmp_path):
    suite = load_suite(_suite(tmp_path, smoke[0], [{"metric": "faithfulness", "judge": "faith"},
                                                   {"metric": "exact_match"}]))  # fmt: skip
    metrics, described = build_metrics(suite)
    faith = metrics[0]
    assert isinstance(faith, WithJudge) and isinstance(faith.judge, LearnedJudge)
    assert not faith.needs_judge  # no judge: section needed
    assert described["faithfulness"]["judge"] == "faith" and described["faithfulness"]["judged"]
    assert "judge" not in described["exact_match"]
    gs = load_golden_set(EXAMPLE)
    case = Case(id="c1", task_type="factual", input="How are big exports handled?")
    context = "Exports larger than 2 GB are split into several files."
    resp = Response(case_id="c1", system="s", answer="Exports larger than 2 GB are split into several files.",
                    context=context)  # fmt: skip
    result = asyncio.run(faith.score(case, resp, ScoreContext(golden_set=gs)))
    assert result.status == "scored" and 0.0 <= result.value <= 1.0
    assert result.details["judge_model"] == "learned:smoke"


def test_the_suite_judge_still_works_unchanged(smoke, tmp_path):
    path = _suite(tmp_path, smoke[0], [{"metric": "faithfulness"}], judge={"model": "j"},
                  models={"j": {"model": "m", "base_url": "http://127.0.0.1:9/v1"}})  # fmt: skip
    metrics, described = build_metrics(load_suite(path))
    assert not isinstance(metrics[0], WithJudge) and metrics[0].needs_judge
    assert "judge" not in described["faithfulness"]
    plain = yaml.safe_load(path.read_text())
    del plain["judges"]
    path.write_text(yaml.safe_dump(plain))
    assert "judges" not in load_suite(path).config_dump()  # suites without judges: keep their config hash


def test_naming_an_unknown_or_unfit_judge_is_refused(smoke, tmp_path):
    with pytest.raises(SuiteConfigError, match="unknown judge 'nope'"):
        load_suite(_suite(tmp_path, smoke[0], [{"metric": "faithfulness", "judge": "nope"}]))
    suite = load_suite(_suite(tmp_path, smoke[0], [{"metric": "judge_grade", "judge": "faith"}]))
    with pytest.raises(SuiteConfigError, match="cannot judge 'judge_grade'"):
        build_metrics(suite)
    suite = load_suite(_suite(tmp_path, smoke[0], [{"metric": "exact_match", "judge": "faith"}]))
    with pytest.raises(SuiteConfigError, match="is not judged"):
        build_metrics(suite)


def test_splits_are_fixed_and_seeded():
    assert split_of("g:doc", seed=0, validation=0.1, test=0.1) == split_of("g:doc", seed=0, validation=0.1, test=0.1)
    draws = [split_of(f"g:{i}", seed=0, validation=0.1, test=0.1) for i in range(2000)]
    assert 0.75 < draws.count("train") / 2000 < 0.85


def test_the_built_in_recipe_trains_on_the_suite_golden_sets_own_corpus(tmp_path):
    from ragft_eval.errors import ConfigError
    from ragft_eval.judges.training import SyntheticSource, build_data

    judge = LearnedJudge(model="faithfulness-minilm", golden_sets=[str(EXAMPLE)], cache_dir=tmp_path / "cache")
    cfg = judge.train_config()  # nothing is trained or loaded until the first judgment
    assert [type(s) for s in cfg.sources] == [SyntheticSource] and cfg.cache_dir == str((tmp_path / "cache").resolve())
    assert not cfg.held_out and build_data(cfg).skipped == ()  # no ../shared needed
    with pytest.raises(ConfigError, match="unknown learned judge"):
        LearnedJudge(model="nope", golden_sets=[str(EXAMPLE)]).train_config()


def test_the_threshold_is_chosen_on_validation_and_recorded(smoke):
    rec = smoke[2].record
    assert 0.0 < rec["threshold"] < 1.0 and smoke[3].threshold == rec["threshold"]
