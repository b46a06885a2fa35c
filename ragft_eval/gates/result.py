"""A gate's verdict on a run, with the evidence a failure message needs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict.  ``failing`` names what failed it (systems); ``observed`` is the value the gate
    judged (a mean, or a mean shortfall for paired gates), with its ``ci``; ``threshold`` the bound, margin
    or tolerance; ``test`` and ``p_value`` the paired test; ``regressed`` the cases that went from pass to
    fail against the baseline; ``worst_cases`` the five worst case ids."""

    name: str
    passed: bool
    message: str
    failing: tuple[str, ...] = ()
    kind: str = "errors"
    system: str | None = None
    metric: str | None = None
    slice: str | None = None
    observed: float | None = None
    ci: tuple[float, float] | None = None
    threshold: float | None = None
    n: int | None = None
    test: str | None = None
    p_value: float | None = None
    baseline: str | None = None
    regressed: tuple[str, ...] = ()
    worst_cases: tuple[str, ...] = ()
    skipped: bool = False  # not evaluated, and why is the message (a baseline gate with no baseline given)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)
