"""``ragft-eval judge calibrate --judge NAME``: a learned judge of the suite's ``judges:`` is calibrated on a
human-labelled set under its own identity, and a later run whose metric names that judge is shown that
calibration (and flagged by it), not the suite judge's.  The judge is the smoke-sized one of
``test_learned_judge.py`` (what it scores is meaningless; that the numbers reach the right run is the point).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from ragft_eval.cli import main
from ragft_eval.evaluate import run
from ragft_eval.golden import load_golden_set
from ragft_eval.store import open_store

from .test_learned_judge import EXAMPLE, SMOKE

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
needs_datasets = pytest.mark.skipif(not (DATASETS / "unieval_human").is_dir(),
                                    reason=f"needs the QAGS labels in {DATASETS} (../shared/datasets)")  # fmt: skip


def _suite(tmp_path: Path) -> Path:
    judge = tmp_path / "judge.yaml"
    judge.write_text(yaml.safe_dump({**SMOKE, "cache_dir": str(tmp_path / "cache")}))
    gs = load_golden_set(EXAMPLE)
    lines = [{"case_id": c.id, "answer": "Cursors stay valid for 10 minutes.", "context": "Cursors expire after 10 "
              "minutes."} for c in gs.cases if c.split == "test"]  # fmt: skip
    (tmp_path / "r.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    cfg = {"name": "named", "golden_sets": [str(EXAMPLE)],
           "systems": [{"name": "s", "kind": "replay", "path": "r.jsonl"}],
           "judges": {"faith": {"kind": "learned", "config": str(judge), "threads": 1}},
           "metrics": [{"metric": "faithfulness", "judge": "faith"}, {"metric": "exact_match"}],
           "store": "store.sqlite", "reports_dir": "reports", "cache_dir": str(tmp_path / "cache")}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@needs_datasets
def test_a_named_learned_judge_is_calibrated_and_its_runs_show_it(tmp_path, capsys):
    suite = _suite(tmp_path)
    store = tmp_path / "store.sqlite"
    code = main(["judge", "calibrate", "--set", "qags-xsum", "--sample", "24", "--seed", "1", "--suite", str(suite),
                 "--judge", "faith", "--datasets", str(DATASETS), "--store", str(store), "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "qags-xsum: n " in out and "balanced accuracy" in out
    with open_store(store) as db:
        (cal,) = db.artifacts("calibration")
    assert cal["set"] == "qags-xsum" and cal["judge_model"] == "learned:smoke" and cal["n_items"] == 24
    result = run(suite)
    m = result.summary.manifest
    assert m.judges["faith"]["identity"] == cal["judge_identity"]  # the run found the judge it calibrated
    assert m.judges["faith"]["trained_on"].startswith("learned judge smoke trained on ")
    assert [c["key"] for c in result.summary.judge_calibrations] == [cal["key"]]
    # the smoke judge is at chance on QAGS: its column is flagged by its own calibration
    expected = {"faithfulness": "unreliable"} if not cal["reliable"] else {}
    assert result.summary.metric_flags == expected


def test_bad_named_judges_are_refused(tmp_path, capsys):
    suite = _suite(tmp_path)
    assert main(["judge", "calibrate", "--set", "qags-xsum", "--suite", str(suite), "--judge", "nope"]) == 2
    assert "has no judge 'nope' in judges: (it has faith)" in " ".join(capsys.readouterr().err.split())
    assert main(["judge", "calibrate", "--set", "mtbench-human", "--suite", str(suite), "--judge", "faith"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "mtbench-human is a pairwise set; judge 'faith' judges faithfulness" in err
