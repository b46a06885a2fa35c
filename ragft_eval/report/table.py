"""Renderers for the comparison table: terminal (rich), Markdown and CSV.  No computation here beyond
arranging the aggregated cells; every number shown comes from :mod:`ragft_eval.stats`.

Three views:

- **headline**: task type x system, one metric per task type (the suite's ``headline`` mapping, else
  the first of :data:`~ragft_eval.stats.HEADLINE_PREFERENCE` scored for that task type);
- **overall**: system x metric, with cases, error rate and unscored counts;
- **long** (CSV and Markdown): every (system, task type, metric) cell with n, counts and CI.
"""

from __future__ import annotations

import csv
import io
import string
from collections.abc import Collection, Mapping, Sequence

from rich.console import Console
from rich.table import Table

from ..stats import OVERALL, Cell, headline_metrics


def fmt_value(cell: Cell | None, *, ci: bool = True) -> str:
    """``0.62 [0.55, 0.70]`` for ratios; units for operational metrics; ``—`` when nothing was scored."""
    if cell is None:
        return ""
    if cell.mean is None:
        return "—"
    digits = 3 if cell.unit in ("ratio", "share", "s") else (0 if cell.unit == "tokens" else 5)
    text = f"{cell.mean:.{digits}f}"
    if ci and cell.ci_low is not None and cell.n_scored + cell.n_error > 1:
        text += f" [{cell.ci_low:.{digits}f}, {cell.ci_high:.{digits}f}]"
    if cell.unit != "ratio":
        text += f" {cell.unit}"
    return text


def fmt_counts(cell: Cell) -> str:
    parts = [f"n={cell.n_scored + cell.n_error}"]
    if cell.n_unscored:
        parts.append(f"unscored={cell.n_unscored}")
    if cell.n_error:
        parts.append(f"err={cell.n_error}")
    if cell.n_scorer_error:
        parts.append(f"scorer_err={cell.n_scorer_error}")
    return " ".join(parts)


def _index(cells: Sequence[Cell]) -> dict[tuple[str, str, str], Cell]:
    return {(c.system, c.task_type, c.metric): c for c in cells}


def systems_of(cells: Sequence[Cell]) -> list[str]:
    return list(dict.fromkeys(c.system for c in cells))


def metrics_of(cells: Sequence[Cell]) -> list[str]:
    return list(dict.fromkeys(c.metric for c in cells))


def task_types_of(cells: Sequence[Cell]) -> list[str]:
    return sorted({c.task_type for c in cells if c.task_type != OVERALL})


Letters = Mapping[tuple[str, str, str], str]  # (metric, slice, system) -> the letters of the systems it beats
_SUPERSCRIPT = dict(zip("abcdefghijklmnoprstuvwxyz", "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ", strict=True))


def _beats(letters: Letters | None, metric: str, slice_: str, system: str) -> str:
    """The superscript letters of the systems ``system`` beats (ranx style), for plain-text tables."""
    if not letters or not (won := letters.get((metric, slice_, system), "")):
        return ""
    return " " + "".join(_SUPERSCRIPT.get(ch, f"^{ch}") for ch in won)


def system_header(systems: Sequence[str], letters: Letters | None) -> list[str]:
    """Column heads: with significance letters, each system with its letter (``rag (b)``)."""
    if letters is None:
        return list(systems)
    return [f"{s} ({string.ascii_lowercase[i] if i < 26 else i})" for i, s in enumerate(systems)]


def headline_rows(cells: Sequence[Cell], overrides: Mapping[str, str] | None = None,
                  letters: Letters | None = None) -> list[list[str]]:  # fmt: skip
    idx, systems = _index(cells), systems_of(cells)
    rows = []
    for task, metric in headline_metrics(cells, overrides).items():
        rows.append([task, metric] + [fmt_value(idx.get((s, task, metric)), ci=False)
                                      + _beats(letters, metric, f"task_type={task}", s) for s in systems])  # fmt: skip
    return rows


def overall_rows(
    cells: Sequence[Cell], error_rates: Mapping[str, tuple[int, int]], flagged: Collection[str] = (),
    letters: Letters | None = None, flag: str | Mapping[str, str] = "unreliable",
) -> list[list[str]]:
    """Metric rows x system columns (systems are few, metrics many), led by cases and error rate.
    ``flag``: why the ``flagged`` metrics are flagged, one reason or one per metric."""
    idx, systems = _index(cells), systems_of(cells)
    rows = [
        ["cases", *[str(error_rates.get(s, (0, 0))[1]) for s in systems]],
        ["error rate", *[f"{e / n:.1%}" if n else "—" for e, n in (error_rates.get(s, (0, 0)) for s in systems)]],
    ]
    for m in metrics_of(cells):
        why = flag if isinstance(flag, str) else flag.get(m, "unreliable")
        row = [f"{m} ⚠ {why} judge" if m in flagged else m]
        for s in systems:
            cell = idx.get((s, OVERALL, m))
            row.append(f"{fmt_value(cell)}{_beats(letters, m, OVERALL, s)} ({fmt_counts(cell)})" if cell else "")
        rows.append(row)
    return rows


def render_terminal(
    cells: Sequence[Cell],
    error_rates: Mapping[str, tuple[int, int]],
    *,
    title: str = "",
    headline: Mapping[str, str] | None = None,
    footer: Sequence[str] = (),
    console: Console | None = None,
    flagged: Collection[str] = (),
    letters: Letters | None = None,
    flag: str | Mapping[str, str] = "unreliable",
) -> None:
    """Print the headline and overall tables with rich (with ``letters``: significance, ranx style)."""
    console = console or Console()
    systems = system_header(systems_of(cells), letters)
    head = Table(title=f"{title}: task type x system (mean)", show_lines=False)
    for col in ["task type", "metric", *systems]:
        head.add_column(col)
    for row in headline_rows(cells, headline, letters):
        head.add_row(*row)
    console.print(head)
    overall = Table(title=f"{title}: overall, mean [95% bootstrap CI] (counts)")
    for col in ["metric", *systems]:
        overall.add_column(col, overflow="fold")
    for row in overall_rows(cells, error_rates, flagged, letters, flag):
        overall.add_row(*row)
    console.print(overall)
    for line in footer:
        console.print(line)


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    def esc(x: str) -> str:
        return x.replace("|", "\\|")

    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


LONG_COLUMNS = (
    "system",
    "task_type",
    "metric",
    "unit",
    "higher_is_better",
    "n_cases",
    "n_scored",
    "n_unscored",
    "n_error",
    "n_scorer_error",
    "error_rate",
    "mean",
    "ci_low",
    "ci_high",
)


def to_markdown(
    cells: Sequence[Cell],
    error_rates: Mapping[str, tuple[int, int]],
    *,
    title: str,
    headline: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
    flagged: Collection[str] = (),
    letters: Letters | None = None,
    flag: str | Mapping[str, str] = "unreliable",
) -> str:
    systems = system_header(systems_of(cells), letters)
    parts = [f"# {title}", ""]
    parts += list(notes) + ([""] if notes else [])
    if letters is not None:
        parts += ["Superscript letters after a value name the systems it beats on that metric and slice (paired "
                  "test, Holm-corrected, alpha 0.05).", ""]  # fmt: skip
    parts += [
        "## Task type x system",
        "",
        _md_table(["task type", "metric", *systems], headline_rows(cells, headline, letters)),
        "",
    ]
    parts += [
        "## Overall: mean [95% bootstrap CI] (counts)",
        "",
        _md_table(["metric", *systems], overall_rows(cells, error_rates, flagged, letters, flag)),
        "",
        "## Every cell",
        "",
        _md_table(
            [
                "system",
                "task type",
                "metric",
                "mean [95% CI]",
                "n scored",
                "n unscored",
                "n error",
                "error rate",
            ],
            [
                [
                    c.system,
                    c.task_type,
                    c.metric,
                    fmt_value(c),
                    str(c.n_scored),
                    str(c.n_unscored),
                    str(c.n_error),
                    f"{c.error_rate:.1%}",
                ]
                for c in cells
            ],
        ),
        "",
    ]
    return "\n".join(parts)


def to_csv(cells: Sequence[Cell]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=LONG_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for c in cells:
        d = c.as_dict()
        writer.writerow({k: ("" if d[k] is None else d[k]) for k in LONG_COLUMNS})
    return buf.getvalue()
