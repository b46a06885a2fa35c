"""Regression gates: fail on real regressions and not on noise; errors never leave a pass rate."""

from __future__ import annotations

import json
import random
import sqlite3
from pathlib import Path

import numpy as np
import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.errors import SuiteConfigError
from ragft_eval.exit_codes import ExitCode
from ragft_eval.gates import evaluate_gates, parse_gates
from ragft_eval.records import CaseResult, MetricResult, Response, RunManifest
from ragft_eval.stats import RunSummary

from ..runner.test_run import golden

ROOT = Path(__file__).resolve().parents[2]
DEMO_STORE = ROOT / "tests" / "fixtures" / "main_v1_store" / "demo.sqlite"


def _replay(path: Path, correct: set[int], n: int, *, errors: set[int] = frozenset()) -> Path:
    lines = []
    for i in range(n):
        cid = f"c{i:02d}"
        if i in errors:
            lines.append({"case_id": cid, "error": {"type": "RateLimitError", "message": "429 Too Many Requests"}})
            continue
        answer = str(i * 7) if i in correct else "I think it is 3"
        lines.append({"case_id": cid, "answer": answer, "latency_s": 0.1, "cost_usd": 0.0001})
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def _suite(tmp_path: Path, replay: Path, *, gates: list[dict] | None = None, n: int = 200) -> Path:
    if not (tmp_path / "gs").exists():
        golden(tmp_path, n=n)
    cfg = {"name": "gated", "golden_sets": ["gs"],
           "systems": [{"name": "bot", "kind": "replay", "path": str(replay)}],
           "metrics": [{"metric": "exact_match"}, {"metric": "latency"}, {"metric": "cost"}],
           "store": "store.sqlite", "reports_dir": "reports"}  # fmt: skip
    if gates:
        cfg["gates"] = gates
    path = tmp_path / f"{replay.stem}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


NO_REGRESSION = {"name": "em-holds", "kind": "no_regression", "metric": "exact_match", "system": "bot",
                 "tolerance": 0.0, "alpha": 0.05}  # fmt: skip


def _answerable(n: int) -> list[int]:
    return [i for i in range(n) if i % 3]  # the toy golden set: every third case is unanswerable


def test_a_seeded_regression_fails_and_names_the_regressed_cases(tmp_path, capsys):
    n = 300
    ans = _answerable(n)
    rng = random.Random(0)
    good = set(rng.sample(ans, int(0.8 * len(ans))))
    degraded = set(rng.sample(sorted(good), int(0.15 * len(ans))))  # 15% of the answers turn wrong
    base = run(_suite(tmp_path, _replay(tmp_path / "base.jsonl", good, n), gates=[NO_REGRESSION], n=n))
    store = str(tmp_path / "store.sqlite")
    assert main(["baseline", "promote", base.run_id, "--name", "main", "--store", store]) == 0
    cand_suite = _suite(tmp_path, _replay(tmp_path / "cand.jsonl", good - degraded, n), gates=[NO_REGRESSION])
    junit, summary = tmp_path / "gates.xml", tmp_path / "summary.md"
    code = main(["gate", str(cand_suite), "--baseline", "main", "--junit", str(junit), "--summary", str(summary),
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == ExitCode.GATE_FAILED
    assert "FAIL  em-holds[bot-(all)]" in out and "worse than baseline" in out
    md = summary.read_text()
    assert "❌" in md and "regressed (pass -> fail)" in md
    listed = md.split("regressed (pass -> fail): ")[1].split("\n")[0].split(" (+")[0]
    named = {c.split("/")[1] for c in listed.split(", ")}
    assert named <= {f"c{i:02d}" for i in degraded} and len(named) == 10
    xml = junit.read_text()
    assert '<failure message="bot on exact_match' in xml and 'name="em-holds[bot-(all)]"' in xml
    # the gate results are stored with the run
    db = sqlite3.connect(tmp_path / "store.sqlite")
    records = [json.loads(r) for (r,) in db.execute("SELECT record FROM artifacts WHERE kind = 'gates'")]
    gated = [r for r in records if r["baseline"] == "main"]
    assert len(gated) == 1 and gated[0]["passed"] is False
    assert {r["run_id"] for r in records} == {base.run_id, gated[0]["run_id"]}  # every run keeps its gates

    # the same answers again pass (no change), exit 0
    same = _suite(tmp_path, _replay(tmp_path / "same.jsonl", good, n), gates=[NO_REGRESSION])
    assert main(["gate", str(same), "--baseline", "main", "--no-progress"]) == ExitCode.OK


def test_rising_errors_fail_the_errors_gate_even_when_the_scored_mean_went_up(tmp_path):
    n = 60
    ans = _answerable(n)
    errors = set(ans[:12])  # rate-limited cases: errors, not dropped
    good = set(ans[12:])  # every answer that came back is right
    gate = {"name": "errors", "kind": "errors", "max_error_rate": 0.05}
    result = run(_suite(tmp_path, _replay(tmp_path / "r.jsonl", good, n, errors=errors), gates=[gate], n=n))
    (g,) = [x for x in result.gates if x.name == "errors"]
    assert not g.passed and "errored on 12 of 60 cases" in g.message
    # the errored cases count as failures in the mean: 28 right of 40 answerable, not 28 of 28
    em = next(c for c in result.cells if c.system == "bot" and c.metric == "exact_match" and c.task_type == "(all)")
    assert em.n_error == 12 and em.mean == pytest.approx(28 / 40)


def test_threshold_relative_and_budget_gates(tmp_path):
    n = 60
    ans = _answerable(n)
    good = set(ans[:30])
    gates = [
        {"name": "em-floor", "kind": "threshold", "metric": "exact_match", "system": "bot", "min": 0.5},
        {"name": "em-floor-ci", "kind": "threshold", "metric": "exact_match", "system": "bot", "min": 0.7, "on": "ci"},
        {"name": "fast", "kind": "budget", "system": "bot", "p95_latency_s": 0.5, "max_cost_per_query_usd": 0.001},
        {"name": "cheap", "kind": "budget", "system": "bot", "max_total_cost_usd": 0.001},
    ]
    result = run(_suite(tmp_path, _replay(tmp_path / "r.jsonl", good, n), gates=gates, n=n))
    by = {g.name: g for g in result.gates}
    assert by["em-floor"].passed and by["em-floor"].observed == pytest.approx(0.75)
    assert not by["em-floor-ci"].passed and "CI low" in by["em-floor-ci"].message
    assert by["fast"].passed
    assert not by["cheap"].passed and "total $0.0060 > $0.001" in by["cheap"].message


def test_gate_config_errors_name_the_gate_and_key(tmp_path):
    with pytest.raises(SuiteConfigError, match=r"gates\.0\.threshold\.min"):
        parse_gates([{"name": "x", "kind": "threshold", "metric": "m", "system": "s", "min": "high"}], source="s.yaml")
    with pytest.raises(SuiteConfigError, match="duplicate gate name"):
        parse_gates([{"name": "x", "kind": "errors", "max_error_rate": 0.1}] * 2, source="s.yaml")


# --- false alarms and power, by simulation on replayed results (no model calls) ---------------------


def _real_pass_probabilities() -> np.ndarray:
    """Per-case pass probabilities from a real run: the demo's stored token recall of its RAG systems."""
    db = sqlite3.connect(DEMO_STORE)
    rows = db.execute("SELECT value FROM metric_results WHERE metric = 'token_recall' AND status = 'scored'")
    return np.array([v for (v,) in rows], dtype=float)


def _summary(values: np.ndarray, run_id: str) -> RunSummary:
    def one(i: int, v: float) -> CaseResult:
        return CaseResult(run_id=run_id, system="bot", case_id=f"c{i:04d}", golden_set="g", task_type="t",
                          response=Response(case_id=f"c{i:04d}", system="bot", answer="x"),
                          results=(MetricResult.scored("pass", float(v)),))  # fmt: skip

    results = tuple(one(i, v) for i, v in enumerate(values))
    manifest = RunManifest(run_id=run_id, created_at="2026-12-01T00:00:00+00:00", suite_name="sim", suite_hash="h",
                           suite_config={}, golden_sets={"g": "h"}, selection={}, systems={}, package_versions={},
                           bootstrap={"resamples": 200, "seed": 0}, python="3.11",
                           case_hashes={"g": {f"c{i:04d}": "same" for i in range(len(values))}})  # fmt: skip
    return RunSummary(manifest=manifest, status="finished", results=results, cells=(),
                      error_rates={"bot": (0, len(values))}, judged_metrics=(), judge_calibrations=(),
                      flagged_metrics=())  # fmt: skip


def _fails(n: int, drop: float, reps: int, seed: int) -> float:
    probs = _real_pass_probabilities()
    gate = parse_gates([{**NO_REGRESSION, "metric": "pass", "alpha": 0.05}], source="sim")
    rng = np.random.default_rng(seed)
    failed = 0
    for r in range(reps):
        p = rng.choice(probs, size=n, replace=True)  # the cases of this golden set
        base = (rng.random(n) < p).astype(float)
        cand = (rng.random(n) < np.clip(p - drop, 0, 1)).astype(float)
        res = evaluate_gates(_summary(cand, f"c{r}"), gate, baseline=_summary(base, f"b{r}"), baseline_name="main")
        failed += not res[0].passed
    return failed / reps


def test_no_regression_gate_false_alarms_at_alpha_and_its_power():
    """Noise model: per-case pass probabilities drawn from a real run's per-case results (the demo's token
    recall), outcomes drawn per run (baseline and candidate independently), seeded."""
    false_alarm = _fails(200, 0.0, 200, seed=1)
    power_200 = _fails(200, 0.10, 100, seed=2)
    power_500 = _fails(500, 0.10, 100, seed=3)
    print(f"\nA/A false alarms (200 runs, 200 cases, alpha 0.05): {false_alarm:.3f}; power to catch a drop of 0.10: "
          f"{power_200:.2f} at 200 cases, {power_500:.2f} at 500 cases")  # fmt: skip
    assert false_alarm <= 0.08
    assert power_500 > power_200 > 0.3  # a gate that never fails cannot pass this


def test_compare_prints_the_difference_and_writes_a_compare_view(tmp_path, capsys):
    n = 90
    ans = _answers_of(n)
    good = set(ans)
    base = run(_suite(tmp_path, _replay(tmp_path / "a.jsonl", good, n), n=n))
    worse = set(sorted(good)[20:])
    # a hostile answer on a regressed case is shown as text
    cand_path = _replay(tmp_path / "b.jsonl", worse, n)
    lines = [json.loads(x) for x in cand_path.read_text().splitlines()]
    lines[1]["answer"] = '<script>window.pwned=1</script>"><img src=x onerror=alert(1)>'
    cand_path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    cand = run(_suite(tmp_path, cand_path))
    page = tmp_path / "cmp.html"
    code = main(["compare", base.run_id, cand.run_id, "--store", str(tmp_path / "store.sqlite"), "--html", str(page)])
    out = capsys.readouterr().out
    assert code == 0 and "* bot" in out and "exact_match" in out and "regressed 20" in out
    assert "changed: " in out and "systems.bot.file_hash" in out.split("changed: ")[1].split("\n")[0]
    html = page.read_text()
    assert "<script>" not in html and "&lt;script&gt;window.pwned=1&lt;/script&gt;" in html
    assert html.count("<tr><td>bot</td><td><code>toy/c") >= 20


def _answers_of(n: int) -> list[int]:
    return _answerable(n)
