"""Every bad-input path of golden-set loading, asserting the exact located error text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragft_eval.cli import main
from ragft_eval.errors import GoldenSetError
from ragft_eval.golden import find_leaks, load_golden_set, normalize_input

GOOD_CASE = {
    "id": "c1",
    "task_type": "factual_static",
    "input": "What does Pro cost?",
    "expected": {"answer": "$49"},
    "relevant_docs": {"d1": 2},
    "split": "test",
}


def make_set(tmp_path: Path, cases: list, *, corpus=None, schemas=None, manifest=None) -> Path:
    (tmp_path / "manifest.yaml").write_text(manifest if manifest is not None else "name: t\nversion: '1'\n")
    lines = [c if isinstance(c, str) else json.dumps(c) for c in cases]
    (tmp_path / "cases.jsonl").write_text("\n".join(lines) + "\n")
    corpus = [{"id": "d1", "title": "Pricing", "text": "Pro costs $49."}] if corpus is None else corpus
    if corpus:
        (tmp_path / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in corpus) + "\n")
    if schemas:
        (tmp_path / "schemas").mkdir()
        for name, text in schemas.items():
            (tmp_path / "schemas" / name).write_text(text)
    return tmp_path


def problems(path: Path) -> list[str]:
    with pytest.raises(GoldenSetError) as info:
        load_golden_set(path)
    return [str(p) for p in info.value.problems]


def test_good_set_loads_and_hash_is_stable(tmp_path):
    gs = load_golden_set(make_set(tmp_path, [GOOD_CASE]))
    assert [c.id for c in gs.cases] == ["c1"]
    h = gs.content_hash
    # reformatting the file (key order, spacing, CRLF) does not change the content hash
    (tmp_path / "cases.jsonl").write_text(json.dumps(dict(reversed(list(GOOD_CASE.items()))), indent=None) + "\r\n")
    assert load_golden_set(tmp_path).content_hash == h
    assert h.startswith("sha256:") and len(h) == 71


def test_malformed_json_is_located(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE, '{"id": "c2", "task_type": ']))
    assert out == ["cases.jsonl:2: (line): malformed JSON: Expecting value at column 27"]


def test_missing_and_mistyped_fields_all_reported(tmp_path):
    bad = [
        {"id": "c1", "input": "q", "expected": {"answer": "a"}},
        {
            "id": "c2",
            "task_type": "x",
            "input": "q2",
            "expected": {"answer": "a"},
            "split": "holdout",
            "relevant_docs": {"d1": "very"},
        },
    ]
    out = problems(make_set(tmp_path, bad))
    assert "cases.jsonl:1: task_type: required field is missing" in out
    assert any(p.startswith("cases.jsonl:2: split: Input should be 'train', 'dev' or 'test'") for p in out)
    assert any(p.startswith("cases.jsonl:2: relevant_docs.d1: Input should be a valid integer") for p in out)


def test_unknown_field_is_reported(tmp_path):
    out = problems(make_set(tmp_path, [{**GOOD_CASE, "answer": "x"}]))
    assert out == ["cases.jsonl:1: answer: unknown field"]


def test_duplicate_ids(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE, {**GOOD_CASE, "input": "other"}]))
    assert out == ["cases.jsonl:2: id: duplicate case id 'c1' (first at line 1)"]


def test_unknown_relevant_doc(tmp_path):
    out = problems(make_set(tmp_path, [{**GOOD_CASE, "relevant_docs": {"nope": 1}}]))
    assert out == ["cases.jsonl:1: relevant_docs.nope: unknown doc id 'nope' (not in corpus.jsonl)"]


def test_relevance_without_corpus(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE], corpus=[]))
    assert out == ["cases.jsonl:1: relevant_docs.d1: relevance label but the golden set has no corpus.jsonl"]


def test_missing_schema_reference(tmp_path):
    case = {**GOOD_CASE, "schema": "order.schema.json", "expected": {"json": {"a": 1}}}
    out = problems(make_set(tmp_path, [case]))
    assert out == ["cases.jsonl:1: schema: schema 'order.schema.json' not found in schemas/ (or invalid)"]


def test_invalid_json_schema(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE], schemas={"bad.json": '{"type": "objekt"}'}))
    assert len(out) == 1 and out[0].startswith("schemas/bad.json: type: not a valid JSON Schema:")


def test_malformed_schema_file(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE], schemas={"bad.json": '{"type": '}))
    assert out == ["schemas/bad.json:1: (file): malformed JSON: Expecting value"]


def test_expected_json_must_satisfy_its_schema(tmp_path):
    schema = '{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}'
    case = {**GOOD_CASE, "schema": "s.json", "expected": {"json": {"a": "one"}}}
    out = problems(make_set(tmp_path, [case], schemas={"s.json": schema}))
    assert out == ["cases.jsonl:1: expected.json: does not validate against s.json: 'one' is not of type 'integer'"]


def test_train_input_in_eval_split_exact_and_normalised(tmp_path):
    cases = [
        {**GOOD_CASE, "id": "t1", "split": "train", "input": "What does Pro cost?"},
        {**GOOD_CASE, "id": "e1", "split": "test", "input": "  what does PRO cost  "},
        {**GOOD_CASE, "id": "e2", "split": "dev", "input": "What does Pro cost?"},
        {**GOOD_CASE, "id": "e3", "split": "test", "input": "What does Team cost?"},
    ]
    out = problems(make_set(tmp_path, cases))
    assert out == [
        "cases.jsonl:2: input: same input as train case 't1' (line 1) after normalising case, whitespace and "
        "punctuation: a train input must not appear in an evaluated split",
        "cases.jsonl:3: input: same input as train case 't1' (line 1) after normalising case, whitespace and "
        "punctuation: a train input must not appear in an evaluated split",
    ]


def test_leakage_function_is_shared():
    assert normalize_input("Hello,   World!") == normalize_input("hello world")
    assert find_leaks([]) == []


def test_manifest_problems(tmp_path):
    out = problems(make_set(tmp_path, [GOOD_CASE], manifest="name: t\nrefusal_patterns: ['(unclosed']\n"))
    assert out == ["manifest.yaml: version: required field is missing"]
    (tmp_path / "manifest.yaml").write_text("name: t\nversion: '1'\nrefusal_patterns: ['(unclosed']\n")
    out = problems(tmp_path)
    assert out == [
        "manifest.yaml: refusal_patterns.0: invalid regex '(unclosed': missing ), unterminated subpattern at position 0"
    ]


def test_all_problems_not_only_the_first(tmp_path):
    out = problems(make_set(tmp_path, ["not json", {**GOOD_CASE, "relevant_docs": {"x": 1}}, {"id": "c9"}]))
    assert len(out) >= 4


def test_cli_validate_prints_every_problem_and_exits_non_zero(tmp_path, capsys):
    make_set(tmp_path, ["{", {**GOOD_CASE, "relevant_docs": {"x": 1}}])
    assert main(["golden", "validate", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path}/cases.jsonl:1: (line): malformed JSON" in err
    assert f"{tmp_path}/cases.jsonl:2: relevant_docs.x: unknown doc id 'x'" in err
    assert "2 problem(s)" in err


def test_cli_validate_ok(tmp_path, capsys):
    make_set(tmp_path, [GOOD_CASE])
    assert main(["golden", "validate", str(tmp_path)]) == 0
    assert "t 1: 1 cases {'test': 1}, 1 docs" in capsys.readouterr().out


def test_corpus_as_of_picks_versions(tmp_path):
    corpus = [
        {"id": "d1", "text": "Pro costs $49.", "metadata": {"effective_date": "2025-01-01"}},
        {
            "id": "d1--v2",
            "text": "Pro costs $59.",
            "metadata": {"effective_date": "2025-09-01", "supersedes": "d1"},
        },
    ]
    gs = load_golden_set(make_set(tmp_path, [GOOD_CASE], corpus=corpus))
    from datetime import date

    assert [d.id for d in gs.corpus_as_of(date(2025, 6, 30))] == ["d1"]
    assert [d.id for d in gs.corpus_as_of()] == ["d1--v2"]


def test_a_split_that_is_both_trained_on_and_evaluated_leaks_every_input(tmp_path):
    gs = load_golden_set(make_set(tmp_path, [GOOD_CASE, {**GOOD_CASE, "id": "c2", "input": "Other?"}]))
    assert find_leaks(gs.cases, train="test", evaluated=["test"]) == [("c1", "c1"), ("c2", "c2")]
