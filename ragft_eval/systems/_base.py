"""The System protocol, and the run-time context systems are started with."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ..records import Case, Response

if TYPE_CHECKING:
    from ..golden import GoldenSet


@runtime_checkable
class System(Protocol):
    """An architecture under test: given a case, return a Response (never raise for a per-case failure:
    the runner turns an exception into an errored Response anyway)."""

    name: str

    async def answer(self, case: Case) -> Response: ...


@dataclass
class RunContext:
    """What systems get at start: where relative paths start, the golden sets, shared services."""

    base_dir: Path
    golden_sets: dict[str, GoldenSet]
    cache_dir: Path
    services: dict[str, Any] = field(default_factory=dict)

    def resolve(self, path: str | Path) -> Path:
        """``path`` relative to the suite file's folder (absolute paths unchanged)."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)


class BaseSystem:
    """Optional lifecycle for systems that hold state: ``start`` (all I/O happens here, not in
    ``__init__``), ``close`` (always called, also on failure) and ``describe`` (for the run manifest)."""

    name: str
    kind: str = "system"
    max_concurrency: int | None = None
    # What the responses record besides the answer ("retrieved", "context", "route"); None: unknown.
    # A failed case is then unscored, not an error, on a metric that needs what the system never records.
    records: frozenset[str] | None = None

    async def start(self, ctx: RunContext) -> None:
        return None

    async def close(self) -> None:
        return None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind}

    def response(self, case: Case, **fields: Any) -> Response:
        return Response(case_id=case.id, system=self.name, **fields)
