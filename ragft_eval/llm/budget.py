"""A spending cap for a run (``--max-cost USD``): no model call starts that would take the projected spend
over it.

Before a call, its projected cost (the request's estimated prompt tokens and its ``max_tokens`` at the
model's price; a local model's typical call time at its ``usd_per_hour``) is reserved; after it, the
reservation is replaced by the call's measured cost.  A call that does not fit raises
:class:`~ragft_eval.errors.BudgetExceeded`, which stops the run: what finished is kept, and the run can be
resumed with a higher cap (the spend already stored counts against it, so nothing is paid twice).
A cache hit costs nothing this run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ..errors import BudgetExceeded


@dataclass
class Budget:
    """The run's cap, what it has spent (including what a resumed run had spent) and what is reserved."""

    cap_usd: float
    spent_usd: float = 0.0
    reserved_usd: float = 0.0
    unpriced_calls: int = 0  # calls whose model has no price: they cannot count, and the report says so
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)

    async def reserve(self, projected: float | None, *, what: str) -> float:
        """Reserve ``projected`` dollars for one call (BudgetExceeded when it does not fit)."""
        if projected is None:
            self.unpriced_calls += 1
            return 0.0
        async with self._lock:
            if self.spent_usd + self.reserved_usd + projected > self.cap_usd:
                raise BudgetExceeded(
                    f"--max-cost {self.cap_usd:g}: the next call ({what}, projected ${projected:.6f}) would take the "
                    f"spend to ${self.spent_usd + self.reserved_usd + projected:.6f}; spent so far "
                    f"${self.spent_usd:.6f}. What finished is stored: resume with a higher --max-cost"
                )
            self.reserved_usd += projected
            return projected

    def settle(self, reserved: float, actual: float | None) -> None:
        """Replace a reservation by the call's measured cost (None: the reservation is released)."""
        self.reserved_usd = max(0.0, self.reserved_usd - reserved)
        if actual is not None:
            self.spent_usd += actual
