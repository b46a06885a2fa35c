"""The SQLite run store: one file holding runs, per-case responses and per-metric results.

Each (system, case) is written in one transaction as soon as it is scored, so a killed run loses at
most the cases in flight.  ``PRAGMA user_version`` holds the schema version; :data:`MIGRATIONS` are
applied in order on open, so an older store file is upgraded in place.  The status, value and reason
of every metric result are columns of their own (never a NaN: an unscored value is NULL with a reason).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from ..records import CaseResult
from ._base import export_sql, import_order, import_sql
from ._lease import Lease, hold_lease
from ._sql import SqlStore

SCHEMA_VERSION = 1

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE runs (
            run_id      TEXT PRIMARY KEY,
            created_at  TEXT NOT NULL,
            finished_at TEXT,
            status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
            suite_name  TEXT NOT NULL,
            suite_hash  TEXT NOT NULL,
            manifest    TEXT NOT NULL
        );
        CREATE TABLE case_results (
            run_id     TEXT NOT NULL REFERENCES runs(run_id),
            system     TEXT NOT NULL,
            golden_set TEXT NOT NULL,
            case_id    TEXT NOT NULL,
            task_type  TEXT NOT NULL,
            failed     INTEGER NOT NULL,
            record     TEXT NOT NULL,
            written_at TEXT NOT NULL,
            PRIMARY KEY (run_id, system, golden_set, case_id)
        );
        CREATE TABLE metric_results (
            run_id     TEXT NOT NULL,
            system     TEXT NOT NULL,
            golden_set TEXT NOT NULL,
            case_id    TEXT NOT NULL,
            metric     TEXT NOT NULL,
            status     TEXT NOT NULL CHECK (status IN ('scored', 'unscored', 'error')),
            value      REAL,
            reason     TEXT,
            unit       TEXT NOT NULL,
            PRIMARY KEY (run_id, system, golden_set, case_id, metric),
            CHECK ((status = 'scored') = (value IS NOT NULL))
        );
        CREATE TABLE artifacts (
            key        TEXT PRIMARY KEY,
            kind       TEXT NOT NULL,
            created_at TEXT NOT NULL,
            record     TEXT NOT NULL
        );
        """,
    ),
]


# Leases coordinate live processes, not history: created on first use, outside the numbered schema (an
# older ragft-eval opening the file ignores the table, and a store copy never carries a lease).
_LEASES = "CREATE TABLE IF NOT EXISTS leases (run_id TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at REAL NOT NULL)"


class _SQLiteLeases:
    """The lease statements on a connection of their own (renewals run on the lease's thread)."""

    def __init__(self, path: Path):
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        self._db.execute(_LEASES)

    def take(self, run_id: str, holder: str, ttl_s: float) -> tuple[str, float] | None:
        now = time.time()  # one machine's clock: every process sharing a SQLite file runs on it
        got = self._db.execute(
            "INSERT INTO leases VALUES (?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET holder = excluded.holder, "
            "expires_at = excluded.expires_at WHERE leases.holder = excluded.holder OR leases.expires_at < ? "
            "RETURNING holder",
            (run_id, holder, now + ttl_s, now),
        ).fetchall()
        if got:
            return None
        row = self._db.execute("SELECT holder, expires_at FROM leases WHERE run_id = ?", (run_id,)).fetchone()
        return (row[0], row[1] - now) if row else ("another process", 0.0)

    def take_over(self, run_id: str, dead: str, holder: str, ttl_s: float) -> bool:
        cur = self._db.execute(
            "UPDATE leases SET holder = ?, expires_at = ? WHERE run_id = ? AND holder = ?",
            (holder, time.time() + ttl_s, run_id, dead),
        )
        return cur.rowcount == 1

    def release(self, run_id: str, holder: str) -> None:
        self._db.execute("DELETE FROM leases WHERE run_id = ? AND holder = ?", (run_id, holder))

    def close(self) -> None:
        self._db.close()


class SQLiteStore(SqlStore):
    """A run store in one SQLite file (implements :class:`~ragft_eval.store.Store`). Use as a context
    manager or call :meth:`close`."""

    # a run-scoped artifact: keyed ``<kind>:<run_id>:...`` and its record names the run
    run_artifacts = ("substr(key, 1, length(kind) + length(?) + 2) = kind || ':' || ? || ':' "
                     "AND json_extract(record, '$.run_id') = ?")

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._migrate()

    def _migrate(self) -> None:
        current = self._db.execute("PRAGMA user_version").fetchone()[0]
        if current > SCHEMA_VERSION:
            raise RuntimeError(
                f"store {self.path}: schema version {current} is newer than this ragft-eval ({SCHEMA_VERSION})"
            )
        for version, sql in MIGRATIONS:
            if version > current:
                with self._db:
                    self._db.executescript(sql)
                    self._db.execute(f"PRAGMA user_version = {version}")

    @property
    def schema_version(self) -> int:
        return self._db.execute("PRAGMA user_version").fetchone()[0]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def close(self) -> None:
        self._db.close()

    # the SQL shared with PostgreSQL (``_sql.SqlStore``) runs through these two
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._db:
            yield self._db

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, params).fetchall()

    def lease(self, run_id: str, *, ttl_s: float = 60.0) -> AbstractContextManager[Lease]:
        return hold_lease(lambda: _SQLiteLeases(self.path), run_id, ttl_s)

    # raw rows, for copying a store (the same tables and columns in every backend)
    def export_rows(self, table: str, run_id: str | None = None) -> Iterator[tuple[Any, ...]]:
        sql = export_sql(table, run_id, "?")
        yield from self._db.execute(sql, () if run_id is None else (run_id,))

    def import_rows(self, rows: Mapping[str, Iterable[tuple[Any, ...]]]) -> dict[str, int]:
        counts = {}
        with self._db:
            for table in import_order(rows):
                counts[table] = max(self._db.executemany(import_sql(table, "?"), rows[table]).rowcount, 0)
        return counts

    # results
    def results(self, run_id: str) -> Iterator[CaseResult]:
        """Every CaseResult of ``run_id``, in a stable order (system, golden set, case id)."""
        cur = self._db.execute(
            "SELECT record FROM case_results WHERE run_id = ? ORDER BY system, golden_set, case_id", (run_id,)
        )
        for (record,) in cur:
            yield CaseResult.model_validate_json(record)
