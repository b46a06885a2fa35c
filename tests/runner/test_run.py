"""The runner end to end on small golden sets: statuses, error accounting, resume, exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ragft_eval import run
from ragft_eval.errors import ResumeError, SuiteConfigError
from ragft_eval.store import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]


def golden(tmp_path: Path, n: int = 12) -> Path:
    gs = tmp_path / "gs"
    gs.mkdir(parents=True)
    (gs / "manifest.yaml").write_text("name: toy\nversion: '1'\n")
    docs = [{"id": f"d{i}", "text": f"Fact number {i} is {i * 7}."} for i in range(n)]
    (gs / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    cases = []
    for i in range(n):
        case = {
            "id": f"c{i:02d}",
            "task_type": "factual" if i % 3 else "unanswerable",
            "input": f"What is fact {i}?",
            "split": "test",
        }
        if i % 3:
            case |= {"expected": {"answer": str(i * 7)}, "relevant_docs": {f"d{i}": 1}}
        else:
            case |= {"answerable": False}
        cases.append(case)
    (gs / "cases.jsonl").write_text("\n".join(json.dumps(c) for c in cases) + "\n")
    return gs


def suite(tmp_path: Path, systems: list[dict], **extra) -> Path:
    golden(tmp_path)
    cfg = {
        "name": "toy",
        "golden_sets": ["gs"],
        "systems": systems,
        "metrics": [
            {"metric": "recall", "k": 3},
            {"metric": "exact_match"},
            {"metric": "abstention"},
            {"metric": "false_refusal"},
            {"metric": "latency"},
        ],
        "store": "store.sqlite",
        "reports_dir": "reports",
        "concurrency": 2,
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


ECHO = {"name": "echo", "kind": "python", "target": "tests.fixtures.toy_systems:slow_echo"}
FLAKY = {"name": "flaky", "kind": "python", "target": "tests.fixtures.toy_systems:flaky"}


def test_statuses_and_error_accounting(tmp_path):
    result = run(suite(tmp_path, [ECHO, FLAKY]))
    df = result.results_frame()
    assert len(df) == 2 * 12 * 5
    assert not df["value"].isna().any() or set(df[df["value"].isna()]["status"]) <= {"unscored", "error"}
    flaky = df[df.system == "flaky"]
    # six odd case ids fail: every metric of those cases is an error, with the reason
    errors = flaky[flaky.status == "error"]
    assert set(errors.case_id) == {f"c{i:02d}" for i in range(12) if i % 2}
    assert errors.reason.str.contains("system error: RuntimeError: backend exploded").all()
    cells = {(c.system, c.task_type, c.metric): c for c in result.cells}
    em = cells[("flaky", "(all)", "exact_match")]
    # 8 answerable cases: 4 errors count as failures (0), 4 scored 0 -> mean 0 over 8, not over 4
    assert (em.n_scored, em.n_error, em.n_unscored, em.mean) == (4, 4, 4, 0.0)
    rec = cells[("flaky", "(all)", "recall@3")]
    # 4 unanswerable cases (undefined) + 4 answered without a recorded retrieval; 4 failed answerable cases
    assert (rec.n_unscored, rec.n_error, rec.n_scored) == (8, 4, 0)
    echo = cells[("echo", "(all)", "exact_match")]
    assert (echo.n_scored, echo.mean, echo.ci_low, echo.ci_high) == (8, 1.0, 1.0, 1.0)
    assert result.error_rates == {"echo": (0, 12), "flaky": (6, 12)}
    files = sorted(p.name for p in result.report_dir.iterdir())
    assert files == ["comparisons.csv", "comparisons.parquet", "report.html", "results.jsonl", "results.parquet",
                     "table.csv", "table.md", "table.parquet"]
    md = (result.report_dir / "table.md").read_text()
    assert "| metric | echo (a) | flaky (b) |" in md and "| error rate | 0.0% | 50.0% |" in md
    assert "Superscript letters after a value name the systems it beats" in md
    assert not re.search(r"\bnan\b", md, flags=re.IGNORECASE)


def test_max_error_rate_sets_exit_code(tmp_path, capsys):
    from ragft_eval.cli import main

    path = suite(tmp_path, [FLAKY], max_error_rate=0.25)
    assert main(["run", str(path), "--no-progress"]) == 3
    assert "error rate above max_error_rate=25% for: flaky" in capsys.readouterr().out


def test_timeout_is_an_error_not_a_hang(tmp_path):
    hang = {"name": "hang", "kind": "python", "target": "tests.fixtures.toy_systems:hangs"}
    result = run(suite(tmp_path, [hang], timeout_s=0.2), limit=2)
    reasons = {m.reason for cr in result.results for m in cr.results if m.status == "error"}
    assert reasons == {"timeout error: Timeout: no answer within timeout_s=0.2"}
    assert all(cr.response.error.stage == "timeout" for cr in result.results)


def test_selection_limit_sample_systems(tmp_path):
    path = suite(tmp_path, [ECHO, FLAKY])
    r = run(path, systems=["flaky"], sample=5, seed=3)
    ids = sorted({cr.case_id for cr in r.results})
    assert len(ids) == 5 and {cr.system for cr in r.results} == {"flaky"}
    assert ids == sorted({cr.case_id for cr in run(path, systems=["flaky"], sample=5, seed=3).results})
    assert len({cr.case_id for cr in run(path, systems=["flaky"], limit=3).results}) == 3


def test_rerun_is_identical_for_deterministic_systems(tmp_path):
    path = suite(
        tmp_path,
        [
            FLAKY,
            {
                "name": "const",
                "kind": "python",
                "target": "tests.fixtures.toy_systems:Constant",
                "params": {"text": "I don't know"},
            },
        ],
    )
    a, b = run(path), run(path)

    def strip(results):
        return [
            cr.model_dump(exclude={"run_id": True, "response": {"latency_s"}}, mode="json") for cr in results if True
        ]

    def no_latency(results):
        out = []
        for d in strip(results):
            d["results"] = [m for m in d["results"] if m["metric"] != "latency"]
            out.append(d)
        return out

    assert no_latency(a.results) == no_latency(b.results)
    assert a.manifest.golden_sets == b.manifest.golden_sets and a.manifest.suite_hash == b.manifest.suite_hash


def test_suite_errors_name_the_key(tmp_path):
    path = suite(tmp_path, [{"name": "x", "kind": "python"}])
    cfg = yaml.safe_load(path.read_text())
    cfg["concurency"] = 3
    cfg["systems"][0]["model"] = "gpt"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(SuiteConfigError) as info:
        run(path)
    msg = str(info.value)
    assert f"{path}:" in msg and "concurency: unknown key" in msg
    cfg.pop("concurency")
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    with pytest.raises(SuiteConfigError, match=r"systems.0.model: unknown model 'gpt'; defined models: \[\]"):
        run(path)


def test_unknown_metric_and_bad_parameter(tmp_path):
    path = suite(tmp_path, [ECHO])
    cfg = yaml.safe_load(path.read_text())
    cfg["metrics"] = [{"metric": "recal", "k": 3}]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(SuiteConfigError, match=r"metrics.0: unknown metric 'recal'; expected one of: .*recall"):
        run(path)
    cfg["metrics"] = [{"metric": "recall", "k": 0}]
    path.write_text(yaml.safe_dump(cfg))
    with pytest.raises(SuiteConfigError, match=r"metrics.0: metric 'recall': recall: expected k >= 1, got 0"):
        run(path)


def test_bad_python_target_names_the_setting(tmp_path):
    from ragft_eval.errors import ConfigError

    path = suite(tmp_path, [{"name": "x", "kind": "python", "target": "no_such_pkg.mod:fn"}])
    with pytest.raises(ConfigError, match=r"system 'x': target: cannot import module 'no_such_pkg.mod'"):
        run(path)


def _count(store: Path) -> int:
    if not store.exists():
        return 0
    import sqlite3

    try:
        with sqlite3.connect(store) as db:
            return db.execute("SELECT count(*) FROM case_results").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    path = suite(tmp_path, [ECHO], concurrency=1)
    store = tmp_path / "store.sqlite"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ragft_eval", "run", str(path), "--no-progress"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 60
    while _count(store) < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _count(store)
    assert 4 <= done_before < 12, "the run must be killed mid-way"
    with SQLiteStore(store) as db:
        [row] = db.runs()
        assert row["status"] == "running"
    resumed = run(path, resume=row["run_id"])
    assert len(resumed.results) == 12
    fresh = run(suite(tmp_path / "fresh", [ECHO], concurrency=1))

    def comparable(results):
        return [
            (cr.case_id, cr.response.answer, [(m.metric, m.status, m.value, m.reason) for m in cr.results])
            for cr in results
        ]

    assert comparable(resumed.results) == comparable(fresh.results)
    with SQLiteStore(store) as db:
        assert db.run_status(row["run_id"]) == "finished"


def test_resume_refuses_when_suite_or_golden_set_changed(tmp_path):
    path = suite(tmp_path, [ECHO])
    first = run(path, limit=2)
    cases = tmp_path / "gs" / "cases.jsonl"
    cases.write_text(cases.read_text().replace("What is fact 1?", "What is fact one?"))
    with pytest.raises(ResumeError, match=r"changed since it started: golden_sets.toy"):
        run(path, resume=first.run_id, limit=2)
    with pytest.raises(ResumeError, match=r"changed since it started: .*selection.limit"):
        run(path, resume=first.run_id, limit=3)
    with pytest.raises(ResumeError, match=r"no run 'nope'"):
        run(path, resume="nope")


def test_store_schema_version_and_nan_free(tmp_path):
    result = run(suite(tmp_path, [ECHO, FLAKY]))
    with SQLiteStore(tmp_path / "store.sqlite") as db:
        assert db.schema_version == 1
        rows = db._db.execute("SELECT status, value, reason FROM metric_results").fetchall()
    assert all((s == "scored") == (v is not None) for s, v, _ in rows)
    assert all(r for s, _, r in rows if s != "scored")
    assert result.table_frame()["mean"].notna().any()


def test_where_limits_a_metric_to_some_cases_and_says_so(tmp_path):
    path = suite(tmp_path, [ECHO])
    cfg = yaml.safe_load(path.read_text())
    cfg["metrics"] = [
        {"metric": "exact_match", "where": {"task_types": ["factual"]}},
        {"metric": "latency", "where": {"fraction": 0.5, "seed": 7}},
    ]
    path.write_text(yaml.safe_dump(cfg))
    first = run(path)
    em = [m for cr in first.results for m in cr.results if m.metric == "exact_match"]
    skipped = [
        m for cr in first.results for m in cr.results if cr.task_type == "unanswerable" and m.metric == "exact_match"
    ]
    assert skipped and all(m.reason == "not selected for this metric (where: task_types=('factual',))" for m in skipped)
    assert sum(m.status == "scored" for m in em) == 8
    picked = {cr.case_id for cr in first.results for m in cr.results if m.metric == "latency" and m.status == "scored"}
    assert 0 < len(picked) < 12
    again = {
        cr.case_id for cr in run(path).results for m in cr.results if m.metric == "latency" and m.status == "scored"
    }
    assert picked == again, "the seeded fraction picks the same cases every run"


def test_a_failed_case_is_unscored_on_what_the_system_never_records():
    """A prompt-only failure is no recall failure: the system never retrieves, so recall stays unscored.
    A system that does retrieve, or one that does not say (``records`` None), gets ``error``."""
    import asyncio

    from ragft_eval.golden import GoldenSet, Manifest
    from ragft_eval.metrics import ScoreContext, score_response
    from ragft_eval.metrics.answer import ExactMatch, KPrecision
    from ragft_eval.metrics.operational import FallbackRate
    from ragft_eval.metrics.retrieval import Recall
    from ragft_eval.records import Case, ErrorInfo, Expected, Response
    from ragft_eval.systems.generative import PromptOnlySystem, RAGSystem
    from ragft_eval.systems.routed import RoutedSystem

    case = Case(id="c1", task_type="factual", input="q?", expected=Expected(answer="a"), relevant_docs={"d1": 1})
    failed = Response(case_id="c1", system="s", error=ErrorInfo(type="Timeout", message="slow", stage="timeout"))
    ctx = ScoreContext(golden_set=GoldenSet(path=Path("."), manifest=Manifest(name="g", version="1"), cases=()))
    metrics = [Recall(k=3), KPrecision(), FallbackRate(), ExactMatch()]

    def statuses(system) -> dict[str, str]:
        out = asyncio.run(score_response(case, failed, metrics, ctx, system.records))
        return {r.metric: r.status if r.status != "unscored" else r.reason for r in out}

    prompt_only = PromptOnlySystem(name="p", model="m")
    assert statuses(prompt_only) == {
        "recall@3": "the system records no retrieval",
        "k_precision": "no context: the system records no retrieved context",
        "fallback_rate": "the system does not route",
        "exact_match": "error",
    }
    rag = RAGSystem(name="r", model="m", retriever="bm25")
    assert statuses(rag) == {"recall@3": "error", "k_precision": "error",
                             "fallback_rate": "the system does not route", "exact_match": "error"}  # fmt: skip
    routed = RoutedSystem(name="x", model="m", adapter="a", retriever="bm25")
    assert set(statuses(routed).values()) == {"error"}
    assert set(statuses(SimpleNamespace(records=None)).values()) == {"error"}  # a system that does not say
