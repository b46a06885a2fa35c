"""SIGKILL at three random points of a run against a loopback stand-in for a hosted endpoint, resuming
after each: the aggregates equal an uninterrupted run's, and the endpoint saw at most the uninterrupted
run's requests plus the ones in flight at each kill."""

from __future__ import annotations

import os
import random
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
CONCURRENCY = 2


def slow(body: dict) -> str:
    time.sleep(0.05)
    return "10 minutes"


def _suite(tmp: Path, base_url: str) -> Path:
    remote = {"base_url": base_url, "api_key_env": "LOOPBACK_KEY", "max_tokens": 16}
    cfg = {"name": "killed", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"m": {"model": "gpt-4o-mini", **remote}},
           "retrievers": {"bm25": {"kind": "bm25"}},
           "systems": [{"name": "a", "kind": "prompt_only", "model": "m"},
                       {"name": "b", "kind": "rag", "model": "m", "retriever": "bm25"},
                       {"name": "c", "kind": "prompt_only", "model": "m", "max_tokens": 8}],
           "metrics": [{"metric": "exact_match"}, {"metric": "token_recall"}, {"metric": "recall", "k": 3}],
           "concurrency": CONCURRENCY, "cache": "off", "store": str(tmp / "store.sqlite"),
           "reports_dir": str(tmp / "reports"), "cache_dir": str(tmp / "cache")}  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _done(store: Path) -> int:
    try:
        return sqlite3.connect(store, timeout=1).execute("SELECT COUNT(*) FROM case_results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def _cells(result):
    return [(c.system, c.task_type, c.metric, c.n_scored, c.n_unscored, c.n_error, c.mean) for c in result.cells
            if c.metric not in ("latency",)]  # fmt: skip


def test_sigkill_at_three_random_points_then_resume(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-loopback")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    points = sorted(random.Random(7).sample(range(3, 33), 3))  # after how many stored cases each kill lands
    with FaultServer(respond=slow, models=["gpt-4o-mini"]) as server:
        path = _suite(tmp_path / "killed", server.base_url)
        store = tmp_path / "killed" / "store.sqlite"
        run_id = None
        for point in points:
            args = [sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress"]
            if run_id:
                args += ["--resume", run_id]
            proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            while _done(store) < point and time.time() < deadline and proc.poll() is None:
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
        before_last = _done(store)
        assert before_last < 36, "the last kill landed before the run finished"
        resumed = run(path, resume=run_id)
        killed_total = server.calls
    with FaultServer(respond=slow, models=["gpt-4o-mini"]) as fresh_server:
        fresh = run(_suite(tmp_path / "fresh", fresh_server.base_url))
        fresh_total = fresh_server.calls
    assert len(resumed.results) == len(fresh.results) == 36
    assert _cells(resumed) == _cells(fresh)
    # each kill can waste at most the requests in flight then: one per system's concurrency slot
    assert fresh_total <= killed_total <= fresh_total + len(points) * 3 * CONCURRENCY
    print(f"\nkills after {points} stored cases: the endpoint saw {killed_total} requests; uninterrupted {fresh_total}")
