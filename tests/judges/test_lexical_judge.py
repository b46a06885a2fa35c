"""The lexical faithfulness judge: its features, the shipped model and its shipped calibrations (keyed by
the shipped judge's exact identity), fitting from a config (deterministic, cached, leakage refused), and a
run whose faithfulness column it scores.  Its agreement with people on QAGS is measured by
``ragft-eval judge train evals/judge-lexical.yaml --calibrate`` (README), reproduced here where
``../shared/datasets`` is present."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from ragft_eval.errors import ConfigError, LeakageError
from ragft_eval.evaluate import run
from ragft_eval.judges.calibration import identity_of, shipped_calibrations
from ragft_eval.judges.correctness_pairs import NO_ANSWER_REFERENCE
from ragft_eval.judges.labels import FaithfulnessItem
from ragft_eval.judges.lexical import (
    FEATURES,
    LexicalJudge,
    load_lexical_config,
    shipped_model,
    support_features,
    train_lexical,
)
from ragft_eval.report.files import run_notes

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "golden_sets" / "example"
DATASETS = ROOT.parent / "shared" / "datasets"
CONTEXT = "Exports larger than 2 GB are split into several files. Each file is at most 500 MB."


def features(context: str, answer: str) -> dict[str, float]:
    return dict(zip(FEATURES, support_features(context, answer), strict=True))


def test_features_count_what_the_context_does_not_say():
    same = features(CONTEXT, "Each file is at most 500 MB.")
    assert same["novel_content"] == same["novel_bigrams"] == same["novel_numbers"] == 0.0
    swapped = features(CONTEXT, "Each file is at most 800 MB.")
    assert swapped["novel_numbers"] == 1.0 and swapped["novel_bigrams"] > 0
    named = features(CONTEXT, "Each file is sent to Dropbox by Acme.")
    assert named["novel_capitalised"] == 1.0 and named["log_novel_capitalised"] > 0
    assert features(CONTEXT, "")["log_length"] == 0.0


def test_the_shipped_judge_separates_support_from_a_swap_in_milliseconds():
    judge = LexicalJudge()
    ok = asyncio.run(judge.faithful(context=CONTEXT, answer="Exports larger than 2 GB are split into several files."))
    swap = asyncio.run(judge.faithful(context=CONTEXT, answer="Exports larger than 7 GB are merged into one archive."))
    other = asyncio.run(judge.faithful(context=CONTEXT, answer="Invoices are emailed on the first Monday of a month."))
    assert ok.status == swap.status == other.status == "ok"
    assert ok.score > swap.score > other.score and ok.label == "yes" and other.label == "no"
    assert ok.judge_model == "lexical:faithfulness-lexical" and ok.latency_s < 0.05
    assert set(json.loads(ok.raw)) == set(FEATURES)
    assert "fitted on faithbench (" in judge.training_note() and "synthetic:demo (" in judge.training_note()
    assert asyncio.run(judge.grade(question="q", answer="a", reference="r", rubric="")).status == "error"


def test_the_shipped_calibrations_are_the_shipped_judges():
    """A refit of the shipped model changes its identity: then its calibrations must be measured again."""
    identity = identity_of(LexicalJudge().describe())
    mine = [c for c in shipped_calibrations() if c["judge_identity"] == identity]
    assert {c["set"] for c in mine} == {"qags-cnndm", "qags-xsum"}
    assert all(c["shipped"] and c["reliable"] and c["kappa_ci"][0] > 0 for c in mine)


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "lexical.yaml"
    path.write_text(yaml.safe_dump({"kind": "lexical", "name": "tiny", "cache_dir": str(tmp_path / "cache"),
                                    "sources": [{"kind": "synthetic", "golden_set": str(EXAMPLE), "limit": 60}],
                                    "splits": {"validation": 0.25, "test": 0.0, "seed": 3}}))  # fmt: skip
    return path


def test_fitting_from_a_config_is_deterministic_cached_and_refuses_its_own_pairs(tmp_path):
    cfg = load_lexical_config(_config(tmp_path))
    model, path, cached = train_lexical(cfg)
    assert not cached and path.is_file() and 0 < model.threshold < 1 and len(model.coef) == len(FEATURES)
    again, path2, cached2 = train_lexical(cfg)
    assert cached2 and path2 == path and again == model
    refit, _, _ = train_lexical(cfg, force=True)
    assert (refit.coef, refit.intercept, refit.threshold) == (model.coef, model.intercept, model.threshold)
    judge = LexicalJudge(config=str(_config(tmp_path)))
    from ragft_eval.judges.training import build_data

    seen = build_data(cfg).split("train")[0]
    with pytest.raises(LeakageError):
        judge.check_not_trained_on([FaithfulnessItem(id="x", source="s", context=seen.context, answer=seen.answer,
                                                     label=True, category="c")])  # fmt: skip
    with pytest.raises(ConfigError, match="kind: expected lexical"):
        load_lexical_config(ROOT / "evals" / "judge-faithfulness.yaml")
    with pytest.raises(ConfigError, match="unknown lexical judge"):
        LexicalJudge(model="nope").fitted()


@pytest.mark.skipif(not (DATASETS / "faithbench").is_dir(), reason=f"needs FaithBench in {DATASETS}")
def test_the_shipped_model_is_what_its_config_fits(tmp_path):
    cfg = load_lexical_config(ROOT / "evals" / "judge-lexical.yaml")
    cfg = cfg.model_copy(update={"cache_dir": str(tmp_path)})  # fit afresh, not from the repo's cache
    model, _, cached = train_lexical(cfg)
    shipped = shipped_model("faithfulness-lexical")
    assert not cached and model.data_hash == shipped.data_hash
    assert model.coef == pytest.approx(shipped.coef, abs=1e-9) and model.threshold == shipped.threshold


def test_a_run_scores_faithfulness_with_it_unflagged(tmp_path):
    lines = [{"case_id": "ex-fs-01", "answer": "Cursors stay valid for 10 minutes.",
              "context": "Pagination cursors stay valid for 10 minutes after they are issued."},
             {"case_id": "ex-fs-02", "answer": "Offline mode keeps 9,000 notes on Android tablets.",
              "context": "You can make up to 2,000 notes available offline on your phone."}]  # fmt: skip
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = {"name": "lex", "golden_sets": [str(EXAMPLE)], "split": ["test"],
           "systems": [{"name": "s", "kind": "replay", "path": "r.jsonl"}],
           "judges": {"faith": {"kind": "lexical"}}, "metrics": [{"metric": "faithfulness", "judge": "faith"}],
           "store": "store.sqlite", "reports_dir": "reports", "cache_dir": "cache"}  # fmt: skip
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(cfg))
    result = run(tmp_path / "suite.yaml")
    scores = {cr.case_id: cr.results[0] for cr in result.results if cr.case_id in ("ex-fs-01", "ex-fs-02")}
    # the metric's value is the judge's P(supported): above its threshold when supported, below with invented facts
    threshold = shipped_model("faithfulness-lexical").threshold
    assert scores["ex-fs-01"].value > threshold > scores["ex-fs-02"].value
    s = result.summary
    assert "faithfulness" not in s.metric_flags  # the shipped QAGS calibrations say it is better than chance
    assert {c["set"] for c in s.judge_calibrations} == {"qags-cnndm", "qags-xsum"}
    assert any(n.startswith("judge faith: lexical judge faithfulness-lexical fitted on") for n in run_notes(s))


# ---------------------------------------------------------------- the lexical grader (correctness-lexical)

NO_ANSWER = NO_ANSWER_REFERENCE  # what judge_grade sends for an unanswerable case


def grade(judge: LexicalJudge, answer: str, reference: str = "15 minutes", question: str = "How long?") -> float:
    v = asyncio.run(judge.grade(question=question, answer=answer, reference=reference, rubric=""))
    assert v.status == "ok" and v.judge_model == "lexical:correctness-lexical"
    return v.score


def test_the_shipped_grader_prefers_the_reference_to_a_near_miss_and_declining_when_there_is_no_answer():
    judge = LexicalJudge(model="correctness-lexical")
    assert judge.task == "correctness" and judge.capabilities == frozenset({"grade"})
    right = grade(judge, "Cursors stay valid for 15 minutes.")
    wrong = grade(judge, "Cursors stay valid for 45 minutes.")
    assert right > judge.threshold > wrong
    assert grade(judge, "I don't know.", NO_ANSWER) > judge.threshold > grade(judge, "About 15 minutes.", NO_ANSWER)
    assert asyncio.run(judge.faithful(context="c", answer="a")).status == "error"  # a grader only grades
    identity = identity_of(judge.describe())
    (cal,) = [c for c in shipped_calibrations() if c["judge_identity"] == identity]
    assert cal["set"] == "ragchecker" and cal["kind"] == "correctness" and cal["kappa_ci"][0] > 0
    assert cal["extra"]["baseline"]["agreement"] > 0.7  # token F1 on the same pairs, shown beside it


@pytest.mark.skipif(not (DATASETS / "clapnq").is_dir(), reason=f"needs ClapNQ and HotpotQA in {DATASETS}")
def test_the_shipped_grader_is_what_its_config_fits(tmp_path):
    cfg = load_lexical_config(ROOT / "evals" / "judge-grader-lexical.yaml")
    model, _, cached = train_lexical(cfg.model_copy(update={"cache_dir": str(tmp_path)}))
    shipped = shipped_model("correctness-lexical")
    assert not cached and model.data_hash == shipped.data_hash and model.task == "correctness"
    assert model.coef == pytest.approx(shipped.coef, abs=1e-9) and model.threshold == shipped.threshold
