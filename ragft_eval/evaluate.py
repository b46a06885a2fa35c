"""Run a suite end to end: the composition root of the data flow.

``run_async`` wires the parts and owns none of their logic: it loads the suite and golden sets, builds
the systems, metrics, model and retriever pools and the judge, records the manifest, plans the work,
hands it to an executor (today's :class:`~ragft_eval.runner.LocalExecutor`), scores each answer under
the one status rule and writes it to the store as it finishes, runs the pairwise pass from the store,
builds the run summary from the store, evaluates the gates and writes the report.  ``run`` is a thin
``asyncio.run`` wrapper.

Every (system, case) is written to the store when it finishes, so ``resume=RUN_ID`` continues a killed
run without redoing finished cases; a resume is refused, naming what changed, when the suite, the
golden sets, the selection or the systems differ from what the run started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import ResumeError
from .exit_codes import ExitCode
from .gates import GateResult, suite_gates
from .golden import GoldenSet
from .judges import Judge, JudgeClient
from .judges.calibration import judge_identity
from .llm import ModelPool
from .llm.batch import BatchLedger, BatchRecord
from .llm.budget import Budget
from .llm.cache import CallCache
from .metrics import (
    Metric,
    PairMetric,
    ScoreContext,
    build_metrics,
    is_pairwise,
    named_judges,
    score_pair,
    score_response,
)
from .records import CaseResult, Response, RunManifest
from .report import write_report
from .retrieval import RetrieverPool
from .runner import (
    CaseEnd,
    Executor,
    Hook,
    Hooks,
    LocalExecutor,
    Phase,
    ProgressHook,
    RunEnd,
    RunStart,
    Selection,
    Suite,
    WorkItem,
    build_manifest,
    build_plan,
    build_systems,
    load_suite,
    resume_conflicts,
)
from .runner.manifest import new_run_id
from .stats import Cell, RunSummary, build_summary, judge_calls
from .stats.evidence import Evidence, build_evidence
from .stats.human_labels import labels_record, load_human_labels
from .store import Store, open_store
from .systems import RunContext


@dataclass(frozen=True)
class RunResult:
    """A finished run: its summary (read back from the store), its gates and where its report went."""

    summary: RunSummary
    gates: tuple[GateResult, ...]
    report_dir: Path | None
    evidence: Evidence | None = None

    @property
    def run_id(self) -> str:
        return self.summary.run_id

    @property
    def manifest(self) -> RunManifest:
        return self.summary.manifest

    @property
    def results(self) -> tuple[CaseResult, ...]:
        return self.summary.results

    @property
    def cells(self) -> tuple[Cell, ...]:
        return self.summary.cells

    @property
    def error_rates(self) -> dict[str, tuple[int, int]]:
        return self.summary.error_rates

    @property
    def flagged_metrics(self) -> tuple[str, ...]:
        return self.summary.flagged_metrics

    @property
    def exit_code(self) -> ExitCode:
        """``OK`` when every gate passed, else ``ERROR_RATE`` (the one gate a suite declares today)."""
        return ExitCode.OK if all(g.passed for g in self.gates) else ExitCode.ERROR_RATE

    def results_frame(self):
        return self.summary.results_frame()

    def table_frame(self):
        return self.summary.table_frame()


def store_gate_results(db: Store, run_id: str, gates: Sequence[GateResult], *, at: datetime,
                       baseline: str | None = None, baseline_run_id: str | None = None) -> None:  # fmt: skip
    """Keep a run's gate results with it, so its history shows which gates passed when."""
    stamp = at.astimezone(UTC).isoformat(timespec="seconds")
    db.put_artifact(f"gates:{run_id}:{stamp}", "gates", {
        "run_id": run_id, "baseline": baseline, "baseline_run_id": baseline_run_id, "evaluated_at": stamp,
        "passed": all(g.passed for g in gates), "results": [g.as_dict() for g in gates]})  # fmt: skip


def batch_ledger(db: Store, run_id: str) -> BatchLedger:
    """The run's Batch API jobs: those the store holds for ``run_id`` (a resumed run collects them rather
    than resubmitting), and each new one written to the store as soon as it is created."""
    known = [BatchRecord.model_validate(a["batch"]) for a in db.artifacts("batch") if a.get("run_id") == run_id]

    def keep(record: BatchRecord) -> None:
        db.put_artifact(f"batch:{run_id}:{record.batch_id}", "batch",
                        {"run_id": run_id, "batch": record.model_dump(mode="json")})  # fmt: skip

    return BatchLedger(known, sink=keep)


def machine_usd_per_hour(suite: Suite) -> float | None:
    """What an hour of this machine costs: the ``usd_per_hour`` of the suite's local models (they run
    here), the highest when they differ; None when none is priced so."""
    rates = [s.price.usd_per_hour for s in suite.models.values()
             if s.local is not None and s.price is not None and s.price.usd_per_hour is not None]  # fmt: skip
    return max(rates, default=None)


def stored_spend(results: Sequence[CaseResult], judge: Judge | None) -> float:
    """What a run's stored results cost: the systems' reported costs, and the judge's calls at its price."""
    spent = sum(cr.response.cost_usd or 0.0 for cr in results)
    if judge is not None:
        for cr in results:
            for m in cr.results:
                for _, prompt, completion in judge_calls(m):
                    spent += judge.client.cost(prompt, completion) or 0.0
    return spent


async def _score_pairwise(
    db: Store,
    run_id: str,
    metrics: Sequence[Metric],
    golden_sets: dict[str, GoldenSet],
    judge: Judge | None,
    records: dict[str, frozenset[str] | None],
    concurrency: int,
) -> None:
    """The pairwise pass: metrics that compare a system with a baseline system's response to the same
    case, scored from the store once every system has answered, only where a result lacks them (so a
    resume redoes nothing)."""
    pairwise: list[PairMetric] = [m for m in metrics if is_pairwise(m)]  # type: ignore[misc]
    if not pairwise:
        return
    results = list(db.results(run_id))
    by_key = {(cr.system, cr.golden_set, cr.case_id): cr for cr in results}
    cases = {(gs.name, c.id): c for gs in golden_sets.values() for c in gs.cases}
    limit = asyncio.Semaphore(concurrency)

    async def one(cr: CaseResult) -> None:
        have = {m.metric for m in cr.results}
        todo = [m for m in pairwise if m.name not in have]
        if not todo:
            return
        case = cases[(cr.golden_set, cr.case_id)]
        ctx = ScoreContext(golden_set=golden_sets[cr.golden_set], judge=judge)
        new = []
        async with limit:
            for metric in todo:
                other = by_key.get((metric.baseline, cr.golden_set, cr.case_id))
                baseline: Response | None = other.response if other is not None else None
                new.append(await score_pair(metric, case, cr.response, baseline, ctx, records.get(cr.system)))
        db.write(cr.model_copy(update={"results": cr.results + tuple(new)}))

    await asyncio.gather(*(one(cr) for cr in results))


async def run_async(
    suite: Suite | str | Path,
    *,
    systems: Iterable[str] | None = None,
    split: Iterable[str] | None = None,
    tags: Iterable[str] | None = None,
    limit: int | None = None,
    sample: int | None = None,
    seed: int = 0,
    resume: str | None = None,
    store: str | Path | None = None,
    reports_dir: str | Path | None = None,
    progress: bool = False,
    hooks: Sequence[Hook] = (),
    executor: Executor | None = None,
    models: ModelPool | None = None,
    judge: Judge | None = None,
    now: Callable[[], datetime] | None = None,
    cache: str | None = None,
    max_cost: float | None = None,
) -> RunResult:
    """Run a suite (a :class:`Suite` or the path of its YAML) and return its results.

    ``store`` is a store URL or path (default: the suite's ``store``).  ``hooks`` follow the run
    (``progress=True`` adds the terminal progress bar).  ``models`` and ``judge`` supply a started model
    pool or judge instead of the suite's (the caller closes them); ``now`` is the run's clock.
    ``cache`` overrides the suite's cache policy for both roles (``read_write``, ``read``, ``write``,
    ``off``); ``max_cost`` caps the run's spend in dollars (a resumed run counts what it spent before):
    a call that would go over it stops the run with :class:`~ragft_eval.errors.BudgetExceeded`.
    """
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    clock = now or (lambda: datetime.now(UTC))
    golden_sets = suite.load_golden_sets()
    selection = Selection(
        systems=tuple(systems) if systems else None,
        split=tuple(split) if split else suite.split,
        tags=tuple(tags) if tags else suite.tags,
        limit=limit,
        sample=sample,
        seed=seed,
    )
    cases = selection.cases(golden_sets.values())
    metrics, described = build_metrics(suite)
    # read before any work: a bad line stops the run here, naming the file, line and field
    labels = load_human_labels(suite.resolve(suite.human_labels)) if suite.human_labels else None
    built = build_systems(suite, selection.systems)
    cache_dir = suite.resolve(suite.cache_dir)
    reports_root = Path(reports_dir) if reports_dir else suite.resolve(suite.reports_dir)
    observers = Hooks([*([ProgressHook()] if progress else []), *hooks])

    spec = suite.cache_spec(cache)
    budget = Budget(cap_usd=max_cost) if max_cost is not None else None
    run_id = resume or new_run_id(clock())
    async with contextlib.AsyncExitStack() as stack:
        db = stack.enter_context(open_store(store or suite.store_url()))
        stack.enter_context(db.lease(run_id))  # a second process resuming this run at once is refused
        if models is None:
            calls = None if spec.systems == spec.judge == "off" else CallCache(suite.resolve(spec.dir))
            models = ModelPool(suite.models, base_dir=suite.base_dir, cache=calls, budget=budget,
                               cache_policy={"systems": spec.systems, "judge": spec.judge},
                               batches=batch_ledger(db, run_id))  # fmt: skip
            stack.push_async_callback(models.close)
        retrievers = RetrieverPool(suite.retrievers, cache_dir=cache_dir)
        if judge is None and any(m.needs_judge for m in metrics):
            judge_spec = suite.judge_spec()
            judge = JudgeClient(await models.get(judge_spec.model, role="judge"), judge_spec)
        timing = RunTiming(run_id=run_id, observers=observers)
        ctx = RunContext(base_dir=suite.base_dir, golden_sets=golden_sets, cache_dir=cache_dir, models=models,
                         retrievers=retrievers, phase=timing.phase)  # fmt: skip
        for name, system in built.items():
            stack.push_async_callback(system.close)
            with timing.phase("start", name):
                await system.start(ctx)
        named = named_judges(metrics)
        for judge_name, named_judge in named.items():  # a learned judge trains (or loads) here, once
            if start := getattr(named_judge, "start", None):
                with timing.phase("start", f"judge {judge_name}"):
                    await start()
        manifest = build_manifest(
            run_id=run_id, now=clock(), suite=suite, golden_sets=golden_sets, cases=cases,
            selection=selection, systems=built, retrievers=retrievers.describe(), metrics=described,
            judge=judge.describe() if judge else None, judge_identity=judge_identity(judge) if judge else None,
            judges={n: named_judge_record(j) for n, j in named.items()},
        )  # fmt: skip
        done: set[tuple[str, str, str]] = set()
        if resume:
            stored = db.manifest(resume)
            if stored is None:
                raise ResumeError(f"--resume: no run {resume!r} in store {db.url}")
            if changed := resume_conflicts(stored, manifest):
                raise ResumeError(f"cannot resume run {resume!r}: changed since it started: {', '.join(changed)}")
            manifest, done = stored, db.finished(resume)
            db.set_status(resume, "running")
            if budget is not None:  # what the run spent before it stopped counts against the cap
                budget.spent_usd = stored_spend(list(db.results(resume)), judge)
        else:
            db.create_run(manifest)
        if labels is not None:
            db.put_artifact(*labels_record(run_id, suite.resolve(suite.human_labels), labels))
        plan = build_plan(built, cases).without(done)
        immediate = [m for m in metrics if not is_pairwise(m)]

        async def finish(item: WorkItem, response: Response) -> None:
            score_ctx = ScoreContext(golden_set=item.golden_set, judge=judge)
            records = plan.systems[item.system].records
            results = await score_response(item.case, response, immediate, score_ctx, records)
            db.write(CaseResult(run_id=run_id, system=item.system, case_id=item.case.id,
                                golden_set=item.golden_set.name, task_type=item.case.task_type, tags=item.case.tags,
                                response=response, results=tuple(results)))  # fmt: skip
            observers.on_case_end(CaseEnd(run_id=run_id, system=item.system, golden_set=item.golden_set.name,
                                          case_id=item.case.id, failed=response.failed, latency_s=response.latency_s,
                                          statuses={r.metric: r.status for r in results}))  # fmt: skip
            timing.answered(item.system, response.latency_s)

        started = time.monotonic()
        observers.on_run_start(RunStart(run_id=run_id, suite=suite.name, planned=plan.counts(),
                                        already_done=len(done), resumed=resume is not None))  # fmt: skip
        try:
            with timing.phase("answer"):
                await (executor or LocalExecutor(concurrency=suite.concurrency)).execute(
                    plan, finish, timeout_s=suite.timeout_s
                )
            records = {name: s.records for name, s in built.items()}
            with timing.phase("pairwise"):
                await _score_pairwise(db, run_id, metrics, golden_sets, judge, records, suite.concurrency)
        except BaseException as exc:  # the store keeps what finished; the run stays resumable
            observers.on_run_end(RunEnd(run_id=run_id, status="failed", seconds=time.monotonic() - started,
                                        reason=f"{type(exc).__name__}: {exc}"))  # fmt: skip
            raise
        db.set_status(run_id, "finished")
        # what the harness itself did once for the run (fine-tunes, indexes), priced at the machine's rate
        rate = machine_usd_per_hour(suite)
        work = [w.priced(rate).model_dump(mode="json") for w in [*ctx.one_time, *retrievers.work]]
        leg = clock().astimezone(UTC).isoformat(timespec="seconds")  # this leg's records share one stamp
        db.put_artifact(f"one_time:{run_id}:{leg}", "one_time", {"run_id": run_id, "usd_per_hour": rate, "work": work})
        # where this leg's time went (the report's "time" line; one record per leg)
        db.put_artifact(f"timing:{run_id}:{leg}", "timing", timing.record())
        # what the run did to each endpoint (calls, attempts, throttling, a tripped breaker): the run log
        db.put_artifact(f"endpoints:{run_id}:{leg}", "endpoints",
                        {"run_id": run_id, "endpoints": models.endpoint_summaries()})  # fmt: skip
        summary = build_summary(db, run_id)
        gates = tuple(suite_gates(summary))
        store_gate_results(db, run_id, gates, at=clock())
        observers.on_run_end(RunEnd(run_id=run_id, status="finished", seconds=time.monotonic() - started))

    evidence = build_evidence(summary, golden_sets)
    report_dir = write_report(summary, reports_root / run_id, gates, evidence)
    return RunResult(summary=summary, gates=gates, report_dir=report_dir, evidence=evidence)


class RunTiming:
    """Where a run's time goes: each phase timed (``phase``, which also tells the hooks as it begins and
    ends), and per system the answers and the model time they took (``answered``)."""

    def __init__(self, *, run_id: str, observers: Hooks):
        self.run_id, self.observers = run_id, observers
        self.phases: list[dict[str, Any]] = []
        self.systems: dict[str, dict[str, float]] = {}
        self._t0 = time.monotonic()

    @contextlib.contextmanager
    def phase(self, name: str, detail: str = ""):
        self.observers.on_phase(Phase(run_id=self.run_id, name=name, detail=detail))
        t0 = time.monotonic()
        try:
            yield
        finally:
            seconds = round(time.monotonic() - t0, 3)
            self.phases.append({"phase": name, "detail": detail, "seconds": seconds})
            self.observers.on_phase(Phase(run_id=self.run_id, name=name, detail=detail, seconds=seconds))

    def answered(self, system: str, latency_s: float | None) -> None:
        row = self.systems.setdefault(system, {"answers": 0, "model_s": 0.0, "unmeasured": 0, "last_s": 0.0})
        row["answers"] += 1
        if latency_s is None:
            row["unmeasured"] += 1  # a batched or replayed answer without a latency
        else:
            row["model_s"] = round(row["model_s"] + latency_s, 3)
        row["last_s"] = round(time.monotonic() - self._t0, 3)  # when its last answer came, from the run's start

    def record(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "phases": self.phases, "systems": self.systems,
                "total_s": round(time.monotonic() - self._t0, 3)}  # fmt: skip


def named_judge_record(judge: Judge) -> dict[str, Any]:
    """A named judge in the manifest: its description, identity (what its calibrations are keyed by) and,
    for a learned judge, the data it was trained on (the report says which)."""
    record = {"describe": judge.describe(), "identity": judge_identity(judge)}
    if note := getattr(judge, "training_note", None):
        record["trained_on"] = note()
    return record


def run(suite: Suite | str | Path, **kwargs) -> RunResult:
    """Run a suite synchronously: ``asyncio.run(run_async(suite, **kwargs))``."""
    return asyncio.run(run_async(suite, **kwargs))
