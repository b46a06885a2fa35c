"""Executors carry out a :class:`~ragft_eval.runner.plan.Plan`: every work item answered by its system.

The seam: an executor answers each item and awaits ``finish(item, response)`` for it as soon as it is
answered; ``finish`` (scoring and storing) runs where the run's driver is.  :class:`LocalExecutor` does
the work in this process with asyncio; an executor on a cluster implements the same protocol.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Protocol, runtime_checkable

from ..errors import RunStopped
from ..records import Response
from ..systems import System
from .answering import answer_case
from .plan import Plan, WorkItem

Finish = Callable[[WorkItem, Response], Awaitable[None]]


@runtime_checkable
class Executor(Protocol):
    """Answers every item of a plan (each within ``timeout_s`` of work) and hands each answer to ``finish``."""

    async def execute(self, plan: Plan, finish: Finish, *, timeout_s: float) -> None: ...


class LocalExecutor:
    """In-process asyncio: at most ``concurrency`` cases in flight per system, fewer where a system says
    it takes fewer (``max_concurrency``: one for a local server, which answers one request at a time).
    When a case raises :class:`~ragft_eval.errors.RunStopped` (a budget cap), no further case starts, the
    cases in flight finish and are stored, and the stop is raised once they have."""

    def __init__(self, *, concurrency: int):
        if concurrency < 1:
            raise ValueError(f"concurrency: expected >= 1, got {concurrency}")
        self.concurrency = concurrency

    def limit(self, system: System) -> int:
        """Cases of ``system`` in flight at once: the suite's concurrency, or fewer where the system says;
        a system on a batch model (``batched``) takes as many as it says, since its calls wait in the
        provider's queue and must be in flight together to go out in one batch."""
        own = system.max_concurrency or self.concurrency
        return own if getattr(system, "batched", False) else min(own, self.concurrency)

    def describe(self) -> dict[str, object]:
        return {"kind": "local", "concurrency": self.concurrency}

    async def execute(self, plan: Plan, finish: Finish, *, timeout_s: float) -> None:
        limits = {name: asyncio.Semaphore(self.limit(system)) for name, system in plan.systems.items()}

        stopped: list[RunStopped] = []

        async def one(item: WorkItem) -> None:
            async with limits[item.system]:
                if stopped:  # the run stopped itself: no new case starts; the ones in flight finish
                    return
                try:
                    response = await answer_case(plan.systems[item.system], item.case, timeout_s)
                    await finish(item, response)
                except RunStopped as exc:
                    stopped.append(exc)

        await asyncio.gather(*(one(item) for item in plan.items))
        if stopped:
            raise stopped[0]
