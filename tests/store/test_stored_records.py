"""Stores written by the code before the seams redesign (tests/fixtures/main_v1_store, commit c00306c) open,
migrate and report under the current code, and their stored responses re-score to the same cells; each
test runs on the SQLite file itself and on its copy in PostgreSQL (``store copy``), which must report the same."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from ragft_eval.gates import suite_gates
from ragft_eval.golden import load_golden_set
from ragft_eval.metrics import ScoreContext, build_metrics, score_response
from ragft_eval.records import MANIFEST_SCHEMA_VERSION, RunManifest
from ragft_eval.report import write_report
from ragft_eval.runner import Suite
from ragft_eval.stats import aggregate, build_summary
from ragft_eval.stats.aggregate import BALANCED
from ragft_eval.store import copy_store, open_store

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "main_v1_store"
RUNS = {"example": "20261201-085603-538e8f", "demo": "20261201-085629-2923cd", "judged": "20261201-091231-094e74"}


@pytest.fixture
def fixture_store(new_store_url, tmp_path):
    """A fixture store, opened from the backend under test: a copy of the SQLite file (opening a store
    writes to it: WAL mode, migrations, never to the fixture), or that copy copied into PostgreSQL."""

    def load(name: str) -> str:
        path = tmp_path / name
        shutil.copy(FIXTURES / name, path)
        url = new_store_url()
        if url.startswith("sqlite:"):
            return f"sqlite:///{path}"
        with open_store(path) as src, open_store(url) as dst:
            copy_store(src, dst)
        return url

    return load


@pytest.fixture(params=sorted(RUNS))
def old_store(request, fixture_store) -> tuple[str, str]:
    return request.param, fixture_store(f"{request.param}.sqlite")


def test_an_old_store_opens_migrates_and_reports_the_same_cells(old_store, tmp_path):
    name, url = old_store
    with open_store(url) as db:
        assert db.schema_version == 1
        raw = next(iter(db.export_rows("runs")))[6]  # the manifest column, as stored
        assert '"schema_version":1' in raw.replace(" ", "")  # stored as schema 1
        summary = build_summary(db, RUNS[name])
    assert summary.manifest.schema_version == MANIFEST_SCHEMA_VERSION
    assert summary.status == "finished"
    assert summary.results and all(cr.schema_version == 1 for cr in summary.results)
    out = write_report(summary, tmp_path / "report", suite_gates(summary))
    old = FIXTURES / f"{name}_report"

    def without_derived(path: Path) -> str:
        """Today's table without what it adds to an old run's: the derived rows, the flag of a judge
        with no stored calibration (the old report left its columns unflagged), and the line naming the
        refusal detector (an old run's abstention used patterns, the only detector then)."""
        lines = path.read_text().replace(" ⚠ uncalibrated judge", "").splitlines(keepends=True)
        return "".join(line for line in lines if BALANCED not in line
                       and not line.startswith(("⚠ judge-based columns flagged", "refusals (")))  # fmt: skip

    assert without_derived(out / "table.csv") == (old / "table.csv").read_text()
    if name != "judged":  # the judged store got its calibrations after its run wrote its report
        assert without_derived(out / "table.md") == (old / "table.md").read_text()


def test_a_schema_1_manifest_gets_its_judged_metrics_and_judge_identity(fixture_store):
    with open_store(fixture_store("judged.sqlite")) as db:
        summary = build_summary(db, RUNS["judged"])
    m = summary.manifest
    assert m.metrics["judge_grade"]["judged"] and not m.metrics["exact_match"]["judged"]
    assert m.metrics["judge_pairwise_vs_baseline"] == {"kind": "judge_pairwise", "judged": True,
                                                        "baseline": "baseline"}  # fmt: skip
    assert set(summary.judged_metrics) == {"judge_grade", "judge_pairwise_vs_baseline"}
    # the identity derived from the stored judge description is the one c00306c stored its calibrations under
    assert [c["seed"] for c in summary.judge_calibrations] == [1]


def test_the_judge_flag_reads_the_latest_calibration_per_set(fixture_store, tmp_path):
    """c00306c flagged the judge forever once any calibration was unreliable; the latest per set decides."""
    with open_store(fixture_store("judged.sqlite")) as db:
        summary = build_summary(db, RUNS["judged"])
        assert [c["reliable"] for c in db.artifacts("calibration")] == [False, True]  # both are stored
    assert summary.flagged_metrics == ()
    md = (write_report(summary, tmp_path / "r", suite_gates(summary)) / "table.md").read_text()
    assert "kappa 0.61" in md and "UNRELIABLE" not in md and "⚠" not in md
    # and the max_error_rate note is there (c00306c's `report RUN --out` left it out)
    assert "error rate above max_error_rate=5% for: baseline" in md


def test_a_newer_record_is_refused_not_misread():
    with pytest.raises(ValueError, match="schema_version 99 is newer than this ragft-eval"):
        RunManifest.model_validate({"schema_version": 99})


def test_stored_demo_responses_rescore_to_the_same_cells(fixture_store):
    """The demo run's stored responses (real answers of the local model, written by c00306c) scored again by
    today's metrics give the cells c00306c computed.  The judged columns are kept as stored (re-judging
    would need the judge model; their status rule is tested elsewhere)."""
    with open_store(fixture_store("demo.sqlite")) as db:
        summary = build_summary(db, RUNS["demo"])
    m = summary.manifest
    suite = Suite.model_validate({**m.suite_config, "base_dir": ROOT / "evals"})
    # the demo golden set as it was when the fixture was made (a copy: the demo's set has grown since)
    gs = load_golden_set(FIXTURES / "golden_demo")
    assert gs.content_hash == m.golden_sets["demo"], "the fixture's golden set is not the one the run used"
    metrics, _ = build_metrics(suite)
    judged = {name for name, spec in m.metrics.items() if spec["judged"]}
    plain = [metric for metric in metrics if metric.name not in judged]
    records = {"prompt-only": frozenset(), "rag-bm25": frozenset({"retrieved", "context"}),
               "rag-fusion": frozenset({"retrieved", "context"})}  # fmt: skip
    cases = {c.id: c for c in gs.cases}
    rescored = []
    for cr in summary.results:
        ctx = ScoreContext(golden_set=gs)
        fresh = asyncio.run(score_response(cases[cr.case_id], cr.response, plain, ctx, records[cr.system]))
        kept = tuple(r for r in cr.results if r.metric in judged)
        rescored.append(cr.model_copy(update={"results": tuple(fresh) + kept}))
    before = {(c.system, c.task_type, c.metric): c for c in summary.cells if c.metric != BALANCED}
    # today's aggregate adds derived cells (abstention_balanced) the fixture's run did not have
    after = {(c.system, c.task_type, c.metric): c for c in aggregate(rescored, **m.bootstrap)
             if c.metric != BALANCED}  # fmt: skip
    assert after == before


def test_a_judge_without_a_stored_calibration_is_flagged_uncalibrated(fixture_store, tmp_path):
    """The demo fixture's store holds no calibration of its judge: its judged columns are flagged
    "uncalibrated" (not left unflagged); the judged fixture's store holds a calibration of its judge that
    found it reliable, so nothing is flagged there."""
    with open_store(fixture_store("demo.sqlite")) as db:
        demo = build_summary(db, RUNS["demo"])
    with open_store(fixture_store("judged.sqlite")) as db:
        judged = build_summary(db, RUNS["judged"])
    assert demo.judge_flag == "uncalibrated" and set(demo.flagged_metrics) == set(demo.judged_metrics)
    assert "judge_grade" in demo.flagged_metrics
    out = write_report(demo, tmp_path / "report")
    assert "judge_grade ⚠ uncalibrated judge" in (out / "table.md").read_text()
    assert judged.judge_calibrations and judged.judge_flag is None and not judged.flagged_metrics
