"""The ``ragft-eval`` command line: run | report | gate | compare | baseline | golden | finetune | judge | cache.

Exit codes: the one table in :mod:`ragft_eval.exit_codes` (also in the README).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

from .errors import InputError, RagftError, RunStopped
from .exit_codes import ExitCode


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _cmd_run(args: argparse.Namespace) -> int:
    from .evaluate import run
    from .report import print_summary

    if args.dry_run:
        import asyncio

        from .dry_run import dry_run
        from .runner import Selection, load_suite

        suite = load_suite(args.suite)
        selection = Selection(systems=tuple(args.systems) if args.systems else None,
                              split=tuple(args.split) if args.split else suite.split,
                              tags=tuple(args.tags) if args.tags else suite.tags, limit=args.limit,
                              sample=args.sample, seed=args.seed)  # fmt: skip
        print(asyncio.run(dry_run(args.suite, selection=selection, cache=args.cache)), end="")
        return ExitCode.OK

    from .runner import LocalExecutor, build_executor, load_suite

    suite = load_suite(args.suite)
    if args.ray_address and args.executor == "local":
        raise InputError("--ray-address: a Ray cluster's address, for --executor ray; got --executor local")
    kind = args.executor or ("ray" if args.ray_address else None)
    executor = build_executor(suite, kind=kind, address=args.ray_address, cache=args.cache)
    if args.max_cost is not None and not isinstance(executor, LocalExecutor):
        raise InputError("--max-cost: the Ray executor shares no budget across its workers yet; "
                         "run a capped run with --executor local")  # fmt: skip
    result = run(
        suite,
        executor=executor,
        systems=args.systems,
        split=args.split,
        tags=args.tags,
        limit=args.limit,
        sample=args.sample,
        seed=args.seed,
        resume=args.resume,
        store=args.store,
        reports_dir=args.reports,
        progress=not args.no_progress,
        cache=args.cache,
        max_cost=args.max_cost,
    )
    print_summary(result.summary, result.gates, result.evidence)
    Console().print(Text(f"report: {result.report_dir}"))
    return result.exit_code


def _cmd_report_window(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .report.quarterly_html import write_quarterly
    from .stats.history import REPORT_KIND
    from .stats.trends import build_trends

    if not args.out:
        raise InputError("--out: the quarterly report (--since) needs a folder to write quarterly.html into")
    since, until = _when(args.since, "--since"), _when(args.until, "--until", end=True)
    with open_store_of(args) as db:
        trends = build_trends(db, since=since, until=until, suite=args.suite)
        if not trends.runs:
            raise InputError(f"--since: no finished run{f' of suite {args.suite!r}' if args.suite else ''} in the "
                             f"window in store {db.url}")  # fmt: skip
        drift = [r for r in db.artifacts("judge_drift") if r.get("suite") in (None, trends.suite)]
        latest = build_summary_of(db, trends.runs[-1][0])
        path = write_quarterly(trends, args.out, calibrations=latest.judge_calibrations,
                               drift=drift[-1] if drift else None)  # fmt: skip
        # the runs this report names are kept by ``store prune``
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        db.put_artifact(f"report:{trends.suite}:{stamp}", REPORT_KIND, {"suite": trends.suite, "path": str(path),
                        "since": trends.since, "until": trends.until, "runs": [r for r, _ in trends.runs]})  # fmt: skip
    up = sum(1 for s in trends.steps if s.significant and s.change is not None)
    odd = sum(1 for s in trends.steps if s.unexplained)
    print(f"{len(trends.runs)} runs of {trends.suite}, {len(trends.change_points)} recorded changes "
          f"({up} significant steps at them), {odd} unexplained steps")  # fmt: skip
    print(f"quarterly report: {path}")
    return ExitCode.OK


def open_store_of(args: argparse.Namespace):
    from .store import open_store

    return open_store(args.store)


def build_summary_of(db, run_id: str):
    from .stats import build_summary

    return build_summary(db, run_id)


def _cmd_report(args: argparse.Namespace) -> int:
    if args.since:
        return _cmd_report_window(args)
    if args.run_id is None:
        raise InputError("run_id: expected a run id, or --since DATE for the report of a window of runs")
    from .gates import suite_gates
    from .report import print_summary, write_report
    from .stats import build_summary
    from .store import open_store

    with open_store(args.store) as db:
        try:
            summary = build_summary(db, args.run_id)
        except KeyError:
            raise InputError(f"run_id: no run {args.run_id!r} in store {args.store}") from None
    from .stats.evidence import build_evidence, golden_sets_of

    gates = suite_gates(summary)
    evidence = build_evidence(summary, golden_sets_of(summary))
    print_summary(summary, gates, evidence)
    if args.out:
        write_report(summary, Path(args.out), gates, evidence)
    return ExitCode.OK


def _cmd_golden_validate(args: argparse.Namespace) -> int:
    from .errors import GoldenSetError
    from .golden import load_golden_set

    try:
        gs = load_golden_set(args.path)
    except GoldenSetError as exc:
        for p in exc.problems:
            print(Path(args.path) / str(p), file=sys.stderr)
        print(f"{len(exc.problems)} problem(s)", file=sys.stderr)
        return ExitCode.INPUT
    splits: dict[str, int] = {}
    for c in gs.cases:
        splits[c.split] = splits.get(c.split, 0) + 1
    print(
        f"{gs.name} {gs.manifest.version}: {len(gs.cases)} cases {splits}, {len(gs.corpus)} docs, "
        f"{len(gs.schemas)} schemas, {gs.content_hash}"
    )
    return ExitCode.OK


def _cmd_golden_import(args: argparse.Namespace) -> int:
    from .golden.importers import import_golden_set

    gs = import_golden_set(args.format, args.src, args.dest, name=args.name, limit=args.limit)
    print(f"imported {len(gs.cases)} cases and {len(gs.corpus)} docs into {args.dest} ({gs.content_hash})")
    return ExitCode.OK


def _cmd_finetune(args: argparse.Namespace) -> int:
    from .finetune import finetune, load_finetune_config

    artifact = finetune(load_finetune_config(args.config), progress=not args.no_progress, force=args.force)
    r = artifact.record
    state = "cached" if artifact.cached else f"trained in {r['seconds']:.0f} s (+{r['load_seconds']:.0f} s model load)"
    print(f"adapter: {artifact.path} ({state})")
    print(f"key: {artifact.key}")
    print(
        f"steps: {r['steps']} ({r['seconds_per_step']} s/step), best step {r['best_step']}, "
        f"stopped early: {r['stopped_early']}, {r['train_examples']} train / "
        f"{r['validation_examples']} validation examples"
    )
    if r["validation_loss"]:
        first, best = r["validation_loss"][0][1], min(v for _, v in r["validation_loss"])
        print(f"validation loss: {first:.4f} -> best {best:.4f}")
    return ExitCode.OK


def _cmd_judge_calibrate(args: argparse.Namespace) -> int:
    import asyncio

    from rich.progress import Progress

    from .judges.calibration import calibrate
    from .judges.labels import CALIBRATION_SETS, kind_of, stratified_sample
    from .runner import load_suite
    from .store import open_store

    if args.set not in CALIBRATION_SETS:
        raise InputError(f"--set: unknown set {args.set!r}; expected one of {', '.join(CALIBRATION_SETS)}")
    suite = load_suite(args.suite)
    if args.judge is not None:
        return _calibrate_named(args, suite)
    if suite.judge is None:
        raise InputError(f"--suite: {args.suite} has no judge: section")
    spec = suite.judge_spec()
    root = Path(args.datasets)
    if not root.is_dir():
        raise InputError(f"--datasets: folder {root} does not exist (the shared datasets folder)")
    items = CALIBRATION_SETS[args.set](root)
    kind = kind_of(args.set)
    if args.sample is not None and args.sample < len(items):
        key = (lambda it: it.category) if kind == "faithfulness" else (lambda it: it.label)
        items = stratified_sample(items, args.sample, args.seed, key=key)

    async def go():
        from .judges import JudgeClient
        from .llm import ModelPool

        pool = ModelPool(suite.models, base_dir=suite.base_dir)
        try:
            judge = JudgeClient(await pool.get(spec.model), spec)
            with Progress(disable=args.no_progress) as bar:
                task = bar.add_task(f"calibrate {args.set}", total=len(items))
                return await calibrate(args.set, kind, items, judge, sample=args.sample, seed=args.seed,
                                       concurrency=1, progress=lambda: bar.advance(task))  # fmt: skip
        finally:
            await pool.close()

    result = asyncio.run(go())
    store = args.store or suite.store_url()
    with open_store(store) as db:
        db.put_artifact(result.key, "calibration", result.as_dict())
    print(result.summary())
    print(f"confusion (human -> judge): {result.confusion}")
    print(f"extra: {result.extra}")
    print(f"took {result.seconds:.0f} s; stored in {store} as {result.key[:23]}")
    return ExitCode.OK


def _calibrate_named(args: argparse.Namespace, suite) -> int:
    """``judge calibrate --judge NAME``: a learned judge of the suite's ``judges:`` on a labelled set it
    never trained on (items it trained on are refused), stored under its own identity."""
    import asyncio

    from rich.progress import Progress

    from .judges.correctness_pairs import CORRECTNESS_SETS
    from .judges.labels import CALIBRATION_SETS, kind_of, stratified_sample
    from .judges.measure import format_measurement, measure_learned
    from .metrics.selection import build_judge
    from .store import open_store

    if args.judge not in suite.judges:
        raise InputError(f"--judge: the suite {args.suite} has no judge {args.judge!r} in judges: "
                         f"(it has {', '.join(sorted(suite.judges)) or 'none'})")  # fmt: skip
    judge = build_judge(suite, args.judge)
    task = getattr(judge, "task", "faithfulness")
    fits = kind_of(args.set) == "faithfulness" if task == "faithfulness" else args.set in CORRECTNESS_SETS
    if not fits:
        wanted = "a faithfulness set" if task == "faithfulness" else f"one of {', '.join(CORRECTNESS_SETS)}"
        raise InputError(f"--set: {args.set} is a {kind_of(args.set)} set; judge {args.judge!r} judges {task} "
                         f"and is calibrated on {wanted}")  # fmt: skip
    root = Path(args.datasets)
    if not root.is_dir():
        raise InputError(f"--datasets: folder {root} does not exist (the shared datasets folder)")
    items = CALIBRATION_SETS[args.set](root)
    if task == "faithfulness":
        items = [it for it in items if it.label is not None]
    if args.sample is not None and args.sample < len(items):
        items = stratified_sample(items, args.sample, args.seed, key=lambda it: it.label)
    with Progress(disable=args.no_progress) as bar:
        bar_task = bar.add_task(f"calibrate {args.judge} on {args.set}", total=len(items))
        cal = asyncio.run(measure_learned(args.set, items, judge, seed=args.seed,
                                          progress=lambda: bar.advance(bar_task)))  # fmt: skip
    store = args.store or suite.store_url()
    with open_store(store) as db:
        db.put_artifact(cal.key, "calibration", cal.as_dict())
    print(cal.summary())
    print(format_measurement(cal))
    print(f"took {cal.seconds:.0f} s; stored in {store} as {cal.key[:23]}")
    return ExitCode.OK


def _cmd_judge_train(args: argparse.Namespace) -> int:
    from .judges.lexical import is_lexical_config
    from .judges.training import load_judge_train_config, train_judge

    if is_lexical_config(args.config):
        return _train_lexical(args)

    cfg = load_judge_train_config(args.config)
    artifact = train_judge(cfg, progress=not args.no_progress, force=args.force)
    r = artifact.record
    state = "cached" if artifact.cached else f"trained in {r['seconds']:.0f} s (+{r['load_seconds']:.0f} s model load)"
    print(f"judge: {artifact.folder} ({state}; {artifact.bytes / 1e6:.0f} MB)")
    print(f"key: {artifact.key}")
    print(f"steps: {r['steps']} of {r['planned_steps']}, best step {r['best_step']}, stopped: {r['stopped']}, "
          f"{r['train_examples']} train / {r['validation_examples']} validation pairs, "
          f"{r['examples_per_second']} examples/s on {r['threads']} thread(s)")  # fmt: skip
    print("sources: " + "; ".join(f"{k} {v}" for k, v in r["sources"].items()))
    for skipped in r["skipped_sources"]:
        print(f"skipped: {skipped}")
    curve = r["validation_loss"]
    print("validation loss: " + " ".join(f"{step}:{loss:.3f}" for step, loss in curve))
    if args.calibrate:
        _judge_measure(args, cfg)
    return ExitCode.OK


def _train_lexical(args: argparse.Namespace) -> int:
    """``judge train`` of a ``kind: lexical`` config: fit (or load) it, then measure it like a learned judge."""
    import asyncio

    from .judges.lexical import LexicalJudge, load_lexical_config, train_lexical
    from .judges.measure import format_measurement, held_out_sets, measure_learned

    cfg = load_lexical_config(args.config)
    model, path, cached = train_lexical(cfg, force=args.force)
    state = "cached" if cached else f"fitted in {model.seconds:.2f} s"
    print(f"judge: {path} ({state}; {path.stat().st_size / 1e3:.0f} kB)")
    print(f"data: {model.data_hash}; threshold {model.threshold} (validation balanced accuracy "
          f"{model.validation_balanced_accuracy})")  # fmt: skip
    print("sources: " + "; ".join(f"{k} {v}" for k, v in model.sources.items()))
    for skipped in model.skipped_sources:
        print(f"skipped: {skipped}")
    print("coefficients: " + ", ".join(f"{f} {c:+.2f}" for f, c in zip(model.features, model.coef, strict=True))
          + f", intercept {model.intercept:+.2f}")  # fmt: skip
    if not args.calibrate:
        return ExitCode.OK
    judge = LexicalJudge(config=str(Path(args.config).resolve()))
    results = []
    for name, items in held_out_sets(cfg, cfg.resolve(cfg.datasets)).items():
        t0 = time.perf_counter()
        cal = asyncio.run(measure_learned(name, items, judge))
        per_item = (time.perf_counter() - t0) / max(1, len(items)) * 1000
        results.append(cal)
        print(f"{format_measurement(cal)}; {per_item:.1f} ms per item")
    _store_calibrations(args.store, results)
    return ExitCode.OK


def _judge_measure(args: argparse.Namespace, cfg) -> None:
    import asyncio
    import functools

    from rich.progress import Progress

    from .judges.learned import LearnedJudge
    from .judges.measure import format_measurement, measure_learned, measurement_sets

    judge = LearnedJudge(model=cfg.name, config=str(Path(args.config).resolve()), threads=cfg.train.threads)
    sets = measurement_sets(judge, cfg.resolve(cfg.datasets))
    results = []
    for name, items in sets.items():
        with Progress(disable=args.no_progress) as bar:
            task = bar.add_task(f"measure {name}", total=len(items))
            advance = functools.partial(bar.advance, task)
            cal = asyncio.run(measure_learned(name, items, judge, progress=advance))
        results.append(cal)
        print(format_measurement(cal))
    _store_calibrations(args.store, results)


def _store_calibrations(store: str | None, results: list) -> None:
    """``judge train --calibrate --store``: each measurement kept as a calibration artifact."""
    if not store:
        return
    from .store import open_store

    with open_store(store) as db:
        for cal in results:
            db.put_artifact(cal.key, "calibration", cal.as_dict())
    print(f"stored {len(results)} calibration(s) in {store}")


def _cmd_judge_report(args: argparse.Namespace) -> int:
    from .judges.report import calibration_table
    from .store import open_store

    with open_store(args.store) as db:
        records = db.artifacts("calibration")
    print(calibration_table(records))
    return ExitCode.OK


def _cmd_judge_drift(args: argparse.Namespace) -> int:
    import asyncio

    from rich.progress import Progress

    from .runner import load_suite
    from .stats.drift_run import check_drift, store_drift
    from .store import open_store

    if args.sample < 1 or not 0 <= args.tolerance < 1:
        raise InputError(f"--sample/--tolerance: expected N >= 1 and a share in [0, 1), got {args.sample} and "
                         f"{args.tolerance}")  # fmt: skip
    # --suite FILE: today's judge, golden sets and store from that file; --suite NAME: which runs
    today = load_suite(args.suite) if args.suite and Path(args.suite).is_file() else None
    default = os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite")
    store = args.store or (today.store_url() if today else default)
    since, until = _when(args.since, "--since"), _when(args.until, "--until", end=True)
    with open_store(store) as db, Progress(disable=args.no_progress, transient=True) as bar:
        task = bar.add_task("re-judge (twice each)", total=None)
        report = asyncio.run(check_drift(db, since=since, until=until, suite=None if today else args.suite,
                                         suite_config=today, sample=args.sample, seed=args.seed,
                                         tolerance=args.tolerance, progress=lambda: bar.advance(task)))  # fmt: skip
        key = store_drift(db, report)

    def pct(x: float | None) -> str:
        return "—" if x is None else f"{x:.1%}"

    def span(ci: tuple[float, float] | None) -> str:
        return "" if ci is None else f" [{pct(ci[0])}, {pct(ci[1])}]"

    print(f"judge {report.judge_model}, {len(report.runs)} run(s) of {report.suite}, tolerance {pct(report.tolerance)}")
    for m in report.metrics:
        if not m.n:
            print(f"{m.metric}: no usable re-judgment of {m.n_sampled} item(s)")
            continue
        k = "undefined" if m.kappa is None else f"{m.kappa:.2f}"
        kci = "" if m.kappa_ci is None else f" [{m.kappa_ci[0]:.2f}, {m.kappa_ci[1]:.2f}]"
        verdict = "DRIFT (beyond noise by more than the tolerance)" if m.drifted else "within tolerance"
        print(f"{m.metric}: n {m.n}, flipped {pct(m.flipped)}{span(m.flipped_ci)}, own noise {pct(m.noise)}, "
              f"beyond noise {pct(m.excess)}{span(m.excess_ci)}, kappa {k}{kci}: {verdict}")  # fmt: skip
    for note in report.notes:
        print(note)
    print(f"stored in {store} as {key}")
    # like a failed gate: a nightly job can stop on a judge that no longer judges as it did
    return ExitCode.JUDGE_DRIFT if any(m.drifted for m in report.metrics) else ExitCode.OK


def _cmd_cache_stats(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .llm.cache import DB_NAME, CallCache

    folder = Path(args.dir)
    if not (folder / DB_NAME).is_file():  # stats must not create a cache where there is none
        print(f"cache {folder}: no cache (0 entries)")
        return ExitCode.OK
    with CallCache(folder) as cache:
        s = cache.stats()
    print(f"cache {folder}: {s['entries']} entries, {s['bytes']} bytes ({s['file_bytes']} bytes on disk)")
    if s["entries"]:
        oldest, newest = (
            datetime.fromtimestamp(s[k], UTC).isoformat(timespec="seconds")
            for k in ("oldest_used_at", "newest_used_at")
        )
        print(f"last used: {oldest} .. {newest}")
    for model, n in s["models"].items():
        print(f"  {model}: {n} entries")
    return ExitCode.OK


def _cmd_cache_prune(args: argparse.Namespace) -> int:
    from .llm.cache import DB_NAME, CallCache

    if args.older_than < 0:
        raise InputError(f"--older-than: expected a number of days >= 0, got {args.older_than}")
    folder = Path(args.dir)
    n = 0
    if (folder / DB_NAME).is_file():
        with CallCache(folder) as cache:
            n = cache.prune(args.older_than)
    print(f"cache {folder}: pruned {n} entries last used more than {args.older_than:g} days ago")
    return ExitCode.OK


def _cmd_cache_clear(args: argparse.Namespace) -> int:
    from .llm.cache import DB_NAME, CallCache

    folder = Path(args.dir)
    n = 0
    if (folder / DB_NAME).is_file():
        with CallCache(folder) as cache:
            n = cache.clear()
    print(f"cache {folder}: cleared {n} entries")
    return ExitCode.OK


def _open(args: argparse.Namespace):
    from .store import open_store

    return open_store(args.store)


def _summary(db, run_id: str, what: str = "run_id"):
    from .stats import build_summary

    try:
        return build_summary(db, run_id)
    except KeyError:
        raise InputError(f"{what}: no run {run_id!r} in store {db.url}") from None


def _cmd_baseline_promote(args: argparse.Namespace) -> int:
    from .gates.baselines import promote

    with _open(args) as db:
        record = promote(db, args.run_id, name=args.name, note=args.note or "", suite=args.suite)
    moved = f" (was {record['previous_run_id']})" if record["previous_run_id"] else ""
    print(f"baseline {record['name']}: run {record['run_id']}{moved}, suite {record['suite_name']}")
    return ExitCode.OK


def _cmd_baseline_list(args: argparse.Namespace) -> int:
    from .gates.baselines import list_baselines

    with _open(args) as db:
        records = list_baselines(db)
    if not records:
        print("no baselines")
    for r in records:
        print(f"{r['name']}\t{r['run_id']}\t{r['suite_name']}\tpromoted {r['promoted_at']}")
    return ExitCode.OK


def _cmd_baseline_show(args: argparse.Namespace) -> int:
    import json

    from .gates.baselines import show

    with _open(args) as db:
        record = show(db, args.name)
    if record is None:
        raise InputError(f"name: no baseline {args.name!r} in store {args.store}")
    print(json.dumps(record, indent=1))
    return ExitCode.OK


def _cmd_compare(args: argparse.Namespace) -> int:
    import json

    from .stats import compare_runs

    with _open(args) as db:
        a, b = _summary(db, args.run_a, "run_a"), _summary(db, args.run_b, "run_b")
    cmp = compare_runs(a, b, metrics=args.metrics)
    if args.html:
        from .report.compare_html import write_compare

        print(f"compare view: {write_compare(a, b, cmp, Path(args.html))}")
    if args.json:
        print(json.dumps(cmp.as_dict(), indent=1))
        return ExitCode.OK
    print(f"{cmp.run_b} vs {cmp.run_a}: {cmp.shared_cases} shared cases (only in {cmp.run_a}: {cmp.only_a}, "
          f"only in {cmp.run_b}: {cmp.only_b})")  # fmt: skip
    print("changed: " + (", ".join(cmp.changed) if cmp.changed else "nothing recorded"))
    for d in cmp.deltas:
        if d.difference is None or (not d.significant and not args.all):
            continue
        mark = "*" if d.significant else " "
        print(f"{mark} {d.system:<16} {d.metric:<20} {d.slice:<26} {d.mean_a:.3f} -> {d.mean_b:.3f} "
              f"({d.difference:+.3f}, n {d.n_shared}, Holm p {d.p_holm:.4f}) "
              f"regressed {len(d.regressed)}, improved {len(d.improved)}")  # fmt: skip
    return ExitCode.OK


def _cmd_gate(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from .evaluate import run, store_gate_results
    from .gates import declared_gates, evaluate_gates, load_gates_file
    from .gates.baselines import resolve
    from .report.gate_files import gate_test_name, junit_xml, markdown_summary
    from .runner import load_suite
    from .stats import compare_runs
    from .store import open_store

    suite = load_suite(args.suite)
    store_url = args.store or suite.store_url()
    if args.run is None:
        result = run(suite, store=store_url, reports_dir=args.reports, progress=not args.no_progress)
        run_id = result.run_id
    else:
        run_id = args.run
    with open_store(store_url) as db:
        summary = _summary(db, run_id, "--run")
        baseline = None
        if args.baseline:
            baseline = _summary(db, resolve(db, args.baseline), "--baseline")
        specs = declared_gates(summary.manifest.suite_config, source=str(suite.path))
        if args.gates:
            specs += load_gates_file(args.gates)
        results = evaluate_gates(summary, specs, baseline=baseline, baseline_name=args.baseline)
        store_gate_results(db, run_id, results, at=datetime.now(UTC), baseline=args.baseline,
                           baseline_run_id=baseline.run_id if baseline else None)  # fmt: skip
    for g in results:
        print(f"{'SKIP' if g.skipped else 'PASS' if g.passed else 'FAIL'}  {gate_test_name(g)}: {g.message}")
    if args.junit:
        Path(args.junit).write_text(junit_xml(results, suite=summary.manifest.suite_name, run_id=run_id))
    if args.summary:
        cmp = compare_runs(baseline, summary) if baseline is not None else None
        with Path(args.summary).open("a", encoding="utf-8") as f:  # append: $GITHUB_STEP_SUMMARY is shared
            f.write(markdown_summary(summary, results, comparison=cmp))
    return ExitCode.OK if all(g.passed for g in results) else ExitCode.GATE_FAILED


def _when(value: str | None, setting: str, *, end: bool = False):
    from .stats.history import parse_when

    try:
        return parse_when(value, end=end)
    except ValueError as exc:
        raise InputError(f"{setting}: {exc}") from None


def _cmd_runs(args: argparse.Namespace) -> int:
    import json

    from rich.table import Table

    from .stats.history import as_rows, run_history

    since, until = _when(args.since, "--since"), _when(args.until, "--until", end=True)
    with _open(args) as db:
        rows = run_history(db, suite=args.suite, since=since, until=until)
    if args.json:
        print(json.dumps(as_rows(rows), indent=1))
        return ExitCode.OK
    table = Table(title=f"{len(rows)} run(s) in {args.store}")
    for col in ("run", "suite", "date", "golden sets", "systems", "cases", "errors", "gates", "baseline"):
        table.add_column(col, overflow="fold")
    for r in rows:
        golden = ", ".join(f"{g.name} {g.version or '?'} {g.content_hash[:15]}" for g in r.golden_sets) or "—"
        gates = "—" if r.gates_passed is None else f"{r.gates_passed} passed, {r.gates_failed} failed"
        if r.failing_gates:
            gates += f" ({', '.join(r.failing_gates)})"
        errors = "—" if r.error_rate is None else f"{r.error_rate:.1%}"
        baseline = r.baseline or (r.baseline_run_id or "—")
        table.add_row(Text(r.run_id), Text(r.suite), Text(r.created_at), Text(golden), Text(", ".join(r.systems)),
                      str(r.cases), errors, Text(gates), Text(baseline))  # fmt: skip
    Console(width=200).print(table)
    return ExitCode.OK


def _cmd_store_prune(args: argparse.Namespace) -> int:
    from .gates.baselines import list_baselines
    from .stats.history import prune, retention_plan

    with _open(args) as db:
        try:
            plan = retention_plan(db, keep_days=args.keep_days, baselines=list_baselines(db),
                                  keep_baselines=args.keep_baselines, keep_every_weeks=args.keep_every)  # fmt: skip
        except ValueError as exc:
            raise InputError(f"store prune: {exc}") from None
        if not args.dry_run:
            prune(db, plan)
    verb = "would delete" if args.dry_run else "deleted"
    for run_id in plan.delete:
        print(f"{verb} {run_id}")
    kept_old = {k: v for k, v in plan.kept.items() if v != "recent"}
    for run_id, why in sorted(kept_old.items()):
        print(f"keep {run_id}: {why}")
    print(f"{verb} {len(plan.delete)} run(s); kept {len(plan.kept)} ({len(plan.kept) - len(kept_old)} recent)")
    return ExitCode.OK


def _store_url(url: str | None, what: str) -> str:
    from .store._base import ENV_URL

    if not url:
        raise InputError(f"{what}: expected a store URL (sqlite:///PATH or postgresql://USER@HOST/DB) or {ENV_URL}")
    return url


def _cmd_store_migrate(args: argparse.Namespace) -> int:
    from .store import open_store

    with open_store(_store_url(args.url, "URL")) as db:  # opening a store applies its migrations
        print(f"store {db.url}: schema version {db.schema_version}, {len(db.runs())} run(s)")
    return ExitCode.OK


def _cmd_store_copy(args: argparse.Namespace) -> int:
    from .stats import build_summary
    from .store import copy_store, open_store

    if args.src == args.dst:
        raise InputError(f"DST_URL: expected a store other than the source, got {args.dst} twice")
    with open_store(args.src) as src, open_store(args.dst) as dst:
        done = copy_store(src, dst)
        rows = ", ".join(f"{done.inserted[t]} {t}" for t in done.inserted)
        skipped = sum(done.skipped.values())
        print(f"copied {len(done.runs)} run(s) from {src.url} to {dst.url}: {rows}"
              + (f" ({skipped} row(s) already there, skipped)" if skipped else ""))  # fmt: skip
        if args.no_verify:
            return ExitCode.OK
        # the evidence that nothing was lost: each run's summary, rebuilt from each store alone, is equal
        differ = [r for r in done.runs if build_summary(src, r) != build_summary(dst, r)]
    for run_id in differ:
        print(f"DIFFERS {run_id}: its summary in {args.dst} is not the one in {args.src}")
    if differ:
        return ExitCode.FAILURE
    print(f"verified: all {len(done.runs)} run summaries are equal in both stores")
    return ExitCode.OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ragft-eval", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a suite and print the comparison table")
    p.add_argument("suite", help="suite YAML file")
    p.add_argument("--systems", type=_csv, help="comma-separated system names (default: all)")
    p.add_argument("--split", type=_csv, help="comma-separated splits (default: the suite's)")
    p.add_argument("--tags", type=_csv, help="only cases with any of these tags")
    p.add_argument("--limit", type=int, help="at most N cases per golden set (after sampling)")
    p.add_argument("--sample", type=int, help="a random sample of N cases per golden set")
    p.add_argument("--seed", type=int, default=0, help="seed of --sample (default 0)")
    p.add_argument("--resume", metavar="RUN_ID", help="continue a killed run without redoing finished cases")
    p.add_argument("--store", help="run store: sqlite:///PATH or a path (default: the suite's store)")
    p.add_argument("--reports", help="folder for reports/<run_id>/ (default: the suite's reports_dir)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--cache", choices=["read_write", "read", "write", "off"],
                   help="the model-call cache policy for systems and judge (default: the suite's cache:)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true",
                   help="say what the run would call and cost (per system and judge), and call nothing")  # fmt: skip
    p.add_argument("--max-cost", type=float, metavar="USD",
                   help="stop before a call would take the spend over USD (resume with a higher cap)")  # fmt: skip
    p.add_argument("--executor", choices=["local", "ray"],
                   help="where the work runs: this process, or sharded over a Ray cluster (default: the suite's "
                        "executor:, else local)")  # fmt: skip
    p.add_argument("--ray-address", metavar="ADDRESS",
                   help="the Ray cluster (implies --executor ray; default: a local cluster for the run)")  # fmt: skip
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="print the table of a stored run, or (--since) write the quarterly report")
    p.add_argument("run_id", nargs="?")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.add_argument("--out", help="also write table.md/table.csv/results.jsonl here (--since: quarterly.html)")
    p.add_argument("--since", metavar="DATE", help="the quarterly report of the runs created on or after DATE")
    p.add_argument("--until", metavar="DATE", help="with --since: and on or before DATE")
    p.add_argument("--suite", help="with --since: the runs of this suite (default: the newest run's)")
    p.set_defaults(func=_cmd_report)

    p = sub.add_parser("finetune", help="train a LoRA adapter on a golden set's train split (cached)")
    p.add_argument("config", help="fine-tune YAML")
    p.add_argument("--force", action="store_true", help="train again even when the cache has the adapter")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_finetune)

    judge = sub.add_parser("judge", help="judges").add_subparsers(dest="judge_command", required=True)
    p = judge.add_parser("calibrate", help="measure the suite's judge against a human-labelled set")
    p.add_argument("--set", required=True, help="mtbench-human | llmbar-natural | pandalm | ragchecker | faithbench | "
                   "qags-cnndm | qags-xsum | halueval-general")  # fmt: skip
    p.add_argument("--suite", default="evals/demo.yaml", help="suite whose judge: and models: to use")
    p.add_argument("--sample", type=int, help="a seeded sample of N items, stratified by label")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--datasets", default="../shared/datasets", help="the shared datasets folder")
    p.add_argument("--store", help="run store (default: the suite's)")
    p.add_argument("--judge", metavar="NAME", help="a judge of the suite's judges: (a learned judge) instead of "
                   "its judge:")  # fmt: skip
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_judge_calibrate)
    p = judge.add_parser("train", help="train a learned faithfulness judge (cached by data and settings)")
    p.add_argument("config", help="judge train YAML (e.g. evals/judge-faithfulness.yaml)")
    p.add_argument("--force", action="store_true", help="train again even when the cache has the judge")
    p.add_argument("--calibrate", action="store_true",
                   help="then measure it on its held-out sets and test splits (never on training data)")  # fmt: skip
    p.add_argument("--store", help="store those measurements as calibrations in this run store")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_judge_train)
    p = judge.add_parser("report", help="print the stored calibrations as a Markdown table")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.set_defaults(func=_cmd_judge_report)
    p = judge.add_parser("drift", help="re-judge a sample of stored answers with today's judge; store the drift")
    p.add_argument("--since", required=True, metavar="DATE", help="the runs created on or after DATE")
    p.add_argument("--until", metavar="DATE", help="and on or before DATE")
    p.add_argument("--suite", help="the runs of suite NAME (default: the newest run's); a suite FILE also gives "
                   "today's judge (default: the judge the newest run recorded)")  # fmt: skip
    p.add_argument("--sample", type=int, default=200, help="items re-judged per judged metric (default 200)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and the CIs (default 0)")
    p.add_argument("--tolerance", type=float, default=0.05,
                   help="drift: flips beyond the judge's own noise, CI low above this (default 0.05)")  # fmt: skip
    p.add_argument("--store", help="run store (default: the suite file's, else $RAGFT_STORE_URL or reports/)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_judge_drift)

    cache = sub.add_parser("cache", help="the model-call cache").add_subparsers(dest="cache_command", required=True)
    p = cache.add_parser("stats", help="entries, bytes and entries per model of a cache folder")
    p.add_argument("--dir", default=".ragft_cache/calls", help="cache folder (default .ragft_cache/calls)")
    p.set_defaults(func=_cmd_cache_stats)
    p = cache.add_parser("prune", help="delete entries last used more than DAYS days ago")
    p.add_argument("--older-than", type=float, required=True, metavar="DAYS")
    p.add_argument("--dir", default=".ragft_cache/calls", help="cache folder (default .ragft_cache/calls)")
    p.set_defaults(func=_cmd_cache_prune)
    p = cache.add_parser("clear", help="delete every entry")
    p.add_argument("--dir", default=".ragft_cache/calls", help="cache folder (default .ragft_cache/calls)")
    p.set_defaults(func=_cmd_cache_clear)


    base = sub.add_parser("baseline", help="promoted baseline runs").add_subparsers(dest="baseline_command",
                                                                                   required=True)  # fmt: skip
    p = base.add_parser("promote", help="promote a finished run to a named baseline")
    p.add_argument("run_id", help="a run id, or latest (the newest finished run)")
    p.add_argument("--suite", help="with latest: the newest finished run of this suite")
    p.add_argument("--name", default="main")
    p.add_argument("--note", help="why it was promoted")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.set_defaults(func=_cmd_baseline_promote)
    p = base.add_parser("list", help="the baselines in the store")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.set_defaults(func=_cmd_baseline_list)
    p = base.add_parser("show", help="one baseline's record")
    p.add_argument("name")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.set_defaults(func=_cmd_baseline_show)

    p = sub.add_parser("compare", help="compare two stored runs: paired differences and what changed")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.add_argument("--metrics", type=_csv, help="only these metrics")
    p.add_argument("--all", action="store_true", help="also the differences that are not significant")
    p.add_argument("--json", action="store_true", help="the whole comparison as JSON")
    p.add_argument("--html", metavar="FILE", help="also write the compare view (regressed answers side by side)")
    p.set_defaults(func=_cmd_compare)

    p = sub.add_parser("gate", help="run a suite (or reuse a run) and evaluate its gates")
    p.add_argument("suite", help="suite YAML file")
    p.add_argument("--run", metavar="RUN_ID", help="evaluate a finished run instead of running the suite")
    p.add_argument("--baseline", metavar="NAME", help="the promoted baseline the regression gates compare with")
    p.add_argument("--gates", metavar="FILE", help="a gates file, in addition to the suite's gates:")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--summary", metavar="FILE", help="append a Markdown summary (e.g. $GITHUB_STEP_SUMMARY)")
    p.add_argument("--store", help="run store (default: the suite's)")
    p.add_argument("--reports", help="folder for reports/<run_id>/ (default: the suite's reports_dir)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_gate)

    p = sub.add_parser("runs", help="the run history: one line per run (table or JSON)")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.add_argument("--suite", help="only runs of this suite")
    p.add_argument("--since", metavar="DATE", help="only runs created on or after DATE (2025-01-31 or ISO)")
    p.add_argument("--until", metavar="DATE", help="only runs created on or before DATE")
    p.add_argument("--json", action="store_true", help="the rows as JSON")
    p.set_defaults(func=_cmd_runs)

    store = sub.add_parser("store", help="the run store").add_subparsers(dest="store_command", required=True)
    p = store.add_parser("prune", help="delete old runs, never a promoted baseline or a run a stored report names")
    p.add_argument("--keep-days", type=float, required=True, metavar="N", help="keep every run younger than N days")
    p.add_argument("--keep-baselines", action="store_true",
                   help="also keep every run once promoted or compared with as a baseline")  # fmt: skip
    p.add_argument("--keep-every", type=int, metavar="WEEKS", help="of older runs keep the newest per WEEKS weeks")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    p.add_argument("--store", default=os.environ.get("RAGFT_STORE_URL", "reports/ragft-eval.sqlite"))
    p.set_defaults(func=_cmd_store_prune)
    p = store.add_parser("migrate", help="apply the store's migrations (opening a store does too) and say its version")
    p.add_argument("url", nargs="?", default=os.environ.get("RAGFT_STORE_URL"),
                   help="sqlite:///PATH or postgresql://USER@HOST[:PORT]/DB (default: $RAGFT_STORE_URL)")  # fmt: skip
    p.set_defaults(func=_cmd_store_migrate)
    p = store.add_parser("copy", help="copy every run, result and artifact into another store, then verify")
    p.add_argument("src", metavar="SRC_URL")
    p.add_argument("dst", metavar="DST_URL")
    p.add_argument("--no-verify", action="store_true", help="skip comparing each run's summary in both stores")
    p.set_defaults(func=_cmd_store_copy)

    golden = sub.add_parser("golden", help="golden sets").add_subparsers(dest="golden_command", required=True)
    p = golden.add_parser("validate", help="validate a golden-set folder and print every problem")
    p.add_argument("path")
    p.set_defaults(func=_cmd_golden_validate)
    p = golden.add_parser("import", help="import a public dataset as a golden set")
    p.add_argument("format", help="beir | squad | clapnq | hotpotqa | bfcl")
    p.add_argument("src")
    p.add_argument("dest")
    p.add_argument("--name", help="golden-set name (default: the destination folder's name)")
    p.add_argument("--limit", type=int, help="import at most N cases")
    p.set_defaults(func=_cmd_golden_import)
    return parser


def _terminate(signum: int, frame: object) -> None:
    # treat SIGTERM like Ctrl-C, so that finally blocks run and local model servers are stopped
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    parser = build_parser()
    args = parser.parse_args(argv)
    err = Console(stderr=True)

    def say(exc: Exception) -> None:
        # the message echoes user data ("[/docs]", "[bold]"): print it as text, never as rich markup
        err.print(Text.assemble(("error:", "red"), " ", str(exc)), highlight=False)

    try:
        return int(args.func(args))
    except RunStopped as exc:
        say(exc)
        return exc.exit_code
    except InputError as exc:
        say(exc)
        return ExitCode.INPUT
    except RagftError as exc:
        say(exc)
        return ExitCode.FAILURE
    except KeyboardInterrupt:
        err.print("interrupted")
        return ExitCode.INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
