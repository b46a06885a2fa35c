"""The store interface: what a run store does, whatever holds it (a SQLite file, or a shared PostgreSQL
database).

Callers get a store from :func:`open_store` with a URL and use only these methods.  Every backend has the
same tables and columns (:data:`TABLES`), so ``export_rows``/``import_rows`` copy a store exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..records import CaseResult, RunManifest
from ._lease import Lease

# The columns of every stored table, in the order rows are exported and imported (parents first, so a
# foreign key always finds its row).  Leases are not here: they coordinate live processes, not history.
TABLES: dict[str, tuple[str, ...]] = {
    "runs": ("run_id", "created_at", "finished_at", "status", "suite_name", "suite_hash", "manifest"),
    "case_results": ("run_id", "system", "golden_set", "case_id", "task_type", "failed", "record", "written_at"),
    "metric_results": ("run_id", "system", "golden_set", "case_id", "metric", "status", "value", "reason", "unit"),
    "artifacts": ("key", "kind", "created_at", "record"),
}
# each table's key, which orders an export and decides what an import skips
KEYS: dict[str, tuple[str, ...]] = {
    "runs": ("run_id",),
    "case_results": ("run_id", "system", "golden_set", "case_id"),
    "metric_results": ("run_id", "system", "golden_set", "case_id", "metric"),
    "artifacts": ("key",),
}
RUN_TABLES = ("runs", "case_results", "metric_results")
ENV_URL = "RAGFT_STORE_URL"  # the store of a suite that names none (see Suite.store)


def check_table(table: str, run_id: str | None = None) -> None:
    """ValueError unless ``table`` is a stored table (and, with ``run_id``, one of the run tables)."""
    if table not in TABLES:
        raise ValueError(f"table: expected one of {', '.join(TABLES)}, got {table!r}")
    if run_id is not None and table not in RUN_TABLES:
        raise ValueError(f"run_id: only the run tables ({', '.join(RUN_TABLES)}) are per run, not {table!r}")


def export_sql(table: str, run_id: str | None, mark: str) -> str:
    """The export query (``mark``: the backend's parameter placeholder)."""
    check_table(table, run_id)
    where = f" WHERE run_id = {mark}" if run_id is not None else ""
    return f"SELECT {', '.join(TABLES[table])} FROM {table}{where} ORDER BY {', '.join(KEYS[table])}"


def import_order(rows: Mapping[str, object]) -> list[str]:
    """The tables of an import in :data:`TABLES` order (parents first); ValueError naming an unknown one."""
    if unknown := sorted(set(rows) - set(TABLES)):
        raise ValueError(f"rows: expected tables among {', '.join(TABLES)}, got {', '.join(unknown)}")
    return [t for t in TABLES if t in rows]


def import_sql(table: str, mark: str) -> str:
    """The one import statement: a row whose key is there already is skipped (a CHECK still fails)."""
    check_table(table)
    cols = TABLES[table]
    return f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))}) ON CONFLICT DO NOTHING"


@runtime_checkable
class Store(Protocol):
    """A run store.  Each (system, case) is written atomically as it finishes (``write``), so a killed run
    loses at most the cases in flight; ``schema_version`` is the store's own (numbered migrations are
    applied on open)."""

    @property
    def schema_version(self) -> int: ...

    @property
    def url(self) -> str: ...

    def close(self) -> None: ...

    def __enter__(self) -> Store: ...

    def __exit__(self, *exc: object) -> None: ...

    def create_run(self, manifest: RunManifest) -> None: ...

    def set_status(self, run_id: str, status: str) -> None: ...

    def manifest(self, run_id: str) -> RunManifest | None: ...

    def run_status(self, run_id: str) -> str | None: ...

    def runs(self) -> list[dict[str, str]]: ...

    def write(self, result: CaseResult) -> None: ...

    def finished(self, run_id: str) -> set[tuple[str, str, str]]: ...

    def results(self, run_id: str) -> Iterator[CaseResult]: ...

    def put_artifact(self, key: str, kind: str, record: dict[str, Any]) -> None: ...

    def artifacts(self, kind: str) -> list[dict[str, Any]]: ...

    def delete_run(self, run_id: str) -> None:
        """Delete ``run_id``: the run, its case and metric results and its run-scoped artifacts (those keyed
        ``<kind>:<run_id>:...`` whose record names the run: gates, endpoints, one-time work, batches), in one
        transaction.  Artifacts shared across runs (baselines, calibrations, reports) stay.  A run the store
        does not have is nothing to delete."""
        ...

    def lease(self, run_id: str, *, ttl_s: float = 60.0) -> AbstractContextManager[Lease]:
        """Hold ``run_id``'s lease while working on it (a resume): ResumeError when another live process
        holds it.  The lease is renewed every ``ttl_s / 3`` while held and released on exit; a holder that
        died stops renewing, so its lease expires after at most ``ttl_s``."""
        ...

    def export_rows(self, table: str, run_id: str | None = None) -> Iterator[tuple[Any, ...]]:
        """The raw rows of ``table`` (columns as in :data:`TABLES`, ordered by key), only ``run_id``'s for
        the run tables when given."""
        ...

    def import_rows(self, rows: Mapping[str, Iterable[tuple[Any, ...]]]) -> dict[str, int]:
        """Insert raw rows table by table (in :data:`TABLES` order) in one transaction; a row whose key is
        already there is skipped, so importing twice changes nothing.  The number inserted per table."""
        ...


def open_store(url: str | Path) -> Store:
    """The store at ``url``: ``sqlite:///path/to/file.sqlite`` (or a plain path, which means the same), or
    ``postgresql://user@host:port/db`` (the password from ``PGPASSWORD`` or ``~/.pgpass``, never the URL)."""
    from .sqlite import SQLiteStore

    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(text)
    if text.startswith("sqlite:///"):
        return SQLiteStore(Path(text.removeprefix("sqlite:///")))
    if text.startswith("sqlite://"):
        raise ConfigError(f"store: expected sqlite:///PATH (three slashes), got {text!r}")
    scheme = text.partition("://")[0] if "://" in text else None
    if scheme is not None:
        raise ConfigError(
            f"store: unsupported store URL scheme {scheme!r} in {text!r}; "
            "expected sqlite:///PATH or postgresql://USER@HOST/DB"
        )
    return SQLiteStore(Path(text))
