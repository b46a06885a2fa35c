"""Reports: render a run's aggregated cells to the terminal, Markdown, CSV and JSONL files."""

from .files import run_notes, write_report
from .table import headline_metrics, render_terminal, to_csv, to_markdown

__all__ = ["headline_metrics", "render_terminal", "run_notes", "to_csv", "to_markdown", "write_report"]
