"""What the generative systems send and keep, decided by the case's own format and not by the harness:
generation stops where the case's format ends (a two-line or bulleted house format and code are not cut
at their first newline), a one-line answer is its first non-empty line, examples show the whole answer
in the case's format and an extraction case sees one example of its own schema, changed-fact training
cases are never examples, and RAG does not retrieve for an extraction case without relevant documents.

The model is a loopback stand-in for an OpenAI-compatible completions endpoint (it records the bodies)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from ragft_eval import prompts, run
from ragft_eval.finetune.config import load_finetune_config, raft_passages
from ragft_eval.golden import load_golden_set

from ..judges.fault_server import FaultServer

ROOT = Path(__file__).resolve().parents[2]
DEMO = load_golden_set(ROOT / "golden_sets" / "demo")
CASES = {c.id: c for c in DEMO.cases}


def _case(task: str, *, split: str = "test", multiline: bool | None = None):
    for c in DEMO.cases:
        if c.task_type == task and c.split == split and (multiline is None or prompts.is_multiline(c) == multiline):
            return c
    raise LookupError(task)


def test_the_stop_follows_the_cases_format():
    one_line = _case("factual_static")
    two_lines = next(c for c in DEMO.cases if c.expected and c.expected.pattern and "\\nDetails" in c.expected.pattern)
    bullets = next(c for c in DEMO.cases if c.expected and c.expected.pattern and c.expected.pattern.count("\\n") >= 2)
    code = _case("code")
    json_case = _case("json_extraction")
    assert prompts.stop_for(one_line) == prompts.BLOCK_STOP
    for multi in (two_lines, bullets):
        assert prompts.is_multiline(multi) and "\n" not in prompts.stop_for(multi)
        assert "\nAnswer:" not in prompts.stop_for(multi)  # the format's own first line may be "Answer: ..."
        # the whole demonstration survives the stop: no stop sequence occurs inside it
        demo = multi.expected.demonstration
        assert not any(s in demo for s in prompts.stop_for(multi)) and re.search(multi.expected.pattern, demo)
    assert prompts.stop_for(code) == prompts.CODE_STOP and "\n\n" not in prompts.CODE_STOP
    assert prompts.stop_for(json_case) == prompts.JSON_STOP


def test_a_one_line_answer_is_its_first_non_empty_line_and_multi_line_formats_are_kept():
    one_line = _case("factual_static")
    assert prompts.shape_answer(one_line, "\n 14 days\nQuestion: more") == "14 days"
    assert prompts.shape_answer(one_line, "\n\n") == ""
    two_lines = next(c for c in DEMO.cases if c.expected and c.expected.pattern and "\\nDetails" in c.expected.pattern)
    text = "Answer: 20\nDetails: one email address can belong to 20 workspaces."
    assert prompts.shape_answer(two_lines, "\n" + text) == text and re.search(two_lines.expected.pattern, text)


def test_examples_and_fine_tune_targets_show_the_whole_answer_in_the_cases_format():
    style = _case("style", split="train")
    assert prompts.example_answer(style).strip() == style.expected.demonstration
    assert re.search(style.expected.pattern, prompts.example_answer(style).strip())
    code = _case("code", split="train")
    assert prompts.example_answer(code).strip() == code.expected.demonstration.strip()
    plain = _case("factual_static", split="train")
    assert prompts.example_answer(plain) == " " + plain.expected.answer


def _suite(tmp: Path, base_url: str) -> Path:
    model = {"model": "base", "base_url": base_url, "api": "completions", "max_tokens": 32}
    cfg = {"name": "fair", "golden_sets": [str(ROOT / "golden_sets" / "demo")],
           "models": {"m": model}, "retrievers": {"bm25": {"kind": "bm25"}},
           "systems": [{"name": "p", "kind": "prompt_only", "model": "m", "few_shot": 1},
                       {"name": "r", "kind": "rag", "model": "m", "retriever": "bm25", "k": 3, "few_shot": 1}],
           "metrics": [{"metric": "format_match"}], "store": str(tmp / "s.sqlite"),
           "reports_dir": str(tmp / "r"), "cache_dir": str(tmp / "c"), "cache": "off"}  # fmt: skip
    path = tmp / "suite.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_what_the_systems_send_examples_stops_and_retrieval(tmp_path):
    with FaultServer(replies=["\nShort answer: it is 1 hour.\nQuestion: next"], models=["base"]) as server:
        result = run(_suite(tmp_path, server.base_url))
        bodies = [b for b in server.bodies("/completions") if "Question: " in b["prompt"]]  # not the start check
    by_question = {}
    for body in bodies:
        question = body["prompt"].rsplit("Question: ", 1)[1].split("\nAnswer:")[0]
        by_question.setdefault(question, []).append(body)
    for cr in result.results:
        case = CASES[cr.case_id]
        sent = by_question[case.question]
        assert all(tuple(b["stop"]) == prompts.stop_for(case) for b in sent)
        if not (prompts.expects_json(case) or prompts.is_multiline(case)):
            assert cr.response.answer == "Short answer: it is 1 hour."  # the first non-empty line
        if cr.system == "r" and case.schema_ref and not case.relevant_docs:
            assert cr.response.retrieved is None and all("Context:" not in b["prompt"] for b in sent)
    changed = [c for c in DEMO.cases if c.split == "train" and c.as_of is not None]
    assert changed and not any(c.question in b["prompt"] for c in changed for b in bodies)
    # an extraction case's one example is an extraction case of its own schema, shown filled in
    extraction = next(c for c in DEMO.cases if c.split == "test" and c.schema_ref)
    (prompt, *_) = {b["prompt"] for b in by_question[extraction.question]}
    example = next(c for c in DEMO.cases if c.split == "train" and c.schema_ref == extraction.schema_ref)
    assert example.question in prompt and prompts.example_answer(example).strip() in prompt


def test_raft_examples_put_the_relevant_documents_among_distractors():
    import random

    cfg = load_finetune_config(ROOT / "evals" / "finetune-demo-raft.yaml")
    corpus = DEMO.corpus_as_of(DEMO.manifest.training_cutoff)
    case = next(c for c in DEMO.cases if c.split == "train" and c.task_type == "multi_hop")
    with_oracle = raft_passages(case, corpus, k=cfg.raft.k, oracle_share=1.0, rng=random.Random(0))
    titles = {d.id: d.title for d in corpus}
    relevant = [titles.get(doc_id.split("--v")[0]) for doc_id in case.relevant_docs]
    assert len(with_oracle) == cfg.raft.k and all(any(p.startswith(f"{t}: ") for p in with_oracle) for t in relevant)
    without = raft_passages(case, corpus, k=cfg.raft.k, oracle_share=0.0, rng=random.Random(0))
    assert len(without) == cfg.raft.k and not any(p.startswith(f"{t}: ") for t in relevant for p in without)
