"""The ``ragft-eval`` command line: run | report | gate | compare | baseline | golden | finetune | judge | cache.

Exit codes: the one table in :mod:`ragft_eval.exit_codes` (also in the README).
"""

from __future__ import annotations

import argparse
import signal
import sys
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

    result = run(
        args.suite,
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


def _cmd_report(args: argparse.Namespace) -> int:
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
    store = Path(args.store) if args.store else suite.resolve(suite.store)
    with open_store(store) as db:
        db.put_artifact(result.key, "calibration", result.as_dict())
    print(result.summary())
    print(f"confusion (human -> judge): {result.confusion}")
    print(f"extra: {result.extra}")
    print(f"took {result.seconds:.0f} s; stored in {store} as {result.key[:23]}")
    return ExitCode.OK


def _cmd_judge_report(args: argparse.Namespace) -> int:
    from .judges.report import calibration_table
    from .store import open_store

    with open_store(args.store) as db:
        records = db.artifacts("calibration")
    print(calibration_table(records))
    return ExitCode.OK


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
    store_url = args.store or suite.resolve(suite.store)
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
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("report", help="print the table of a stored run")
    p.add_argument("run_id")
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
    p.add_argument("--out", help="also write table.md/table.csv/results.jsonl here")
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
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_judge_calibrate)
    p = judge.add_parser("report", help="print the stored calibrations as a Markdown table")
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
    p.set_defaults(func=_cmd_judge_report)

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
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
    p.set_defaults(func=_cmd_baseline_promote)
    p = base.add_parser("list", help="the baselines in the store")
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
    p.set_defaults(func=_cmd_baseline_list)
    p = base.add_parser("show", help="one baseline's record")
    p.add_argument("name")
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
    p.set_defaults(func=_cmd_baseline_show)

    p = sub.add_parser("compare", help="compare two stored runs: paired differences and what changed")
    p.add_argument("run_a")
    p.add_argument("run_b")
    p.add_argument("--store", default="reports/ragft-eval.sqlite")
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
