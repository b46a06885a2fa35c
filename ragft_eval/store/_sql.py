"""What the two SQL stores share: every statement that reads the same in SQLite and PostgreSQL.

Both dialects take ``INSERT ... ON CONFLICT (key) DO UPDATE SET col = excluded.col`` and the same
SELECTs, so the statements are written once here with ``?`` placeholders and each backend supplies its
own placeholder (:attr:`SqlStore.mark`), a transaction and a query.  What differs stays in the backend:
migrations, leases, reading a run back in pages, bulk import, the JSON test in ``delete_run``.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from ..records import CaseResult, RunManifest

_RUN_COLUMNS = ("run_id", "created_at", "finished_at", "status", "suite_name")


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class Executes(Protocol):
    """A connection or cursor inside a transaction (sqlite3 and psycopg spell these alike)."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Any: ...

    def executemany(self, sql: str, params: Sequence[Sequence[Any]], /) -> Any: ...


class SqlStore(ABC):
    """The shared part of a SQL run store (the backend implements the three abstract hooks)."""

    mark: ClassVar[str] = "?"  # the driver's parameter placeholder
    # the artifact rows of a run that ``delete_run`` removes, as a WHERE clause with three marks
    # (run id, run id, run id): the backend's JSON access differs
    run_artifacts: ClassVar[str]

    @abstractmethod
    def _transaction(self) -> AbstractContextManager[Executes]:
        """A transaction on the backend's connection, yielding what executes statements in it."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Every row of one statement, outside any transaction of ours."""

    @abstractmethod
    def close(self) -> None:
        """Close the backend's connection."""

    def _sql(self, sql: str) -> str:
        return sql if self.mark == "?" else sql.replace("?", self.mark)

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # runs
    def create_run(self, manifest: RunManifest) -> None:
        with self._transaction() as db:
            db.execute(
                self._sql("INSERT INTO runs (run_id, created_at, status, suite_name, suite_hash, manifest) "
                          "VALUES (?, ?, ?, ?, ?, ?)"),
                (manifest.run_id, manifest.created_at, "running", manifest.suite_name, manifest.suite_hash,
                 manifest.model_dump_json()),
            )  # fmt: skip

    def set_status(self, run_id: str, status: str) -> None:
        with self._transaction() as db:
            db.execute(
                self._sql("UPDATE runs SET status = ?, finished_at = ? WHERE run_id = ?"),
                (status, now() if status != "running" else None, run_id),
            )

    def manifest(self, run_id: str) -> RunManifest | None:
        rows = self._query(self._sql("SELECT manifest FROM runs WHERE run_id = ?"), (run_id,))
        return RunManifest.model_validate_json(rows[0][0]) if rows else None

    def run_status(self, run_id: str) -> str | None:
        rows = self._query(self._sql("SELECT status FROM runs WHERE run_id = ?"), (run_id,))
        return rows[0][0] if rows else None

    def runs(self) -> list[dict[str, str]]:
        rows = self._query(f"SELECT {', '.join(_RUN_COLUMNS)} FROM runs ORDER BY created_at, run_id")
        return [dict(zip(_RUN_COLUMNS, r, strict=True)) for r in rows]

    def delete_run(self, run_id: str) -> None:
        with self._transaction() as db:
            db.execute(self._sql("DELETE FROM metric_results WHERE run_id = ?"), (run_id,))
            db.execute(self._sql("DELETE FROM case_results WHERE run_id = ?"), (run_id,))
            # run-scoped artifacts only: the key says so and the record agrees (a baseline's record names a
            # run too, but is keyed by the baseline's name and outlives the run's other records)
            db.execute(self._sql(f"DELETE FROM artifacts WHERE {self.run_artifacts}"), (run_id, run_id, run_id))
            db.execute(self._sql("DELETE FROM runs WHERE run_id = ?"), (run_id,))

    # results
    def write(self, result: CaseResult) -> None:
        """Write one (system, case) with all its metric results, atomically (replacing an earlier write)."""
        key = (result.run_id, result.system, result.golden_set, result.case_id)
        with self._transaction() as db:
            db.execute(
                self._sql("INSERT INTO case_results VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                          "ON CONFLICT (run_id, system, golden_set, case_id) DO UPDATE SET "
                          "task_type = excluded.task_type, failed = excluded.failed, record = excluded.record, "
                          "written_at = excluded.written_at"),
                (*key, result.task_type, int(result.response.failed), result.model_dump_json(), now()),
            )  # fmt: skip
            db.execute(
                self._sql("DELETE FROM metric_results WHERE run_id = ? AND system = ? AND golden_set = ? "
                          "AND case_id = ?"),
                key,
            )  # fmt: skip
            if result.results:
                # PostgreSQL text cannot hold NUL (SQLite does the same, so a store copy is exact both
                # ways); the record above keeps the exact reason (JSON escapes it)
                db.executemany(
                    self._sql("INSERT INTO metric_results VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"),
                    [(*key, m.metric, m.status, m.value, m.reason and m.reason.replace("\x00", "\ufffd"), m.unit)
                     for m in result.results],
                )  # fmt: skip

    def finished(self, run_id: str) -> set[tuple[str, str, str]]:
        """``(system, golden_set, case_id)`` triples already written for ``run_id``."""
        rows = self._query(self._sql("SELECT system, golden_set, case_id FROM case_results WHERE run_id = ?"),
                           (run_id,))  # fmt: skip
        return {(s, g, c) for s, g, c in rows}

    # artifacts: calibrations, fine-tune records, anything keyed and reused across runs
    def put_artifact(self, key: str, kind: str, record: dict[str, Any]) -> None:
        with self._transaction() as db:
            db.execute(
                self._sql("INSERT INTO artifacts VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET "
                          "kind = excluded.kind, created_at = excluded.created_at, record = excluded.record"),
                (key, kind, now(), json.dumps(record)),
            )  # fmt: skip

    def artifacts(self, kind: str) -> list[dict[str, Any]]:
        rows = self._query(
            self._sql("SELECT key, created_at, record FROM artifacts WHERE kind = ? ORDER BY created_at, key"),
            (kind,),
        )
        return [{"key": k, "created_at": c, **json.loads(r)} for k, c, r in rows]
