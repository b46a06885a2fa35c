"""The decision: which systems are shown to meet every constraint, which of them is best on the primary
metric, and whether that lead is significant.

A constraint is met only where it is measured: a system whose p95 latency, cost or metric mean cannot be
computed is "not shown to meet" the constraint, with the reason, and is not eligible.  Every sentence of
the decision carries the ids of the numbers behind it, which the report links to:

- ``cell:<system>/<slice>/<metric>``: an aggregated cell (slice ``(all)``, ``task_type=X`` or ``tag=Y``);
- ``cmp:<metric>/<slice>/<a>/<b>``: a paired comparison (``a < b`` by name, as in ``compare_systems``);
- ``latency:<system>`` and ``cost:<system>``: a system's latency percentiles and its cost per query.

The wording is fixed: the same inputs give the same sentences.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from ..records import CaseResult
from ..runner.suite import DecideSpec
from .aggregate import OVERALL, Cell, aggregate
from .cost import CostStats, LatencyStats
from .significance import Comparison

CheckStatus = Literal["met", "not_met", "not_measured"]
Lead = Literal["significant", "not_significant", "reversed", "not_tested", "tied", "unopposed", "none"]


def cell_ref(system: str, slice_name: str, metric: str) -> str:
    return f"cell:{system}/{slice_name}/{metric}"


def cmp_ref(metric: str, slice_name: str, a: str, b: str) -> str:
    """The id of the comparison of two systems, whichever order they are given in."""
    a, b = sorted((a, b))
    return f"cmp:{metric}/{slice_name}/{a}/{b}"


def latency_ref(system: str) -> str:
    return f"latency:{system}"


def cost_ref(system: str) -> str:
    return f"cost:{system}"


@dataclass(frozen=True)
class Sentence:
    """One sentence of the decision and the ids of the numbers it states."""

    text: str
    refs: tuple[str, ...]


@dataclass(frozen=True)
class ConstraintCheck:
    """One constraint for one system: ``met`` / ``not_met`` (with the measured value) or ``not_measured``
    (value None, with the reason)."""

    system: str
    kind: Literal["p95_latency_s", "max_cost_per_1k_usd", "min", "max"]
    metric: str | None  # for min / max
    constraint: str  # its wording, e.g. "p95 latency <= 2 s"
    limit: float
    value: float | None
    status: CheckStatus
    reason: str | None
    ref: str


@dataclass(frozen=True)
class Decision:
    """The decision section.

    ``eligible``: systems shown to meet every constraint.  ``ranked``: those with a primary value, best
    first (ties by name), as (system, mean); ``unranked``: eligible without one.  ``best``: the systems at
    the top value (more than one when tied); ``choice``: the single best, None when none is eligible or
    the top is tied.  ``runners_up``: the systems at the second value.  ``lead``: whether the choice's lead
    over them is ``significant``, ``not_significant``, ``reversed`` (the paired test favours a runner-up),
    ``not_tested`` (no comparison, or one that could not be made), ``unopposed`` (the only ranked
    system), ``tied`` or ``none`` (nothing ranked).  With several runners-up the weakest outcome counts.
    """

    primary_metric: str
    primary_slice: str
    higher_is_better: bool | None
    systems: tuple[str, ...]
    checks: tuple[ConstraintCheck, ...]
    eligible: tuple[str, ...]
    ranked: tuple[tuple[str, float], ...]
    unranked: tuple[str, ...]
    best: tuple[str, ...]
    choice: str | None
    runners_up: tuple[str, ...]
    lead: Lead
    comparisons: tuple[str, ...]  # ids of the comparisons the lead was judged on
    sentences: tuple[Sentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "text": self.text}


# --- slices and wording -----------------------------------------------------------------------------


def cell_slice(slice_name: str) -> str:
    """The ``Cell.task_type`` that holds a slice's cells: ``(all)`` -> OVERALL, ``task_type=X`` -> ``X``,
    ``tag=Y`` -> ``tag=Y`` (as :func:`tag_cells` labels them).  ValueError for any other form."""
    if slice_name == OVERALL:
        return OVERALL
    if slice_name.startswith("task_type=") and len(slice_name) > len("task_type="):
        return slice_name.removeprefix("task_type=")
    if slice_name.startswith("tag=") and len(slice_name) > len("tag="):
        return slice_name
    raise ValueError(f"slice must be '(all)', 'task_type=X' or 'tag=Y', got {slice_name!r}")


def tag_cells(results: Iterable[CaseResult], tag: str, *, resamples: int = 1000, seed: int = 0) -> list[Cell]:
    """Cells of the cases tagged ``tag``: :func:`aggregate` of those cases, their overall cells relabelled
    ``task_type = "tag=<tag>"`` (aggregate makes task-type cells only).  Pass them to :func:`decide` with
    the other cells when the primary slice is a tag."""
    tagged = [cr for cr in results if tag in cr.tags]
    cells = aggregate(tagged, resamples=resamples, seed=seed)
    return [replace(c, task_type=f"tag={tag}") for c in cells if c.task_type == OVERALL]


def _slice_words(slice_name: str) -> str:
    if slice_name == OVERALL:
        return "overall"
    kind, _, value = slice_name.partition("=")
    return f"on task type {value}" if kind == "task_type" else f"on tag {value}"


def _limit(x: float) -> str:
    return f"{x:g}"


def _usd(x: float) -> str:
    """Dollars: 2 decimals from $1, else 3 significant digits in fixed notation ($0.000123)."""
    if x == 0:
        return "$0"
    if abs(x) >= 1:
        return f"${x:,.2f}"
    return f"${x:.{2 - math.floor(math.log10(abs(x)))}f}"


def _value(x: float, unit: str) -> str:
    if unit == "usd":
        return _usd(x)
    if unit == "s":
        return f"{x:.3f} s"
    if unit == "tokens":
        return f"{x:.1f} tokens"
    return f"{x:.3f}"


def _signed(x: float, unit: str) -> str:
    return ("+" if x >= 0 else "-") + _value(abs(x), unit)


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


# --- constraints ------------------------------------------------------------------------------------


def _checks(
    system: str,
    spec: DecideSpec,
    cells: dict[tuple[str, str, str], Cell],
    latency: dict[str, LatencyStats],
    cost: dict[str, CostStats],
) -> list[ConstraintCheck]:
    out = []

    def check(kind, metric, wording, limit, value, reason, ref, ok) -> None:
        status: CheckStatus = "not_measured" if value is None else ("met" if ok(value) else "not_met")
        out.append(ConstraintCheck(system, kind, metric, wording, limit, value, status, reason, ref))

    if spec.p95_latency_s is not None:
        lat = latency.get(system)
        value = lat.p95.value if lat else None
        reason = (lat.p95.reason if lat else "no latency measured") if value is None else None
        limit = spec.p95_latency_s
        check("p95_latency_s", None, f"p95 latency <= {_limit(limit)} s", limit, value, reason, latency_ref(system),
              lambda v: v <= limit)  # fmt: skip
    if spec.max_cost_per_1k_usd is not None:
        cs = cost.get(system)
        value = cs.system_usd_per_1k if cs else None
        reason = (cs.system_reason if cs else "no cost measured") if value is None else None
        limit = spec.max_cost_per_1k_usd
        check("max_cost_per_1k_usd", None, f"cost per 1,000 queries <= {_usd(limit)}", limit, value, reason,
              cost_ref(system), lambda v: v <= limit)  # fmt: skip
    for kind, bounds, op in (("min", spec.min, ">="), ("max", spec.max, "<=")):
        for metric in sorted(bounds):
            limit = bounds[metric]
            cell = cells.get((system, OVERALL, metric))
            value = cell.mean if cell else None
            reason = None
            if cell is None:
                reason = f"{metric} is not measured for {system}"
            elif value is None:
                counts = f"{cell.n_unscored} unscored, {cell.n_scorer_error} scorer errors"
                reason = f"no case has a value of {metric} ({counts})"
            check(kind, metric, f"{metric} {op} {_limit(limit)} (overall mean)", limit, value, reason,
                  cell_ref(system, OVERALL, metric),
                  (lambda v, lim=limit: v >= lim) if kind == "min" else (lambda v, lim=limit: v <= lim))  # fmt: skip
    return out


def _measured(c: ConstraintCheck, cells: dict[tuple[str, str, str], Cell]) -> str:
    """The check's measured value in its unit."""
    if c.kind == "p95_latency_s":
        return _value(c.value, "s")
    if c.kind == "max_cost_per_1k_usd":
        return _usd(c.value)
    cell = cells.get((c.system, OVERALL, c.metric))
    return _value(c.value, cell.unit if cell else "ratio")


def _system_sentences(
    system: str, checks: list[ConstraintCheck], cells: dict[tuple[str, str, str], Cell]
) -> list[Sentence]:
    failed = [c for c in checks if c.status == "not_met"]
    unmeasured = [c for c in checks if c.status == "not_measured"]
    if not failed and not unmeasured:
        parts = [f"{c.constraint.removesuffix(' (overall mean)')} ({_measured(c, cells)})" for c in checks]
        return [Sentence(f"{system} meets every constraint: {'; '.join(parts)}.", tuple(c.ref for c in checks))]
    out = []
    if failed:
        parts = [f"{c.constraint} (measured {_measured(c, cells)})" for c in failed]
        out.append(Sentence(f"{system} does not meet {'; nor '.join(parts)}.", tuple(c.ref for c in failed)))
    for c in unmeasured:
        out.append(Sentence(f"{system} is not shown to meet {c.constraint}: {c.reason}.", (c.ref,)))
    return out


# --- the lead ---------------------------------------------------------------------------------------

_WEAKEST = ("reversed", "not_tested", "not_significant", "significant")  # first found wins


def _lead_sentence(
    best: str, other: str, metric: str, slice_name: str, unit: str, comparisons: dict[tuple[str, str], Comparison]
) -> tuple[str, Sentence, str | None]:
    """(outcome, sentence, comparison id or None) for best's lead over one runner-up."""
    c = comparisons.get(tuple(sorted((best, other))))
    cells = (cell_ref(best, slice_name, metric), cell_ref(other, slice_name, metric))
    if c is None:
        text = f"Its lead over {other} is not tested: no paired comparison on {metric} {_slice_words(slice_name)}."
        return "not_tested", Sentence(text, cells), None
    ref = cmp_ref(metric, slice_name, best, other)
    if c.p_value is None or c.difference is None or c.p_holm is None:
        text = f"Its lead over {other} is not tested: {c.reason or 'the comparison could not be made'}."
        return "not_tested", Sentence(text, (ref, *cells)), ref
    sign = 1 if c.system_a == best else -1
    diff = sign * c.difference
    interval = ""
    if c.ci_low is not None and c.ci_high is not None:
        low, high = sorted((sign * c.ci_low, sign * c.ci_high))
        interval = f" [{_signed(low, unit)}, {_signed(high, unit)}]"
    evidence = (f"paired difference {best} - {other} {_signed(diff, unit)}{interval} over {c.n_paired} cases, "
                f"Holm-adjusted p = {_p(c.p_holm)}")  # fmt: skip
    if c.significant and c.winner == other:
        text = f"On the cases both have a value for, {other} is significantly better ({evidence}): the lead is not "
        text += "supported."
        return "reversed", Sentence(text, (ref,)), ref
    if c.significant and c.winner == best:
        return "significant", Sentence(f"Its lead over {other} is significant ({evidence}).", (ref,)), ref
    text = f"Its lead over {other} is not significant ({evidence}): the two are not shown to differ."
    return "not_significant", Sentence(text, (ref,)), ref


# --- decide -----------------------------------------------------------------------------------------


def decide(
    cells: Iterable[Cell],
    comparisons: Iterable[Comparison],
    latency: Iterable[LatencyStats],
    cost: Iterable[CostStats],
    spec: DecideSpec | None,
) -> Decision | None:
    """The decision for the suite's ``decide:`` spec; None when there is no spec or it states no constraint
    (without constraints there is nothing to decide on: the tables already rank the systems).

    1. Systems: every system in ``cells``, ``latency`` and ``cost``, sorted by name.
    2. Constraints, each checked on its measured value, bounds inclusive: ``p95_latency_s`` against
       :attr:`LatencyStats.p95` (the point estimate), ``max_cost_per_1k_usd`` against
       :attr:`CostStats.system_usd_per_1k` (the system's own cost; the judge's is not a serving cost),
       ``min`` / ``max`` against the overall cell's mean.  A value that cannot be computed (no p95 because
       n is too small, no cost reported, no cell or no scored case) makes the system "not shown to meet"
       it; it is never assumed met.  Eligible: met every constraint.
    3. Primary: the mean of ``spec.primary.metric`` in the cell of ``spec.primary.slice``
       (:func:`cell_slice`; for a tag slice pass :func:`tag_cells`).  Eligible systems are ranked by it in
       the metric's direction; an eligible system without it is unranked and said so.  Systems at exactly
       the top value tie (no choice); the systems at the next value are the runners-up.
    4. The lead over each runner-up is judged on the comparison of the same metric and slice
       (:class:`~ragft_eval.stats.significance.Comparison`): ``significant`` when its Holm-adjusted test is
       significant in the choice's favour, ``reversed`` when significant the other way (the paired cases
       can differ from the means' cases), ``not_significant`` otherwise; ``not_tested`` without a
       comparison or with one that carries no test.

    The sentences, in order: one or two per system on the constraints, then the ranking, then the lead.
    """
    if spec is None or (spec.p95_latency_s is None and spec.max_cost_per_1k_usd is None and not spec.min
                        and not spec.max):  # fmt: skip
        return None
    cells_idx = {(c.system, c.task_type, c.metric): c for c in cells}
    lat_idx = {s.system: s for s in latency}
    cost_idx = {s.system: s for s in cost}
    metric, slice_name = spec.primary.metric, spec.primary.slice
    key_slice = cell_slice(slice_name)
    cmp_idx = {
        tuple(sorted((c.system_a, c.system_b))): c for c in comparisons if c.metric == metric and c.slice == slice_name
    }
    systems = sorted({s for s, _, _ in cells_idx} | set(lat_idx) | set(cost_idx))

    sentences: list[Sentence] = []
    all_checks: list[ConstraintCheck] = []
    eligible = []
    for system in systems:
        checks = _checks(system, spec, cells_idx, lat_idx, cost_idx)
        all_checks += checks
        sentences += _system_sentences(system, checks, cells_idx)
        if all(c.status == "met" for c in checks):
            eligible.append(system)

    primary = {s: cells_idx.get((s, key_slice, metric)) for s in systems}
    direction = next((c.higher_is_better for c in primary.values() if c is not None), None)
    unit = next((c.unit for c in primary.values() if c is not None), "ratio")
    where = f"{metric} {_slice_words(slice_name)}"
    ranked_pairs = [(s, primary[s].mean) for s in eligible if primary[s] is not None and primary[s].mean is not None]
    unranked = [s for s in eligible if s not in dict(ranked_pairs)]
    sign = 1 if direction in (True, None) else -1
    ranked_pairs.sort(key=lambda sv: (-sign * sv[1], sv[0]))
    for s in unranked:
        reason = "no such cell" if primary[s] is None else "no case has a value"
        sentences.append(Sentence(f"{s} meets every constraint but has no value of {where} ({reason}).",
                                  (cell_ref(s, slice_name, metric),)))  # fmt: skip

    best: list[str] = []
    runners_up: list[str] = []
    lead: Lead = "none"
    used: list[str] = []
    choice = None
    if not eligible:
        refs = tuple(c.ref for c in all_checks if c.status != "met")
        sentences.append(Sentence("No system is shown to meet every constraint, so none is chosen.", refs))
    elif not ranked_pairs:
        refs = tuple(cell_ref(s, slice_name, metric) for s in eligible)
        sentences.append(Sentence(f"No system shown to meet every constraint has a value of {where}, so none is "
                                  "chosen.", refs))  # fmt: skip
    else:
        top = ranked_pairs[0][1]
        best = [s for s, v in ranked_pairs if v == top]
        rest = [(s, v) for s, v in ranked_pairs if v != top]
        if len(best) > 1:
            lead = "tied"
            text = f"{_and(best)} tie for best on {where} at {_value(top, unit)}, so none is chosen on it."
            sentences.append(Sentence(text, tuple(cell_ref(s, slice_name, metric) for s in best)))
        elif not rest:
            lead, choice = "unopposed", best[0]
            text = (f"{choice} is the only system shown to meet every constraint with a value of {where}: "
                    f"{_value(top, unit)}.")  # fmt: skip
            sentences.append(Sentence(text, (cell_ref(choice, slice_name, metric),)))
        else:
            choice = best[0]
            second = rest[0][1]
            runners_up = [s for s, v in rest if v == second]
            n = len(ranked_pairs)
            text = (f"Of the {n} systems shown to meet every constraint with a value of {where}, {choice} is "
                    f"best at {_value(top, unit)}, ahead of {_and(runners_up)} at {_value(second, unit)}.")  # fmt: skip
            refs = tuple(cell_ref(s, slice_name, metric) for s in [choice, *runners_up])
            sentences.append(Sentence(text, refs))
            outcomes = []
            for other in runners_up:
                outcome, sentence, ref = _lead_sentence(choice, other, metric, slice_name, unit, cmp_idx)
                outcomes.append(outcome)
                sentences.append(sentence)
                if ref is not None:
                    used.append(ref)
            lead = next(o for o in _WEAKEST if o in outcomes)

    return Decision(
        primary_metric=metric,
        primary_slice=slice_name,
        higher_is_better=direction,
        systems=tuple(systems),
        checks=tuple(all_checks),
        eligible=tuple(eligible),
        ranked=tuple(ranked_pairs),
        unranked=tuple(unranked),
        best=tuple(best),
        choice=choice,
        runners_up=tuple(runners_up),
        lead=lead,
        comparisons=tuple(used),
        sentences=tuple(sentences),
    )
