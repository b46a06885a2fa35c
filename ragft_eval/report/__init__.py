"""Reports: render a run's summary to the terminal, Markdown, CSV and JSONL files (no computation here)."""

from .files import judge_notes, print_summary, run_notes, write_report
from .table import headline_metrics, render_terminal, to_csv, to_markdown

__all__ = [
    "headline_metrics",
    "judge_notes",
    "print_summary",
    "render_terminal",
    "run_notes",
    "to_csv",
    "to_markdown",
    "write_report",
]
