"""The error-rate gate: no system may fail on more than ``max_error_rate`` of its cases.

Errors never silently leave a pass rate: they count as failures in the means, and this gate fails a
run in which a system errored too often, whatever the mean of what was scored.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..stats import RunSummary


@dataclass(frozen=True)
class GateResult:
    """One gate's verdict on a run: ``failing`` names what failed it (systems, here)."""

    name: str
    passed: bool
    message: str
    failing: tuple[str, ...] = ()


def error_rate_gate(summary: RunSummary, max_error_rate: float) -> GateResult:
    """Fails when any system's share of failed responses is above ``max_error_rate``."""
    over = tuple(sorted(name for name, (err, n) in summary.error_rates.items() if n and err / n > max_error_rate))
    if over:
        message = f"error rate above max_error_rate={max_error_rate:.0%} for: {', '.join(over)}"
        return GateResult("max_error_rate", False, message, over)
    return GateResult("max_error_rate", True, f"every system's error rate is at most {max_error_rate:.0%}")


def suite_gates(summary: RunSummary) -> list[GateResult]:
    """The gates the run's suite declares (``max_error_rate``, default 1.0: never fails)."""
    return [error_rate_gate(summary, float(summary.manifest.suite_config.get("max_error_rate", 1.0)))]
