"""The run history (``ragft-eval runs``) and retention (``ragft-eval store prune``, ``Store.delete_run``)."""

from __future__ import annotations

import json
import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.gates.baselines import list_baselines, promote
from ragft_eval.stats.history import REPORT_KIND, parse_when, retention_plan, run_history
from ragft_eval.store import open_store

from ..runner.test_run import golden

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "main_v1_store"


def _replay(path: Path, n: int, wrong: int = 0) -> Path:
    lines = [{"case_id": f"c{i:02d}", "answer": str(i * 7) if i >= wrong else "no", "latency_s": 0.1,
              "cost_usd": 0.0001} for i in range(n)]  # fmt: skip
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    return path


def _suite(tmp_path: Path, name: str = "hist", n: int = 12) -> Path:
    if not (tmp_path / "gs").exists():
        golden(tmp_path, n=n)
    cfg = {"name": name, "golden_sets": ["gs"],
           "systems": [{"name": "bot", "kind": "replay", "path": str(_replay(tmp_path / "bot.jsonl", n))}],
           "metrics": [{"metric": "exact_match"}, {"metric": "latency"}], "max_error_rate": 0.5,
           "store": "store.sqlite", "reports_dir": "reports"}  # fmt: skip
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _weekly(tmp_path: Path, weeks: int, *, start: datetime, name: str = "hist") -> list[str]:
    suite = _suite(tmp_path, name)
    ids = []
    for w in range(weeks):
        when = start + timedelta(weeks=w)
        ids.append(run(suite, now=lambda when=when: when).run_id)
    return ids


@pytest.mark.parametrize("name", ["demo", "example", "judged"])
def test_a_store_written_before_the_redesign_is_read_into_the_history_without_loss(tmp_path, name):
    src = FIXTURES / f"{name}.sqlite"
    copy = tmp_path / src.name
    shutil.copy(src, copy)  # opening migrates in place: never touch the fixture
    raw = sqlite3.connect(src)
    runs = raw.execute("SELECT run_id, suite_name, status FROM runs").fetchall()
    counts = dict(raw.execute("SELECT run_id, count(*) FROM case_results GROUP BY run_id").fetchall())
    failed = dict(raw.execute("SELECT run_id, sum(failed) FROM case_results GROUP BY run_id").fetchall())
    raw.close()
    with open_store(copy) as db:
        rows = run_history(db)
        manifests = {r.run_id: db.manifest(r.run_id) for r in rows}
    assert [(r.run_id, r.suite, r.status) for r in rows] == runs
    for r in rows:
        m = manifests[r.run_id]
        assert r.responses == counts[r.run_id] and r.failed == failed[r.run_id]
        assert r.error_rate == failed[r.run_id] / counts[r.run_id]
        assert r.systems == tuple(m.systems) and r.created_at == m.created_at
        assert {(g.name, g.content_hash) for g in r.golden_sets} == set(m.golden_sets.items())
        assert r.cases * len(r.systems) == r.responses  # every system answered every case
        assert r.gates_passed is None  # c00306c stored no gate results
        assert r.schema_version == 1


def test_runs_lists_each_run_with_its_gates_and_baseline_as_table_and_json(tmp_path, capsys):
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    ids = _weekly(tmp_path, 3, start=start)
    store = str(tmp_path / "store.sqlite")
    with open_store(store) as db:
        promote(db, ids[0], name="main")
    suite = str(tmp_path / "hist.yaml")
    assert main(["gate", suite, "--run", ids[2], "--baseline", "main", "--store", store, "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["runs", "--store", store, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in rows] == ids
    assert [r["created_at"][:10] for r in rows] == ["2026-01-05", "2026-01-12", "2026-01-19"]
    for r in rows:
        assert r["suite"] == "hist" and r["systems"] == ["bot"] and r["cases"] == 12 and r["error_rate"] == 0.0
        assert r["golden_sets"][0]["name"] == "toy" and r["golden_sets"][0]["version"] == "1"
        assert r["golden_sets"][0]["content_hash"].startswith("sha256:")
        assert r["gates_passed"] == 1 and r["gates_failed"] == 0  # the suite's max_error_rate gate
    assert rows[2]["baseline"] == "main" and rows[2]["baseline_run_id"] == ids[0]
    assert rows[0]["baseline"] is None
    # --since / --until / --suite narrow it; the table names every run
    assert main(["runs", "--store", store, "--since", "2026-01-12", "--until", "2026-01-12", "--json"]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [ids[1]]
    assert main(["runs", "--store", store, "--suite", "other", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["runs", "--store", store]) == 0
    out = capsys.readouterr().out
    assert all(i in out for i in ids) and "toy 1 sha256:" in out and "1 passed, 0 failed" in out and "main" in out
    assert main(["runs", "--store", store, "--since", "last tuesday"]) == 2  # named and refused


def test_parse_when_takes_dates_and_datetimes():
    assert parse_when("2026-03-31") == datetime(2026, 3, 31, tzinfo=UTC)
    assert parse_when("2026-03-31", end=True) == datetime(2026, 4, 1, tzinfo=UTC) - timedelta(microseconds=1)
    assert parse_when("2026-03-31T10:00:00+02:00") == datetime(2026, 3, 31, 8, tzinfo=UTC)


def test_prune_keeps_recent_runs_baselines_and_reported_runs_and_deletes_the_rest(tmp_path, capsys):
    now = datetime.now(UTC).replace(microsecond=0)
    ids = _weekly(tmp_path, 8, start=now - timedelta(weeks=8))  # weekly, 8 .. 1 weeks old
    store = str(tmp_path / "store.sqlite")
    with open_store(store) as db:
        promote(db, ids[0], name="main")
        promote(db, ids[1], name="main")  # moved: ids[0] was a baseline, ids[1] is
        db.put_artifact("report:q1", REPORT_KIND, {"runs": [ids[2]], "path": "q1.html"})
        db.put_artifact("cal:x", "calibration", {"set": "s", "run_id": ids[3]})  # not run-scoped: stays
    capsys.readouterr()

    # a dry run lists and deletes nothing
    assert main(["store", "prune", "--keep-days", "20", "--dry-run", "--store", store]) == 0
    out = capsys.readouterr().out
    assert f"keep {ids[1]}: baseline main" in out and f"keep {ids[2]}: named by a stored report" in out
    assert {line.split()[-1] for line in out.splitlines() if line.startswith("would delete 2")} == \
        {ids[0], ids[3], ids[4], ids[5]}  # fmt: skip
    with open_store(store) as db:
        assert len(db.runs()) == 8

    # --keep-baselines also keeps a run that once was the baseline; --keep-every 2 the newest of each 2 weeks
    with open_store(store) as db:
        plan = retention_plan(db, keep_days=20, baselines=list_baselines(db), keep_baselines=True,
                              keep_every_weeks=2, now=now)  # fmt: skip
    assert ids[0] in plan.kept and plan.kept[ids[0]] == "was baseline main"
    # 2-week blocks by age: ids 0 | 1, 2 | 3, 4 | 5; the newest of a block is kept
    assert plan.delete == (ids[3],)
    assert plan.kept[ids[4]] == plan.kept[ids[5]] == "newest of its 2-week block"

    assert main(["store", "prune", "--keep-days", "20", "--store", store]) == 0
    with open_store(store) as db:
        left = [r["run_id"] for r in db.runs()]
        assert left == [ids[1], ids[2], ids[6], ids[7]]
        for gone in (ids[0], ids[3]):
            assert db.manifest(gone) is None and list(db.results(gone)) == []
            assert not [a for a in db.artifacts("gates") + db.artifacts("endpoints") + db.artifacts("one_time")
                        if a.get("run_id") == gone]  # fmt: skip
        assert [b["run_id"] for b in list_baselines(db)] == [ids[1]]  # the baseline record stays
        assert len(db.artifacts("calibration")) == 1 and len(db.artifacts(REPORT_KIND)) == 1
        assert len(list(db.results(ids[1]))) == 12
    raw = sqlite3.connect(tmp_path / "store.sqlite")
    runs_left = {r for (r,) in raw.execute("SELECT DISTINCT run_id FROM metric_results")}
    assert runs_left == set(left)
    assert main(["store", "prune", "--keep-days", "-1", "--store", store]) == 2
