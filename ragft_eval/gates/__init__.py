"""Gates: checks a finished run must pass, evaluated on its :class:`~ragft_eval.stats.RunSummary`
(thresholds, paired comparisons with other systems, regression against a promoted baseline run,
non-inferiority, errors and coverage, budgets)."""

from .error_rate import declared_gates, suite_gates
from .evaluate import evaluate_gates, slice_filter
from .result import GateResult
from .spec import (
    BudgetGate,
    ErrorsGate,
    Gate,
    NonInferiorityGate,
    NoRegressionGate,
    RelativeGate,
    ThresholdGate,
    load_gates_file,
    parse_gates,
    suite_gate_specs,
)

__all__ = [
    "BudgetGate",
    "ErrorsGate",
    "Gate",
    "GateResult",
    "NoRegressionGate",
    "NonInferiorityGate",
    "RelativeGate",
    "ThresholdGate",
    "declared_gates",
    "evaluate_gates",
    "load_gates_file",
    "parse_gates",
    "slice_filter",
    "suite_gate_specs",
    "suite_gates",
]
