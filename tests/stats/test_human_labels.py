"""A suite's ``human_labels:``: read before any work (bad lines named by file, line and field), stored with
the run, and turned into PPI++ estimates of its judged metrics beside the judge-only and human-only means.

The judge is a loopback stand-in for a hosted judge endpoint (``tests/judges/fault_server.py``: a boundary
we cannot reach from here); the PPI numbers are checked against :func:`ragft_eval.stats.ppi.ppi_mean`, which
``tests/stats/test_ppi.py`` checks against the reference ``ppi-python``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest
import yaml

from ragft_eval.evaluate import run
from ragft_eval.golden import write_golden_set
from ragft_eval.records import Case
from ragft_eval.report.files import run_notes
from ragft_eval.stats import build_summary
from ragft_eval.stats.human_labels import HumanLabelsError, load_human_labels
from ragft_eval.stats.ppi import ppi_mean
from ragft_eval.store import open_store

from ..judges.fault_server import FaultServer

N = 120
ANSWER = re.compile(r"Answer to grade: fact (\d+) is")


def lenient_judge(body: dict) -> str:
    """A judge that passes every answer but every tenth: biased upwards against the humans below."""
    i = int(ANSWER.search(body["messages"][0]["content"]).group(1))
    score = 1 if i % 10 == 0 else 5
    return json.dumps({"score": score, "verdict": "pass" if score >= 3 else "fail", "reason": "r"})


def human(i: int) -> float:
    """What people said: a third of the answers are wrong (those the judge fails among them)."""
    return 0.0 if i % 3 == 0 or i % 10 == 0 else 1.0


def _suite(root: Path, base_url: str, labels: list[dict] | None) -> Path:
    cases = [Case(id=f"c{i:03d}", task_type="factual", input=f"What is fact {i}?", expected={"answer": str(i)})
             for i in range(N)]  # fmt: skip
    write_golden_set(root / "golden", manifest={"name": "labelled", "version": "1"}, cases=cases)
    answers = [{"case_id": f"c{i:03d}", "answer": f"fact {i} is {i}"} for i in range(N)]
    (root / "answers.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers), encoding="utf-8")
    cfg = {
        "name": "labelled",
        "golden_sets": ["golden"],
        "models": {"judge": {"model": "judge-x", "base_url": base_url, "timeout_s": 5,
                             "retry": {"max_attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.02}}},
        "systems": [{"name": "replayed", "kind": "replay", "path": "answers.jsonl"}],
        "metrics": [{"metric": "judge_grade"}, {"metric": "exact_match"}],
        "judge": {"model": "judge", "structured": "json_schema"},
        "bootstrap": {"resamples": 200, "seed": 0},
        "store": "store.sqlite", "reports_dir": "reports", "cache_dir": "cache",
    }  # fmt: skip
    if labels is not None:
        (root / "labels.jsonl").write_text("".join(json.dumps(x) + "\n" for x in labels), encoding="utf-8")
        cfg["human_labels"] = "labels.jsonl"
    path = root / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def test_ppi_estimates_from_a_suites_human_labels(tmp_path):
    labelled = sorted(random.Random(0).sample(range(N), 40))  # a uniform random sample of the cases
    labels = [{"case_id": f"c{i:03d}", "system": "replayed", "metric": "judge_grade", "label": human(i)}
              for i in labelled]  # fmt: skip
    labels.append({"case_id": "c000", "system": "replayed", "metric": "exact_match", "label": 1})  # not judged
    with FaultServer(respond=lenient_judge) as server:
        suite = _suite(tmp_path, server.base_url, labels)
        result = run(suite)
    (estimate,) = result.summary.ppi
    assert (estimate["system"], estimate["metric"], estimate["n_labels"], estimate["n_unmatched"]) == (
        "replayed", "judge_grade", 40, 0)  # fmt: skip
    # the same numbers as ppi_mean on the same cases: labelled (human, judge) pairs, then the judge-only rest
    judge = {cr.case_id: next(m.value for m in cr.results if m.metric == "judge_grade") for cr in result.results}
    ids = [f"c{i:03d}" for i in labelled]
    rest = [v for c, v in judge.items() if c not in ids]
    direct = ppi_mean([human(i) for i in labelled], [judge[c] for c in ids], rest)
    assert estimate["estimate"] == pytest.approx(direct.estimate, abs=1e-12)
    assert (estimate["ci_low"], estimate["ci_high"]) == pytest.approx((direct.ci_low, direct.ci_high), abs=1e-12)
    # the lenient judge says 0.9; people, 0.6 over all cases: PPI moves to them and its interval holds them
    truth = sum(human(i) for i in range(N)) / N
    assert estimate["judge_only_mean"] == pytest.approx(0.9) and truth == pytest.approx(0.6)
    assert estimate["ci_low"] <= truth <= estimate["ci_high"] < estimate["judge_only_ci_low"]
    assert estimate["ci_high"] - estimate["ci_low"] <= estimate["human_only_ci_high"] - estimate["human_only_ci_low"]
    notes = run_notes(result.summary)
    assert any(n.startswith("PPI judge_grade / replayed: ") and "from 40 human labels and 80 judge-only" in n
               for n in notes)  # fmt: skip
    html = (result.report_dir / "report.html").read_text(encoding="utf-8")
    assert "Bias-corrected by human labels (PPI++)" in html
    # the labels were stored with the run: the report rebuilt without the file says the same
    (tmp_path / "labels.jsonl").unlink()
    with open_store(tmp_path / "store.sqlite") as db:
        assert build_summary(db, result.summary.run_id).ppi == result.summary.ppi


def test_too_few_labels_say_why(tmp_path):
    labels = [{"case_id": "c001", "system": "replayed", "metric": "judge_grade", "label": True},
              {"case_id": "nope", "system": "replayed", "metric": "judge_grade", "label": 0}]  # fmt: skip
    with FaultServer(respond=lenient_judge) as server:
        result = run(_suite(tmp_path, server.base_url, labels))
    (estimate,) = result.summary.ppi
    assert estimate["reason"] == "fewer than 2 labelled cases the judge scored" and estimate["n_unmatched"] == 1
    assert "estimate" not in estimate


def test_bad_label_files_name_the_file_line_and_field(tmp_path):
    path = tmp_path / "labels.jsonl"
    path.write_text(
        '{"case_id": "c1", "system": "s", "metric": "judge_grade", "label": 1}\n'
        "not json\n"
        '{"case_id": "c2", "system": "s", "metric": "judge_grade", "label": "yes"}\n'
        '{"case_id": "c3", "system": "s", "metric": "judge_grade"}\n'
        '{"case_id": "c1", "system": "s", "metric": "judge_grade", "label": 0}\n',
        encoding="utf-8",
    )
    with pytest.raises(HumanLabelsError) as info:
        load_human_labels(path)
    text = str(info.value)
    assert f"{path}:2: (line): malformed JSON" in text
    assert f"{path}:3: label: expected a number (or true/false)" in text
    assert f"{path}:4: label: required field is missing" in text
    assert f"{path}:5: case_id: labelled twice (first on line 1)" in text
    with pytest.raises(HumanLabelsError, match="file does not exist"):
        load_human_labels(tmp_path / "missing.jsonl")


def test_a_bad_label_file_stops_the_run_before_any_work(tmp_path):
    with FaultServer(respond=lenient_judge) as server:
        suite = _suite(tmp_path, server.base_url, [{"case_id": "c1", "system": "replayed", "metric": "judge_grade"}])
        with pytest.raises(HumanLabelsError, match=r"labels.jsonl:1: label: required field is missing"):
            run(suite)
        assert server.calls == 0
    assert not (tmp_path / "store.sqlite").exists()
