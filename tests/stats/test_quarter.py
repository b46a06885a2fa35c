"""A quarter of history (12 weekly runs, tests/stats/quarter.py) read back as trends: each known change is
found, tested on the shared cases with Holm across the window, and the unrecorded shift is unexplained."""

from __future__ import annotations

import pytest

from ragft_eval.cli import main
from ragft_eval.stats.history import REPORT_KIND, run_history
from ragft_eval.stats.trends import build_trends
from ragft_eval.store import open_store

from .quarter import BUMP, HELPS, HURTS, NOOP, SHIFT, WEEKS, N, build_quarter


@pytest.fixture(scope="module")
def quarter(tmp_path_factory):
    return build_quarter(tmp_path_factory.mktemp("quarter"))


@pytest.fixture(scope="module")
def trends(quarter):
    with open_store(quarter.store) as db:
        return build_trends(db, since="2026-07-01", until="2026-09-30")


def _step(trends, system: str, week: int):
    (step,) = [s for s in trends.steps if s.system == system and s.run_b == trends.runs[week][0]]
    return step


def test_the_quarter_is_twelve_weekly_runs_with_four_recorded_changes(quarter, trends):
    assert len(trends.runs) == len(WEEKS) == 12 and trends.suite == "quarterly"
    assert [r for r, _ in trends.runs] == list(quarter.run_ids)
    assert [cp.run_b for cp in trends.change_points] == [quarter.run_ids[w] for w in (HELPS, BUMP, HURTS, NOOP)]
    causes = [cp.causes for cp in trends.change_points]
    assert causes == [("prompt",), ("golden set",), ("model",), ("config",)]
    keys = [{c.key for c in cp.changes} for cp in trends.change_points]
    assert "systems.hosted.params.template" in keys[0]
    assert {"golden_sets.quarter", "golden_set_versions.quarter", "case_hashes.quarter"} <= keys[1]
    assert "systems.hosted.params.model" in keys[2] and "systems.hosted.params.max_tokens" in keys[3]
    assert trends.metrics == ("exact_match",)


def test_helpful_and_harmful_changes_are_significant_the_noop_is_not_and_the_shift_is_unexplained(trends, capsys):
    helps, hurts, noop, shift = (_step(trends, "hosted", w) for w in (HELPS, HURTS, NOOP, SHIFT))
    assert helps.significant and helps.difference > 0.1 and helps.change == 1
    assert hurts.significant and hurts.difference < -0.1 and hurts.change == 3
    assert not noop.significant and noop.change == 4 and not noop.unexplained
    assert shift.significant and shift.difference < -0.1 and shift.change is None and shift.unexplained
    # nothing else moved: the weeks between changes and the stable system are not significant
    flagged = [(s.system, s.run_b) for s in trends.steps if s.significant]
    assert flagged == [("hosted", trends.runs[w][0]) for w in (HELPS, HURTS, SHIFT)]
    assert [s for s in trends.steps if s.unexplained] == [shift]
    with capsys.disabled():
        for name, s in (("prompt helps", helps), ("model hurts", hurts), ("no-op", noop), ("unrecorded", shift)):
            print(f"\n{name}: {s.mean_a:.3f} -> {s.mean_b:.3f} ({s.difference:+.3f}, n {s.n_shared}) "
                  f"p {s.p_value:.5f} Holm p {s.p_holm:.5f} significant {s.significant} unexplained {s.unexplained}")


def test_the_golden_set_bump_breaks_the_series_and_is_compared_on_the_shared_cases(trends):
    assert [seg.cases for seg in trends.segments] == [N, N + 20]
    assert trends.segments[1].shared_with_previous == N - 20  # 20 cases changed their expected answer
    assert trends.segments[1].golden_sets == {"quarter": "2"}
    bump = _step(trends, "hosted", BUMP)
    assert bump.n_shared == N - 20 and bump.causes == ("golden set",) and not bump.significant
    (series,) = [s for s in trends.series if s.system == "hosted"]
    assert [p.segment for p in series.points] == [0] * BUMP + [1] * (len(WEEKS) - BUMP)
    assert [p.n for p in series.points] == [N] * BUMP + [N + 20] * (len(WEEKS) - BUMP)
    cp = trends.change_points[1]
    assert (cp.shared_cases, cp.only_a, cp.only_b) == (N - 20, 20, 40)


def test_gates_cost_latency_and_the_decision_over_the_quarter(trends):
    passed = [g.passed for g in trends.gates]
    assert passed == [True] * SHIFT + [False] * (len(WEEKS) - SHIFT)  # hosted-em fails after the shift
    assert {r[0] for g in trends.gates for r in g.results} == {"hosted-em", "max_error_rate"}
    hosted = [o for o in trends.ops if o.system == "hosted"]
    assert [round(o.usd_per_query, 6) for o in hosted] == [0.0021] * HURTS + [0.0004] * (len(WEEKS) - HURTS)
    assert all(o.p95_s < 0.6 for o in hosted[HURTS:]) and all(o.p50_s > 0.6 for o in hosted[:HURTS])
    choices = [c for _, _, c in trends.decisions]
    assert choices[HELPS:BUMP + 2] == ["hosted"] * (BUMP + 2 - HELPS) and choices[-1] == "stable"
    assert trends.decision_changed and trends.latest_decision.choice == "stable"


def test_the_history_of_the_quarter_and_the_report_command(quarter, tmp_path, capsys):
    with open_store(quarter.store) as db:
        rows = run_history(db)
    assert [r.run_id for r in rows] == list(quarter.run_ids)
    assert [r.golden_sets[0].version for r in rows] == [str(w.golden) for w in WEEKS]
    assert [r.gates_failed for r in rows] == [0] * SHIFT + [1] * (len(WEEKS) - SHIFT)
    out = tmp_path / "q3"
    store = str(quarter.store)
    assert main(["report", "--since", "2026-07-01", "--until", "2026-09-30", "--store", store, "--out", str(out)]) == 0
    assert "12 runs of quarterly, 4 recorded changes (2 significant steps at them), 1 unexplained" in \
        capsys.readouterr().out  # fmt: skip
    page = (out / "quarterly.html").read_text()
    for anchor in ("change-1", "change-2", "change-3", "change-4"):
        assert f'id="{anchor}"' in page and f'href="#{anchor}"' in page
    assert "unexplained" in page and "shares 220 cases with the one before" in page
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    with open_store(quarter.store) as db:  # the report names its runs, so prune keeps them
        (record,) = db.artifacts(REPORT_KIND)
    assert record["runs"] == list(quarter.run_ids) and record["suite"] == "quarterly"
    assert main(["report", "--since", "2030-01-01", "--store", store, "--out", str(out)]) == 2
