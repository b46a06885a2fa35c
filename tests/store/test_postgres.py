"""What only a shared PostgreSQL store has to show: the password never in a URL, runners migrating, writing
and resuming at once from separate processes, and a history copied in from SQLite that reports the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ragft_eval.errors import ConfigError
from ragft_eval.stats import build_summary
from ragft_eval.store import PostgresStore, open_store

WORKER = Path(__file__).with_name("_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def start_together(commands: list[list[str]], barrier: Path) -> tuple[list[dict], float]:
    """Run workers that each wait at ``barrier``; open it once all are ready; their last JSON lines and the
    wall time from the opening of the barrier to the last one's exit."""
    procs = [subprocess.Popen([sys.executable, str(WORKER), *c], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in commands]  # fmt: skip
    try:
        for p in procs:
            line = p.stdout.readline()
            assert json.loads(line or "{}").get("ready"), p.stderr.read()
        t0 = time.perf_counter()
        barrier.touch()
        outs = [p.communicate(timeout=120) for p in procs]
        wall = time.perf_counter() - t0
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, (_, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
    return [json.loads(out.strip().splitlines()[-1]) for out, _ in outs], wall


def test_the_url_never_holds_a_password(pg_url, monkeypatch):
    user_host = pg_url.removeprefix("postgresql://")
    with pytest.raises(ConfigError, match=r"has a password in it.*PGPASSWORD or a ~/.pgpass line"):
        open_store(f"postgresql://{user_host.replace('@', ':secret@', 1)}")
    with pytest.raises(ConfigError, match="has a password in it"):
        open_store(f"{pg_url}&password=secret")
    with open_store(pg_url) as db:  # the session's password came from a .pgpass file
        assert isinstance(db, PostgresStore) and db.url == pg_url
    if os.environ.get("RAGFT_TEST_PG_URL"):
        return
    # ... and from PGPASSWORD where there is no .pgpass; a wrong one is named as a connection failure
    password = Path(os.environ["PGPASSFILE"]).read_text().strip().rsplit(":", 1)[1]
    monkeypatch.setenv("PGPASSFILE", "/nonexistent")
    monkeypatch.setenv("PGPASSWORD", password)
    with open_store(pg_url) as db:
        assert db.schema_version == 1
    monkeypatch.setenv("PGPASSWORD", "wrong")
    with pytest.raises(ConfigError, match=r"cannot connect: .*password authentication failed") as info:
        open_store(pg_url)
    assert "wrong" not in str(info.value)


def test_two_runners_migrating_a_new_database_at_once_do_not_collide(pg_url, tmp_path):
    outs, _ = start_together([["migrate", pg_url, str(tmp_path / "go")]] * 3, tmp_path / "go")
    assert outs == [{"version": 1}] * 3


def test_two_processes_resuming_one_run_at_once_one_wins(pg_url, tmp_path):
    outs, _ = start_together([["lease", pg_url, str(tmp_path / "go"), "r", "2"]] * 2, tmp_path / "go")
    assert sorted(o["won"] for o in outs) == [False, True]
    loser = next(o for o in outs if not o["won"])
    assert "run 'r' is being worked on by" in loser["error"] and "lease for" in loser["error"]


def test_two_runs_written_at_once_lose_no_row_and_report_as_on_their_own(pg_url, tmp_path):
    """Two processes write 2,000 case results each into one PostgreSQL store at once: every row is there,
    and each run's summary equals that of the same run written to its own SQLite file."""
    n, go = 2000, tmp_path / "go"
    runs = {"run-a": 1, "run-b": 2}
    commands = [["write", pg_url, str(go), run_id, str(n), str(seed), str(tmp_path / f"{run_id}.sqlite")]
                for run_id, seed in runs.items()]  # fmt: skip
    outs, wall = start_together(commands, go)
    with open_store(pg_url) as db:
        for run_id in runs:
            rows = list(db.export_rows("case_results", run_id))
            assert len(rows) == n and {r[0] for r in rows} == {run_id}
            assert len(list(db.export_rows("metric_results", run_id))) == 3 * n
            with open_store(tmp_path / f"{run_id}.sqlite") as alone:
                assert build_summary(db, run_id) == build_summary(alone, run_id)
    slowest = max(o["seconds"] for o in outs)  # each writer's own clock, from the barrier to its last write
    print(f"\ntwo writers at once, {n} case results each: {2 * n / slowest:.0f} results/s together, "
          + ", ".join(f"{o['run_id']} {o['seconds']:.2f} s" for o in outs) + f" (wall with exits {wall:.2f} s)")


def test_a_whole_run_into_postgresql_reports_what_it_reports_in_sqlite(pg_url, tmp_path):
    """The example suite (replayed systems, no model) run end to end into each store: the same table."""
    import yaml

    from ragft_eval.evaluate import run

    cfg = yaml.safe_load((ROOT / "evals" / "example.yaml").read_text())
    cfg |= {"golden_sets": [str(ROOT / "golden_sets" / "example")], "cache_dir": str(tmp_path / "cache")}
    for s in cfg["systems"]:
        s["path"] = str(ROOT / "evals" / s["path"])
    suite = tmp_path / "example.yaml"
    suite.write_text(yaml.safe_dump(cfg, sort_keys=False))
    tables = []
    for store in (pg_url, f"sqlite:///{tmp_path / 's.sqlite'}"):
        result = run(suite, store=store, reports_dir=tmp_path / "reports", progress=False)
        tables.append((result.report_dir / "table.csv").read_text())
        with open_store(store) as db:
            assert db.run_status(result.run_id) == "finished" and len(db.runs()) == 1
    assert tables[0] == tables[1]
