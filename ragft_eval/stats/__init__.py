"""Statistics over stored results: aggregation with bootstrap CIs, the run summary built from the store, and
paired significance between systems."""

from .aggregate import OVERALL, Cell, aggregate, bootstrap_ci, error_rates, value_for_mean
from .compare import RunComparison, RunDelta, compare_runs
from .significance import (
    Comparison,
    compare_systems,
    holm,
    mcnemar_exact,
    minimum_detectable_difference,
    paired_cases,
    paired_values,
    power_by_slice,
    sign_flip_test,
    significance_letters,
)
from .summary import RunSummary, build_summary, latest_calibrations

__all__ = [
    "OVERALL",
    "Cell",
    "Comparison",
    "RunComparison",
    "RunDelta",
    "RunSummary",
    "aggregate",
    "bootstrap_ci",
    "build_summary",
    "compare_runs",
    "compare_systems",
    "error_rates",
    "holm",
    "latest_calibrations",
    "mcnemar_exact",
    "minimum_detectable_difference",
    "paired_cases",
    "paired_values",
    "power_by_slice",
    "sign_flip_test",
    "significance_letters",
    "value_for_mean",
]
