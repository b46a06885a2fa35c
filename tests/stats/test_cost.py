"""Latency percentiles, tokens, cost, the monthly projection, break-even and the Pareto front
(:mod:`ragft_eval.stats.cost`), and the suite's ``costs:`` / ``decide:`` / ``attribution:`` blocks.

Hand-built responses, so every expected number is worked out in the test; the suite tests pin the example
suite's config hash as it was before these blocks existed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from ragft_eval.errors import SuiteConfigError
from ragft_eval.records import CaseResult, ErrorInfo, MetricResult, Response, Usage
from ragft_eval.runner.suite import AttributionSpec, CostSpec, DecideSpec, load_suite
from ragft_eval.stats.cost import (
    CostStats,
    Projection,
    break_even,
    break_evens,
    costs,
    judge_calls,
    latency,
    min_n_for_percentile,
    pareto_front,
    percentile_with_ci,
    project,
    tokens,
)

ROOT = Path(__file__).resolve().parents[2]
# load_suite("evals/example.yaml").config_hash computed before costs/decide/attribution were added to Suite
EXAMPLE_HASH = "sha256:988ee1de24ac113d6225033501227488229fef4435b02888a3aaf93f5c4b2a68"


def _cr(
    i: int,
    *,
    system: str = "rag",
    latency_s: float | None = None,
    usage: Usage | None = None,
    cost_usd: float | None = None,
    error: bool = False,
    results: tuple[MetricResult, ...] = (),
) -> CaseResult:
    response = Response(case_id=f"c{i:03d}", system=system, answer=None if error else "a", usage=usage or Usage(),
                        latency_s=latency_s, cost_usd=cost_usd,
                        error=ErrorInfo(type="Boom", message="x") if error else None)  # fmt: skip
    return CaseResult(run_id="r", system=system, case_id=f"c{i:03d}", golden_set="gs", task_type="t",
                      response=response, results=results)  # fmt: skip


def _ragas(calls: int, prompt: int, completion: int) -> MetricResult:
    details = {"calls": calls, "prompt_tokens": prompt, "completion_tokens": completion}
    return MetricResult.scored("faithfulness", 1.0, details=details)


def _verdicts(*tokens_: tuple[int | None, int | None]) -> MetricResult:
    verdicts: list[dict[str, Any]] = [{"status": "ok", "prompt_tokens": p, "completion_tokens": c} for p, c in tokens_]
    return MetricResult.scored("judge_grade", 1.0, details={"verdicts": verdicts})


# --- latency ----------------------------------------------------------------------------------------


def test_the_percentile_rule_is_n_at_least_one_over_one_minus_p():
    assert [min_n_for_percentile(p) for p in (50, 90, 95, 99)] == [2, 10, 20, 100]
    with pytest.raises(ValueError):
        min_n_for_percentile(100)


def test_a_percentile_is_shown_only_from_the_rule_s_n_on():
    values = list(np.random.default_rng(1).exponential(1.0, 100))
    p95_19 = percentile_with_ci(values[:19], 95)
    assert p95_19.value is None and p95_19.ci_low is None
    assert p95_19.reason == "p95 needs n >= 20 (n >= 1/(1-p)); 19 latencies measured"
    p95_20 = percentile_with_ci(values[:20], 95)
    assert p95_20.value == float(np.percentile(values[:20], 95)) and p95_20.reason is None
    assert p95_20.ci_low <= p95_20.value <= p95_20.ci_high
    assert percentile_with_ci(values[:99], 99).value is None
    p99 = percentile_with_ci(values, 99)
    assert p99.value == float(np.percentile(values, 99))
    assert percentile_with_ci(values, 99, seed=3) == percentile_with_ci(values, 99, seed=3)  # seeded
    assert percentile_with_ci(values, 99, seed=3) != percentile_with_ci(values, 99, seed=4)
    assert percentile_with_ci([0.5], 50).reason == "p50 needs n >= 2 (n >= 1/(1-p)); 1 latency measured"


def test_latency_leaves_out_errors_and_unreported_latencies_and_counts_them():
    results = [_cr(i, latency_s=0.1 * (i + 1)) for i in range(25)]
    results += [_cr(100, error=True, latency_s=9.0), _cr(101, latency_s=None)]
    (stats,) = latency(results, seed=5)
    assert (stats.n_cases, stats.n, stats.n_error, stats.n_not_reported) == (27, 25, 1, 1)
    values = [0.1 * (i + 1) for i in range(25)]
    assert stats.p50.value == pytest.approx(float(np.percentile(values, 50)))
    assert stats.p95.value == pytest.approx(float(np.percentile(values, 95)))  # the errored 9.0 s is not in it
    assert stats.p99.value is None and "p99 needs n >= 100" in stats.p99.reason
    assert stats.as_dict()["p95"]["percent"] == 95


# --- tokens -----------------------------------------------------------------------------------------


def test_token_means_leave_out_unreported_counts_rather_than_count_them_as_zero():
    results = [
        _cr(1, usage=Usage(prompt_tokens=100, completion_tokens=10, calls=1)),
        _cr(2, usage=Usage(prompt_tokens=300, completion_tokens=None, calls=1)),
        _cr(3, usage=Usage(prompt_tokens=None, completion_tokens=None, calls=1)),
        _cr(4, usage=Usage(prompt_tokens=5000, completion_tokens=5000, calls=1), error=True),
        _cr(1, system="replay"),
    ]
    rag, replay = sorted(tokens(results), key=lambda t: t.system)
    assert (rag.prompt_tokens_mean, rag.n_prompt_reported) == (200.0, 2)
    assert (rag.completion_tokens_mean, rag.n_completion_reported) == (10.0, 1)
    assert rag.n_error == 1 and rag.prompt_reason is None
    assert replay.prompt_tokens_mean is None and replay.prompt_reason == "the system reports no prompt tokens"


# --- cost -------------------------------------------------------------------------------------------


def test_system_cost_per_query_and_per_thousand():
    results = [_cr(1, cost_usd=0.001), _cr(2, cost_usd=0.003), _cr(3, cost_usd=None), _cr(4, error=True)]
    (c,) = costs(results)
    assert c.system_usd_per_query == pytest.approx(0.002) and c.system_usd_per_1k == pytest.approx(2.0)
    assert (c.n_cost_reported, c.n_cost_not_reported, c.n_error) == (2, 1, 1)
    assert c.system_ci_low <= c.system_usd_per_query <= c.system_ci_high
    (none,) = costs([_cr(1)])
    assert none.system_usd_per_query is None and none.system_usd_per_1k is None
    assert none.system_reason == "the system reports no cost"


def test_judge_calls_read_verdicts_and_the_ragas_tally():
    assert judge_calls(_verdicts((100, 10), (None, 5))) == [(1, 100, 10), (1, None, 5)]
    assert judge_calls(_ragas(3, 900, 60)) == [(3, 900, 60)]
    assert judge_calls(MetricResult.unscored("judge_grade", "not selected")) == []
    assert judge_calls(MetricResult.scored("exact_match", 1.0)) == []


def test_judge_cost_is_tokens_times_the_price_over_every_case():
    results = [
        _cr(1, results=(_verdicts((1000, 100), (1000, 100)), _ragas(2, 1000, 0))),
        _cr(2),  # judged on nothing (a where: picked other cases): still a case of the evaluation
    ]
    (c,) = costs(results, judge_usd_per_1k_prompt_tokens=0.5, judge_usd_per_1k_completion_tokens=2.0)
    # prompt 3000 tokens x $0.5/1k = $1.5; completion 200 x $2/1k = $0.4; $1.9 over 2 cases
    assert (c.n_judge_calls, c.judge_prompt_tokens, c.judge_completion_tokens) == (4, 3000, 200)
    assert c.judge_usd_total == pytest.approx(1.9)
    assert c.judge_usd_per_query == pytest.approx(0.95) and c.judge_usd_per_1k == pytest.approx(950.0)
    assert c.judge_reason is None


def test_judge_cost_is_none_without_a_price_or_with_unreported_tokens():
    results = [_cr(1, results=(_verdicts((1000, 100)),))]
    (unpriced,) = costs(results)
    assert unpriced.judge_usd_per_query is None and unpriced.judge_reason == "judge cost not priced"
    (half,) = costs(results, judge_usd_per_1k_prompt_tokens=1.0)
    assert half.judge_reason == "judge cost not priced"
    partial = [_cr(1, results=(_verdicts((1000, 100), (None, None)),))]
    (c,) = costs(partial, judge_usd_per_1k_prompt_tokens=1.0, judge_usd_per_1k_completion_tokens=1.0)
    assert c.judge_usd_total is None and c.judge_prompt_tokens is None
    assert c.judge_reason == "judge tokens not reported for 1 of 2 judge calls"
    (both,) = costs(partial)
    assert both.judge_reason == "judge cost not priced; judge tokens not reported for 1 of 2 judge calls"
    (no_calls,) = costs([_cr(1)], judge_usd_per_1k_prompt_tokens=1.0, judge_usd_per_1k_completion_tokens=1.0)
    assert (no_calls.judge_usd_per_query, no_calls.n_judge_calls) == (0.0, 0)


# --- projection and break-even ----------------------------------------------------------------------


def _cost(system: str, per_query: float | None) -> CostStats:
    (c,) = costs([_cr(1, system=system, cost_usd=per_query)])
    return c


def test_projection_adds_fixed_and_amortised_one_time_costs():
    spec = CostSpec(volume_per_month=100_000, fixed_monthly_usd={"rag": 50.0}, one_time_usd={"ft": 1200.0},
                    amortise_months=6)  # fmt: skip
    rag, ft, hosted = project([_cost("rag", 0.001), _cost("ft", 0.0001), _cost("hosted", None)], spec)
    assert rag.monthly_fixed_usd == 50.0 and rag.monthly_usd == pytest.approx(100_000 * 0.001 + 50)
    assert ft.monthly_fixed_usd == 200.0 and ft.monthly_usd == pytest.approx(100_000 * 0.0001 + 200)
    assert rag.declared == ("fixed_monthly_usd",) and ft.declared == ("one_time_usd",)
    assert hosted.monthly_usd is None and hosted.reason == "no cost per query: the system reports no cost"
    (at_zero,) = project([_cost("rag", 0.001)], spec, volume=0)
    assert at_zero.monthly_usd == 50.0
    (no_volume,) = project([_cost("rag", 0.001)], CostSpec())
    assert no_volume.monthly_usd is None and no_volume.reason == "no monthly volume stated (costs.volume_per_month)"


def _proj(system: str, c: float | None, f: float) -> Projection:
    return Projection(system=system, volume_per_month=None, usd_per_query=c, fixed_monthly_usd=f, one_time_usd=0.0,
                      amortise_months=12, monthly_fixed_usd=f, monthly_usd=None, declared=())  # fmt: skip


def test_break_even_is_where_the_monthly_costs_meet():
    # a: cheap to run, expensive per query; b: a GPU at $300/month, nearly free per query
    a, b = _proj("api", 0.002, 0.0), _proj("self-hosted", 0.0005, 300.0)
    be = break_even(a, b)
    assert be.volume == pytest.approx(200_000)  # (300 - 0) / (0.002 - 0.0005)
    assert 0.002 * be.volume == pytest.approx(300 + 0.0005 * be.volume)
    assert (be.cheaper_below, be.cheaper_above, be.reason) == ("api", "self-hosted", None)
    assert break_even(b, a).volume == pytest.approx(200_000)


def test_break_even_is_none_with_a_reason_when_the_lines_do_not_cross():
    parallel = break_even(_proj("a", 0.001, 10.0), _proj("b", 0.001, 20.0))
    assert parallel.volume is None and parallel.reason == "the same cost per query: a is cheaper at every volume"
    same = break_even(_proj("a", 0.001, 10.0), _proj("b", 0.001, 10.0))
    assert same.volume is None and same.reason == "equal monthly cost at every volume"
    negative = break_even(_proj("a", 0.001, 10.0), _proj("b", 0.002, 20.0))  # a cheaper on both counts
    assert negative.volume is None and negative.cheaper_below == negative.cheaper_above == "a"
    assert negative.reason == "the costs cross only at a negative volume: a is cheaper at every volume"
    unknown = break_even(_proj("a", None, 10.0), _proj("b", 0.002, 20.0))
    assert unknown.volume is None and unknown.reason == "no cost per query for a"
    zero = break_even(_proj("a", 0.001, 10.0), _proj("b", 0.002, 10.0))
    assert zero.volume == 0.0 and str(zero.volume) == "0.0" and zero.cheaper_above == "a"


def test_break_evens_covers_every_pair_once():
    pairs = break_evens([_proj("c", 0.1, 0), _proj("a", 0.2, 0), _proj("b", 0.3, 0)])
    assert [(p.system_a, p.system_b) for p in pairs] == [("a", "b"), ("a", "c"), ("b", "c")]


# --- Pareto front -----------------------------------------------------------------------------------


def test_pareto_front_keeps_the_undominated_and_handles_ties():
    points = {
        "cheap": (0.4, 0.1),
        "good": (0.9, 1.0),
        "dominated": (0.3, 0.5),  # worse and dearer than cheap
        "same-quality-dearer": (0.9, 1.5),  # equal quality, higher cost: dominated by good
        "twin-a": (0.6, 0.3),
        "twin-b": (0.6, 0.3),  # identical points do not dominate each other
    }
    assert pareto_front(points) == {"cheap", "good", "twin-a", "twin-b"}
    assert pareto_front({}) == set()
    with pytest.raises(ValueError, match="finite"):
        pareto_front({"x": (None, 1.0)})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="finite"):
        pareto_front({"x": (0.5, float("nan"))})


# --- the suite's blocks -----------------------------------------------------------------------------


def test_the_example_suite_hash_is_unchanged_by_the_new_fields():
    suite = load_suite(ROOT / "evals" / "example.yaml")
    assert suite.costs is None and suite.decide is None and suite.attribution == AttributionSpec()
    assert suite.config_hash == EXAMPLE_HASH
    explicit = suite.model_copy(update={"attribution": AttributionSpec(threshold=0.5)})
    assert explicit.config_hash == EXAMPLE_HASH  # the default written out is the same config
    changed = [
        suite.model_copy(update={"attribution": AttributionSpec(threshold=0.6)}),
        suite.model_copy(update={"costs": CostSpec(volume_per_month=1000)}),
        suite.model_copy(update={"decide": DecideSpec(primary={"metric": "token_f1"}, p95_latency_s=2.0)}),
    ]
    assert len({s.config_hash for s in changed} | {EXAMPLE_HASH}) == 4


def test_a_suite_with_costs_decide_and_attribution_loads(tmp_path):
    text = (ROOT / "evals" / "example.yaml").read_text(encoding="utf-8").replace("../", str(ROOT) + "/")
    text += """
costs:
  volume_per_month: 500000
  fixed_monthly_usd: {candidate: 70}
  one_time_usd: {candidate: 400}
  amortise_months: 6
  judge_usd_per_1k_prompt_tokens: 0.15
  judge_usd_per_1k_completion_tokens: 0.6
decide:
  primary: {metric: token_f1, slice: "task_type=factual_static"}
  p95_latency_s: 2.5
  max_cost_per_1k_usd: 1.0
  min: {json_valid: 0.9}
  max: {false_refusal: 0.1}
attribution: {threshold: 0.7}
"""
    path = tmp_path / "suite.yaml"
    path.write_text(text, encoding="utf-8")
    suite = load_suite(path)
    assert suite.costs.fixed_monthly_usd == {"candidate": 70.0} and suite.costs.amortise_months == 6
    assert suite.decide.primary.slice == "task_type=factual_static" and suite.decide.min == {"json_valid": 0.9}
    assert suite.attribution.threshold == 0.7
    path.write_text(text.replace("amortise_months: 6", "amortise_months: 6\n  horizon: 3"), encoding="utf-8")
    with pytest.raises(SuiteConfigError, match=r"costs\.horizon"):
        load_suite(path)


def test_the_specs_refuse_bad_values():
    with pytest.raises(ValidationError, match="expected finite numbers >= 0 for a, b"):
        CostSpec(fixed_monthly_usd={"a": float("nan"), "b": -1.0})
    with pytest.raises(ValidationError):
        CostSpec(amortise_months=0)
    with pytest.raises(ValidationError, match="pattern"):
        DecideSpec(primary={"metric": "m", "slice": "factual"})
    with pytest.raises(ValidationError, match="expected finite numbers for m"):
        DecideSpec(primary={"metric": "m"}, min={"m": float("inf")})
    with pytest.raises(ValidationError):
        AttributionSpec(threshold=1.5)


def test_judge_cost_falls_back_to_the_judge_models_own_price_as_recorded():
    """Without the suite's per-1k judge prices, each judge call's recorded cost (the judge model's price:
    tokens for a hosted judge, machine time for a local one) is summed; one unpriced call leaves it None."""
    from ragft_eval.records import CaseResult, MetricResult, Response

    def case(i: int, usds: list[float | None]) -> CaseResult:
        verdicts = [{"prompt_tokens": 100, "completion_tokens": 10, "cost_usd": u} for u in usds]
        m = MetricResult.scored("judge_grade", 1.0, details={"verdicts": verdicts})
        return CaseResult(run_id="r", system="s", case_id=f"c{i}", golden_set="g", task_type="t",
                          response=Response(case_id=f"c{i}", system="s", answer="a"), results=(m,))  # fmt: skip

    (c,) = costs([case(1, [0.002, 0.001]), case(2, [0.003])])
    assert c.judge_usd_total == pytest.approx(0.006) and c.judge_usd_per_query == pytest.approx(0.003)
    assert c.judge_reason is None and c.n_judge_calls == 3
    (none,) = costs([case(1, [0.002, None])])
    assert none.judge_usd_total is None and none.judge_reason == "judge cost not priced"
