"""Gates: checks a finished run must pass, evaluated on its :class:`~ragft_eval.stats.RunSummary`.

Today's gate is the suite's ``max_error_rate``; thresholds, baselines and the pytest plugin come here.
"""

from .error_rate import GateResult, error_rate_gate, suite_gates

__all__ = ["GateResult", "error_rate_gate", "suite_gates"]
