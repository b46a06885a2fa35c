"""Each judged metric is flagged by its own judge's calibrations: a metric that names a judge of
``judges:`` (a learned one) is matched by that judge's identity, the others by the suite's ``judge:``;
calibrations shipped with the package count like stored ones (a stored one for the same set wins); the
report names the data a learned judge was trained on.

The run is real (a replayed system, the suite's judge a loopback stand-in for a hosted endpoint,
``tests/judges/fault_server.py``); the second judge is added to a copy of its manifest, as a run with a
learned judge records it (``evaluate.named_judge_record``), so no judge is trained here.
"""

from __future__ import annotations

import json

import pytest
import yaml

from ragft_eval.evaluate import run
from ragft_eval.golden import write_golden_set
from ragft_eval.records import Case
from ragft_eval.report.files import run_notes
from ragft_eval.stats import build_summary
from ragft_eval.stats import summary as summary_module
from ragft_eval.store import open_store

from ..judges.fault_server import FaultServer

LEARNED = "sha256:" + "ab" * 32


def _judge(body: dict) -> str:
    return json.dumps({"score": 4, "verdict": "pass", "reason": "r"})


def _calibration(identity: str, name: str, *, reliable: bool, low: float) -> dict:
    return {"set": name, "kind": "faithfulness", "judge_model": "m", "judge_identity": identity, "template_hash": "t",
            "params": {}, "sample": None, "seed": 0, "n_items": 100, "n_usable": 100, "agreement": 0.8,
            "agreement_ci": [0.7, 0.9], "kappa": 0.5, "kappa_ci": [low, 0.6], "confusion": {}, "extra": {},
            "seconds": 1.0, "created_at": "2026-12-01T00:00:00+00:00", "reliable": reliable}  # fmt: skip


@pytest.fixture
def store_with_two_judges(tmp_path):
    cases = [Case(id=f"c{i}", task_type="factual", input=f"q{i}?", expected={"answer": "a"}) for i in range(4)]
    write_golden_set(tmp_path / "golden", manifest={"name": "g", "version": "1"}, cases=cases)
    (tmp_path / "a.jsonl").write_text("".join(json.dumps({"case_id": f"c{i}", "answer": "a"}) + "\n" for i in range(4)))
    cfg = {"name": "flags", "golden_sets": ["golden"],
           "models": {"j": {"model": "judge-x", "base_url": "http://127.0.0.1:9", "timeout_s": 5}},
           "systems": [{"name": "replayed", "kind": "replay", "path": "a.jsonl"}],
           "metrics": [{"metric": "judge_grade"}], "judge": {"model": "j", "structured": "json_schema"},
           "store": "store.sqlite", "reports_dir": "reports", "cache_dir": "cache"}  # fmt: skip
    with FaultServer(respond=_judge) as server:
        cfg["models"]["j"]["base_url"] = server.base_url
        (tmp_path / "suite.yaml").write_text(yaml.safe_dump(cfg))
        result = run(tmp_path / "suite.yaml")
    db = open_store(tmp_path / "store.sqlite")
    old = db.manifest(result.summary.run_id)
    # the same run as one whose "faithfulness" metric named a learned judge "faith"
    metrics = {**old.metrics, "faithfulness": {"kind": "faithfulness", "judged": True, "judge": "faith"}}
    judges = {"faith": {"describe": {"spec": {"model": "faithfulness-minilm"}, "model": {}}, "identity": LEARNED,
                        "trained_on": "learned judge faithfulness-minilm trained on synthetic:g (40)"}}  # fmt: skip
    manifest = old.model_copy(update={"run_id": "two-judges", "metrics": metrics, "judges": judges})
    db.create_run(manifest)
    for cr in db.results(old.run_id):
        db.write(cr.model_copy(update={"run_id": "two-judges"}))
    db.set_status("two-judges", "finished")
    yield db, old.judge_identity
    db.close()


def test_each_metric_is_flagged_by_its_own_judge(store_with_two_judges):
    db, suite_judge = store_with_two_judges
    db.put_artifact("cal:learned", "calibration", _calibration(LEARNED, "qags-xsum", reliable=True, low=0.1))
    s = build_summary(db, "two-judges")
    assert s.metric_flags == {"judge_grade": "uncalibrated"}  # the suite's judge has no calibration
    assert s.flagged_metrics == ("judge_grade",) and s.judge_flag == "uncalibrated"
    notes = run_notes(s)
    assert any(n.startswith("judge: model ") and "has no stored calibration" in n for n in notes)
    assert "judge faith: learned judge faithfulness-minilm trained on synthetic:g (40)" in notes
    assert any("flagged (judge_grade): the judge has no stored calibration" in n for n in notes)
    # the learned judge shown unreliable on a second set: now its metric is flagged too, for its own reason
    db.put_artifact("cal:learned2", "calibration", _calibration(LEARNED, "faithbench", reliable=False, low=-0.1))
    db.put_artifact("cal:suite", "calibration", _calibration(suite_judge, "mtbench-human", reliable=True, low=0.2))
    s = build_summary(db, "two-judges")
    assert s.metric_flags == {"faithfulness": "unreliable"} and s.judge_flag == "unreliable"
    assert {c["judge_identity"] for c in s.judge_calibrations} == {LEARNED, suite_judge}


def test_shipped_calibrations_count_and_a_stored_one_wins(store_with_two_judges, monkeypatch):
    db, suite_judge = store_with_two_judges
    shipped = [{**_calibration(suite_judge, "faithbench", reliable=False, low=-0.02), "shipped": True}]
    monkeypatch.setattr(summary_module, "shipped_calibrations", lambda: [dict(c) for c in shipped])
    s = build_summary(db, "two-judges")
    # a new store: the shipped calibration of the suite's judge shows, unreliable; the learned judge has none
    assert s.metric_flags == {"judge_grade": "unreliable", "faithfulness": "uncalibrated"}
    assert any("on faithbench" in n and " shipped — UNRELIABLE" in n for n in run_notes(s))
    # a calibration measured by the user on the same set replaces the shipped one
    db.put_artifact("cal:mine", "calibration", _calibration(suite_judge, "faithbench", reliable=True, low=0.3))
    s = build_summary(db, "two-judges")
    assert "judge_grade" not in s.metric_flags
    (mine,) = [c for c in s.judge_calibrations if c["judge_identity"] == suite_judge]
    assert "shipped" not in mine
