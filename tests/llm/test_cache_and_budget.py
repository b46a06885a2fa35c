"""The call cache and the budget on a run, against a loopback stand-in for a hosted chat endpoint (a
boundary we cannot reach from here): a warm re-run makes zero calls (counted by the server), a nightly
``write`` policy calls afresh, and ``--max-cost`` stops the run before a call would go over the cap,
keeps what finished, and a resume with a higher cap finishes with nothing paid twice."""

from __future__ import annotations

import sqlite3

import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.exit_codes import ExitCode

from ..judges.fault_server import FaultServer
from ..secret_scan import assert_secret_absent
from ..systems.test_chat_endpoints import BASE, golden_set

KEY = "sk-planted-cache-key-0123456789"


def _suite(tmp_path, base_url: str, **extra):
    cfg = {
        "name": "cached",
        "golden_sets": [str(tmp_path / "golden" if (tmp_path / "golden").exists() else golden_set(tmp_path))],
        "models": {"base": {"model": BASE, "base_url": base_url, "api_key_env": "LOOPBACK_KEY", "max_tokens": 32}},
        "systems": [{"name": "prompt-only", "kind": "prompt_only", "model": "base"}],
        "metrics": [{"metric": "exact_match"}, {"metric": "cost"}],
        "concurrency": 2,
        "store": str(tmp_path / "store.sqlite"),
        "reports_dir": str(tmp_path / "reports"),
        "cache": {"dir": str(tmp_path / "calls")},
        **extra,
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _answers(result):
    return [(cr.case_id, cr.response.answer, cr.response.latency_s, cr.response.usage) for cr in result.results]


def test_a_warm_rerun_makes_no_call_and_a_nightly_write_run_calls_afresh(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    with FaultServer(respond=lambda body: "10 minutes", models=[BASE]) as server:
        path = _suite(tmp_path, server.base_url)
        cold = run(path)
        cold_calls = len(server.bodies())
        warm = run(path)
        warm_calls = len(server.bodies()) - cold_calls
        nightly = run(path, cache="write")
        nightly_calls = len(server.bodies()) - cold_calls - warm_calls
    n = len(cold.results)
    assert cold_calls == n and warm_calls == 0 and nightly_calls == n
    # a cached answer keeps the original call's latency and usage, and says it was replayed
    assert _answers(warm) == _answers(cold)
    assert all(cr.response.extra.get("cached") for cr in warm.results)
    assert not any(cr.response.extra.get("cached") for cr in nightly.results)
    # cost: priced from the dated table (gpt-4o-mini), the same per case cached or not
    assert all(cr.response.cost_usd and cr.response.cost_usd > 0 for cr in cold.results)
    assert [cr.response.cost_usd for cr in warm.results] == [cr.response.cost_usd for cr in cold.results]
    assert main(["cache", "stats", "--dir", str(tmp_path / "calls")]) == 0
    assert_secret_absent(KEY, tmp_path)


def test_max_cost_stops_keeps_what_finished_and_resumes_without_paying_twice(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOOPBACK_KEY", KEY)
    with FaultServer(respond=lambda body: "10 minutes", models=[BASE]) as server:
        path = _suite(tmp_path, server.base_url, cache={"systems": "off", "judge": "off"})
        # one call costs about $0.0000100 (prompt about 30 tokens estimated + 32 max tokens at gpt-4o-mini's price)
        code = main(["run", str(path), "--max-cost", "0.00005", "--no-progress"])
        err = capsys.readouterr().err
        stopped_calls = len(server.bodies())
        assert code == ExitCode.BUDGET_STOP and "--max-cost 5e-05: the next call" in err
        db = sqlite3.connect(tmp_path / "store.sqlite")
        (run_id, status), = db.execute("SELECT run_id, status FROM runs").fetchall()
        kept = db.execute("SELECT COUNT(*) FROM case_results").fetchone()[0]
        db.close()
        assert status == "running" and 0 < kept == stopped_calls < 12
        resumed = run(path, resume=run_id, max_cost=1.0)
        total_calls = len(server.bodies())
    assert len(resumed.results) == 12 and not any(cr.response.failed for cr in resumed.results)
    assert total_calls == 12, "every case was asked once: nothing finished before the stop was asked again"
    spent = sum(cr.response.cost_usd for cr in resumed.results)
    assert 0 < spent < 1.0
