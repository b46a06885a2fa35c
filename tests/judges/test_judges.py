"""Judges: recorded raw outputs through the tolerant parser, and a judge endpoint that starts failing
mid-run (a fault-injecting loopback server standing in for a remote API): every failure is an
unscored case or a judge error with its reason, counted in the table, never a default score."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.errors import SuiteConfigError
from ragft_eval.judges import JudgeSpec, Verdict, parse_output, swap_verdicts
from ragft_eval.judges.calibration import agreement, bootstrap_ci, kappa

from .fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
RECORDED = [json.loads(line) for line in (ROOT / "tests" / "fixtures" / "judge_outputs.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("rec", RECORDED, ids=[r["note"] for r in RECORDED])
def test_recorded_outputs_parse_to_the_right_status(rec):
    parsed = parse_output(rec["raw"], kind=rec["kind"], scale=(1, 5), finish_reason=rec["finish_reason"])
    assert parsed.status == rec["status"]
    assert parsed.score == rec["score"]
    assert parsed.label == rec["label"]
    if parsed.status != "ok":
        assert parsed.problem  # every failure says what went wrong


def test_a_verdict_that_failed_has_no_score_and_keeps_its_problem():
    with pytest.raises(ValueError, match="needs a problem description"):
        Verdict(status="unparseable")
    with pytest.raises(ValueError, match="normalised to"):
        Verdict(status="ok", score=4.0)


def test_repeats_at_temperature_zero_are_refused():
    with pytest.raises(ValueError, match="repeats at temperature 0 measure nothing"):
        JudgeSpec(model="j", repeats=3, temperature=0.0)
    assert JudgeSpec(model="j", repeats=3, temperature=0.7).repeats == 3


def _v(label):
    return Verdict(status="ok", label=label)


def test_position_swap_counts_a_win_only_when_both_orders_agree():
    assert swap_verdicts(_v("a"), _v("b")) == ("win", True)
    assert swap_verdicts(_v("b"), _v("a")) == ("loss", True)
    assert swap_verdicts(_v("a"), _v("a")) == ("tie", False)  # position bias: always picks the first
    assert swap_verdicts(_v("tie"), _v("tie")) == ("tie", True)
    assert swap_verdicts(_v("a"), Verdict(status="unparseable", problem="x")) == (None, False)


def test_kappa_matches_a_hand_computed_value_and_is_none_when_undefined():
    human = ["a", "a", "b", "b", "a", "b", "a", "b"]
    judge = ["a", "b", "b", "b", "a", "a", "a", "b"]
    # po = 6/8; pe = 0.5*0.5 + 0.5*0.5 = 0.5 -> kappa = (0.75 - 0.5) / 0.5
    assert kappa(human, judge) == pytest.approx(0.5)
    assert agreement(human, judge) == 0.75
    assert kappa(["a", "a"], ["a", "a"]) is None
    low, high = bootstrap_ci(human, judge, kappa, seed=1)
    assert -1 <= low <= 0.5 <= high <= 1
    assert bootstrap_ci(human, judge, kappa, seed=1) == (low, high)


GOOD = '{"reason": "matches", "score": 5, "verdict": "pass"}'


def _suite(tmp_path: Path, base_url: str, metrics: list[dict], judge: dict | None = None) -> Path:
    cfg = {
        "name": "judged",
        "golden_sets": [str(ROOT / "golden_sets" / "example")],
        "models": {"remote-judge": {"model": "judge-x", "base_url": base_url, "timeout_s": 5,
                                  "retry": {"max_attempts": 2, "backoff_s": 0.01, "max_backoff_s": 0.02}}},
        "systems": [
            {"name": "baseline", "kind": "replay", "path": str(ROOT / "evals" / "replays" / "baseline.jsonl")},
            {"name": "candidate", "kind": "replay", "path": str(ROOT / "evals" / "replays" / "candidate.jsonl")},
        ],
        "metrics": metrics,
        "judge": judge or {"model": "remote-judge", "structured": "json_schema"},
        "concurrency": 1,
        "store": str(tmp_path / "s.sqlite"),
        "reports_dir": str(tmp_path / "r"),
        "cache_dir": str(tmp_path / "c"),
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_judge_endpoint_failing_mid_run_gives_judge_errors_not_system_errors(tmp_path):
    replies = [GOOD, "I cannot answer that.", '{"score": 9}', '{"reason": "cut off<<truncated>>']
    with FaultServer(replies, fail_after=8) as server:
        result = run(_suite(tmp_path, server.base_url, [{"metric": "judge_grade"}, {"metric": "exact_match"}]))
    grades = [m for cr in result.results for m in cr.results if m.metric == "judge_grade"]
    by_status = {s: [m for m in grades if m.status == s] for s in ("scored", "unscored", "error")}
    judge_errors = [m for m in by_status["error"] if m.details.get("stage") == "judge"]
    assert judge_errors, "calls after the 8th fail: those are judge errors"
    assert all(m.reason.startswith("judge error: judge endpoint failed") for m in judge_errors)
    unusable = [m for m in by_status["unscored"] if m.reason.startswith("no usable judge verdict")]
    statuses = {re.match(r"no usable judge verdict \((\w+)\)", m.reason).group(1) for m in unusable}
    assert statuses >= {"refused", "out_of_scale", "truncated"}
    assert all(m.details["verdicts"][0]["raw"] for m in unusable), "raw judge text is kept"
    assert all(m.value in (1.0,) for m in by_status["scored"])
    cells = {(c.system, c.task_type, c.metric): c for c in result.cells}
    cand = cells[("candidate", "(all)", "judge_grade")]
    # judge errors are counted apart and do not count against the system
    assert cand.n_scorer_error + cells[("baseline", "(all)", "judge_grade")].n_scorer_error == len(judge_errors)
    assert cand.n_error == 0
    md = (result.report_dir / "table.md").read_text()
    assert "scorer_err=" in md


def test_dropped_connections_are_judge_errors_too(tmp_path):
    with FaultServer([GOOD], fail_after=0, mode="drop") as server:
        result = run(_suite(tmp_path, server.base_url, [{"metric": "judge_grade"}]), limit=2)
    grades = [m for cr in result.results for m in cr.results if m.metric == "judge_grade" and m.status != "unscored"]
    assert grades and all(m.status == "error" and m.details["stage"] == "judge" for m in grades)


def test_pairwise_is_scored_against_the_baseline_in_both_orders(tmp_path):
    # the fake judge always says "A": position-biased, so every comparison is a tie (0.5), inconsistent
    with FaultServer(['{"winner": "A", "reason": "first"}'], fail_after=10_000) as server:
        path = _suite(tmp_path, server.base_url, [{"metric": "judge_pairwise", "baseline": "baseline"}])
        result = run(path)
        calls = server.calls
    name = "judge_pairwise_vs_baseline"
    pw = {(cr.system, cr.case_id): next(m for m in cr.results if m.metric == name) for cr in result.results}
    failed = {(cr.system, cr.case_id) for cr in result.results if cr.response.failed}
    assert ("baseline", "ex-mh-02") in failed, "the example baseline replay fails on one case"
    scored = [m for (system, _), m in pw.items() if system == "candidate" and m.status == "scored"]
    assert scored and all(m.value == 0.5 and m.details["position_consistent"] == [False] for m in scored)
    # every result of the baseline system, its failed case included, is "this system is the baseline":
    # never an error (which would count as a 0 in the baseline's own column)
    baseline = [m for (system, _), m in pw.items() if system == "baseline"]
    assert len(baseline) == 12
    assert all(m.status == "unscored" and m.reason == "this system is the baseline" for m in baseline)
    # the candidate's case whose baseline failed is unscored, named
    assert pw[("candidate", "ex-mh-02")].status == "unscored"
    assert pw[("candidate", "ex-mh-02")].reason == "the baseline 'baseline' failed on this case"
    assert calls == 2 * len(scored)


def test_a_where_limited_pairwise_judge_never_counts_unselected_cases(tmp_path):
    """Cases a ``where:`` does not select are unscored for every system, failed ones included (they were
    counted as failures when the deferred pass checked the failure first)."""
    metric = {"metric": "judge_pairwise", "baseline": "candidate", "where": {"task_types": ["factual_static"]}}
    with FaultServer(['{"winner": "A", "reason": "first"}'], fail_after=10_000) as server:
        result = run(_suite(tmp_path, server.base_url, [metric]))
    pw = {(cr.system, cr.case_id): next(m for m in cr.results if m.metric == "judge_pairwise_vs_candidate")
          for cr in result.results}  # fmt: skip
    assert pw[("baseline", "ex-mh-02")].status == "unscored"  # a failed, unselected case
    assert pw[("baseline", "ex-mh-02")].reason.startswith("not selected for this metric (where: task_types=")
    assert {m.status for (s, _), m in pw.items() if s == "baseline"} == {"scored", "unscored"}
    cells = {c.system: c for c in result.cells if c.metric == "judge_pairwise_vs_candidate" and c.task_type == "(all)"}
    assert cells["baseline"].n_error == 0 and cells["baseline"].n_scored == 2
    assert cells["candidate"].n_scored == 0 and cells["candidate"].mean is None  # the baseline's own column


def test_judge_config_errors_name_the_key(tmp_path):
    with pytest.raises(SuiteConfigError, match=r"judge: repeats: 3 repeats at temperature 0 measure nothing"):
        run(_suite(tmp_path, "http://127.0.0.1:9/v1", [{"metric": "judge_grade"}],
                   judge={"model": "remote-judge", "repeats": 3}))
    with pytest.raises(SuiteConfigError, match=r"judge.model: unknown model 'nope'"):
        run(_suite(tmp_path, "http://127.0.0.1:9/v1", [{"metric": "judge_grade"}], judge={"model": "nope"}))
    with pytest.raises(SuiteConfigError, match=r"metrics.0.baseline: unknown system 'ghost'"):
        run(_suite(tmp_path, "http://127.0.0.1:9/v1", [{"metric": "judge_pairwise", "baseline": "ghost"}]))


def test_reports_show_the_judges_calibration_and_flag_an_unreliable_judge(tmp_path):
    from ragft_eval.judges import JudgeClient
    from ragft_eval.judges.calibration import judge_identity
    from ragft_eval.llm import ModelClient
    from ragft_eval.runner import load_suite
    from ragft_eval.store import SQLiteStore

    with FaultServer([GOOD], fail_after=10_000) as server:
        path = _suite(tmp_path, server.base_url, [{"metric": "judge_grade"}, {"metric": "exact_match"}])
        first = run(path, limit=2)
        assert "judge: model remote-judge has no stored calibration" in (first.report_dir / "table.md").read_text()
        suite = load_suite(path)
        judge = JudgeClient(ModelClient("remote-judge", suite.models["remote-judge"], base_dir=tmp_path),
                            JudgeSpec.model_validate(suite.judge))
        record = {"set": "mtbench-human", "judge_model": "judge-x", "judge_identity": judge_identity(judge),
                  "agreement": 0.52, "agreement_ci": [0.45, 0.59], "kappa": 0.03, "kappa_ci": [-0.05, 0.11],
                  "n_usable": 190, "n_items": 200, "seed": 0, "reliable": False}
        with SQLiteStore(tmp_path / "s.sqlite") as db:
            db.put_artifact("k1", "calibration", record)
        second = run(path, limit=2)
    md = (second.report_dir / "table.md").read_text()
    assert "judge: model judge-x, agreement 52% ±7% on mtbench-human, kappa 0.03, n 190 (seed 0) — UNRELIABLE" in md
    assert "| judge_grade ⚠ unreliable judge |" in md
    assert "| exact_match |" in md
    assert set(second.flagged_metrics) == {"judge_grade"}
