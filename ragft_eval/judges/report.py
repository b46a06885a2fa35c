"""The calibration table, printed from stored calibration records (never typed by hand)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def _ci(ci: Sequence[float] | None, fmt: str = "{:.2f}") -> str:
    return "" if not ci else f" [{fmt.format(ci[0])}, {fmt.format(ci[1])}]"


def calibration_table(records: Sequence[dict[str, Any]]) -> str:
    """Markdown: one row per stored calibration (latest per key), with n, CIs, seed and time taken."""
    header = ("| set | judge | n usable / items | agreement [95% CI] | Cohen's kappa [95% CI] | position consistency "
              "| agreement w/o human ties | reliable | sample, seed | took |")  # fmt: skip
    lines = [header, "|" + "---|" * 10]
    for r in records:
        extra = r.get("extra", {})
        kappa = "—" if r["kappa"] is None else f"{r['kappa']:.2f}"
        lines.append(
            f"| {r['set']} | {r['judge_model']} | {r['n_usable']} / {r['n_items']} "
            f"| {_pct(r['agreement'])}{_ci(r['agreement_ci'], '{:.0%}')} | {kappa}{_ci(r['kappa_ci'])} "
            f"| {_pct(extra.get('position_consistency'))} | {_pct(extra.get('agreement_without_human_ties'))} "
            f"| {'yes' if r['reliable'] else '**no**'} | {r['sample'] or 'all'}, {r['seed']} | {r['seconds']:.0f} s |"
        )
    return "\n".join(lines)
