"""The Store interface, the same for every backend: each test runs against SQLite and PostgreSQL (the
``store`` fixture in conftest.py), so the two cannot drift apart."""

from __future__ import annotations

import threading
import time

import pytest

from ragft_eval.errors import ConfigError, ResumeError
from ragft_eval.records import CaseResult, MetricResult, Response, RunManifest
from ragft_eval.store import SCHEMA_VERSION, TABLES, Store, open_store


def manifest(run_id: str, created_at: str = "2026-12-01T00:00:00+00:00") -> RunManifest:
    return RunManifest(run_id=run_id, created_at=created_at, suite_name="s", suite_hash="h", suite_config={},
                       golden_sets={"g": "h"}, selection={}, systems={}, package_versions={},
                       bootstrap={"resamples": 50, "seed": 0}, python="3.11")  # fmt: skip


def result(run_id: str, case_id: str, value: float | None = 1.0, system: str = "bot") -> CaseResult:
    scored = MetricResult.scored("pass", value) if value is not None else MetricResult.unscored("pass", "no gold")
    return CaseResult(run_id=run_id, system=system, case_id=case_id, golden_set="g", task_type="t",
                      response=Response(case_id=case_id, system=system, answer="x"),
                      results=(scored, MetricResult.scored("len", 3.0, unit="chars")))  # fmt: skip


def test_a_store_implements_the_interface_at_the_current_schema(store):
    assert isinstance(store, Store)
    assert store.schema_version == SCHEMA_VERSION
    assert "password" not in store.url and ":" in store.url


def test_runs_round_trip_with_their_status(store):
    store.create_run(manifest("r2", "2026-12-02T00:00:00+00:00"))
    store.create_run(manifest("r1"))
    assert store.manifest("r1") == manifest("r1") and store.manifest("nope") is None
    assert store.run_status("r1") == "running" and store.run_status("nope") is None
    store.set_status("r1", "finished")
    runs = store.runs()
    assert [r["run_id"] for r in runs] == ["r1", "r2"]  # by creation time
    assert runs[0]["status"] == "finished" and runs[0]["finished_at"] and runs[1]["finished_at"] is None
    with pytest.raises(Exception):  # noqa: B017 - each backend raises its own integrity error
        store.create_run(manifest("r1"))


def test_a_rewrite_replaces_a_case_and_results_come_in_byte_order(store):
    store.create_run(manifest("r"))
    ids = ["b", "B", "a", "é", "a-1", "a_1", "Z"]  # a locale's collation would order these differently
    for case_id in ids:
        store.write(result("r", case_id))
    store.write(result("r", "a", value=None))  # the second write of a case replaces the first
    got = list(store.results("r"))
    assert [cr.case_id for cr in got] == sorted(ids, key=lambda s: s.encode())
    assert next(cr for cr in got if cr.case_id == "a").results[0].status == "unscored"
    assert store.finished("r") == {("bot", "g", c) for c in ids}
    metric_rows = list(store.export_rows("metric_results", "r"))
    assert len(metric_rows) == 2 * len(ids)  # replaced, not appended
    assert ("r", "bot", "g", "a", "pass", "unscored", None, "no gold", "ratio") in metric_rows


def test_results_of_runs_never_mix(store):
    for run_id in ("r1", "r2"):
        store.create_run(manifest(run_id))
        for i in range(3):
            store.write(result(run_id, f"c{i}"))
    assert {cr.run_id for cr in store.results("r1")} == {"r1"} and len(list(store.results("r2"))) == 3


def test_a_long_run_reads_back_whole(store):
    store.create_run(manifest("r"))
    for i in range(1234):  # more than one page of the PostgreSQL store's keyset reads
        store.write(result("r", f"c{i:05d}", system="a" if i % 2 else "b"))
    got = [(cr.system, cr.case_id) for cr in store.results("r")]
    assert len(got) == 1234 and got == sorted(got)


def test_the_value_check_holds_in_every_backend(store):
    store.create_run(manifest("r"))
    bad = ("r", "bot", "g", "c", "pass", "scored", None, None, "ratio")  # scored without a value
    with pytest.raises(Exception):  # noqa: B017 - the CHECK constraint, in each backend's words
        store.import_rows({"metric_results": [bad]})


def test_artifacts_are_replaced_by_key_and_listed_by_time(store):
    store.put_artifact("k2", "calibration", {"set": "a", "n": 1})
    store.put_artifact("k1", "calibration", {"set": "b"})
    store.put_artifact("k2", "calibration", {"set": "a", "n": 2})
    store.put_artifact("x", "other", {})
    got = store.artifacts("calibration")
    assert {a["key"]: a.get("n") for a in got} == {"k1": None, "k2": 2}
    assert [a["created_at"] for a in got] == sorted(a["created_at"] for a in got)


def test_delete_run_takes_its_rows_and_run_scoped_artifacts_only(store):
    for run_id in ("r1", "r2"):
        store.create_run(manifest(run_id))
        store.write(result(run_id, "c"))
        store.put_artifact(f"gates:{run_id}:t", "gates", {"run_id": run_id})
    store.put_artifact("baseline:main", "baseline", {"run_id": "r1"})
    store.delete_run("r1")
    store.delete_run("never")
    assert [r["run_id"] for r in store.runs()] == ["r2"] and not list(store.results("r1"))
    assert not list(store.export_rows("metric_results", "r1"))
    assert [a["key"] for a in store.artifacts("gates")] == ["gates:r2:t"]
    assert [a["key"] for a in store.artifacts("baseline")] == ["baseline:main"]


def test_rows_export_and_import_exactly_and_twice_is_once(store, tmp_path):
    store.create_run(manifest("r"))
    store.write(result("r", "c1"))
    store.write(result("r", "c2", value=None))
    store.set_status("r", "finished")
    store.put_artifact("k", "calibration", {"v": 1})
    with open_store(tmp_path / "other.sqlite") as other:
        rows = {t: list(store.export_rows(t)) for t in TABLES}
        assert other.import_rows(rows) == {"runs": 1, "case_results": 2, "metric_results": 4, "artifacts": 1}
        assert other.import_rows(rows) == dict.fromkeys(TABLES, 0)  # every key already there: skipped
        assert {t: list(other.export_rows(t)) for t in TABLES} == rows
    with pytest.raises(ValueError, match="run_id: only the run tables"):
        list(store.export_rows("artifacts", "r"))
    with pytest.raises(ValueError, match="expected tables among"):
        store.import_rows({"leases": []})


def test_a_held_lease_refuses_a_second_holder_until_released(store):
    with store.lease("r", ttl_s=30) as lease:
        assert lease.run_id == "r"
        with pytest.raises(ResumeError, match=r"run 'r' is being worked on by .*:\d+:\w+ \(lease for \d+ s more\)"):
            with store.lease("r", ttl_s=30):
                pass
        with store.lease("other", ttl_s=30):  # another run's lease is another lease
            pass
    with store.lease("r", ttl_s=30):  # released on exit
        pass


def test_a_lease_is_renewed_while_held_and_expires_when_its_holder_stops(store, monkeypatch):
    with store.lease("r", ttl_s=0.6):
        time.sleep(1.0)  # past the ttl: renewed every 0.2 s by its thread
        with pytest.raises(ResumeError):
            with store.lease("r", ttl_s=0.6):
                pass
    # a holder that died: its lease row stays but nobody renews it
    import ragft_eval.store._lease as lease_mod

    monkeypatch.setattr(lease_mod.threading, "Thread", _NoThread)
    held = store.lease("r", ttl_s=0.5)
    held.__enter__()  # never exited and never renewed, like a killed process
    with pytest.raises(ResumeError):
        with store.lease("r", ttl_s=0.5):
            pass
    time.sleep(0.7)
    monkeypatch.undo()
    with store.lease("r", ttl_s=5):  # expired: taken over
        pass


class _NoThread(threading.Thread):
    def start(self) -> None:  # the renewals of a dead process
        pass

    def join(self, timeout: float | None = None) -> None:
        pass


def test_a_lease_needs_a_positive_time(store):
    with pytest.raises(ConfigError, match="ttl_s: expected a lease time > 0 seconds, got 0"):
        with store.lease("r", ttl_s=0):
            pass


def test_the_lease_of_a_killed_process_on_this_host_is_taken_over_at_once(store_url, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    worker = Path(__file__).with_name("_worker.py")
    proc = subprocess.Popen([sys.executable, str(worker), "lease", store_url, str(tmp_path / "go"), "r", "60"],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert '"ready"' in proc.stdout.readline()
        (tmp_path / "go").touch()
        assert '"won": true' in proc.stdout.readline()
        with open_store(store_url) as db, pytest.raises(ResumeError):  # alive: refused
            with db.lease("r"):
                pass
    finally:
        proc.kill()  # SIGKILL: no finally block runs, the lease row stays with 60 s to go
        proc.wait()
    with open_store(store_url) as db, db.lease("r"):  # its process is gone: taken over, no wait
        pass
