"""The decision section (:func:`ragft_eval.stats.decision.decide`) on hand-built cells, comparisons,
latency and cost: a system that fails a constraint, one that cannot be measured, a significant and a
non-significant lead, a reversed one, no comparison, ties, and the exact wording with its references.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ragft_eval.records import CaseResult, MetricResult, Response
from ragft_eval.runner.suite import DecideSpec
from ragft_eval.stats.aggregate import OVERALL, Cell
from ragft_eval.stats.cost import CostStats, LatencyStats, Percentile
from ragft_eval.stats.decision import cell_slice, cmp_ref, decide, tag_cells
from ragft_eval.stats.significance import Comparison


def _cell(system: str, metric: str, mean: float | None, *, task_type: str = OVERALL, n: int = 50) -> Cell:
    return Cell(system=system, task_type=task_type, metric=metric, unit="ratio", higher_is_better=True, n_cases=n,
                n_scored=n if mean is not None else 0, n_unscored=0 if mean is not None else n, n_error=0,
                n_scorer_error=0, mean=mean, ci_low=mean, ci_high=mean)  # fmt: skip


def _latency(system: str, p95: float | None, n: int = 50) -> LatencyStats:
    reason = None if p95 is not None else f"p95 needs n >= 20 (n >= 1/(1-p)); {n} latencies measured"
    none = Percentile(99, None, None, None, "p99 needs n >= 100")
    p50, p95_ = Percentile(50, 0.5, 0.4, 0.6), Percentile(95, p95, p95, p95, reason)
    return LatencyStats(system=system, n_cases=n, n=n, n_error=0, n_not_reported=0, p50=p50, p95=p95_, p99=none)


def _cost(system: str, per_1k: float | None) -> CostStats:
    per_query = per_1k / 1000 if per_1k is not None else None
    return CostStats(system=system, n_cases=50, n_error=0, n_cost_reported=50 if per_1k is not None else 0,
                     n_cost_not_reported=0 if per_1k is not None else 50, system_usd_per_query=per_query,
                     system_ci_low=per_query, system_ci_high=per_query, system_usd_per_1k=per_1k,
                     system_reason=None if per_1k is not None else "the system reports no cost", n_judge_calls=0,
                     n_judge_calls_unreported=0, judge_prompt_tokens=0, judge_completion_tokens=0,
                     judge_usd_total=None, judge_usd_per_query=None, judge_usd_per_1k=None,
                     judge_reason="judge cost not priced")  # fmt: skip


def _cmp(a: str, b: str, diff: float, p_holm: float | None, *, metric: str = "token_recall", slice_: str = OVERALL):
    a, b, diff = (a, b, diff) if a < b else (b, a, -diff)
    tested = p_holm is not None
    return Comparison(metric=metric, slice=slice_, system_a=a, system_b=b, n_paired=50, n_left_out=0, mean_a=None,
                      mean_b=None, difference=diff if tested else None, ci_low=diff - 0.05 if tested else None,
                      ci_high=diff + 0.05 if tested else None, test="sign_flip" if tested else None,
                      p_value=p_holm, p_holm=p_holm, significant=tested and p_holm < 0.05, higher_is_better=True,
                      reason=None if tested else "a and b share no case in this slice")  # fmt: skip


SPEC = DecideSpec(primary={"metric": "token_recall"}, p95_latency_s=2.0, max_cost_per_1k_usd=1.0,
                  min={"json_valid": 0.5})  # fmt: skip

# rag and fusion meet everything; slow fails latency; tiny has too few cases for a p95; hosted reports no cost
SYSTEMS = {"fusion": (0.8, 1.2, 0.50), "rag": (0.7, 1.4, 0.40), "slow": (0.9, 3.0, 0.20),
           "tiny": (0.95, None, 0.10), "hosted": (0.99, 0.8, None)}  # fmt: skip


def _inputs(comparisons=(), systems=SYSTEMS):
    cells = [c for s, (q, _, _) in systems.items() for c in (_cell(s, "token_recall", q), _cell(s, "json_valid", 0.9))]
    latency = [_latency(s, p95, n=50 if p95 is not None else 12) for s, (_, p95, _) in systems.items()]
    cost = [_cost(s, usd) for s, (_, _, usd) in systems.items()]
    return cells, list(comparisons), latency, cost


def _texts(decision) -> list[str]:
    return [s.text for s in decision.sentences]


def test_a_significant_lead_among_the_systems_that_meet_every_constraint():
    d = decide(*_inputs([_cmp("fusion", "rag", 0.1, 0.01)]), SPEC)
    assert d.eligible == ("fusion", "rag")
    assert d.ranked == (("fusion", 0.8), ("rag", 0.7))
    assert (d.choice, d.best, d.runners_up, d.lead) == ("fusion", ("fusion",), ("rag",), "significant")
    assert d.comparisons == ("cmp:token_recall/(all)/fusion/rag",)
    assert _texts(d) == [
        "fusion meets every constraint: p95 latency <= 2 s (1.200 s); cost per 1,000 queries <= $1.00 ($0.500); "
        "json_valid >= 0.5 (0.900).",
        "hosted is not shown to meet cost per 1,000 queries <= $1.00: the system reports no cost.",
        "rag meets every constraint: p95 latency <= 2 s (1.400 s); cost per 1,000 queries <= $1.00 ($0.400); "
        "json_valid >= 0.5 (0.900).",
        "slow does not meet p95 latency <= 2 s (measured 3.000 s).",
        "tiny is not shown to meet p95 latency <= 2 s: p95 needs n >= 20 (n >= 1/(1-p)); 12 latencies measured.",
        "Of the 2 systems shown to meet every constraint with a value of token_recall overall, fusion is best at "
        "0.800, ahead of rag at 0.700.",
        "Its lead over rag is significant (paired difference fusion - rag +0.100 [+0.050, +0.150] over 50 cases, "
        "Holm-adjusted p = 0.010).",
    ]
    refs = {s.text.split(" ")[0]: s.refs for s in d.sentences[:5]}
    assert refs["fusion"] == ("latency:fusion", "cost:fusion", "cell:fusion/(all)/json_valid")
    assert refs["hosted"] == ("cost:hosted",)
    assert refs["slow"] == ("latency:slow",)
    assert d.sentences[5].refs == ("cell:fusion/(all)/token_recall", "cell:rag/(all)/token_recall")
    assert d.sentences[6].refs == ("cmp:token_recall/(all)/fusion/rag",)
    assert all(s.refs for s in d.sentences)  # every sentence is linked to its numbers


def test_unmeasurable_constraints_are_not_assumed_met_even_for_the_best_quality():
    d = decide(*_inputs(), SPEC)
    status = {(c.system, c.kind): c.status for c in d.checks}
    assert status[("tiny", "p95_latency_s")] == "not_measured"
    assert status[("hosted", "max_cost_per_1k_usd")] == "not_measured"
    assert status[("slow", "p95_latency_s")] == "not_met"
    assert "tiny" not in d.eligible and "hosted" not in d.eligible  # though they score highest
    check = next(c for c in d.checks if c.system == "hosted" and c.kind == "max_cost_per_1k_usd")
    assert check.value is None and check.reason == "the system reports no cost" and check.ref == "cost:hosted"


def test_a_non_significant_lead_says_the_two_are_not_shown_to_differ():
    d = decide(*_inputs([_cmp("rag", "fusion", -0.1, 0.2)]), SPEC)  # given in the other order
    assert (d.choice, d.lead) == ("fusion", "not_significant")
    assert _texts(d)[-1] == (
        "Its lead over rag is not significant (paired difference fusion - rag +0.100 [+0.050, +0.150] over 50 "
        "cases, Holm-adjusted p = 0.200): the two are not shown to differ."
    )


def test_no_comparison_or_an_untested_one_is_not_tested():
    d = decide(*_inputs(), SPEC)
    assert (d.choice, d.lead, d.comparisons) == ("fusion", "not_tested", ())
    assert _texts(d)[-1] == "Its lead over rag is not tested: no paired comparison on token_recall overall."
    assert d.sentences[-1].refs == ("cell:fusion/(all)/token_recall", "cell:rag/(all)/token_recall")
    untested = decide(*_inputs([_cmp("fusion", "rag", 0.0, None)]), SPEC)
    assert untested.lead == "not_tested"
    assert _texts(untested)[-1] == "Its lead over rag is not tested: a and b share no case in this slice."
    # a comparison in another slice or of another metric is not this one
    elsewhere = decide(*_inputs([_cmp("fusion", "rag", 0.1, 0.01, slice_="task_type=x")]), SPEC)
    assert elsewhere.lead == "not_tested"


def test_a_paired_test_that_favours_the_runner_up_is_reported_as_reversed():
    d = decide(*_inputs([_cmp("fusion", "rag", -0.05, 0.01)]), SPEC)
    assert (d.choice, d.lead) == ("fusion", "reversed")
    assert _texts(d)[-1].startswith("On the cases both have a value for, rag is significantly better")


def test_a_tie_at_the_top_chooses_no_system():
    systems = {**SYSTEMS, "rag": (0.8, 1.4, 0.40)}
    d = decide(*_inputs([_cmp("fusion", "rag", 0.0, 1.0)], systems), SPEC)
    assert (d.best, d.choice, d.lead) == (("fusion", "rag"), None, "tied")
    assert _texts(d)[-1] == "fusion and rag tie for best on token_recall overall at 0.800, so none is chosen on it."


def test_runners_up_tied_are_each_compared_and_the_weakest_outcome_counts():
    systems = {**SYSTEMS, "third": (0.7, 1.0, 0.1)}
    comparisons = [_cmp("fusion", "rag", 0.1, 0.01), _cmp("fusion", "third", 0.1, 0.3)]
    d = decide(*_inputs(comparisons, systems), SPEC)
    assert d.runners_up == ("rag", "third") and d.lead == "not_significant"
    assert "ahead of rag and third at 0.700" in _texts(d)[-3]


def test_one_eligible_system_is_unopposed_and_none_eligible_chooses_none():
    spec = DecideSpec(primary={"metric": "token_recall"}, p95_latency_s=1.3, max_cost_per_1k_usd=1.0)
    d = decide(*_inputs(), spec)
    assert (d.eligible, d.choice, d.runners_up, d.lead) == (("fusion",), "fusion", (), "unopposed")
    assert _texts(d)[-1] == ("fusion is the only system shown to meet every constraint with a value of token_recall "
                             "overall: 0.800.")  # fmt: skip
    # without the cost constraint hosted (no cost reported, p95 0.8 s) is eligible and leads
    latency_only = decide(*_inputs(), DecideSpec(primary={"metric": "token_recall"}, p95_latency_s=1.3))
    assert latency_only.eligible == ("fusion", "hosted") and latency_only.choice == "hosted"
    strict = DecideSpec(primary={"metric": "token_recall"}, p95_latency_s=0.1)
    none = decide(*_inputs(), strict)
    assert none.eligible == () and none.choice is None and none.lead == "none"
    assert _texts(none)[-1] == "No system is shown to meet every constraint, so none is chosen."
    assert set(none.sentences[-1].refs) == {f"latency:{s}" for s in SYSTEMS}


def test_an_eligible_system_without_a_primary_value_is_unranked():
    cells, comparisons, latency, cost = _inputs()
    cells = [replace(c, mean=None, n_scored=0) if (c.system, c.metric) == ("rag", "token_recall") else c for c in cells]
    d = decide(cells, comparisons, latency, cost, SPEC)
    assert d.unranked == ("rag",) and d.choice == "fusion" and d.lead == "unopposed"
    assert "rag meets every constraint but has no value of token_recall overall (no case has a value)." in _texts(d)


def test_min_and_max_bounds_are_inclusive_and_an_absent_metric_is_not_measured():
    spec = DecideSpec(primary={"metric": "token_recall"}, min={"json_valid": 0.9}, max={"false_refusal": 0.1})
    d = decide(*_inputs(), spec)
    by = {(c.system, c.metric): c for c in d.checks}
    assert by[("fusion", "json_valid")].status == "met"  # 0.9 >= 0.9
    assert by[("fusion", "false_refusal")].status == "not_measured"
    assert by[("fusion", "false_refusal")].reason == "false_refusal is not measured for fusion"
    assert d.eligible == ()


def test_the_primary_slice_selects_task_type_or_tag_cells():
    assert (
        cell_slice("(all)") == OVERALL and cell_slice("task_type=json") == "json" and cell_slice("tag=ood") == "tag=ood"
    )
    with pytest.raises(ValueError):
        cell_slice("json")
    spec = DecideSpec(primary={"metric": "token_recall", "slice": "task_type=json"}, p95_latency_s=2.0)
    cells, _, latency, cost = _inputs()
    cells += [
        _cell("fusion", "token_recall", 0.3, task_type="json"),
        _cell("rag", "token_recall", 0.6, task_type="json"),
    ]
    d = decide(cells, [_cmp("fusion", "rag", -0.3, 0.001, slice_="task_type=json")], latency, cost, spec)
    assert (d.choice, d.lead) == ("rag", "significant")
    assert d.sentences[-1].refs == (cmp_ref("token_recall", "task_type=json", "rag", "fusion"),)
    assert "cell:rag/task_type=json/token_recall" in d.sentences[-2].refs


def test_tag_cells_aggregate_the_tagged_cases():
    def cr(system: str, case: str, value: float, tags: tuple[str, ...]) -> CaseResult:
        return CaseResult(run_id="r", system=system, case_id=case, golden_set="gs", task_type="t", tags=tags,
                          response=Response(case_id=case, system=system, answer="a"),
                          results=(MetricResult.scored("token_recall", value),))  # fmt: skip

    results = [cr("a", "1", 1.0, ("ood",)), cr("a", "2", 0.0, ()), cr("a", "3", 0.5, ("ood",))]
    (cell,) = tag_cells(results, "ood")
    assert (cell.task_type, cell.mean, cell.n_cases) == ("tag=ood", 0.75, 2)


def test_no_constraint_means_no_verdict_and_the_wording_is_deterministic():
    assert decide(*_inputs(), DecideSpec(primary={"metric": "token_recall"})) is None
    assert decide(*_inputs(), None) is None
    inputs = _inputs([_cmp("fusion", "rag", 0.1, 0.01)])
    assert decide(*inputs, SPEC) == decide(*inputs, SPEC)
    shuffled = [list(reversed(x)) for x in inputs]
    assert decide(*shuffled, SPEC).sentences == decide(*inputs, SPEC).sentences
    assert decide(*inputs, SPEC).as_dict()["text"].startswith("fusion meets every constraint")
