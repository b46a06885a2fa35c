"""A judge drift check over a store: sample stored judged answers, re-judge them with today's judge, and
compare with the verdicts stored when they were first judged (the numbers: :mod:`ragft_eval.judges.drift`).

What is sampled: in the suite's finished runs created in ``[since, until]``, every result of a judged
metric (as the run's manifest records it) whose first stored verdict is usable; per metric a seeded
sample of ``sample`` of them (all when None).  Left out, and said in the report's notes: results judged by
another judge than today's (a recorded judge change is a change point, not drift), cases whose content
changed since (today's golden set would ask a different question) and metrics the suite no longer has.

Today's judge is the suite's ``judge:`` (the ``suite`` given, else the suite as recorded in the newest
run's manifest), with its golden sets and metrics: each item is re-scored by the metric itself, so the
prompt is built exactly as at first judging.  Every item is judged twice, by the same request (repeat 0,
the stored verdict's seed): the second judgment measures the judge's own noise.  The judge's model is
called without the call cache (no read, no write): a drift check exists to see what the judge answers
today, and must not leave today's answers for a run to replay as if they were the first.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, RunStopped
from ..judges import JudgeClient
from ..judges.calibration import judge_identity
from ..judges.drift import DEFAULT_TOLERANCE, DriftReport, drift_report, verdict_of
from ..llm import ModelPool
from ..metrics import Metric, ScoreContext
from ..metrics.scoring import is_pairwise
from ..metrics.selection import build_metrics
from ..records import CaseResult
from ..runner import Suite
from ..runner.manifest import case_hash
from ..store import Store
from .history import parse_when
from .trends import window_runs

DRIFT_KIND = "judge_drift"  # the artifact kind the quarterly report reads


@dataclass(frozen=True)
class _Item:
    run_id: str
    system: str
    golden_set: str
    case_id: str
    metric: str
    stored: Hashable


def recorded_suite(store: Store, run_id: str) -> Suite:
    """The suite as ``run_id``'s manifest recorded it, its paths resolved from the suite file's folder."""
    manifest = store.manifest(run_id)
    if manifest is None or not manifest.suite_path:
        raise ConfigError(f"suite: run {run_id!r} records no suite file to resolve its golden sets from; "
                          "pass --suite FILE")  # fmt: skip
    path = Path(manifest.suite_path)
    return Suite.model_validate({**manifest.suite_config, "base_dir": path.parent, "path": path})


def _eligible(store: Store, run_ids: list[str], identity: str | None,
              notes: dict[str, int]) -> dict[str, list[_Item]]:  # fmt: skip
    items: dict[str, list[_Item]] = {}
    for run_id in run_ids:
        manifest = store.manifest(run_id)
        if manifest is None:
            continue
        judged = {name for name, m in manifest.metrics.items() if m.get("judged")}
        named = {name for name, m in manifest.metrics.items() if m.get("judge")}  # a judge of judges:
        other = manifest.judge_identity is not None and manifest.judge_identity != identity
        for cr in store.results(run_id):
            for r in cr.results:
                if r.metric not in judged or (stored := verdict_of(r.details)) is None:
                    continue
                if other and r.metric not in named:
                    notes["judged by another judge than today's (a recorded change, not drift)"] += 1
                    continue
                item = _Item(run_id, cr.system, cr.golden_set, cr.case_id, r.metric, stored)
                items.setdefault(r.metric, []).append(item)
    return items


def _sample(items: list[_Item], n: int | None, seed: int, metric: str) -> list[_Item]:
    ordered = sorted(items, key=lambda i: (i.run_id, i.system, i.golden_set, i.case_id))
    if n is None or n >= len(ordered):
        return ordered
    return sorted(random.Random(f"{seed}:{metric}").sample(ordered, n),
                  key=lambda i: (i.run_id, i.system, i.golden_set, i.case_id))  # fmt: skip


async def _verdict(metric: Metric, case: Any, response: Any, baseline: Any, ctx: ScoreContext) -> Hashable | None:
    try:
        if is_pairwise(metric):
            result = await metric.score_pair(case, response, baseline, ctx)
        else:
            result = await metric.score(case, response, ctx)
    except RunStopped:
        raise
    except Exception:  # the scorer failed today: an unusable verdict, counted, not a crash of the check
        return None
    return verdict_of(result.details)


async def check_drift(
    store: Store, *, since: str | date | datetime | None = None, until: str | date | datetime | None = None,
    suite: str | None = None, suite_config: Suite | None = None, sample: int | None = 200, seed: int = 0,
    tolerance: float = DEFAULT_TOLERANCE, now: Callable[[], datetime] | None = None,
    progress: Callable[[], None] | None = None,
) -> DriftReport:  # fmt: skip
    """Re-judge a seeded sample of ``suite``'s stored judged answers in ``[since, until]`` (see the module
    docstring) and return the drift per metric.  ``suite``: the runs' suite name (default: the newest run's,
    or ``suite_config``'s); ``suite_config``: the suite whose judge, golden sets and metrics judge today
    (default: as the newest run recorded it); ``sample``: items per judged metric (None: all)."""
    if sample is not None and sample < 1:
        raise ValueError(f"sample: expected at least 1 item per metric, got {sample}")
    name, run_ids = window_runs(store, since=since, until=until,
                                suite=suite or (suite_config.name if suite_config else None))  # fmt: skip
    if not run_ids:
        raise ConfigError(f"since: no finished run{f' of suite {name!r}' if name else ''} in the window "
                          f"in store {store.url}")  # fmt: skip
    today = suite_config or recorded_suite(store, run_ids[-1])
    metrics = {m.name: m for m in build_metrics(today)[0]}
    golden = today.load_golden_sets()
    cases = {(g, c.id): c for g, gs in golden.items() for c in gs.cases}
    notes: dict[str, int] = dict.fromkeys(
        ("judged by another judge than today's (a recorded change, not drift)", "case changed or gone since",
         "metric no longer in the suite", "baseline answer not stored"), 0)  # fmt: skip
    pool = ModelPool(today.models, base_dir=today.base_dir)  # no cache: every judgment is a fresh call
    try:
        judge = identity = None  # a suite whose judged metrics all name a judge of judges: has no judge:
        if today.judge is not None:
            spec = today.judge_spec().model_copy(update={"repeats": 1})  # only the first stored repeat is compared
            judge = JudgeClient(await pool.get(spec.model, role="judge"), spec)
            identity = judge_identity(judge)
        eligible = _eligible(store, run_ids, identity, notes)
        sampled = {m: _sample(items, sample, seed, m) for m, items in sorted(eligible.items())}
        # the stored answers of the sampled items (and their baselines), read back run by run
        wanted = {(i.run_id, i.golden_set, i.case_id) for items in sampled.values() for i in items}
        answers: dict[tuple[str, str, str, str], CaseResult] = {}
        for run_id in sorted({w[0] for w in wanted}):
            for cr in store.results(run_id):
                if (run_id, cr.golden_set, cr.case_id) in wanted:
                    answers[(run_id, cr.system, cr.golden_set, cr.case_id)] = cr
        manifests = {r: store.manifest(r) for r in {w[0] for w in wanted}}
        limit = asyncio.Semaphore(today.concurrency)

        async def one(item: _Item) -> tuple[Hashable | None, Hashable | None, Hashable | None] | None:
            metric, case = metrics.get(item.metric), cases.get((item.golden_set, item.case_id))
            manifest = manifests[item.run_id]
            recorded = manifest.case_hashes.get(item.golden_set, {}).get(item.case_id) if manifest else None
            if metric is None:
                notes["metric no longer in the suite"] += 1
                return None
            if case is None or (recorded is not None and recorded != case_hash(case)):
                notes["case changed or gone since"] += 1
                return None
            response = answers[(item.run_id, item.system, item.golden_set, item.case_id)].response
            baseline = None
            if is_pairwise(metric):
                other = answers.get((item.run_id, str(metric.baseline), item.golden_set, item.case_id))
                if other is None:
                    notes["baseline answer not stored"] += 1
                    return None
                baseline = other.response
            ctx = ScoreContext(golden_set=golden[item.golden_set], judge=judge)
            async with limit:
                first = await _verdict(metric, case, response, baseline, ctx)
                again = await _verdict(metric, case, response, baseline, ctx)
            if progress:
                progress()
            return item.stored, first, again

        triples: dict[str, list[Any]] = {}
        for metric_name, items in sampled.items():
            done = await asyncio.gather(*(one(i) for i in items))
            triples[metric_name] = [t for t in done if t is not None]
    finally:
        await pool.close()
    stamp = (now or (lambda: datetime.now(UTC)))().astimezone(UTC).isoformat(timespec="seconds")
    start, end = parse_when(since), parse_when(until, end=True)
    return drift_report(
        triples, suite=name, tolerance=tolerance, seed=seed, checked_at=stamp,
        since=start.isoformat() if start else None, until=end.isoformat() if end else None, sample=sample,
        judge_model=judge.model if judge else "", judge_identity=identity, runs=tuple(run_ids),
        notes=tuple(f"{n} item(s) left out: {why}" for why, n in notes.items() if n),
    )  # fmt: skip


def store_drift(store: Store, report: DriftReport) -> str:
    """Store ``report`` as a ``judge_drift`` artifact (what the quarterly report shows); its key."""
    key = f"{DRIFT_KIND}:{report.suite}:{report.checked_at}"
    store.put_artifact(key, DRIFT_KIND, report.as_dict())
    return key
