"""Statistics over stored results: aggregation with bootstrap CIs, paired comparisons."""

from .aggregate import (
    OVERALL,
    Cell,
    PairedDifference,
    aggregate,
    bootstrap_ci,
    error_rates,
    paired_difference,
    value_for_mean,
)

__all__ = [
    "OVERALL",
    "Cell",
    "PairedDifference",
    "aggregate",
    "bootstrap_ci",
    "error_rates",
    "paired_difference",
    "value_for_mean",
]
