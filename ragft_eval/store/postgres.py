"""The PostgreSQL run store: the SQLite store's tables in one shared database, for a team whose runners
write at once from several machines.

Same interface (:class:`~ragft_eval.store.Store`), same tables and columns, same orders: text keys are
``COLLATE "C"``, which orders by bytes as SQLite does, so both stores list runs and results alike.  Each
(system, case) is written in one transaction keyed by its run, so runs written at once never mix and a
row is never lost.  :data:`MIGRATIONS` are applied on open in one transaction under an advisory lock (two
runners opening a new database at once: one migrates, the other waits and finds it done); the version
is in ``ragft_schema``.  Lease expiry is computed on the server's clock, so runners' clocks need not agree.

The password comes from libpq's own places, ``PGPASSWORD`` or ``~/.pgpass`` (``PGPASSFILE``): a URL
with a password is refused, since the suite's config, store URL included, is kept in every manifest.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError
from ..records import CaseResult
from ._base import KEYS, TABLES, check_table, import_order, import_sql
from ._lease import Lease, hold_lease
from ._sql import SqlStore

if TYPE_CHECKING:
    import psycopg

SCHEMA_VERSION = 1

# the SQLite schema in PostgreSQL's words: REAL is 4 bytes here, so values are DOUBLE PRECISION
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE runs (
            run_id      TEXT COLLATE "C" PRIMARY KEY,
            created_at  TEXT COLLATE "C" NOT NULL,
            finished_at TEXT,
            status      TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed')),
            suite_name  TEXT NOT NULL,
            suite_hash  TEXT NOT NULL,
            manifest    TEXT NOT NULL
        );
        CREATE TABLE case_results (
            run_id     TEXT COLLATE "C" NOT NULL REFERENCES runs(run_id),
            system     TEXT COLLATE "C" NOT NULL,
            golden_set TEXT COLLATE "C" NOT NULL,
            case_id    TEXT COLLATE "C" NOT NULL,
            task_type  TEXT NOT NULL,
            failed     INTEGER NOT NULL,
            record     TEXT NOT NULL,
            written_at TEXT NOT NULL,
            PRIMARY KEY (run_id, system, golden_set, case_id)
        );
        CREATE TABLE metric_results (
            run_id     TEXT COLLATE "C" NOT NULL,
            system     TEXT COLLATE "C" NOT NULL,
            golden_set TEXT COLLATE "C" NOT NULL,
            case_id    TEXT COLLATE "C" NOT NULL,
            metric     TEXT COLLATE "C" NOT NULL,
            status     TEXT NOT NULL CHECK (status IN ('scored', 'unscored', 'error')),
            value      DOUBLE PRECISION,
            reason     TEXT,
            unit       TEXT NOT NULL,
            PRIMARY KEY (run_id, system, golden_set, case_id, metric),
            CHECK ((status = 'scored') = (value IS NOT NULL))
        );
        CREATE TABLE artifacts (
            key        TEXT COLLATE "C" PRIMARY KEY,
            kind       TEXT NOT NULL,
            created_at TEXT COLLATE "C" NOT NULL,
            record     TEXT NOT NULL
        );
        """,
    ),
]

# Not part of the numbered schema (as in SQLite): leases coordinate live processes and are never copied.
_LEASES = """CREATE TABLE IF NOT EXISTS leases (
    run_id TEXT COLLATE "C" PRIMARY KEY, holder TEXT NOT NULL, expires_at TIMESTAMPTZ NOT NULL)"""
_MIGRATION_LOCK = 0x7261_6766_7465_7631  # one advisory lock key per database: "ragftev1"
_PAGE = 500  # rows per round trip when reading a run back (keyset pages: no transaction held open)


def _psycopg():
    try:
        import psycopg
    except ImportError:
        raise ConfigError(
            "store: a postgresql:// store needs psycopg; install it with pip install 'ragft-eval[postgres]'"
        ) from None
    return psycopg


def _connect(conninfo: str, url: str) -> psycopg.Connection:
    psycopg = _psycopg()
    try:
        return psycopg.connect(conninfo, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:  # libpq's message names host and user, never the password
        raise ConfigError(
            f"store {url}: cannot connect: {str(exc).strip()} (the password comes from PGPASSWORD or ~/.pgpass)"
        ) from None


class _PostgresLeases:
    """The lease statements on a connection of their own (renewals run on the lease's thread)."""

    def __init__(self, conninfo: str, url: str):
        self._conn = _connect(conninfo, url)

    def take(self, run_id: str, holder: str, ttl_s: float) -> tuple[str, float] | None:
        got = self._conn.execute(
            "INSERT INTO leases VALUES (%s, %s, clock_timestamp() + make_interval(secs => %s)) "
            "ON CONFLICT (run_id) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at "
            "WHERE leases.holder = EXCLUDED.holder OR leases.expires_at < clock_timestamp() RETURNING holder",
            (run_id, holder, ttl_s),
        ).fetchone()
        if got:
            return None
        row = self._conn.execute(
            "SELECT holder, extract(epoch FROM expires_at - clock_timestamp()) FROM leases WHERE run_id = %s",
            (run_id,),
        ).fetchone()
        return (row[0], float(row[1])) if row else ("another process", 0.0)

    def take_over(self, run_id: str, dead: str, holder: str, ttl_s: float) -> bool:
        cur = self._conn.execute(
            "UPDATE leases SET holder = %s, expires_at = clock_timestamp() + make_interval(secs => %s) "
            "WHERE run_id = %s AND holder = %s",
            (holder, ttl_s, run_id, dead),
        )
        return cur.rowcount == 1

    def release(self, run_id: str, holder: str) -> None:
        self._conn.execute("DELETE FROM leases WHERE run_id = %s AND holder = %s", (run_id, holder))

    def close(self) -> None:
        self._conn.close()


class PostgresStore(SqlStore):
    """A run store in a PostgreSQL database (implements :class:`~ragft_eval.store.Store`), at
    ``postgresql://user@host:port/db`` (libpq's URL; ``?options=-csearch_path%3Dschema`` picks a schema).
    Use as a context manager or call :meth:`close`."""

    mark = "%s"
    # as in SQLite; CASE: the record is parsed only where the key matched
    run_artifacts = ("CASE WHEN left(key, length(kind) + length(?) + 2) = kind || ':' || ? || ':' "
                     "THEN record::json ->> 'run_id' = ? ELSE false END")

    def __init__(self, url: str):
        psycopg = _psycopg()
        try:
            params = psycopg.conninfo.conninfo_to_dict(url)
        except psycopg.ProgrammingError as exc:
            raise ConfigError(f"store: expected postgresql://USER@HOST[:PORT]/DB, got an invalid URL: {exc}") from None
        if params.get("password"):
            raise ConfigError(
                "store: the store URL has a password in it, and the URL is kept with every run's manifest: "
                "remove it and set PGPASSWORD or a ~/.pgpass line instead"
            )
        self._url = url
        self._conn = _connect(url, url)
        self._migrate()

    def _migrate(self) -> None:
        with self._conn.transaction():
            # held until this transaction commits: a second runner waits here, then finds the schema done
            self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._conn.execute("CREATE TABLE IF NOT EXISTS ragft_schema (version INTEGER NOT NULL)")
            row = self._conn.execute("SELECT version FROM ragft_schema").fetchone()
            if row is None:
                self._conn.execute("INSERT INTO ragft_schema VALUES (0)")
            current = row[0] if row else 0
            if current > SCHEMA_VERSION:
                raise ConfigError(
                    f"store {self.url}: schema version {current} is newer than this ragft-eval ({SCHEMA_VERSION})"
                )
            for version, sql in MIGRATIONS:
                if version > current:
                    self._conn.execute(sql)
                    self._conn.execute("UPDATE ragft_schema SET version = %s", (version,))
            self._conn.execute(_LEASES)

    @property
    def schema_version(self) -> int:
        return self._conn.execute("SELECT version FROM ragft_schema").fetchone()[0]

    @property
    def url(self) -> str:
        return self._url  # never holds a password: one in the URL is refused

    def close(self) -> None:
        self._conn.close()

    # the SQL shared with SQLite (``_sql.SqlStore``) runs through these two
    @contextmanager
    def _transaction(self) -> Iterator[psycopg.Cursor]:
        with self._conn.transaction(), self._conn.cursor() as cur:
            yield cur

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._conn.execute(sql, params).fetchall()

    def lease(self, run_id: str, *, ttl_s: float = 60.0) -> AbstractContextManager[Lease]:
        return hold_lease(lambda: _PostgresLeases(self._url, self.url), run_id, ttl_s)

    # results
    def results(self, run_id: str) -> Iterator[CaseResult]:
        """Every CaseResult of ``run_id``, in a stable order (system, golden set, case id)."""
        for (record,) in self._scan("case_results", ("record",), run_id):
            yield CaseResult.model_validate_json(record)

    # raw rows, for copying a store
    def export_rows(self, table: str, run_id: str | None = None) -> Iterator[tuple[Any, ...]]:
        check_table(table, run_id)
        yield from self._scan(table, TABLES[table], run_id)

    def import_rows(self, rows: Mapping[str, Iterable[tuple[Any, ...]]]) -> dict[str, int]:
        counts = {}
        with self._conn.transaction(), self._conn.cursor() as cur:
            for table in import_order(rows):
                sql, n, it = import_sql(table, "%s"), 0, iter(rows[table])
                while chunk := list(itertools.islice(it, 1000)):
                    cur.executemany(sql, chunk)
                    n += max(cur.rowcount, 0)
                counts[table] = n
        return counts

    def _scan(self, table: str, columns: tuple[str, ...], run_id: str | None) -> Iterator[tuple[Any, ...]]:
        """``columns`` of ``table`` in key order, a page at a time, resuming after the last key read (no
        transaction or cursor stays open between pages, whatever the caller does in between)."""
        keys = KEYS[table]
        order = ", ".join(keys)
        after: tuple[Any, ...] | None = None
        while True:
            where, params = [], []
            if run_id is not None:
                where.append("run_id = %s")
                params.append(run_id)
            if after is not None:
                where.append(f"({order}) > ({', '.join(['%s'] * len(keys))})")
                params.extend(after)
            sql = (f"SELECT {order}, {', '.join(columns)} FROM {table}"
                   f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY {order} LIMIT {_PAGE}")  # fmt: skip
            page = self._conn.execute(sql, params).fetchall()
            for row in page:
                yield tuple(row[len(keys) :])
            if len(page) < _PAGE:
                return
            after = tuple(page[-1][: len(keys)])
