"""Reports: render a run's summary to the terminal, Markdown, CSV and JSONL files (no computation here)."""

from .exports import write_exports
from .files import judge_notes, print_summary, run_notes, write_report
from .html import render_html, write_html
from .table import headline_metrics, render_terminal, to_csv, to_markdown

__all__ = [
    "headline_metrics",
    "judge_notes",
    "print_summary",
    "render_html",
    "render_terminal",
    "run_notes",
    "to_csv",
    "to_markdown",
    "write_exports",
    "write_html",
    "write_report",
]
