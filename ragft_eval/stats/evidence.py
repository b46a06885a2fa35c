"""The evidence of a run's decision report, computed in one place from the run summary.

:func:`build_evidence` reads the suite's settings from the run's own manifest (``headline``, ``costs``,
``decide``, ``attribution``), so ``ragft-eval report RUN`` recomputes exactly what the run computed.
The golden sets are needed only for what the store does not hold (relevance labels for the failure
attribution, the questions and golden answers for the case browser); without them those parts are
absent and say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..golden import GoldenSet
from ..records import Case
from ..runner.suite import Suite
from .aggregate import Cell, headline_metrics
from .attribution import SystemAttribution, attribute
from .cost import LatencyStats, break_evens, costs, latency, pareto_front, project, tokens
from .decision import Decision, cell_slice, decide, tag_cells
from .significance import Comparison, compare_systems, power_by_slice, significance_letters
from .summary import RunSummary


@dataclass(frozen=True)
class Evidence:
    """Everything the decision report shows beyond the summary's cells."""

    comparisons: tuple[Comparison, ...]
    letters: dict[tuple[str, str, str], str]
    power: dict[str, Any]
    latency: tuple[LatencyStats, ...]
    cost: dict[str, Any]
    attribution: tuple[SystemAttribution, ...] | None
    decision: Decision | None
    tag_cells: tuple[Cell, ...] = ()
    cases: dict[tuple[str, str], Case] | None = None
    notes: tuple[str, ...] = field(default=())


def stored_suite(summary: RunSummary) -> Suite:
    """The suite config the run recorded (paths as recorded; nothing is loaded from them)."""
    return Suite.model_validate(summary.manifest.suite_config)


def build_evidence(summary: RunSummary, golden_sets: Mapping[str, GoldenSet] | None = None) -> Evidence:
    """Comparisons with letters and power, latency, cost and projection, attribution and the decision."""
    suite = stored_suite(summary)
    res, cells, boot = summary.results, list(summary.cells), summary.manifest.bootstrap
    systems = sorted({cr.system for cr in res})
    heads = headline_metrics(cells, suite.headline)
    cmps = compare_systems(res, case_hashes=summary.manifest.case_hashes, seed=boot["seed"])
    letters = significance_letters(cmps, systems)
    # per-case metrics only: a derived cell (abstention_balanced) has no per-case results to test
    recorded = {m.metric for cr in res for m in cr.results}
    power = {m: power_by_slice(res, metric=m) for m in sorted(set(heads.values()) & recorded)}
    lat = latency(res, resamples=boot["resamples"], seed=boot["seed"])
    spec = suite.costs
    cost_stats = costs(res, judge_usd_per_1k_prompt_tokens=spec.judge_usd_per_1k_prompt_tokens if spec else None,
                       judge_usd_per_1k_completion_tokens=spec.judge_usd_per_1k_completion_tokens if spec else None,
                       resamples=boot["resamples"], seed=boot["seed"])  # fmt: skip
    projections = project(cost_stats, spec) if spec else []
    cost: dict[str, Any] = {"costs": cost_stats, "projections": projections, "break_evens": break_evens(projections),
                            "tokens": tokens(res)}  # fmt: skip
    extra: list[Cell] = []
    if suite.decide and suite.decide.primary.slice.startswith("tag="):
        extra = tag_cells(res, suite.decide.primary.slice[4:], resamples=boot["resamples"], seed=boot["seed"])
    decision = decide(cells + extra, cmps, lat, cost_stats, suite.decide) if suite.decide else None
    if suite.decide:
        metric, sl = suite.decide.primary.metric, suite.decide.primary.slice
        quality = {c.system: c.mean for c in cells + extra if c.metric == metric and c.task_type == cell_slice(sl)}
        points = {s.system: (quality[s.system], s.system_usd_per_query) for s in cost_stats
                  if quality.get(s.system) is not None and s.system_usd_per_query is not None}  # fmt: skip
        cost["pareto"] = {"points": points, "front": pareto_front(points), "metric": metric, "slice": sl}
    notes: list[str] = []
    attribution = None
    cases = None
    if golden_sets is not None:
        relevant = {(gs.name, c.id): c.relevant_docs for gs in golden_sets.values() for c in gs.cases}
        attribution = tuple(attribute(res, relevant, heads, threshold=suite.attribution.threshold))
        cases = {(gs.name, c.id): c for gs in golden_sets.values() for c in gs.cases}
    else:
        notes.append("the golden sets were not available: no failure attribution, no golden text in the case browser")
    return Evidence(comparisons=tuple(cmps), letters=letters, power=power, latency=tuple(lat), cost=cost,
                    attribution=attribution, decision=decision, tag_cells=tuple(extra), cases=cases,
                    notes=tuple(notes))  # fmt: skip


def golden_sets_of(summary: RunSummary) -> dict[str, GoldenSet] | None:
    """The run's golden sets, loaded from the paths its suite recorded, if they are there unchanged."""
    from pathlib import Path

    from ..golden import load_golden_set

    suite_path = summary.manifest.suite_path
    base = Path(suite_path).parent if suite_path else Path(".")
    out: dict[str, GoldenSet] = {}
    for path in summary.manifest.suite_config.get("golden_sets", []):
        p = Path(path)
        try:
            gs = load_golden_set(p if p.is_absolute() else base / p)
        except Exception:  # moved or invalid: the report goes without what only the golden set holds
            return None
        if summary.manifest.golden_sets.get(gs.name) != gs.content_hash:
            return None  # changed since the run: its text would not be the text the systems saw
        out[gs.name] = gs
    return out
