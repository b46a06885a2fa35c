"""The store interface: what a run store does, whatever holds it (a SQLite file today; PostgreSQL next).

Callers get a store from :func:`open_store` with a URL and use only these methods.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError
from ..records import CaseResult, RunManifest


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


def open_store(url: str | Path) -> Store:
    """The store at ``url``: ``sqlite:///path/to/file.sqlite`` (or a plain path, which means the same)."""
    from .sqlite import SQLiteStore

    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteStore(Path(text.removeprefix("sqlite:///")))
    if text.startswith("sqlite://"):
        raise ConfigError(f"store: expected sqlite:///PATH (three slashes), got {text!r}")
    scheme = text.partition("://")[0] if "://" in text else None
    if scheme is not None:
        raise ConfigError(f"store: unsupported store URL scheme {scheme!r} in {text!r}; expected sqlite:///PATH")
    return SQLiteStore(Path(text))
