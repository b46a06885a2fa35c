"""A synthetic run shaped like the demo (96 cases x 6 systems, 21 metrics each) and every stats input of
the HTML report computed from it by the real stats functions, for the size budget and the browser test.

Seeded: the same run every time.  Texts have the demo's lengths, a tenth of the answers longer than the
report's truncation limit.
"""

from __future__ import annotations

import random
from typing import Any

from ragft_eval.gates import suite_gates
from ragft_eval.records import (
    Case,
    CaseResult,
    ErrorInfo,
    Expected,
    MetricResult,
    Response,
    RetrievedDoc,
    RunManifest,
    Usage,
)
from ragft_eval.report.table import headline_metrics, systems_of
from ragft_eval.runner.suite import CostSpec, DecideSpec, PrimarySpec
from ragft_eval.stats import RunSummary, aggregate, error_rates
from ragft_eval.stats.attribution import attribute
from ragft_eval.stats.cost import break_evens, costs, latency, pareto_front, project, tokens
from ragft_eval.stats.decision import decide
from ragft_eval.stats.significance import compare_systems, power_by_slice, significance_letters

GS = "demo"
SYSTEMS = ("finetuned", "hybrid", "prompt-only", "rag-bm25", "rag-fusion", "routed")
RETRIEVING = {"hybrid", "rag-bm25", "rag-fusion", "routed"}
TASKS = ("factual_changed", "factual_static", "json_extraction", "multi_hop", "style", "unanswerable")
TAGS = ("api", "billing", "mobile", "post-change", "pricing", "product", "data", "security", "offline", "sharing")
WORDS = (
    "notes",
    "workspace",
    "seat",
    "plan",
    "billing",
    "annual",
    "sync",
    "offline",
    "export",
    "the",
    "is",
    "a",
    "per",
    "month",
    "trash",
    "days",
    "admin",
    "guest",
    "storage",
    "limit",
    "API",
    "cursor",
    "page",
    "team",
)
RETRIEVAL = ("recall@3", "precision@3", "mrr@10", "ndcg@3", "hit@3", "map@10")
ANSWER = ("token_recall", "token_f1", "exact_match", "k_precision", "false_refusal")


def _text(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize() + "."


def _metrics(
    rng: random.Random, system: str, task: str, failed: bool, latency_s: float, tok: int, usd: float
) -> list[MetricResult]:
    out = []

    def ratio(name: str, applies: bool, why: str, p: float, binary: bool = False, hib: bool = True) -> None:
        if not applies:
            out.append(MetricResult.unscored(name, why, higher_is_better=hib))
        elif failed:
            out.append(MetricResult.error(name, "system error: TimeoutError", higher_is_better=hib))
        else:
            v = float(rng.random() < p) if binary else min(1.0, max(0.0, rng.gauss(p, 0.25)))
            out.append(MetricResult.scored(name, v, higher_is_better=hib))

    for name in RETRIEVAL:
        ratio(name, system in RETRIEVING and task != "unanswerable", "the system records no retrieval", 0.85)
    skill = {"rag-bm25": 0.6, "rag-fusion": 0.62, "routed": 0.6, "hybrid": 0.3, "finetuned": 0.2}.get(system, 0.15)
    for name in ANSWER:
        ratio(
            name,
            task not in ("unanswerable", "json_extraction"),
            "the case has no text answer",
            skill,
            binary=name in ("exact_match", "false_refusal"),
            hib=name != "false_refusal",
        )
    ratio("abstention", task == "unanswerable", "the case is answerable", 0.2, binary=True)
    json_skill = 0.9 if system in ("finetuned", "hybrid", "routed") else 0.05
    for name in ("json_valid", "schema_valid", "json_field_match"):
        ratio(
            name, task == "json_extraction", "the case expects no JSON", json_skill, binary=name != "json_field_match"
        )
    ratio("format_match", task == "style", "the case states no house format", 0.1, binary=True)
    judged = rng.random() < 0.3
    ratio("judge_grade", judged, "not selected by where: (a seeded 30% of the cases)", 0.3)
    if judged and not failed:  # the judge's tokens, for the judge's cost
        out[-1] = out[-1].model_copy(update={"details": {"verdicts": [{"prompt_tokens": 420, "completion_tokens": 9}]}})
    ratio("faithfulness", judged and system in RETRIEVING, "no context, or not selected", 0.4)
    if failed:
        out += [
            MetricResult.error(n, "system error: TimeoutError", unit=u, higher_is_better=False)
            for n, u in (("latency", "s"), ("tokens", "tokens"), ("cost", "usd"))
        ]
    else:
        out += [
            MetricResult.scored("latency", latency_s, unit="s", higher_is_better=False),
            MetricResult.scored("tokens", tok, unit="tokens", higher_is_better=False),
            MetricResult.scored("cost", usd, unit="usd", higher_is_better=False),
        ]
    return out


def demo_shaped(
    n_cases: int = 96, seed: int = 0, run_id: str = "20261201-000000-synthe", systems: tuple[str, ...] = SYSTEMS
) -> tuple[RunSummary, dict[tuple[str, str], Case]]:
    """A RunSummary of ``n_cases`` x ``systems`` (the demo's six) x 21 metrics, and its cases by
    (golden_set, case_id)."""
    rng = random.Random(seed)
    docs = [f"kb-article-{i:02d}" for i in range(84)]
    cases: dict[tuple[str, str], Case] = {}
    results: list[CaseResult] = []
    for i in range(n_cases):
        task = TASKS[i % len(TASKS)]
        cid = f"demo-{task[:2]}-{i:03d}"
        relevant = {} if task == "unanswerable" else {rng.choice(docs): 2, **({rng.choice(docs): 1} if i % 3 else {})}
        case = Case(
            id=cid,
            task_type=task,
            input=_text(rng, rng.randint(12, 60)) + "?",
            expected=None if task == "unanswerable" else Expected(answer=_text(rng, rng.randint(2, 8))),
            relevant_docs=relevant,
            tags=tuple(rng.sample(TAGS, rng.randint(1, 3))),
            answerable=task != "unanswerable",
            golden_set=GS,
        )
        cases[(GS, cid)] = case
        for system in systems:
            failed = rng.random() < 0.02
            long = rng.random() < 0.1
            answer = None if failed else _text(rng, rng.randint(420, 520) if long else rng.randint(8, 90))
            ranked = rng.sample(docs, 10) if system in RETRIEVING else None
            if ranked and relevant and rng.random() < 0.8:
                ranked[rng.randint(0, 2)] = next(iter(relevant))
            latency_s = round(rng.lognormvariate(0.0 if system != "routed" else 0.8, 0.35), 3)
            tok = rng.randint(60, 600)
            usd = round(tok * 1e-6 * (3 if system in RETRIEVING else 1), 8)
            response = Response(
                case_id=cid,
                system=system,
                answer=answer,
                retrieved=None
                if ranked is None
                else tuple(RetrievedDoc(doc_id=d, score=round(20 - r, 2), rank=r) for r, d in enumerate(ranked, 1)),
                context=None if ranked is None else _text(rng, 400),
                usage=Usage(prompt_tokens=tok - 20, completion_tokens=20, calls=1),
                latency_s=None if failed else latency_s,
                cost_usd=None if failed else usd,
                model={"id": f"gemma-3-270m-{system}"},
                extra={} if ranked is None else {"context_doc_ids": ranked[:3]},
                error=ErrorInfo(type="TimeoutError", message="the case took longer than 300 s", stage="timeout")
                if failed
                else None,
            )
            metrics = _metrics(rng, system, task, failed, latency_s, tok, usd)
            results.append(
                CaseResult(
                    run_id=run_id,
                    system=system,
                    case_id=cid,
                    golden_set=GS,
                    task_type=task,
                    tags=case.tags,
                    response=response,
                    results=tuple(metrics),
                )
            )
    manifest = RunManifest(
        run_id=run_id,
        created_at="2026-12-01T00:00:00+00:00",
        suite_name="demo-synthetic",
        suite_hash="sha256:" + "0" * 64,
        suite_config={
            "name": "demo-synthetic",
            "description": "A synthetic run shaped like the demo.",
            "models": {"gemma": {"model": "gemma-3-270m-q4_k_m", "kind": "local"}},
            "headline": {
                "factual_changed": "token_recall",
                "factual_static": "token_recall",
                "multi_hop": "token_recall",
            },
        },
        golden_sets={GS: "sha256:" + "1" * 64},
        golden_set_versions={GS: "2.0.0"},
        selection={"split": ["test"]},
        systems={
            s: {"kind": s, "model": {"model": "gemma-3-270m"}, "template_hash": "sha256:" + "2" * 64} for s in systems
        },
        package_versions={"ragft-eval": "0.1.0", "numpy": "2.0", "matplotlib": "3.11"},
        bootstrap={"resamples": 200, "seed": 0},
        python="3.11.7",
    )
    summary = RunSummary(
        manifest=manifest,
        status="finished",
        results=tuple(results),
        cells=tuple(aggregate(results, resamples=200, seed=0)),
        error_rates=error_rates(results),
        judged_metrics=("judge_grade", "faithfulness"),
        judge_calibrations=(
            {
                "set": "demo-labels",
                "judge_model": "gemma-3-270m",
                "agreement": 0.41,
                "agreement_ci": (0.3, 0.52),
                "kappa": 0.02,
                "kappa_ci": (-0.1, 0.14),
                "n_usable": 80,
                "n_items": 96,
                "seed": 0,
                "reliable": False,
            },
        ),
        flagged_metrics=("judge_grade", "faithfulness"),
    )
    return summary, cases


def stats_inputs(summary: RunSummary, cases: dict[tuple[str, str], Case], *, resamples: int = 300) -> dict[str, Any]:
    """Every optional input of ``render_html``, from the real stats functions."""
    results = summary.results
    cells = list(summary.cells)
    comparisons = compare_systems(results, resamples=resamples)
    lat = latency(results, resamples=resamples)
    cost_stats = costs(
        results, judge_usd_per_1k_prompt_tokens=0.15, judge_usd_per_1k_completion_tokens=0.6, resamples=resamples
    )
    spec = CostSpec(
        volume_per_month=100_000,
        fixed_monthly_usd={"rag-bm25": 40.0, "rag-fusion": 60.0},
        one_time_usd={"finetuned": 240.0, "hybrid": 240.0, "routed": 240.0},
    )
    projections = project(cost_stats, spec)
    quality = {c.system: c.mean for c in cells if c.task_type == "(all)" and c.metric == "token_recall"}
    points = {
        cs.system: (quality[cs.system], cs.system_usd_per_query)
        for cs in cost_stats
        if quality.get(cs.system) is not None and cs.system_usd_per_query is not None
    }
    decision = decide(
        cells,
        comparisons,
        lat,
        cost_stats,
        DecideSpec(
            primary=PrimarySpec(metric="token_recall"),
            p95_latency_s=2.5,
            max_cost_per_1k_usd=2.0,
            min={"json_valid": 0.2},
        ),
    )
    relevant = {key: case.relevant_docs for key, case in cases.items()}
    return {
        "comparisons": comparisons,
        "letters": significance_letters(comparisons, systems_of(cells)),
        "power": power_by_slice(results, metric="token_recall"),
        "attribution": attribute(
            results, relevant, headline_metrics(cells, summary.manifest.suite_config.get("headline"))
        ),
        "latency": lat,
        "cost": {
            "costs": cost_stats,
            "projections": projections,
            "break_evens": break_evens(projections),
            "tokens": tokens(results),
            "pareto": {"points": points, "front": pareto_front(points), "metric": "token_recall", "slice": "(all)"},
        },
        "decision": decision,
        "cases": cases,
        "gates": suite_gates(summary),
    }
