"""Significance letters in the plain-text tables (Markdown and terminal), as in the HTML report."""

from __future__ import annotations

from ragft_eval.report.table import to_markdown
from ragft_eval.stats import Cell


def _cell(system: str, task: str, mean: float) -> Cell:
    return Cell(system=system, task_type=task, metric="token_recall", unit="ratio", higher_is_better=True,
                n_cases=10, n_scored=10, n_unscored=0, n_error=0, n_scorer_error=0, mean=mean, ci_low=mean - 0.1,
                ci_high=mean + 0.1)  # fmt: skip


def test_markdown_tables_mark_the_systems_a_cell_beats():
    cells = [_cell(s, t, m) for s, m in (("rag", 0.7), ("base", 0.2)) for t in ("(all)", "factual")]
    letters = {("token_recall", "(all)", "rag"): "b", ("token_recall", "task_type=factual", "rag"): "b"}
    md = to_markdown(cells, {"rag": (0, 10), "base": (0, 10)}, title="t", letters=letters)
    assert "| task type | metric | rag (a) | base (b) |" in md
    assert "| factual | token_recall | 0.700 ᵇ | 0.200 |" in md
    assert "| token_recall | 0.700 [0.600, 0.800] ᵇ (n=10) | 0.200 [0.100, 0.300] (n=10) |" in md
    plain = to_markdown(cells, {"rag": (0, 10), "base": (0, 10)}, title="t")
    assert "ᵇ" not in plain and "(a)" not in plain  # without evidence: the tables as before
