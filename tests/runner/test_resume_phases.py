"""SIGKILL during the pairwise (deferred) pass, then ``--resume``: the aggregates equal an uninterrupted
run's, and the judge endpoint (a loopback stand-in for a hosted judge) saw at most the uninterrupted
run's requests plus the ones in flight at the kill."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ragft_eval import run

from ..judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
PAIR = '{"winner": "A", "reason": "the first"}'


def slow_judge(body: dict) -> str:
    time.sleep(0.12)  # slow enough that the kill lands mid-pass
    return PAIR


def _suite(tmp: Path, base_url: str) -> Path:
    cfg = {
        "name": "pairwise",
        "golden_sets": [str(ROOT / "golden_sets" / "example")],
        "models": {"j": {"model": "judge-x", "base_url": base_url, "timeout_s": 10}},
        "systems": [
            {"name": "baseline", "kind": "replay", "path": str(ROOT / "evals" / "replays" / "baseline.jsonl")},
            {"name": "candidate", "kind": "replay", "path": str(ROOT / "evals" / "replays" / "candidate.jsonl")},
        ],
        "judge": {"model": "j", "structured": "json_schema"},
        "metrics": [{"metric": "exact_match"}, {"metric": "judge_pairwise", "baseline": "baseline"}],
        "concurrency": 1,
        "store": str(tmp / "store.sqlite"),
        "reports_dir": str(tmp / "reports"),
        "cache_dir": str(tmp / "cache"),
    }
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _pairwise_scored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        db = sqlite3.connect(store, timeout=1)
        return db.execute("SELECT COUNT(*) FROM metric_results WHERE metric LIKE 'judge_pairwise%' "
                          "AND status = 'scored'").fetchone()[0]  # fmt: skip
    except sqlite3.OperationalError:
        return 0


def _cells(result):
    return [(c.system, c.task_type, c.metric, c.n_scored, c.n_unscored, c.n_error, c.mean) for c in result.cells
            if c.metric != "latency"]  # fmt: skip


def test_sigkill_during_the_pairwise_pass_then_resume(tmp_path):
    with FaultServer(respond=slow_judge, models=["judge-x"]) as server:
        (tmp_path / "killed").mkdir()
        path = _suite(tmp_path / "killed", server.base_url)
        proc = subprocess.Popen([sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress"], cwd=ROOT,
                                env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)  # fmt: skip
        store = tmp_path / "killed" / "store.sqlite"
        deadline = time.time() + 60
        while _pairwise_scored(store) < 2 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        before = _pairwise_scored(store)
        killed_calls = server.calls
        assert 2 <= before < 11, f"the kill must land inside the pairwise pass ({before} scored)"
        run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
        resumed = run(path, resume=run_id)
        resumed_calls = server.calls - killed_calls

    with FaultServer(respond=slow_judge, models=["judge-x"]) as fresh_server:
        (tmp_path / "fresh").mkdir()
        fresh = run(_suite(tmp_path / "fresh", fresh_server.base_url))
        fresh_calls = fresh_server.calls

    assert _cells(resumed) == _cells(fresh)
    # the killed run's finished pairs were not judged again: at most the ones in flight at the kill (one
    # case's two orders at concurrency 1) were asked twice
    assert killed_calls + resumed_calls <= fresh_calls + 2
