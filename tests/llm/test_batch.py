"""Batch mode against a loopback stand-in for OpenAI's files and batches endpoints (a boundary we cannot
reach from here: :class:`~tests.judges.fault_server.FaultServer` serves the Batch API as OpenAI documents
it).  A batch model's calls go out as one JSONL batch, come back by ``custom_id`` into the cache, are
priced at the batch discount and have no latency; a batch still pending after ``wait_s`` stops the run
with exit code 5 and ``--resume`` collects the same batch (never a second one), also after a SIGKILL
while the batch was being polled."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.cli import main
from ragft_eval.errors import BatchPending
from ragft_eval.exit_codes import ExitCode
from ragft_eval.golden import load_golden_set
from ragft_eval.llm.prices import lookup
from ragft_eval.llm.spec import ModelSpec
from ragft_eval.store import open_store

from ..judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
N_CASES = 12  # the example golden set's test split
# its extraction cases without relevant documents: RAG sends them closed-book, the very request prompt-only
# sends, so the batch carries each once (a call is one line, whoever asks it)
EXAMPLE = load_golden_set(ROOT / "golden_sets" / "example")
N_SHARED = sum(bool(c.schema_ref) and not c.relevant_docs for c in EXAMPLE.cases)
N_LINES = 2 * N_CASES - N_SHARED


def _suite(tmp: Path, base_url: str, *, wait_s: float = 30, cache: str = "read_write") -> Path:
    batch = {"poll_s": 0.05, "gather_s": 0.3, "wait_s": wait_s}
    cfg = {"name": "batched", "golden_sets": [str(ROOT / "golden_sets" / "example")],
           "models": {"m": {"model": "gpt-4o-mini", "base_url": base_url, "api_key_env": "LOOPBACK_KEY",
                            "max_tokens": 16, "batch": batch}},
           "retrievers": {"bm25": {"kind": "bm25"}},
           "systems": [{"name": "a", "kind": "prompt_only", "model": "m"},
                       {"name": "b", "kind": "rag", "model": "m", "retriever": "bm25"}],
           "metrics": [{"metric": "token_recall"}, {"metric": "latency"}],
           "cache": cache, "store": str(tmp / "store.sqlite"), "reports_dir": str(tmp / "reports"),
           "cache_dir": str(tmp / "cache")}  # fmt: skip
    tmp.mkdir(parents=True, exist_ok=True)
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-loopback")


def _batches_in_store(path: Path) -> list[dict]:
    with open_store(path) as db:
        return db.artifacts("batch")


def test_batch_model_answers_through_the_batch_api_at_the_discount(tmp_path):
    with FaultServer(replies=["10 minutes"], models=["gpt-4o-mini"]) as server:
        suite = _suite(tmp_path, server.base_url)
        result = run(suite)
        assert server.calls == 0, "no call went to /chat/completions directly"
        assert len(server.batches) == 1, "the run's calls were gathered into one batch"
        assert len(server.batch_lines) == N_LINES
        line = server.batch_lines[0]
        assert line["method"] == "POST" and line["url"] == "/v1/chat/completions"
        assert line["body"]["model"] == "gpt-4o-mini" and line["body"]["max_tokens"] == 16
        assert len(result.results) == 2 * N_CASES
        price = lookup("gpt-4o-mini")
        for cr in result.results:
            assert not cr.response.failed and cr.response.answer == "10 minutes"
            assert cr.response.latency_s is None  # hours in a provider's queue are not the model's speed
            expected = (50 * price.input_per_1m + 20 * price.output_per_1m) / 1e6 * (1 - price.batch_discount)
            assert cr.response.cost_usd == pytest.approx(expected)
            latency = next(m for m in cr.results if m.metric == "latency")
            assert latency.status == "unscored"
        stored = _batches_in_store(tmp_path / "store.sqlite")
        assert [s["batch"]["batch_id"] for s in stored] == ["batch_1"]
        assert len(stored[0]["batch"]["custom_ids"]) == N_LINES

        again = run(suite)  # everything is in the call cache now: no second batch
        assert len(server.batches) == 1
        assert [cr.response.answer for cr in again.results] == [cr.response.answer for cr in result.results]


def test_a_pending_batch_stops_the_run_with_exit_code_5_and_resume_collects_it(tmp_path, capsys):
    with FaultServer(replies=["10 minutes"], models=["gpt-4o-mini"], batch_polls=None) as server:
        suite = _suite(tmp_path, server.base_url, wait_s=0.5)
        assert main(["run", str(suite), "--no-progress"]) == ExitCode.BATCH_PENDING == 5
        err = capsys.readouterr().err
        assert "batch_1" in err and "--resume" in err
        store = tmp_path / "store.sqlite"
        run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
        assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM case_results").fetchone()[0] == 0
        assert [s["run_id"] for s in _batches_in_store(store)] == [run_id]

        with pytest.raises(BatchPending):  # still pending: another wait, and still the same one batch
            run(suite, resume=run_id)
        assert len(server.batches) == 1

        server.batch_polls = 1  # the provider finishes the batch
        resumed = run(suite, resume=run_id)
        assert len(server.batches) == 1, "the resumed run collected the stored batch, it did not resubmit"
        assert len(server.batch_lines) == N_LINES
        assert len(resumed.results) == 2 * N_CASES
        assert all(cr.response.answer == "10 minutes" for cr in resumed.results)


def test_sigkill_while_a_batch_is_polled_then_resume_collects_the_same_batch(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with FaultServer(replies=["10 minutes"], models=["gpt-4o-mini"], batch_polls=None) as server:
        suite = _suite(tmp_path, server.base_url, wait_s=600)
        store = tmp_path / "store.sqlite"
        proc = subprocess.Popen([sys.executable, "-m", "ragft_eval", "run", str(suite), "--no-progress"], cwd=ROOT,
                                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None:
            polled = any(b["polls"] >= 3 for b in server.batches.values())
            if polled and store.exists() and _batches_in_store(store):
                break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert len(server.batches) == 1, "killed while polling the one batch"
        run_id = sqlite3.connect(store).execute("SELECT run_id FROM runs").fetchone()[0]
        server.batch_polls = 1
        resumed = run(suite, resume=run_id)
        assert len(server.batches) == 1 and len(server.batch_lines) == N_LINES
        assert len(resumed.results) == 2 * N_CASES and not any(cr.response.failed for cr in resumed.results)


def test_lines_the_batch_failed_and_an_expired_batch_are_errored_cases_with_the_reason(tmp_path):
    with FaultServer(replies=["10 minutes"], models=["gpt-4o-mini"], batch_fail=("pagination",)) as server:
        result = run(_suite(tmp_path / "fail", server.base_url, cache="off"))
    failed = [cr for cr in result.results if cr.response.failed]
    asked = {c.id: c.question for c in load_golden_set(ROOT / "golden_sets" / "example").cases}
    # a case whose question says "pagination" failed (and RAG cases whose context says it)
    assert {cr.case_id for cr in result.results if "pagination" in asked[cr.case_id]} <= {cr.case_id for cr in failed}
    assert {cr.response.error.message.split(": ", 2)[-1] for cr in failed} == {"Invalid value for 'messages'"}
    assert len(failed) < len(result.results)

    with FaultServer(replies=["10 minutes"], models=["gpt-4o-mini"], batch_status="expired") as server:
        result = run(_suite(tmp_path / "expired", server.base_url, cache="off"))
    answered = [cr for cr in result.results if not cr.response.failed]
    expired = [cr for cr in result.results if cr.response.failed]
    # an expired batch keeps the lines it finished (its first half here; a shared line answers two cases)
    assert answered and expired and len(answered) + len(expired) == 2 * N_CASES
    assert all("ended expired without an answer" in cr.response.error.message for cr in expired)


def test_batch_is_for_remote_endpoints_only():
    with pytest.raises(ValueError, match="batch is OpenAI's Batch API"):
        ModelSpec.model_validate({"model": "x", "local": {"gguf": "gemma3-270m"}, "batch": True})
    assert ModelSpec.model_validate({"model": "x", "base_url": "http://h/v1", "batch": True}).batch.wait_s == 3600
    plain = ModelSpec.model_validate({"model": "x", "base_url": "http://h/v1"})
    assert "batch" not in plain.model_dump() and ModelSpec.model_validate(
        {"model": "x", "base_url": "http://h/v1", "batch": False}).batch is None  # fmt: skip
