"""Statistics over stored results: aggregation with bootstrap CIs, and the run summary built from the store."""

from .aggregate import OVERALL, Cell, aggregate, bootstrap_ci, error_rates, value_for_mean
from .summary import RunSummary, build_summary, latest_calibrations

__all__ = [
    "OVERALL",
    "Cell",
    "RunSummary",
    "aggregate",
    "bootstrap_ci",
    "build_summary",
    "error_rates",
    "latest_calibrations",
    "value_for_mean",
]
