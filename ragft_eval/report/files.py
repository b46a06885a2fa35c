"""Report files of a run: results.jsonl, table.csv, table.md under reports/<run_id>/."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .table import to_csv, to_markdown

if TYPE_CHECKING:
    from ..runner import RunResult


def run_notes(result: RunResult) -> list[str]:
    """Lines printed under every table: run id, golden-set hashes, gate outcome."""
    m = result.manifest
    notes = [f"run {m.run_id} · suite {m.suite_name} ({m.suite_hash[:19]})"]
    notes += [f"golden set {name}: {h[:19]}" for name, h in m.golden_sets.items()]
    if result.over_error_rate:
        notes.append(
            f"error rate above max_error_rate={result.max_error_rate:.0%} for: {', '.join(result.over_error_rate)}"
        )
    return notes


def write_report(result: RunResult, folder: Path) -> Path:
    """Write ``results.jsonl``, ``table.csv`` and ``table.md`` into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    headline = result.manifest.suite_config.get("headline")
    with (folder / "results.jsonl").open("w", encoding="utf-8") as f:
        for cr in result.results:
            f.write(cr.model_dump_json() + "\n")
    (folder / "table.csv").write_text(to_csv(result.cells), encoding="utf-8")
    (folder / "table.md").write_text(
        to_markdown(
            result.cells,
            result.error_rates,
            title=result.manifest.suite_name,
            headline=headline,
            notes=run_notes(result),
        ),
        encoding="utf-8",
    )
    return folder
