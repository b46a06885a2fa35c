"""Time spent queueing for a model's turn, kept apart from the time a case spends working.

A local server takes one request at a time and local servers share the CPU (:class:`CpuSlots`), so a
case may wait behind other systems' calls.  That wait is the harness's scheduling, not the system's
latency and not the system's fault: the runner's per-case timeout must not count it.  The runner puts
a :class:`QueueClock` in the case's context (:data:`CURRENT`); model clients wrap every wait for a
turn in :meth:`QueueClock.waiting`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar


class QueueClock:
    """Wall time during which at least one of a case's model calls was waiting for its turn."""

    def __init__(self) -> None:
        self._waited = 0.0
        self._since: float | None = None
        self._depth = 0

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        if self._depth == 0:
            self._since = time.monotonic()
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            if self._depth == 0 and self._since is not None:
                self._waited += time.monotonic() - self._since
                self._since = None

    def waited(self) -> float:
        """Seconds waited so far, including a wait still going on."""
        ongoing = time.monotonic() - self._since if self._since is not None else 0.0
        return self._waited + ongoing


CURRENT: ContextVar[QueueClock | None] = ContextVar("ragft_queue_clock", default=None)


def waiting() -> contextlib.AbstractContextManager[None]:
    """The current case's :meth:`QueueClock.waiting`, or a no-op outside a case."""
    clock = CURRENT.get()
    return clock.waiting() if clock is not None else contextlib.nullcontext()
