"""The suite's own gates: ``max_error_rate`` (an ``errors`` gate over every system) and its ``gates:``.

Errors never silently leave a pass rate: they count as failures in the means, and the errors gate
fails a run in which a system errored too often, whatever the mean of what was scored.
"""

from __future__ import annotations

from typing import Any

from ..stats import RunSummary
from .evaluate import evaluate_gates
from .result import GateResult
from .spec import BASELINE_KINDS, ErrorsGate, Gate, suite_gate_specs


def declared_gates(suite_config: dict[str, Any], *, source: str, baselines: bool = True) -> list[Gate]:
    """The gates a suite declares, ``max_error_rate`` first (at 100% when the suite sets none, so every run
    reports its error rates); without ``baselines``, the gates that need a baseline run are left out."""
    specs = suite_gate_specs(suite_config, source=source)
    if not baselines:
        specs = [g for g in specs if g.kind not in BASELINE_KINDS]
    if not any(g.name == "max_error_rate" for g in specs):
        specs.insert(0, ErrorsGate(name="max_error_rate", max_error_rate=1.0))
    return specs


def suite_gates(summary: RunSummary, *, baseline: RunSummary | None = None, baseline_name: str | None = None,
                ) -> list[GateResult]:  # fmt: skip
    """The gates the run's suite declares; the baseline gates only when a baseline run is given."""
    specs = declared_gates(summary.manifest.suite_config, source=summary.manifest.suite_path or "suite",
                           baselines=baseline is not None)  # fmt: skip
    return evaluate_gates(summary, specs, baseline=baseline, baseline_name=baseline_name)
