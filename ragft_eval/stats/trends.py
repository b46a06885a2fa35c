"""Trends over a window of runs (a quarter): what the quarterly report shows, computed here, rendered in
:mod:`ragft_eval.report.quarterly_html`.

For the runs of one suite in ``[since, until]``, oldest first:

- per system and headline metric, the series of run means with their bootstrap CIs (the overall slice);
  the series is *broken* where the golden set's content changed, so means over different cases are never
  joined by a line, and each segment says its golden-set version and case count;
- every step between consecutive runs, tested by :func:`~ragft_eval.stats.compare.compare_runs` (paired on
  the cases both runs share, same id and content hash; the sign-flip test), its raw p-values Holm-corrected
  per (system, metric) across *all* steps of the window, since every step is a candidate change point;
- a *change point* where the manifests differ (:func:`~ragft_eval.runner.manifest_diff`, run id and time
  aside), each with its diff grouped by cause (golden set, prompt, model, adapter, index, judge, config,
  packages); a significant step between runs whose manifests are identical is *unexplained*;
- latency (p50, p95) and system cost per query per system and run; the stored gate results of each run;
  the decision (``decide:``) of each run, the latest in full, and whether it changed in the window.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from itertools import pairwise
from typing import Any

from ..store import Store
from .aggregate import OVERALL, headline_metrics
from .compare import compare_runs
from .cost import costs, latency
from .decision import Decision
from .evidence import build_evidence, stored_suite
from .history import parse_when
from .significance import holm
from .summary import RunSummary, build_summary

SCHEMA_VERSION = 1
IGNORED = ("run_id", "created_at")  # what differs between any two runs: never a change

# a changed manifest key's cause, by its first matching rule (dotted key prefix or a word in it)
_CAUSES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("golden set", ("golden_sets", "golden_set_versions", "case_hashes")),
    ("judge", ("judge", "judge_identity")),
    ("index", ("retrievers",)),
    ("packages", ("package_versions", "python")),
    ("suite", ("suite_config", "suite_hash", "suite_path", "selection", "metrics", "bootstrap")),
)
_WORDS = (("prompt", ("template", "prompt")), ("adapter", ("adapter", "lora", "gguf")), ("index", ("index",)),
          ("model", ("model",)))  # fmt: skip


def cause_of(key: str) -> str:
    """What a changed manifest key is: golden set, judge, index, packages, suite (its config), prompt, adapter,
    model or config (another system setting)."""
    head = key.split(".", 1)[0]
    for cause, heads in _CAUSES:
        if head in heads:
            return cause
    for cause, words in _WORDS:
        if any(w in key.lower() for w in words):
            return cause
    return "config"


def _lookup(dump: dict[str, Any], key: str) -> Any:
    node: Any = dump
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Change:
    """One changed manifest entry (``old``/``new`` as recorded; case hashes are counted, not listed)."""

    key: str
    cause: str
    old: Any
    new: Any


@dataclass(frozen=True)
class ChangePoint:
    """What changed between ``run_a`` and ``run_b`` (consecutive runs), and the cases they share."""

    index: int  # 1, 2, ... in the window (the marker's number)
    run_a: str
    run_b: str
    at: str  # run_b's created_at
    causes: tuple[str, ...]
    changes: tuple[Change, ...]
    shared_cases: int
    only_a: int
    only_b: int


@dataclass(frozen=True)
class Step:
    """One system's step on one metric between consecutive runs, on their shared cases.  ``p_holm``:
    Holm across every step of the (system, metric) series; ``unexplained``: significant, yet the manifests
    are identical (``change`` is None)."""

    system: str
    metric: str
    run_a: str
    run_b: str
    at: str
    change: int | None  # the ChangePoint's index, None: nothing recorded changed
    causes: tuple[str, ...]
    n_shared: int
    mean_a: float | None
    mean_b: float | None
    difference: float | None  # b - a on the shared cases
    p_value: float | None
    p_holm: float | None
    significant: bool
    unexplained: bool
    higher_is_better: bool


@dataclass(frozen=True)
class Point:
    """A run's mean of one metric for one system (all its cases), with its CI; ``segment`` counts golden-set
    content changes before it (a new segment starts at each)."""

    run_id: str
    at: str
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    segment: int


@dataclass(frozen=True)
class Series:
    system: str
    metric: str
    unit: str
    higher_is_better: bool
    points: tuple[Point, ...]


@dataclass(frozen=True)
class Segment:
    """A stretch of the window on one golden-set content; ``shared_with_previous``: cases (same id and
    hash) it shares with the segment before it."""

    index: int
    first_run: str
    golden_sets: dict[str, str]  # name -> version
    cases: int
    shared_with_previous: int | None


@dataclass(frozen=True)
class Ops:
    """A system's latency and cost in one run (None where the run did not measure them)."""

    system: str
    run_id: str
    at: str
    p50_s: float | None
    p95_s: float | None
    usd_per_query: float | None


@dataclass(frozen=True)
class GateRun:
    """A run's latest stored gate evaluation."""

    run_id: str
    at: str
    evaluated_at: str | None
    passed: bool | None  # None: no gate results stored
    results: tuple[tuple[str, bool, bool, str], ...] = ()  # (name, passed, skipped, message)
    baseline: str | None = None


@dataclass(frozen=True)
class Trends:
    """The window's trends (see the module docstring).  ``decisions``: (run_id, at, choice) per run, with
    ``decision_changed`` when the choice differs between any two; ``latest_decision`` in full."""

    suite: str
    since: str | None
    until: str | None
    runs: tuple[tuple[str, str], ...]  # (run_id, created_at)
    metrics: tuple[str, ...]
    series: tuple[Series, ...]
    segments: tuple[Segment, ...]
    change_points: tuple[ChangePoint, ...]
    steps: tuple[Step, ...]
    ops: tuple[Ops, ...]
    gates: tuple[GateRun, ...]
    decisions: tuple[tuple[str, str, str | None], ...]
    latest_decision: Decision | None
    decision_changed: bool
    alpha: float
    notes: tuple[str, ...] = field(default=())
    schema_version: int = SCHEMA_VERSION

    def steps_of(self, system: str, metric: str) -> list[Step]:
        return [s for s in self.steps if s.system == system and s.metric == metric]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _changes(a: RunSummary, b: RunSummary, keys: Sequence[str]) -> tuple[Change, ...]:
    da, db = a.manifest.model_dump(mode="json"), b.manifest.model_dump(mode="json")
    out: list[Change] = []
    hashes: dict[str, list[str]] = {}
    for key in keys:
        if key.startswith("case_hashes."):  # one line per golden set, not one per case
            hashes.setdefault(key.split(".")[1], []).append(key)
            continue
        out.append(Change(key=key, cause=cause_of(key), old=_lookup(da, key), new=_lookup(db, key)))
    for name, changed in hashes.items():
        old, new = da["case_hashes"].get(name, {}), db["case_hashes"].get(name, {})
        added = sum(1 for c in new if c not in old)
        removed = sum(1 for c in old if c not in new)
        out.append(Change(key=f"case_hashes.{name}", cause="golden set", old=f"{len(old)} cases",
                          new=f"{len(new)} cases: {len(changed) - added - removed} changed, {added} added, "
                              f"{removed} removed"))  # fmt: skip
    return tuple(out)


def _gate_runs(store: Store, runs: Sequence[RunSummary]) -> tuple[GateRun, ...]:
    stored: dict[str, list[dict[str, Any]]] = {}
    for record in store.artifacts("gates"):
        stored.setdefault(record.get("run_id"), []).append(record)
    out = []
    for s in runs:
        records = sorted(stored.get(s.run_id, []), key=lambda r: r.get("evaluated_at") or "")
        if not records:
            out.append(GateRun(run_id=s.run_id, at=s.manifest.created_at, evaluated_at=None, passed=None))
            continue
        last = records[-1]
        out.append(GateRun(run_id=s.run_id, at=s.manifest.created_at, evaluated_at=last.get("evaluated_at"),
                           passed=bool(last.get("passed")), baseline=last.get("baseline"),
                           results=tuple((g.get("name", "?"), bool(g.get("passed")), bool(g.get("skipped")),
                                          g.get("message", "")) for g in last.get("results") or [])))  # fmt: skip
    return tuple(out)


def window_runs(store: Store, *, since: str | date | datetime | None = None,
                until: str | date | datetime | None = None,
                suite: str | None = None) -> tuple[str, list[str]]:  # fmt: skip
    """The suite and the finished run ids of the window, oldest first (``suite`` None: the newest run's)."""
    start, end = parse_when(since), parse_when(until, end=True)
    runs = []
    for r in store.runs():
        created = parse_when(r["created_at"])
        if r["status"] != "finished" or (start and created < start) or (end and created > end):
            continue
        runs.append(r)
    if suite is None and runs:
        suite = runs[-1]["suite_name"]
    return suite or "", [r["run_id"] for r in runs if r["suite_name"] == suite]


def build_trends(store: Store, *, since: str | date | datetime | None = None,
                 until: str | date | datetime | None = None, suite: str | None = None, alpha: float = 0.05,
                 resamples: int = 10000, seed: int = 0) -> Trends:  # fmt: skip
    """The trends of ``suite``'s finished runs created in ``[since, until]`` (see the module docstring)."""
    suite_name, ids = window_runs(store, since=since, until=until, suite=suite)
    summaries = sorted((build_summary(store, i) for i in ids), key=lambda s: (s.manifest.created_at, s.run_id))
    notes: list[str] = []
    if suite is None and summaries:
        others = {r["suite_name"] for r in store.runs()} - {suite_name}
        if others:
            notes.append(f"suite {suite_name} (the newest run's); the store also holds: {', '.join(sorted(others))}")
    latest = summaries[-1] if summaries else None
    metrics: tuple[str, ...] = ()
    if latest is not None:
        heads = headline_metrics(list(latest.cells), stored_suite(latest).headline)
        metrics = tuple(sorted(set(heads.values())))

    # segments: a new one at each change of golden-set content
    segments: list[Segment] = []
    seg_of: dict[str, int] = {}
    for i, s in enumerate(summaries):
        if i == 0 or s.manifest.golden_sets != summaries[i - 1].manifest.golden_sets:
            shared = None
            if i:
                prev, cur = summaries[i - 1].manifest.case_hashes, s.manifest.case_hashes
                shared = sum(1 for g, cases in cur.items() for c, h in cases.items() if prev.get(g, {}).get(c) == h)
            segments.append(Segment(index=len(segments), first_run=s.run_id, golden_sets=dict(
                s.manifest.golden_set_versions), cases=sum(len(v) for v in s.manifest.case_hashes.values()),
                shared_with_previous=shared))  # fmt: skip
        seg_of[s.run_id] = len(segments) - 1

    systems = sorted({cr.system for s in summaries for cr in s.results})
    series = []
    for system in systems:
        for metric in metrics:
            points, unit, hib = [], "ratio", True
            for s in summaries:
                cell = next((c for c in s.cells if c.system == system and c.metric == metric
                             and c.task_type == OVERALL), None)  # fmt: skip
                if cell is None:
                    continue
                unit, hib = cell.unit, cell.higher_is_better
                points.append(Point(run_id=s.run_id, at=s.manifest.created_at, mean=cell.mean, ci_low=cell.ci_low,
                                    ci_high=cell.ci_high, n=cell.n_cases, segment=seg_of[s.run_id]))  # fmt: skip
            series.append(Series(system=system, metric=metric, unit=unit, higher_is_better=hib, points=tuple(points)))

    # steps between consecutive runs: compare_runs pairs the shared cases; Holm per (system, metric) series
    change_points: list[ChangePoint] = []
    raw: list[dict[str, Any]] = []
    for a, b in pairwise(summaries):
        cmp = compare_runs(a, b, alpha=alpha, resamples=resamples, seed=seed, metrics=list(metrics))
        changed = [k for k in cmp.changed if k not in IGNORED]
        index = None
        causes: tuple[str, ...] = ()
        if changed:
            changes = _changes(a, b, changed)
            found = {c.cause for c in changes}
            # the suite's own config changes with any system's config: a cause only when nothing finer is
            causes = tuple(sorted(found - {"suite"} or found))
            index = len(change_points) + 1
            change_points.append(ChangePoint(index=index, run_a=a.run_id, run_b=b.run_id, at=b.manifest.created_at,
                                             causes=causes, changes=changes, shared_cases=cmp.shared_cases,
                                             only_a=cmp.only_a, only_b=cmp.only_b))  # fmt: skip
        for d in cmp.deltas:
            if d.slice == OVERALL:
                raw.append({"d": d, "a": a, "b": b, "change": index, "causes": causes})
    steps: list[Step] = []
    for system in systems:
        for metric in metrics:
            family = [r for r in raw if r["d"].system == system and r["d"].metric == metric]
            adjusted = holm([r["d"].p_value for r in family])
            for r, p_holm in zip(family, adjusted, strict=True):
                d = r["d"]
                significant = p_holm is not None and p_holm < alpha
                steps.append(Step(system=system, metric=metric, run_a=r["a"].run_id, run_b=r["b"].run_id,
                                  at=r["b"].manifest.created_at, change=r["change"], causes=r["causes"],
                                  n_shared=d.n_shared, mean_a=d.mean_a, mean_b=d.mean_b, difference=d.difference,
                                  p_value=d.p_value, p_holm=p_holm, significant=significant,
                                  unexplained=significant and r["change"] is None,
                                  higher_is_better=d.higher_is_better))  # fmt: skip

    ops = []
    for s in summaries:
        boot = s.manifest.bootstrap
        lat = {x.system: x for x in latency(s.results, resamples=200, seed=boot["seed"])}
        cst = {x.system: x for x in costs(s.results, resamples=200, seed=boot["seed"])}
        for system in sorted(lat):
            ops.append(Ops(system=system, run_id=s.run_id, at=s.manifest.created_at, p50_s=lat[system].p50.value,
                           p95_s=lat[system].p95.value,
                           usd_per_query=cst[system].system_usd_per_query if system in cst else None))  # fmt: skip

    decisions: list[tuple[str, str, str | None]] = []
    latest_decision = None
    if latest is not None and stored_suite(latest).decide is not None:
        for s in summaries:
            if stored_suite(s).decide is None:
                continue
            decision = build_evidence(s).decision
            decisions.append((s.run_id, s.manifest.created_at, decision.choice if decision else None))
            if s is latest:
                latest_decision = decision
    changed_decision = len({c for _, _, c in decisions}) > 1
    return Trends(suite=suite_name, since=str(since) if since else None, until=str(until) if until else None,
                  runs=tuple((s.run_id, s.manifest.created_at) for s in summaries), metrics=metrics,
                  series=tuple(series), segments=tuple(segments), change_points=tuple(change_points),
                  steps=tuple(steps), ops=tuple(ops), gates=_gate_runs(store, summaries),
                  decisions=tuple(decisions), latest_decision=latest_decision, decision_changed=changed_decision,
                  alpha=alpha, notes=tuple(notes))  # fmt: skip
