"""Fixtures of the HTML report tests: the model-free example run with hostile text planted in its answers
and golden text, the stats inputs of that run, and the demo-shaped synthetic report."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

import ragft_eval
from ragft_eval.gates import GateResult
from ragft_eval.golden import load_golden_set
from ragft_eval.records import Case, Expected
from ragft_eval.report.html import render_html
from ragft_eval.report.table import headline_metrics, systems_of
from ragft_eval.runner.suite import DecideSpec, PrimarySpec
from ragft_eval.stats import RunSummary
from ragft_eval.stats.attribution import attribute
from ragft_eval.stats.cost import costs, latency
from ragft_eval.stats.decision import decide
from ragft_eval.stats.significance import compare_systems, power_by_slice, significance_letters

from .synthetic import demo_shaped, stats_inputs

ROOT = Path(__file__).resolve().parents[2]

# what a hostile (or just unlucky) model answer or golden set may hold; each must stay text
SCRIPT = "<script>window.pwned=1</script>"
CLOSE_SCRIPT = "</script><script>window.pwned=1</script>"
TEXTAREA = "</textarea><b>bold</b>"
IMG = '"><img src=x onerror=alert(1)>'
IMG_FLAG = "<img src=x onerror=window.pwned=1>"
COMMENT = "<!--<script>window.pwned=1//"
SEPARATORS = "line\u2028separator\u2029paragraph & more"
PLANTED = (SCRIPT, CLOSE_SCRIPT, TEXTAREA, IMG, IMG_FLAG, COMMENT, SEPARATORS)
LONG_CASE = "ex-mh-01"  # its candidate answer is longer than the truncation limit
LONG_ANSWER = "This answer is long. " * 130  # 2,730 characters


@dataclass(frozen=True)
class Planted:
    summary: RunSummary
    gates: tuple[GateResult, ...]
    cases: dict[tuple[str, str], Case]
    answers: dict[str, str]  # case id -> the planted candidate answer


def _planted_run(tmp: Path) -> Planted:
    """The example suite with PLANTED in the candidate's answers, a retrieved doc id and the suite's
    description (all rendered from the run), and in the golden text passed as ``cases``."""
    lines = (ROOT / "evals" / "replays" / "candidate.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    answers: dict[str, str] = {}
    for i, rec in enumerate(records):
        if rec["case_id"] == LONG_CASE:
            rec["answer"] = LONG_ANSWER + SCRIPT
        elif i < len(PLANTED):
            rec["answer"] = f"Answer {i}: {PLANTED[i]}"
        answers[rec["case_id"]] = rec["answer"]
    records[0]["retrieved"].append({"doc_id": IMG, "score": 0.5})
    replay = tmp / "candidate.jsonl"
    replay.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")

    cfg = yaml.safe_load((ROOT / "evals" / "example.yaml").read_text(encoding="utf-8"))
    cfg |= {
        "golden_sets": [str(ROOT / "golden_sets" / "example")],
        "store": str(tmp / "s.sqlite"),
        "reports_dir": str(tmp / "r"),
        "cache_dir": str(tmp / "cache"),
        "description": f"desc {SCRIPT} {IMG}",
    }
    for s in cfg["systems"]:
        s["path"] = str(replay) if s["name"] == "candidate" else str(ROOT / "evals" / s["path"])
    suite = tmp / "example.yaml"
    suite.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    result = ragft_eval.run(suite, store=tmp / "s.sqlite", reports_dir=tmp / "r")

    gs = load_golden_set(ROOT / "golden_sets" / "example")
    cases = {(gs.name, c.id): c for c in gs.cases}
    first = gs.cases[0]
    cases[(gs.name, first.id)] = first.model_copy(
        update={"input": f"Question {TEXTAREA} {CLOSE_SCRIPT}", "expected": Expected(answer=f"golden {IMG}")}
    )
    return Planted(result.summary, result.gates, cases, answers)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    return _planted_run(tmp_path_factory.mktemp("planted"))


def example_inputs(p: Planted) -> dict[str, Any]:
    """Every optional input of render_html for the example run, from the real stats functions, with a
    decision whose sentences cite cells, a comparison, latency and cost."""
    results, cells = p.summary.results, list(p.summary.cells)
    comparisons = compare_systems(results, resamples=500)
    lat = latency(results, resamples=200)
    cost_stats = costs(results, resamples=200)
    decision = decide(
        cells,
        comparisons,
        lat,
        cost_stats,
        DecideSpec(primary=PrimarySpec(metric="token_f1"), max_cost_per_1k_usd=10.0, min={"token_f1": 0.01}),
    )
    relevant = {key: case.relevant_docs for key, case in p.cases.items()}
    return {
        "gates": p.gates,
        "comparisons": comparisons,
        "letters": significance_letters(comparisons, systems_of(cells)),
        "power": {"token_f1": power_by_slice(results, metric="token_f1", min_slice_cases=2)},
        "attribution": attribute(results, relevant, headline_metrics(cells)),
        "latency": lat,
        "cost": {"costs": cost_stats},
        "decision": decision,
        "cases": p.cases,
    }


@dataclass(frozen=True)
class DemoReport:
    html: str
    seconds: float  # to render


@pytest.fixture(scope="session")
def demo_report() -> DemoReport:
    """The report of a demo-shaped synthetic run (96 cases x 6 systems x 21 metrics), every section filled."""
    summary, cases = demo_shaped()
    inputs = stats_inputs(summary, cases)
    start = time.perf_counter()
    text = render_html(summary, **inputs)
    return DemoReport(text, time.perf_counter() - start)
