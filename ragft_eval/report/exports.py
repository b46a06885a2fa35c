"""Machine-readable exports of a run: ``results.parquet``, ``table.parquet`` and, given paired comparisons,
``comparisons.csv`` and ``comparisons.parquet``.  Rendered from the run's summary and the comparisons
stats made; nothing is computed here.

Columns are typed explicitly (pyarrow schemas), so an export with no rows, or with a column that is all
null, keeps its types and reads back the same in pandas, polars or DuckDB.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..stats import RunSummary

RESULTS_FILE = "results.parquet"
TABLE_FILE = "table.parquet"
COMPARISONS_CSV = "comparisons.csv"
COMPARISONS_FILE = "comparisons.parquet"

RESULTS_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("system", pa.string()),
        ("golden_set", pa.string()),
        ("case_id", pa.string()),
        ("task_type", pa.string()),
        ("tags", pa.list_(pa.string())),
        ("metric", pa.string()),
        ("status", pa.string()),
        ("value", pa.float64()),
        ("reason", pa.string()),
        ("unit", pa.string()),
    ]
)
TABLE_SCHEMA = pa.schema(
    [
        ("system", pa.string()),
        ("task_type", pa.string()),
        ("metric", pa.string()),
        ("unit", pa.string()),
        ("higher_is_better", pa.bool_()),
        ("n_cases", pa.int64()),
        ("n_scored", pa.int64()),
        ("n_unscored", pa.int64()),
        ("n_error", pa.int64()),
        ("n_scorer_error", pa.int64()),
        ("error_rate", pa.float64()),
        ("mean", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
    ]
)
# difference: the mean of (a - b) over the paired cases, as stats.significance.Comparison defines it
COMPARISONS_SCHEMA = pa.schema(
    [
        ("system_a", pa.string()),
        ("system_b", pa.string()),
        ("metric", pa.string()),
        ("slice", pa.string()),
        ("n_paired", pa.int64()),
        ("n_left_out", pa.int64()),
        ("mean_a", pa.float64()),
        ("mean_b", pa.float64()),
        ("difference", pa.float64()),
        ("ci_low", pa.float64()),
        ("ci_high", pa.float64()),
        ("test", pa.string()),
        ("p_value", pa.float64()),
        ("p_holm", pa.float64()),
        ("significant", pa.bool_()),
        ("higher_is_better", pa.bool_()),
        ("winner", pa.string()),
        ("reason", pa.string()),
    ]
)


def _get(obj: Any, name: str) -> Any:
    # comparisons are read by field name, like the HTML report reads them
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def results_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per (run, system, case, metric)."""
    return [
        {"run_id": cr.run_id, "system": cr.system, "golden_set": cr.golden_set, "case_id": cr.case_id,
         "task_type": cr.task_type, "tags": list(cr.tags), "metric": m.metric, "status": m.status,
         "value": m.value, "reason": m.reason, "unit": m.unit}
        for cr in summary.results
        for m in cr.results
    ]  # fmt: skip


def table_rows(summary: RunSummary) -> list[dict[str, Any]]:
    """One row per cell (system x task type and ``(all)`` x metric)."""
    return [c.as_dict() for c in summary.cells]


def comparison_rows(comparisons: Iterable[Any]) -> list[dict[str, Any]]:
    """One row per paired comparison, in the order given."""
    return [{name: _get(c, name) for name in COMPARISONS_SCHEMA.names} for c in comparisons]


def _frame(rows: Sequence[dict[str, Any]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=schema)


def write_exports(summary: RunSummary, folder: str | Path, comparisons: Iterable[Any] = ()) -> list[Path]:
    """Write the exports into ``folder`` (created) and return their paths.

    ``results.parquet``: run_id, system, golden_set, case_id, task_type, tags (a list), metric, status,
    value (null unless scored), reason, unit.  ``table.parquet``: the cells, as ``table.csv``.
    ``comparisons.csv`` / ``.parquet`` (only when ``comparisons`` are given):
    system_a, system_b, metric, slice, n_paired, n_left_out, mean_a, mean_b, difference (mean of a - b),
    ci_low, ci_high (its 95% CI), test, p_value, p_holm (Holm-adjusted), significant, higher_is_better,
    winner, reason.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows, schema in ((RESULTS_FILE, results_rows(summary), RESULTS_SCHEMA),
                               (TABLE_FILE, table_rows(summary), TABLE_SCHEMA)):  # fmt: skip
        pq.write_table(_frame(rows, schema), folder / name)
        written.append(folder / name)
    comparisons = list(comparisons)
    if comparisons:
        table = _frame(comparison_rows(comparisons), COMPARISONS_SCHEMA)
        pq.write_table(table, folder / COMPARISONS_FILE)
        frame: pd.DataFrame = table.to_pandas()
        frame.to_csv(folder / COMPARISONS_CSV, index=False, lineterminator="\n")
        written += [folder / COMPARISONS_CSV, folder / COMPARISONS_FILE]
    return written
