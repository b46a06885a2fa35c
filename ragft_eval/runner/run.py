"""The async runner: cases x systems -> responses -> metric results -> store, then aggregate and report.

``run_async`` does the work; ``run`` is a thin ``asyncio.run`` wrapper.  Every (system, case) is
written to the store when it finishes, so ``resume=RUN_ID`` continues a killed run without redoing
finished cases; a resume is refused, naming what changed, when the suite, the golden sets or the
selection differ from what the run started with.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import random
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import ConfigError, ResumeError, SuiteConfigError, validation_problems
from ..golden import GoldenSet, load_golden_set
from ..judges import JudgeClient, JudgeSpec
from ..judges.calibration import judge_identity
from ..llm import ModelPool
from ..metrics import Metric, ScoreContext, extract_json
from ..metrics._base import not_recorded_reason
from ..records import Case, CaseResult, ErrorInfo, MetricResult, Response, RunManifest
from ..registry import create
from ..retrieval import RetrieverPool
from ..stats import Cell, aggregate, error_rates
from ..store import SQLiteStore
from ..systems import BaseSystem, RunContext, System
from .deferred import is_deferred, score_deferred
from .suite import Suite, Where, load_suite

PACKAGES = (
    "ragft-eval",
    "pydantic",
    "numpy",
    "scipy",
    "pandas",
    "jsonschema",
    "openai",
    "ragas",
    "llama_cpp_python",
    "bm25s",
    "sentence-transformers",
    "torch",
    "transformers",
    "peft",
    "gguf",
)


@dataclass(frozen=True)
class Selection:
    """Which cases a run covers; recorded in the manifest and compared on resume."""

    systems: tuple[str, ...] | None = None
    split: tuple[str, ...] | None = None
    tags: tuple[str, ...] | None = None
    limit: int | None = None
    sample: int | None = None
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    def apply(self, cases: list[Case]) -> list[Case]:
        if self.sample is not None and self.sample < len(cases):
            picked = set(random.Random(self.seed).sample(range(len(cases)), self.sample))
            cases = [c for i, c in enumerate(cases) if i in picked]
        if self.limit is not None:
            cases = cases[: self.limit]
        return cases


@dataclass
class RunResult:
    """A finished run: manifest, every case result, the aggregated cells and where the report went."""

    manifest: RunManifest
    results: list[CaseResult]
    cells: list[Cell]
    error_rates: dict[str, tuple[int, int]]
    max_error_rate: float
    report_dir: Path | None = None
    over_error_rate: list[str] = field(default_factory=list)
    judge_calibrations: list[dict[str, Any]] = field(default_factory=list)
    judged_metrics: list[str] = field(default_factory=list)

    @property
    def flagged_metrics(self) -> set[str]:
        """Judge-based metrics whose judge is unreliable on some calibration set (kappa CI reaches 0)."""
        if any(not c.get("reliable") for c in self.judge_calibrations):
            return set(self.judged_metrics)
        return set()

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def exit_code(self) -> int:
        """0 when done; 3 when a system's error rate is above the suite's ``max_error_rate``."""
        return 3 if self.over_error_rate else 0

    def results_frame(self):
        """One row per (system, case, metric) as a pandas DataFrame."""
        import pandas as pd

        rows = [
            {
                "system": cr.system,
                "golden_set": cr.golden_set,
                "case_id": cr.case_id,
                "task_type": cr.task_type,
                "metric": m.metric,
                "status": m.status,
                "value": m.value,
                "reason": m.reason,
                "unit": m.unit,
            }
            for cr in self.results
            for m in cr.results
        ]
        return pd.DataFrame(rows)

    def table_frame(self):
        """The aggregated table (one row per system x task type x metric) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([c.as_dict() for c in self.cells])


def _versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _new_run_id() -> str:
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def _build_metrics(suite: Suite) -> list[Metric]:
    metrics: list[Metric] = []
    systems = {s.name for s in suite.systems}
    for i, spec in enumerate(suite.metrics):
        try:
            metric = create("metric", spec.metric, **spec.params)
        except ConfigError as exc:
            raise SuiteConfigError(f"{suite.path}: metrics.{i}: {exc}") from exc
        if getattr(metric, "needs_judge", False) and suite.judge is None:
            raise SuiteConfigError(
                f"{suite.path}: metrics.{i}: metric {metric.name!r} needs a judge: add judge: to the suite"
            )
        baseline = getattr(metric, "baseline", None)
        if baseline is not None and baseline not in systems:
            raise SuiteConfigError(
                f"{suite.path}: metrics.{i}.baseline: unknown system {baseline!r}; the suite has {sorted(systems)}"
            )
        if any(m.name == metric.name for m in metrics):
            raise SuiteConfigError(f"{suite.path}: metrics.{i}: metric {metric.name!r} is listed twice")
        if spec.where is not None:
            metric = Selected(metric, spec.where)
        metrics.append(metric)
    return metrics


def _build_systems(suite: Suite, only: Iterable[str] | None) -> list[System]:
    known = [s.name for s in suite.systems]
    wanted = list(only) if only else known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ConfigError(f"--systems: unknown system(s) {', '.join(unknown)}; the suite has {', '.join(known)}")
    systems = []
    for i, spec in enumerate(suite.systems):
        if spec.name not in wanted:
            continue
        try:
            systems.append(create("system", spec.kind, name=spec.name, **spec.params))
        except ConfigError as exc:
            raise SuiteConfigError(f"{suite.path}: systems.{i}: {exc}") from exc
    return systems


class Selected:
    """A metric restricted by ``where:``: cases it does not select are unscored, and it is not called."""

    def __init__(self, metric: Any, where: Where):
        self.metric, self.where = metric, where
        self.name, self.unit, self.higher_is_better = metric.name, metric.unit, metric.higher_is_better
        self.needs_judge = getattr(metric, "needs_judge", False)
        self.needs = getattr(metric, "needs", None)
        self.baseline = getattr(metric, "baseline", None)
        if hasattr(metric, "score_pair"):
            self.score_pair = self._score_pair

    def undefined_reason(self, case: Case) -> str | None:
        if not self.where.selects(case):
            return f"not selected for this metric (where: {self.where.describe()})"
        inner = getattr(self.metric, "undefined_reason", None)
        return inner(case) if inner else None

    async def score(self, case: Case, response: Response, ctx: ScoreContext) -> MetricResult:
        if not self.where.selects(case):
            reason = self.undefined_reason(case)
            return MetricResult.unscored(self.name, reason, unit=self.unit, higher_is_better=self.higher_is_better)
        return await self.metric.score(case, response, ctx)

    async def _score_pair(self, case: Case, response: Response, baseline: Response, ctx: ScoreContext):
        if not self.where.selects(case):
            reason = self.undefined_reason(case)
            return MetricResult.unscored(self.name, reason, unit=self.unit, higher_is_better=self.higher_is_better)
        return await self.metric.score_pair(case, response, baseline, ctx)


def _judge_spec(suite: Suite) -> JudgeSpec:
    try:
        spec = JudgeSpec.model_validate(suite.judge)
    except ValidationError as exc:
        lines = [str(p) for p in validation_problems(exc, str(suite.path), prefix=("judge",), noun="key")]
        raise SuiteConfigError("invalid judge config:\n" + "\n".join(lines)) from exc
    if spec.model not in suite.models:
        raise SuiteConfigError(
            f"{suite.path}: judge.model: unknown model {spec.model!r}; defined: {sorted(suite.models)}"
        )
    return spec


def _diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    changed = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            changed += _diff(a, b, f"{prefix}{key}.")
        elif a != b:
            changed.append(f"{prefix}{key}")
    return changed


async def _answer(system: System, case: Case, timeout_s: float) -> Response:
    t0 = time.perf_counter()
    try:
        response = await asyncio.wait_for(system.answer(case), timeout_s)
    except TimeoutError:
        response = Response(
            case_id=case.id,
            system=system.name,
            error=ErrorInfo(type="Timeout", message=f"no answer within timeout_s={timeout_s}", stage="timeout"),
        )
    except Exception as exc:  # a per-case failure of the system: recorded, never raised
        response = Response(
            case_id=case.id,
            system=system.name,
            error=ErrorInfo(type=type(exc).__name__, message=str(exc)[:2000]),
        )
    update: dict[str, Any] = {}
    if response.latency_s is None:
        update["latency_s"] = time.perf_counter() - t0
    expects_json = case.schema_ref is not None or (case.expected is not None and case.expected.json_value is not None)
    if expects_json and not response.failed and response.parsed_json is None and response.json_error is None:
        update["parsed_json"], update["json_error"] = extract_json(response.answer)
    return response.model_copy(update=update) if update else response


async def score_response(
    case: Case,
    response: Response,
    metrics: list[Metric],
    ctx: ScoreContext,
    records: frozenset[str] | None = None,
) -> list[MetricResult]:
    """Every metric's result for one response.

    A failed response gives ``error`` on every metric that would be defined for it; a metric undefined
    whatever the answer (for the case, or because it needs something the system never records, as
    recall of a system with no retriever) stays ``unscored``: it was never the system's to fail.
    """
    out = []
    for metric in metrics:
        if response.error is not None:
            undefined = getattr(metric, "undefined_reason", None)
            needs = getattr(metric, "needs", None)
            why = undefined(case) if undefined is not None else None
            if why is None and needs is not None and records is not None and needs not in records:
                why = not_recorded_reason(needs)
            if why:
                out.append(
                    MetricResult.unscored(metric.name, why, unit=metric.unit, higher_is_better=metric.higher_is_better)
                )
                continue
            reason = f"{response.error.stage} error: {response.error.type}: {response.error.message}"
            out.append(
                MetricResult.error(metric.name, reason, unit=metric.unit, higher_is_better=metric.higher_is_better)
            )
            continue
        try:
            out.append(await metric.score(case, response, ctx))
        except Exception as exc:  # the scorer failed, not the system: not counted against it
            out.append(
                MetricResult.error(
                    metric.name,
                    f"metric failed: {type(exc).__name__}: {exc}",
                    unit=metric.unit,
                    higher_is_better=metric.higher_is_better,
                    details={"stage": "metric"},
                )
            )
    return out


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
    services: dict[str, Any] | None = None,
) -> RunResult:
    """Run a suite (a :class:`Suite` or the path of its YAML) and return its results."""
    if not isinstance(suite, Suite):
        suite = load_suite(suite)
    golden_sets: dict[str, GoldenSet] = {}
    for path in suite.golden_sets:
        gs = load_golden_set(suite.resolve(path))
        golden_sets[gs.name] = gs
    selection = Selection(
        systems=tuple(systems) if systems else None,
        split=tuple(split) if split else suite.split,
        tags=tuple(tags) if tags else suite.tags,
        limit=limit,
        sample=sample,
        seed=seed,
    )
    work: list[tuple[GoldenSet, Case]] = []
    for gs in golden_sets.values():
        work += [(gs, c) for c in selection.apply(gs.select(splits=selection.split, tags=selection.tags))]
    metrics = _build_metrics(suite)
    built = _build_systems(suite, selection.systems)

    store_path = Path(store) if store else suite.resolve(suite.store)
    reports_root = Path(reports_dir) if reports_dir else suite.resolve(suite.reports_dir)
    cache_dir = suite.resolve(suite.cache_dir)
    ctx = RunContext(
        base_dir=suite.base_dir, golden_sets=golden_sets, cache_dir=cache_dir, services=dict(services or {})
    )
    async with contextlib.AsyncExitStack() as stack:
        if "models" not in ctx.services:
            ctx.services["models"] = ModelPool(suite.models, base_dir=suite.base_dir)
            stack.push_async_callback(ctx.services["models"].close)
        ctx.services.setdefault("retrievers", RetrieverPool(suite.retrievers, cache_dir=cache_dir))
        if any(getattr(m, "needs_judge", False) for m in metrics) and "judge" not in ctx.services:
            spec = _judge_spec(suite)
            ctx.services["judge"] = JudgeClient(await ctx.services["models"].get(spec.model), spec)
        for system in built:
            if isinstance(system, BaseSystem):
                stack.push_async_callback(system.close)
                await system.start(ctx)
        manifest = RunManifest(
            run_id=resume or _new_run_id(),
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            suite_name=suite.name,
            suite_path=str(suite.path) if suite.path else None,
            suite_hash=suite.config_hash,
            suite_config=suite.model_dump(mode="json"),
            golden_sets={name: gs.content_hash for name, gs in golden_sets.items()},
            selection=selection.as_dict(),
            systems={
                s.name: (s.describe() if isinstance(s, BaseSystem) else {"kind": type(s).__name__}) for s in built
            },
            retrievers=ctx.services["retrievers"].describe(),
            judge=ctx.services["judge"].describe() if "judge" in ctx.services else {},
            package_versions=_versions(),
            bootstrap={"resamples": suite.bootstrap.resamples, "seed": suite.bootstrap.seed},
            python=platform.python_version(),
        )
        with SQLiteStore(store_path) as db:
            done: set[tuple[str, str, str]] = set()
            if resume:
                old = db.manifest(resume)
                if old is None:
                    raise ResumeError(f"--resume: no run {resume!r} in store {store_path}")
                changed = _diff(
                    {
                        "suite": old.suite_config,
                        "golden_sets": old.golden_sets,
                        "selection": old.selection,
                        "systems": old.systems,
                    },
                    {
                        "suite": manifest.suite_config,
                        "golden_sets": manifest.golden_sets,
                        "selection": manifest.selection,
                        "systems": manifest.systems,
                    },
                )
                if changed:
                    raise ResumeError(f"cannot resume run {resume!r}: changed since it started: {', '.join(changed)}")
                manifest = old
                done = db.finished(resume)
                db.set_status(resume, "running")
            else:
                db.create_run(manifest)
            todo = [(s, gs, c) for s in built for gs, c in work if (s.name, gs.name, c.id) not in done]
            immediate = [m for m in metrics if not is_deferred(m)]
            await _execute(db, manifest.run_id, todo, immediate, ctx, suite, progress)
            await score_deferred(db, manifest.run_id, metrics, golden_sets, ctx.services, suite.concurrency)
            db.set_status(manifest.run_id, "finished")
            results = list(db.results(manifest.run_id))
            calibrations = []
            if "judge" in ctx.services:
                identity = judge_identity(ctx.services["judge"])
                calibrations = [r for r in db.artifacts("calibration") if r.get("judge_identity") == identity]

    cells = aggregate(results, resamples=suite.bootstrap.resamples, seed=suite.bootstrap.seed)
    rates = error_rates(results)
    over = sorted(name for name, (err, n) in rates.items() if n and err / n > suite.max_error_rate)
    result = RunResult(
        manifest=manifest,
        results=results,
        cells=cells,
        error_rates=rates,
        max_error_rate=suite.max_error_rate,
        over_error_rate=over,
        judge_calibrations=calibrations,
        judged_metrics=sorted(m.name for m in metrics if getattr(m, "needs_judge", False)),
    )
    from ..report import write_report

    result.report_dir = write_report(result, reports_root / manifest.run_id)
    return result


async def _execute(db: SQLiteStore, run_id: str, todo, metrics, ctx: RunContext, suite: Suite, progress: bool) -> None:
    limits: dict[str, asyncio.Semaphore] = {}
    for system, _, _ in todo:
        if system.name not in limits:
            n = getattr(system, "max_concurrency", None) or suite.concurrency
            limits[system.name] = asyncio.Semaphore(min(n, suite.concurrency))
    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=not progress,
        transient=False,
    )

    async def one(system: System, gs: GoldenSet, case: Case, task_id: Any) -> None:
        async with limits[system.name]:
            response = await _answer(system, case, suite.timeout_s)
        score_ctx = ScoreContext(golden_set=gs, services=ctx.services)
        results = await score_response(case, response, metrics, score_ctx, getattr(system, "records", None))
        db.write(
            CaseResult(
                run_id=run_id,
                system=system.name,
                case_id=case.id,
                golden_set=gs.name,
                task_type=case.task_type,
                tags=case.tags,
                response=response,
                results=tuple(results),
            )
        )
        bar.advance(task_id)

    with bar:
        task_id = bar.add_task(f"{suite.name}", total=len(todo))
        await asyncio.gather(*(one(s, gs, c, task_id) for s, gs, c in todo))


def run(suite: Suite | str | Path, **kwargs: Any) -> RunResult:
    """Run a suite synchronously: ``asyncio.run(run_async(suite, **kwargs))``."""
    return asyncio.run(run_async(suite, **kwargs))
