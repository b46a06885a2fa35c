"""``--dry-run``: calls, tokens and cost per system and judge, with nothing sent (the loopback stand-in for
a hosted endpoint counts every request it gets), and the cache's hits subtracted after a run."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.dry_run import estimate
from ragft_eval.runner import Selection, load_suite

from .judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[1]
MODELS = ["gpt-4o-mini", "ft:gpt-4o-mini:acme::x1"]
VERDICT = '{"score": 4, "verdict": "pass", "reason": "ok"}'


def _suite(tmp_path: Path, base_url: str) -> Path:
    remote = {"base_url": base_url, "api_key_env": "LOOPBACK_KEY", "max_tokens": 40}
    cfg = {"name": "hosted", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"mini": {"model": "gpt-4o-mini", **remote}, "ft": {"model": "ft:gpt-4o-mini:acme::x1", **remote}},
           "retrievers": {"bm25": {"kind": "bm25"}},
           "systems": [{"name": "prompt-only", "kind": "prompt_only", "model": "mini"},
                       {"name": "rag", "kind": "rag", "model": "mini", "retriever": "bm25"},
                       {"name": "routed", "kind": "routed", "model": "ft", "fallback_model": "mini",
                        "retriever": "bm25", "threshold": -1.0}],
           "judge": {"model": "mini"}, "metrics": [{"metric": "exact_match"}, {"metric": "judge_grade"}],
           "store": str(tmp_path / "s.sqlite"), "reports_dir": str(tmp_path / "r"), "cache_dir": str(tmp_path / "c"),
           "cache": {"dir": str(tmp_path / "calls")}}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _by_who(path: Path) -> dict:
    suite = load_suite(path)
    return {e.who: e for e in asyncio.run(estimate(suite, selection=Selection(split=suite.split)))}


def test_a_dry_run_sends_nothing_and_counts_with_openais_tokenizer(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-x")
    with FaultServer(respond=lambda b: VERDICT, models=MODELS) as server:
        path = _suite(tmp_path, server.base_url)
        assert main(["run", str(path), "--dry-run"]) == 0
        out = capsys.readouterr().out
        assert server.requests == [], "a dry run sends no request, not even a models list"
    assert "| prompt-only | gpt-4o-mini | 12 | 0 |" in out and "OpenAI o200k_base" in out
    assert "| routed | ft:gpt-4o-mini:acme::x1 | 24 |" in out  # both stages: an upper bound, and said
    assert "total projected cost: $" in out
    est = _by_who(path)
    assert est["judge"].calls == 36  # judge_grade on 12 cases x 3 systems
    assert 0 < est["prompt-only"].cost_usd < est["rag"].cost_usd  # RAG's prompts hold the passages
    # no cache history: max_tokens, the upper bound (40 for text answers, 160 for the 2 JSON cases)
    assert est["prompt-only"].output_tokens == 10 * 40 + 2 * 160


def test_after_a_run_the_cache_hits_are_subtracted(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-x")
    with FaultServer(respond=lambda b: VERDICT, models=MODELS) as server:
        path = _suite(tmp_path, server.base_url)
        run(path)
        est = _by_who(path)
    assert est["prompt-only"].cached == est["prompt-only"].calls == 12 and est["prompt-only"].cost_usd == 0.0
    assert est["judge"].cached == 0  # the judge's prompts depend on the answers: estimated, not looked up


def test_a_local_model_is_counted_with_its_own_vocabulary(tmp_path):
    pytest.importorskip("llama_cpp", reason="needs the local extra (llama-cpp-python)")
    cfg = {"name": "local", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"gemma": {"model": "gemma3-270m", "local": {"gguf": "gemma3-270m"}}},
           "systems": [{"name": "prompt-only", "kind": "prompt_only", "model": "gemma"}],
           "metrics": [{"metric": "exact_match"}], "cache_dir": str(tmp_path / "c"),
           "cache": {"dir": str(tmp_path / "calls")}}  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg))
    est = _by_who(path)["prompt-only"]
    assert est.calls == 12 and est.tokenizer == "the GGUF's own vocabulary" and est.input_tokens > 200
    assert est.cost_usd is None  # not priced: no cost is better than a cost of 0
