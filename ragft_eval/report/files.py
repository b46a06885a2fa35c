"""Report files of a run: results.jsonl, table.csv, table.md under reports/<run_id>/, and the terminal
table.  Everything is rendered from the run's :class:`~ragft_eval.stats.RunSummary` and its gate results,
so ``ragft-eval report RUN`` writes what the run itself wrote."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..gates import GateResult
from ..runner.hooks import START_PARTS
from ..stats import RunSummary
from ..stats.evidence import Evidence
from .table import render_terminal, to_csv, to_markdown

# why a judge's columns are flagged (RunSummary.judge_flag)
FLAG_REASON = {
    "unreliable": "the judge's kappa CI reaches 0 on a calibration set",
    "uncalibrated": "the judge has no stored calibration (its agreement with people is unknown)",
}


def run_notes(result: RunSummary, gates: Sequence[GateResult] = ()) -> list[str]:
    """Lines printed under every table: run id, golden-set hashes, failed gates, the judge."""
    m = result.manifest
    notes = [f"run {m.run_id} · suite {m.suite_name} ({m.suite_hash[:19]})"]
    notes += [f"golden set {name}: {h[:19]}" for name, h in m.golden_sets.items()]
    notes += [g.message for g in gates if not g.passed]
    notes += endpoint_notes(result)
    notes += one_time_notes(result)
    notes += timing_notes(result)
    notes += judge_notes(result)
    notes += refusal_notes(result)
    notes += ppi_notes(result)
    return notes


def ppi_notes(result: RunSummary) -> list[str]:
    """A line per (system, judged metric) with human labels: the PPI++ estimate beside judge and humans alone."""
    lines = []
    for e in result.ppi:
        head = f"PPI {e['metric']} / {e['system']}"
        unmatched = f", {e['n_unmatched']} label(s) of cases the judge did not score left out" if e["n_unmatched"] \
            else ""  # fmt: skip
        if "reason" in e:
            lines.append(f"{head}: no estimate ({e['reason']}; {e['n_labels']} label(s){unmatched})")
            continue
        level = f"{1 - e['alpha']:.0%}"
        lines.append(f"{head}: {e['estimate']:.3f} [{e['ci_low']:.3f}, {e['ci_high']:.3f}] ({level} CI) from "
                     f"{e['n_labelled']} human labels and {e['n_unlabelled']} judge-only cases{unmatched}; judge only "
                     f"{e['judge_only_mean']:.3f} [{e['judge_only_ci_low']:.3f}, {e['judge_only_ci_high']:.3f}], "
                     f"humans only {e['human_only_estimate']:.3f} [{e['human_only_ci_low']:.3f}, "
                     f"{e['human_only_ci_high']:.3f}]")  # fmt: skip
    return lines


# how each refusal detector decides (metrics.abstention.DETECTORS)
_DETECTED_BY = {
    "patterns": "refusal patterns",
    "learned": "the learned refusal detector (TF-IDF + logistic regression)",
    "either": "refusal patterns or the learned refusal detector",
}


def refusal_notes(result: RunSummary) -> list[str]:
    """Which detector decided what a refusal is, for the run's abstention metrics (a manifest from before
    detectors were recorded used patterns)."""
    by: dict[str, list[str]] = {}
    for name, m in result.manifest.metrics.items():
        if m.get("kind") in ("abstention", "false_refusal"):
            by.setdefault(m.get("detector", "patterns"), []).append(name)
    return [f"refusals ({', '.join(names)}): detected by {_DETECTED_BY.get(d, d)}" for d, names in by.items()]


def endpoint_notes(result: RunSummary) -> list[str]:
    """A line per endpoint that retried, was throttled or tripped its breaker (quiet endpoints say nothing)."""
    lines = []
    for e in result.endpoints:
        limit = e.get("limit") or {}
        retried = e.get("attempts", 0) - e.get("calls", 0)
        if e.get("breaker", "closed") != "closed":
            lines.append(f"endpoint {e['endpoint']}: breaker tripped: {e['breaker']}")
        elif retried > 0 or limit.get("throttled"):
            lines.append(f"endpoint {e['endpoint']}: {e.get('calls', 0)} calls, {retried} retried attempts, "
                         f"{limit.get('throttled', 0)} throttled (429); concurrency limit {limit.get('min_limit')}"
                         f"-{limit.get('max_limit')} of {limit.get('cap')}")  # fmt: skip
    return lines


def timing_notes(result: RunSummary) -> list[str]:
    """Where the latest leg's time went: starting the systems (fine-tunes, indexes, threshold searches),
    answering (each system's model time and answers), pairwise judging, and each judged metric's judge time
    as its verdicts recorded it."""
    if not result.timing:
        return []
    leg = result.timing[-1]
    starts = [p for p in leg["phases"] if p["phase"] == "start"]
    started = sum(p["seconds"] for p in starts)
    parts = [f"total {leg['total_s']:.1f} s"]
    if starts:
        parts.append(f"starting systems {started:.1f} s ({_slowest(starts)})")
    parts_by: dict[str, list[dict[str, Any]]] = {}
    for p in leg["phases"]:
        if p["phase"] in START_PARTS:
            parts_by.setdefault(p["phase"], []).append(p)
    if parts_by:
        parts.append("of which " + ", ".join(f"{name} {sum(p['seconds'] for p in ps):.1f} s ({_slowest(ps)})"
                                             for name, ps in parts_by.items()))  # fmt: skip
    for name in ("answer", "pairwise"):
        for p in leg["phases"]:
            if p["phase"] == name and (name == "answer" or p["seconds"] >= 0.05):
                parts.append(f"{'answering and scoring' if name == 'answer' else 'pairwise judging'} "
                             f"{p['seconds']:.1f} s")  # fmt: skip
    lines = [f"time{' (latest leg)' if len(result.timing) > 1 else ''}: " + "; ".join(parts)]
    systems = leg.get("systems") or {}
    if systems:
        per = [f"{s} {row['model_s']:.1f} s for {row['answers']} answers" for s, row in sorted(systems.items())]
        lines.append("model time per system (as each answer recorded it; a cached answer keeps its first call's): "
                     + ", ".join(per))  # fmt: skip
    judged: dict[str, list[float]] = {}
    for cr in result.results:
        for m in cr.results:
            if m.metric in result.judged_metrics:
                for v in m.details.get("verdicts", ()):
                    if isinstance(v, dict) and v.get("latency_s") is not None:
                        judged.setdefault(m.metric, []).append(v["latency_s"])
    if judged:
        lines.append("judge time as the verdicts recorded it: " + ", ".join(
            f"{m} {sum(t):.2f} s for {len(t)} ({sum(t) / len(t) * 1000:.1f} ms each)"
            for m, t in sorted(judged.items())))  # fmt: skip
    return lines


def _slowest(phases: list[dict[str, Any]]) -> str:
    """The three slowest of ``phases``, each as ``detail seconds``."""
    slow = sorted(phases, key=lambda p: -p["seconds"])[:3]
    return ", ".join(f"{p['detail']} {p['seconds']:.1f} s" for p in slow)


def one_time_notes(result: RunSummary) -> list[str]:
    """One line on what the harness did once for the run (fine-tunes, indexes) and what that cost."""
    if not result.one_time:
        return []
    parts, paid, priced = [], 0.0, True
    for w in result.one_time:
        usd = w.get("usd")
        cost = f", ${usd:.4f}" if usd is not None else ", not priced"
        seconds = f"{w['seconds']:.1f} s" if w.get("seconds") is not None else "time unknown"
        how = "reused (an earlier run's work)" if w.get("reused") else "done now"
        parts.append(f"{w['kind']} {w['name']} {how}, {seconds}{cost}")
        if not w.get("reused"):
            paid += usd or 0.0
            priced = priced and usd is not None
    total = f"${paid:.4f}" if priced else "not priced"
    return [f"one-time work (paid by this run: {total}): " + "; ".join(parts)]


def judge_notes(result: RunSummary) -> list[str]:
    """The judge's stored calibrations (latest per set), its repeat stability, and flags."""
    if not result.judged_metrics:
        return []
    judge = result.manifest.judge.get("spec", {}).get("model", "?")
    latest = result.judge_calibrations  # already the latest per set
    lines = []
    for c in latest:
        half = (c["agreement_ci"][1] - c["agreement_ci"][0]) / 2 if c.get("agreement_ci") else 0.0
        kappa = "undefined" if c["kappa"] is None else f"{c['kappa']:.2f}"
        agree = "—" if c["agreement"] is None else f"{c['agreement']:.0%} ±{half:.0%}"
        lines.append(f"judge: model {c['judge_model']}, agreement {agree} on {c['set']}, kappa {kappa}, "
                     f"n {c['n_usable']} (seed {c['seed']}){' shipped' if c.get('shipped') else ''}"
                     f"{'' if c['reliable'] else ' — UNRELIABLE'}")  # fmt: skip
    named = result.manifest.judges
    uncalibrated: dict[str | None, list[str]] = {}  # judge name (None: the suite's judge:) -> its metrics
    for metric, flag in result.metric_flags.items():
        if flag == "uncalibrated":
            uncalibrated.setdefault(result.manifest.metrics.get(metric, {}).get("judge"), []).append(metric)
    if not latest and not result.metric_flags:  # a summary from before per-metric flags
        uncalibrated[None] = list(result.judged_metrics)
    for name, metrics in uncalibrated.items():
        if name is None:
            lines.append(f"judge: model {judge} has no stored calibration; run `ragft-eval judge calibrate --set "
                         f"NAME --suite SUITE` to measure it")  # fmt: skip
        else:
            model = named.get(name, {}).get("describe", {}).get("spec", {}).get("model", name)
            lines.append(f"judge {name} (model {model}, for {', '.join(metrics)}) has no stored calibration; "
                         f"run `ragft-eval judge calibrate --set NAME --suite SUITE --judge {name}` to measure it")
    for name, record in named.items():
        if record.get("trained_on"):
            lines.append(f"judge {name}: {record['trained_on']}")
    by_flag: dict[str, list[str]] = {}
    for metric in sorted(result.flagged_metrics):
        by_flag.setdefault(result.metric_flags.get(metric, result.judge_flag or "unreliable"), []).append(metric)
    for flag, metrics in by_flag.items():
        lines.append(f"⚠ judge-based columns flagged ({', '.join(metrics)}): {FLAG_REASON[flag]}, so treat them as "
                     "unvalidated")  # fmt: skip
    flips = [m.details for cr in result.results for m in cr.results
             if m.status == "scored" and m.details.get("n_usable", 1) > 1]  # fmt: skip
    if flips:
        share = sum(bool(d.get("flipped")) for d in flips) / len(flips)
        spread = sum(d.get("spread", 0.0) for d in flips) / len(flips)
        lines.append(f"judge repeats: verdict flipped on {share:.0%} of {len(flips)} judged cases, "
                     f"mean spread {spread:.2f}")  # fmt: skip
    return lines


def print_summary(result: RunSummary, gates: Sequence[GateResult] = (), evidence: Evidence | None = None) -> None:
    """The headline and overall tables of a run, with its notes (and significance letters), on the terminal."""
    render_terminal(list(result.cells), result.error_rates, title=result.manifest.suite_name,
                    headline=result.manifest.suite_config.get("headline"), footer=run_notes(result, gates),
                    flagged=set(result.flagged_metrics), letters=evidence.letters if evidence else None,
                    flag=result.metric_flags or result.judge_flag or "unreliable")  # fmt: skip


def write_report(result: RunSummary, folder: Path, gates: Sequence[GateResult] = (),
                 evidence: Evidence | None = None) -> Path:  # fmt: skip
    """Write ``results.jsonl``, ``table.csv`` and ``table.md`` into ``folder`` (and, given the run's
    evidence, the self-contained ``report.html`` and the Parquet/CSV exports) and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    headline = result.manifest.suite_config.get("headline")
    with (folder / "results.jsonl").open("w", encoding="utf-8") as f:
        for cr in result.results:
            f.write(cr.model_dump_json() + "\n")
    (folder / "table.csv").write_text(to_csv(list(result.cells)), encoding="utf-8")
    (folder / "table.md").write_text(
        to_markdown(
            list(result.cells),
            result.error_rates,
            title=result.manifest.suite_name,
            headline=headline,
            notes=run_notes(result, gates),
            flagged=set(result.flagged_metrics),
            letters=evidence.letters if evidence is not None else None,
            flag=result.metric_flags or result.judge_flag or "unreliable",
        ),
        encoding="utf-8",
    )
    if evidence is not None:
        from .exports import write_exports
        from .html import write_html

        write_html(result, folder, gates=gates, comparisons=evidence.comparisons, letters=evidence.letters,
                   power=evidence.power, attribution=evidence.attribution, latency=evidence.latency,
                   cost=evidence.cost, decision=evidence.decision, cases=evidence.cases,
                   tag_cells=evidence.tag_cells)  # fmt: skip
        write_exports(result, folder, evidence.comparisons)
    return folder
