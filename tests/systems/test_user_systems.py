"""User-supplied systems and retrievers (``python``, ``replay``): env references for secrets, no made-up
scores or latencies, and what each system declares it ``records``."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragft_eval.errors import ConfigError
from ragft_eval.records import RECORDABLE, Case, Document, Response
from ragft_eval.retrieval.python import PythonRetriever
from ragft_eval.systems import RunContext
from ragft_eval.systems.python import PythonSystem
from ragft_eval.systems.replay import ReplaySystem

HERE = "tests.systems.test_user_systems"
CASE = Case(id="q1", task_type="factual", input="What is fact 1?")
DOCS = [Document(id="d1", text="Fact one."), Document(id="d2", text="Fact two.")]

# what the user's objects below were given, keyed by a name of the test's choosing
RECEIVED: dict[str, dict[str, Any]] = {}


class SecretSystem:
    """A class target that keeps its params where the test can see them (never in its answers)."""

    def __init__(self, key: str = "system", **params: Any):
        RECEIVED[key] = params

    def answer(self, case: Case) -> str:
        return "ok"


class SecretRetriever:
    """A user retriever that keeps its params; its second hit reports no score."""

    def __init__(self, key: str = "retriever", **params: Any):
        RECEIVED[key] = params

    def retrieve(self, query: str, k: int) -> list[dict]:
        return [{"doc_id": "d1", "text": "Fact one.", "score": 2.5}, {"doc_id": "d2", "text": "Fact two."}][:k]


def sleepy(case: Case) -> str:
    time.sleep(0.05)
    return "slept"


async def async_sleepy(case: Case) -> str:
    await asyncio.sleep(0.05)
    return "slept"


def reports_latency(case: Case) -> dict:
    return {"answer": "fast", "latency_s": 7.0}


def unscored_hits(case: Case) -> dict:
    return {"answer": "a", "retrieved": [{"doc_id": "d1"}, {"doc_id": "d2", "score": 0.5}]}


def ctx(tmp_path: Path) -> RunContext:
    """A RunContext without model or retriever pools (None): these systems use neither."""
    given = {"base_dir": tmp_path, "golden_sets": {}, "cache_dir": tmp_path / "cache"}
    required = [f.name for f in dataclasses.fields(RunContext) if f.init]
    return RunContext(**{name: given.get(name) for name in required})


def answer(system: Any, tmp_path: Path, case: Case = CASE) -> Response:
    async def go() -> Response:
        await system.start(ctx(tmp_path))
        return await system.answer(case)

    return asyncio.run(go())


@pytest.fixture
def secret(monkeypatch) -> str:
    value = f"s3cr3t-{uuid.uuid4().hex}"
    monkeypatch.setenv("RAGFT_TEST_SECRET", value)
    monkeypatch.delenv("RAGFT_TEST_UNSET", raising=False)
    return value


# --- 1. secrets in params -------------------------------------------------------------------------------


def test_python_system_passes_env_values_to_the_class_and_describes_only_the_reference(tmp_path, secret):
    params = {
        "key": "sys-env",
        "api_key": {"env": "RAGFT_TEST_SECRET"},
        "db": {"password": {"env": "RAGFT_TEST_SECRET"}, "hosts": ["h1", {"env": "RAGFT_TEST_SECRET"}]},
        "plain": 3,
    }
    system = PythonSystem(name="x", target=f"{HERE}:SecretSystem", params=params)
    assert answer(system, tmp_path).answer == "ok"
    assert RECEIVED["sys-env"] == {
        "api_key": secret, "db": {"password": secret, "hosts": ["h1", secret]}, "plain": 3,
    }  # fmt: skip
    described = system.describe()
    assert described["params"]["api_key"] == {"env": "RAGFT_TEST_SECRET"}
    assert described["params"]["db"]["hosts"][1] == {"env": "RAGFT_TEST_SECRET"}
    assert secret not in json.dumps(described) and secret not in repr(vars(system))


def test_python_system_names_the_setting_of_an_unset_variable(tmp_path, secret):
    system = PythonSystem(name="x", target=f"{HERE}:SecretSystem", params={"api_key": {"env": "RAGFT_TEST_UNSET"}})
    with pytest.raises(ConfigError) as err:
        answer(system, tmp_path)
    assert str(err.value) == "system 'x': params.api_key: environment variable RAGFT_TEST_UNSET is not set"


def test_python_retriever_passes_env_values_and_describes_only_the_reference(tmp_path, secret):
    params = {"key": "ret-env", "url": "http://qdrant", "api_key": {"env": "RAGFT_TEST_SECRET"}}
    retriever = PythonRetriever(target=f"{HERE}:SecretRetriever", params=params)
    asyncio.run(retriever.build(DOCS, tmp_path))
    assert RECEIVED["ret-env"] == {"url": "http://qdrant", "api_key": secret}
    assert retriever.describe()["params"]["api_key"] == {"env": "RAGFT_TEST_SECRET"}
    assert secret not in json.dumps(retriever.describe()) and secret not in repr(vars(retriever))


def test_python_retriever_names_the_setting_of_an_unset_variable(tmp_path, secret):
    retriever = PythonRetriever(target=f"{HERE}:SecretRetriever", params={"pw": {"env": "RAGFT_TEST_UNSET"}})
    with pytest.raises(ConfigError, match=r"params\.pw: environment variable RAGFT_TEST_UNSET is not set$"):
        asyncio.run(retriever.build(DOCS, tmp_path))


def _grep_tree(root: Path, needle: bytes) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_end_to_end_the_secret_reaches_user_code_but_not_the_store_or_reports(tmp_path, secret):
    """A suite whose python system and python retriever take ``{env: ...}``; the value must appear in no
    file the run writes (store, reports, cache), while the user's objects got it.  The RAG system's
    ``min_score`` guardrail refuses before any model call, so the stand-in endpoint only answers /models."""
    from ragft_eval import run
    from tests.judges.fault_server import FaultServer

    gs = tmp_path / "gs"
    gs.mkdir()
    (gs / "manifest.yaml").write_text("name: toy\nversion: '1'\n")
    (gs / "corpus.jsonl").write_text("".join(json.dumps(d.model_dump(mode="json")) + "\n" for d in DOCS))
    cases = [{"id": f"c{i}", "task_type": "factual", "input": f"What is fact {i}?", "split": "test",
              "expected": {"answer": "ok"}, "relevant_docs": {f"d{i}": 1}} for i in (1, 2)]  # fmt: skip
    (gs / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    ref = {"env": "RAGFT_TEST_SECRET"}
    with FaultServer(["unused"], fail_after=0, model="remote-x") as server:
        cfg = {
            "name": "secrets",
            "golden_sets": ["gs"],
            "models": {"remote": {"model": "remote-x", "base_url": server.base_url, "timeout_s": 5}},
            "retrievers": {"mine": {"kind": "python", "target": f"{HERE}:SecretRetriever",
                                    "params": {"key": "e2e-ret", "api_key": ref}}},
            "systems": [
                {"name": "user", "kind": "python", "target": f"{HERE}:SecretSystem",
                 "params": {"key": "e2e-sys", "password": ref, "nested": [{"token": ref}]}},
                {"name": "rag", "kind": "rag", "model": "remote", "retriever": "mine", "min_score": 1e9},
            ],
            "metrics": [{"metric": "recall", "k": 3}, {"metric": "exact_match"}, {"metric": "latency"}],
            "store": "out/store/store.sqlite",
            "reports_dir": "out/reports",
            "cache_dir": "out/cache",
        }  # fmt: skip
        path = tmp_path / "suite.yaml"
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
        result = run(path)
    assert RECEIVED["e2e-sys"] == {"password": secret, "nested": [{"token": secret}]}
    assert RECEIVED["e2e-ret"] == {"api_key": secret}
    assert not any(cr.response.error for cr in result.results), [cr.response.error for cr in result.results]
    store = tmp_path / "out" / "store"
    assert any(store.glob("*.sqlite")) and any((tmp_path / "out" / "reports").rglob("*"))
    # the grep is not vacuous: the reference (the variable's name) is stored, from the manifest and config
    assert _grep_tree(store, b"RAGFT_TEST_SECRET")
    assert _grep_tree(tmp_path, secret.encode()) == []


# --- 2. missing values stay missing ----------------------------------------------------------------------


def test_python_retriever_hit_without_score_has_no_score(tmp_path):
    retriever = PythonRetriever(target=f"{HERE}:SecretRetriever", params={"key": "noscore"})
    asyncio.run(retriever.build(DOCS, tmp_path))
    hits = asyncio.run(retriever.retrieve("fact", 2))
    assert [(h.doc_id, h.score) for h in hits] == [("d1", 2.5), ("d2", None)]


def test_python_system_retrieved_doc_without_score_has_no_score(tmp_path):
    response = answer(PythonSystem(name="x", target=f"{HERE}:unscored_hits"), tmp_path)
    assert [(d.doc_id, d.score, d.rank) for d in response.retrieved] == [("d1", None, 1), ("d2", 0.5, 2)]


def _replay(tmp_path: Path, lines: list[dict]) -> ReplaySystem:
    path = tmp_path / "replay.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    system = ReplaySystem(name="rep", path=str(path))
    asyncio.run(system.start(ctx(tmp_path)))
    return system


def test_replay_doc_without_score_has_no_score_and_line_without_latency_has_none(tmp_path):
    system = _replay(tmp_path, [
        {"case_id": "q1", "answer": "a", "retrieved": [{"doc_id": "d1"}, {"doc_id": "d2", "score": 0.5}]},
        {"case_id": "q2", "answer": "b", "latency_s": 0.8},
    ])  # fmt: skip
    r1 = asyncio.run(system.answer(CASE))
    assert [(d.doc_id, d.score) for d in r1.retrieved] == [("d1", None), ("d2", 0.5)]
    assert r1.latency_s is None  # not measured by anyone: the latency metric is unscored, not microseconds
    r2 = asyncio.run(system.answer(CASE.model_copy(update={"id": "q2"})))
    assert r2.latency_s == 0.8


@pytest.mark.parametrize("target", ["sleepy", "async_sleepy"])
def test_python_system_measures_the_call_when_the_result_reports_no_latency(tmp_path, target):
    response = answer(PythonSystem(name="x", target=f"{HERE}:{target}"), tmp_path)
    assert response.answer == "slept"
    assert response.latency_s is not None and 0.05 <= response.latency_s < 5


def test_python_system_keeps_the_latency_the_result_reports(tmp_path):
    assert answer(PythonSystem(name="x", target=f"{HERE}:reports_latency"), tmp_path).latency_s == 7.0


# --- 3. what a system records --------------------------------------------------------------------------


def test_recordable_names_are_what_metrics_need():
    from ragft_eval.metrics._base import NOT_RECORDED

    assert frozenset(NOT_RECORDED) == RECORDABLE


def test_python_system_records_as_declared():
    assert PythonSystem(name="x", target=f"{HERE}:sleepy").records is None
    declared = PythonSystem(name="x", target=f"{HERE}:sleepy", records=["retrieved", "context"])
    assert declared.records == frozenset({"retrieved", "context"})
    assert declared.describe()["records"] == ["context", "retrieved"]
    assert PythonSystem(name="x", target=f"{HERE}:sleepy", records=[]).records == frozenset()


@pytest.mark.parametrize(
    ("records", "message"),
    [
        (["retrieved", "retreived"], "system 'x': records: unknown value 'retreived'; expected any of context, "
                                     "retrieved, route"),
        ("retrieved", "system 'x': records: expected a list such as [retrieved, context], got 'retrieved'"),
    ],
)  # fmt: skip
def test_python_system_rejects_unknown_records(records, message):
    with pytest.raises(ConfigError) as err:
        PythonSystem(name="x", target=f"{HERE}:sleepy", records=records)
    assert str(err.value) == message


def test_replay_records_what_lines_that_did_not_fail_carry(tmp_path):
    failed = {"error": {"type": "Timeout", "message": "slow"}}
    answers_only = _replay(tmp_path, [
        {"case_id": "q1", "answer": "a", "retrieved": None},
        # a failed line's fields are no evidence of what the system records
        {"case_id": "q2", "retrieved": [{"doc_id": "d1"}], "context": "c", "extra": {"route": "rag"}, **failed},
    ])  # fmt: skip
    assert answers_only.records == frozenset()
    assert answers_only.describe()["records"] == []
    everything = _replay(tmp_path, [
        {"case_id": "q1", "answer": "a", "retrieved": []},
        {"case_id": "q2", "answer": "b", "context": "c"},
        {"case_id": "q3", "answer": "c", "extra": {"route": "finetuned"}},
        {"case_id": "q4", **failed},
    ])  # fmt: skip
    assert everything.records == frozenset({"retrieved", "context", "route"})
    assert _replay(tmp_path, [{"case_id": "q1", **failed}]).records is None  # no evidence: unknown
