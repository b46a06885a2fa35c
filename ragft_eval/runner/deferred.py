"""The second scoring pass: metrics that compare a system with a named baseline system (pairwise
judges) can only run once the baseline has answered the same case.  They are scored here, after every
(system, case) is stored, and only where the stored result does not have them yet (so resume works)."""

from __future__ import annotations

import asyncio
from typing import Any

from ..golden import GoldenSet
from ..metrics import ScoreContext
from ..records import CaseResult, MetricResult
from ..store import SQLiteStore


def is_deferred(metric: Any) -> bool:
    return hasattr(metric, "score_pair")


async def score_deferred(
    db: SQLiteStore, run_id: str, metrics: list[Any], golden_sets: dict[str, GoldenSet], services: dict[str, Any],
    concurrency: int,
) -> None:  # fmt: skip
    deferred = [m for m in metrics if is_deferred(m)]
    if not deferred:
        return
    results = list(db.results(run_id))
    by_key = {(cr.system, cr.golden_set, cr.case_id): cr for cr in results}
    cases = {(gs.name, c.id): c for gs in golden_sets.values() for c in gs.cases}
    limit = asyncio.Semaphore(concurrency)

    async def one(cr: CaseResult) -> None:
        have = {m.metric for m in cr.results}
        case = cases[(cr.golden_set, cr.case_id)]
        ctx = ScoreContext(golden_set=golden_sets[cr.golden_set], services=services)
        new: list[MetricResult] = []
        for metric in deferred:
            if metric.name in have:
                continue
            kw = {"unit": metric.unit, "higher_is_better": metric.higher_is_better}
            baseline = by_key.get((metric.baseline, cr.golden_set, cr.case_id))
            if cr.response.failed:
                err = cr.response.error
                new.append(MetricResult.error(metric.name, f"{err.stage} error: {err.type}: {err.message}", **kw))
            elif baseline is None:
                reason = f"the baseline {metric.baseline!r} has no response for this case in this run"
                new.append(MetricResult.unscored(metric.name, reason, **kw))
            else:
                try:
                    async with limit:
                        new.append(await metric.score_pair(case, cr.response, baseline.response, ctx))
                except Exception as exc:  # the scorer failed, not the system
                    reason = f"metric failed: {type(exc).__name__}: {exc}"
                    new.append(MetricResult.error(metric.name, reason, details={"stage": "metric"}, **kw))
        if new:
            db.write(cr.model_copy(update={"results": cr.results + tuple(new)}))

    await asyncio.gather(*(one(cr) for cr in results))
