"""Chat-only hosted models: every generative architecture and the judge through ``/v1/chat/completions``.

The endpoint is a loopback stand-in (``tests/judges/fault_server.py``) for a hosted API we cannot reach
from here: like OpenAI for its current models (``gpt-4o-mini`` and its ``ft:`` fine-tunes), it serves
only chat and answers ``/v1/completions`` with 404.  The tests check what each system *sent* (system
instructions, few-shot turns, context, question, ``response_format`` of JSON cases, logprobs), not only
that an answer came back.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from ragft_eval import run
from ragft_eval.errors import ConfigError

from ..judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
BASE, FT, JUDGE = "gpt-4o-mini", "ft:gpt-4o-mini:acme::abc123", "gpt-4o-judge"
VERDICT = '{"score": 4, "verdict": "pass", "reason": "matches the reference"}'
TICKET = {"customer_email": "a@b.c", "plan": "team", "category": "integration", "priority": "high",
          "wants_callback": True}  # fmt: skip


def respond(body: dict) -> str:
    fmt = body.get("response_format") or {}
    if fmt.get("type") == "json_schema" and fmt["json_schema"]["name"] == "verdict":
        return VERDICT
    if fmt:
        return json.dumps(TICKET)
    return "10 minutes"


def golden_set(tmp_path: Path) -> Path:
    """The example set plus train cases (few-shot examples) and dev cases (the routed threshold)."""
    dest = tmp_path / "golden"
    shutil.copytree(ROOT / "golden_sets" / "example", dest)
    cases = [json.loads(line) for line in (dest / "cases.jsonl").read_text().splitlines() if line.strip()]
    extra = []
    for src, split in (("ex-fs-01", "train"), ("ex-je-01", "train"), ("ex-fs-02", "dev"), ("ex-je-02", "dev")):
        case = next(c for c in cases if c["id"] == src)
        extra.append({**case, "id": f"{src}-{split}", "split": split, "input": f"({split}) {case['input']}"})
    with (dest / "cases.jsonl").open("a") as f:
        for case in extra:
            f.write(json.dumps(case) + "\n")
    return dest


def suite(tmp_path: Path, base_url: str, **extra) -> Path:
    remote = {"base_url": base_url, "api_key_env": "LOOPBACK_KEY", "max_tokens": 64}
    config = {
        "name": "chat",
        "golden_sets": [str(golden_set(tmp_path))],
        "models": {"base": {"model": BASE, **remote}, "ft": {"model": FT, **remote},
                   "judge": {"model": JUDGE, **remote}},
        "retrievers": {"bm25": {"kind": "bm25"}},
        "systems": [
            {"name": "prompt-only", "kind": "prompt_only", "model": "base", "few_shot": 2},
            {"name": "rag", "kind": "rag", "model": "base", "retriever": "bm25", "k": 2},
            {"name": "finetuned", "kind": "finetuned", "model": "ft"},
            {"name": "hybrid", "kind": "hybrid", "model": "ft", "retriever": "bm25", "k": 2},
            {"name": "routed", "kind": "routed", "model": "ft", "fallback_model": "base", "retriever": "bm25"},
            # a threshold above every confidence: each case falls back to the RAG stage
            {"name": "routed-strict", "kind": "routed", "model": "ft", "fallback_model": "base", "retriever": "bm25",
             "threshold": 0.0},
        ],
        "judge": {"model": "judge"},
        "metrics": [{"metric": "exact_match"}, {"metric": "json_field_match"}, {"metric": "judge_grade"},
                    {"metric": "fallback_rate"}],
        "store": str(tmp_path / "store.sqlite"),
        "reports_dir": str(tmp_path / "reports"),
        "cache_dir": str(tmp_path / "cache"),
        **extra,
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_every_architecture_and_the_judge_work_through_chat(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-loopback")
    with FaultServer(chat_only=True, respond=respond, models=[BASE, FT, JUDGE], served_model="gpt-4o-mini-2024-07-18",
                     fingerprint="fp_44709d6fcb") as server:  # fmt: skip
        result = run(suite(tmp_path, server.base_url))
        chat, legacy = server.bodies("/chat/completions"), server.bodies("/v1/completions")

    assert not [b for b in legacy], "no system may call /v1/completions on a chat-only endpoint"
    failed = [cr for cr in result.results if cr.response.failed]
    assert failed == []
    # every answer records what the server says it served, so a model swapped under its name is visible
    models = {cr.system: cr.response.model for cr in result.results}
    assert models["prompt-only"] == {"id": "base", "model": BASE, "served": "gpt-4o-mini-2024-07-18",
                                     "fingerprint": "fp_44709d6fcb"}  # fmt: skip
    assert models["finetuned"]["model"] == FT

    gs_cases = {c["id"]: c for c in map(json.loads, (tmp_path / "golden" / "cases.jsonl").read_text().splitlines())}
    q_fs, q_je = gs_cases["ex-fs-01"]["input"], gs_cases["ex-je-01"]["input"]
    systems_bodies = [b for b in chat if b["model"] != JUDGE]

    # prompt-only: instructions as the system message, two few-shot turns, then the question
    po = [b for b in systems_bodies if b["model"] == BASE and b["messages"][-1]["content"] == f"Question: {q_fs}"]
    assert len(po) == 1
    msgs = po[0]["messages"]
    assert msgs[0]["role"] == "system" and "If you do not know the answer" in msgs[0]["content"]
    assert [m["role"] for m in msgs[1:]] == ["user", "assistant", "user", "assistant", "user"]
    assert msgs[1]["content"] == f"Question: {gs_cases['ex-fs-01-train']['input']}"
    assert msgs[2]["content"] == "10 minutes"  # the train case's reference answer
    assert msgs[3]["content"].endswith("Reply with one JSON object.")  # the JSON example asks for JSON too
    assert json.loads(msgs[4]["content"]) == gs_cases["ex-je-01-train"]["expected"]["json"]
    assert "stop" not in po[0]  # the newline stop is a completions trick: chat ends with the turn

    # RAG: the context passages and the question in the last user turn; no few-shot turns
    rag = [b for b in systems_bodies if b["model"] == BASE and b["messages"][-1]["content"].startswith("Context:\n[1] ")
           and b["messages"][-1]["content"].endswith(f"Question: {q_fs}")]  # fmt: skip
    assert len(rag) == 2  # rag, and routed-strict's RAG stage (it falls back)
    assert "using only the context" in rag[0]["messages"][0]["content"] and len(rag[0]["messages"]) == 2
    assert "[2] " in rag[0]["messages"][-1]["content"]  # k = 2 passages

    # fine-tuned and hybrid: the ft: model id, closed-book and with context
    ft = [b for b in systems_bodies if b["model"] == FT]
    assert any(b["messages"][-1]["content"] == f"Question: {q_fs}" and not b.get("logprobs") for b in ft)
    assert any(b["messages"][-1]["content"].startswith("Context:\n[1] ") for b in ft)
    # routed: the fine-tuned stage asks for logprobs through chat
    assert any(b.get("logprobs") is True for b in ft)

    # JSON cases: the case's JSON Schema as response_format, and no " {" prefill
    schema = json.loads((tmp_path / "golden" / "schemas" / gs_cases["ex-je-01"]["schema"]).read_text())
    je = [b for b in systems_bodies if b["messages"][-1]["content"].startswith(f"Question: {q_je}")
          or b["messages"][-1]["content"].endswith(q_je + "\nReply with one JSON object.")]  # fmt: skip
    assert je, "the JSON case was sent"
    for body in je:
        fmt = body["response_format"]
        assert fmt["type"] == "json_schema" and fmt["json_schema"]["schema"] == schema
        assert body["messages"][-1]["content"].endswith("Reply with one JSON object.")
    fm = {cr.system: m for cr in result.results if cr.case_id == "ex-je-01" for m in cr.results
          if m.metric == "json_field_match"}  # fmt: skip
    assert len(fm) == 6 and all(m.status == "scored" and m.value == 0.8 for m in fm.values())  # one field differs

    # the judge: a chat call with a json_schema response_format, verdicts parsed and scored
    judge = [b for b in chat if b["model"] == JUDGE]
    assert judge and all(b["response_format"]["json_schema"]["name"] == "verdict" for b in judge)
    graded = [m for cr in result.results for m in cr.results if m.metric == "judge_grade" and m.status == "scored"]
    assert graded and all(m.value == 0.75 for m in graded)
    # the routed system records its route on every case
    routes = {s: [m.value for cr in result.results if cr.system == s for m in cr.results if m.metric == "fallback_rate"]
              for s in ("routed", "routed-strict")}  # fmt: skip
    assert routes["routed"] and set(routes["routed"]) == {0.0}  # confident: the fine-tuned path answers
    assert routes["routed-strict"] and set(routes["routed-strict"]) == {1.0}


def test_a_completions_model_on_a_chat_only_endpoint_fails_at_start_naming_the_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", "sk-loopback")
    with FaultServer(chat_only=True, respond=respond, models=[BASE, FT, JUDGE]) as server:
        path = suite(tmp_path, server.base_url)
        config = yaml.safe_load(path.read_text())
        config["models"]["base"]["api"] = "completions"
        config["systems"] = config["systems"][:1]
        config["metrics"] = [{"metric": "exact_match"}]
        path.write_text(yaml.safe_dump(config))
        with pytest.raises(ConfigError, match=r"models\.base\.api: completions, but .* serves no /v1/completions"):
            run(path)
        # it failed once, at start, not once per case
        assert len(server.bodies("/v1/completions")) == 1
        assert server.bodies("/chat/completions") == []
