"""The System protocol, and the run-time context systems are started with."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..golden import GoldenSet
from ..llm import ModelPool
from ..records import Case, OneTimeWork, Response
from ..retrieval import RetrieverPool


@runtime_checkable
class System(Protocol):
    """An architecture under test: given a case, return a Response (never raise for a per-case failure:
    the runner turns an exception into an errored Response anyway).

    ``start`` does all I/O (servers, indexes, training) before the first case and ``close`` always runs;
    ``describe`` is the system's entry in the run manifest; ``records`` says what its responses record
    besides the answer (``retrieved``, ``context``, ``route``; None: unknown) and ``max_concurrency``
    how many cases it takes at once (None: the suite's concurrency).  :class:`BaseSystem` gives the
    defaults, so a plug-in system writes only ``answer``.
    """

    name: str
    records: frozenset[str] | None
    max_concurrency: int | None

    async def start(self, ctx: RunContext) -> None: ...

    async def close(self) -> None: ...

    def describe(self) -> dict[str, Any]: ...

    async def answer(self, case: Case) -> Response: ...


def untimed(name: str, detail: str = "") -> AbstractContextManager[Any]:
    """The default :attr:`RunContext.phase`: no clock (a system started outside a run)."""
    return contextlib.nullcontext()


@dataclass(frozen=True)
class RunContext:
    """What systems get at start: where relative paths start, the golden sets, and the run's shared
    model and retriever pools (one server per model and one index per retriever for all systems)."""

    base_dir: Path
    golden_sets: dict[str, GoldenSet]
    cache_dir: Path
    models: ModelPool
    retrievers: RetrieverPool
    # the one-time work systems did at start (fine-tunes), for the run's record of what it cost
    one_time: list[OneTimeWork] = field(default_factory=list)
    # ``with ctx.phase("fine-tune", name):`` times a part of a start (fine-tune, server, index, threshold
    # search) for the run's profile and tells the progress display what is going on
    phase: Callable[[str, str], AbstractContextManager[Any]] = untimed

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
    # a system on a batch model (Batch API): its max_concurrency is not capped by the suite's concurrency
    batched: bool = False
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
