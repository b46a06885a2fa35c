"""docs/ci/nightly.yml: its ``run:`` steps, executed in order in a temporary project with a replay suite,
as two workflow runs: one on main (gates pass, the baseline is promoted) and a pull request whose answers
regressed (the gate step fails the job, and the step summary and JUnit XML say why)."""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import yaml

from ..runner.test_run import golden

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "nightly.yml"
N = 150


def _project(tmp_path: Path) -> None:
    golden(tmp_path / "evals", n=N)
    (tmp_path / "requirements-eval.txt").write_text("# ragft-eval, pinned (installed in this test's venv already)\n")
    bot = {"name": "bot", "kind": "replay", "path": "bot.jsonl"}
    gate = {"name": "em-holds", "kind": "no_regression", "metric": "exact_match", "system": "bot"}
    cfg = {"name": "nightly", "golden_sets": ["gs"], "systems": [bot], "metrics": [{"metric": "exact_match"}],
           "gates": [gate], "store": "../reports/ragft-eval.sqlite", "reports_dir": "../reports",
           "cache_dir": "../.ragft_cache"}  # fmt: skip
    (tmp_path / "evals" / "nightly.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))


def _answers(tmp_path: Path, wrong: set[int]) -> None:
    lines = [{"case_id": f"c{i:02d}", "answer": "no idea" if i in wrong else str(i * 7)} for i in range(N)]
    (tmp_path / "evals" / "bot.jsonl").write_text("\n".join(json.dumps(x) for x in lines) + "\n")


def _steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return workflow["jobs"]["evaluate"]["steps"], workflow["env"]


def _run_workflow(tmp_path: Path, ref: str) -> list[tuple[str, int]]:
    """Runs the job's ``run:`` steps as GitHub would (bash -e, the workflow's env, stop at a failing step
    unless a step says ``if: always()``); returns (step name, exit code) of what ran."""
    steps, env = _steps()
    summary = tmp_path / f"summary-{ref.replace('/', '_')}.md"
    base_env = {**os.environ, "GITHUB_REF": ref, "GITHUB_STEP_SUMMARY": str(summary),
                "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # fmt: skip
    for key, value in env.items():
        base_env[key] = re.sub(r"\$\{\{.*?\}\}", "", str(value))  # secrets: none in a test
    ran, failed = [], False
    for step in steps:
        cond = step.get("if", "")
        if "run" not in step:
            continue  # actions (checkout, cache, upload) are GitHub's; the test runs the shell steps
        if cond == "github.ref == 'refs/heads/main'" and ref != "refs/heads/main":
            continue
        if failed and cond != "always()":
            continue
        proc = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=tmp_path, env=base_env, capture_output=True,
                              text=True, timeout=300)  # fmt: skip
        ran.append((step["name"], proc.returncode, proc.stdout + proc.stderr))
        failed = failed or proc.returncode != 0
    return ran


def test_the_example_workflow_gates_a_regressed_pull_request(tmp_path):
    _project(tmp_path)
    answerable = [i for i in range(N) if i % 3]
    rng = random.Random(0)
    wrong = set(rng.sample(answerable, 10))
    _answers(tmp_path, wrong)
    main_run = _run_workflow(tmp_path, "refs/heads/main")
    assert [(name, code) for name, code, _ in main_run] == [
        ("Install", 0), ("Evaluate and gate against the main baseline", 0), ("Promote the baseline on main", 0)]
    assert "baseline main: run" in main_run[-1][2]

    _answers(tmp_path, wrong | set(rng.sample(sorted(set(answerable) - wrong), 20)))  # the PR breaks 20 answers
    pr_run = _run_workflow(tmp_path, "refs/pull/7/merge")
    assert [(name, code) for name, code, _ in pr_run] == [
        ("Install", 0), ("Evaluate and gate against the main baseline", 6)]  # GATE_FAILED; no promotion
    summary = (tmp_path / "summary-refs_pull_7_merge.md").read_text()
    assert "❌" in summary and "em-holds[bot-(all)]" in summary and "regressed (pass -> fail)" in summary
    assert "<failure" in (tmp_path / "reports" / "gates.xml").read_text()
