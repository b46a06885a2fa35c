"""Golden-set validation of ``code`` cases: ``expected.tests`` present, compiling, defining a test."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragft_eval.errors import GoldenSetError
from ragft_eval.golden import load_golden_set

TESTS = "from solution import add\n\ndef test_add():\n    assert add(2, 3) == 5\n"
CODE_CASE = {
    "id": "k1",
    "task_type": "code",
    "input": "Write add(a, b) with the SDK's conventions.",
    "expected": {"demonstration": "def add(a, b):\n    return a + b\n", "tests": TESTS},
}


def make_set(tmp_path: Path, cases: list[dict]) -> Path:
    (tmp_path / "manifest.yaml").write_text("name: t\nversion: '1'\n")
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases))
    return tmp_path


def problems(path: Path) -> list[str]:
    with pytest.raises(GoldenSetError) as info:
        load_golden_set(path)
    return [str(p) for p in info.value.problems]


def with_expected(**expected) -> dict:
    return {**CODE_CASE, "expected": expected}


def test_a_good_code_case_loads(tmp_path):
    gs = load_golden_set(make_set(tmp_path, [CODE_CASE]))
    (case,) = gs.cases
    assert case.expected.tests == TESTS
    assert case.expected.demonstration.startswith("def add")


def test_a_code_case_needs_tests(tmp_path):
    no_expected = {"id": "k2", "task_type": "code", "input": "Write sub(a, b)."}
    out = problems(make_set(tmp_path, [with_expected(demonstration="def add(a, b): ..."), no_expected]))
    assert out == [
        "cases.jsonl:1: expected.tests: a code case needs expected.tests (test_* functions)",
        "cases.jsonl:2: expected.tests: a code case needs expected.tests (test_* functions)",
        "cases.jsonl:2: expected: an answerable case needs expected (or set answerable: false)",
    ]


def test_an_empty_test_source_is_missing_tests(tmp_path):
    out = problems(make_set(tmp_path, [with_expected(tests="")]))
    assert out == ["cases.jsonl:1: expected.tests: a code case needs expected.tests (test_* functions)"]


@pytest.mark.parametrize(
    ("tests", "message"),
    [
        ("def test_add(:\n    pass\n", "does not compile: invalid syntax at line 1 of the tests"),
        ("from solution import add\n\ndef test_add():\nassert add(1, 1) == 2\n",
         "does not compile: expected an indented block after function definition on line 3 at line 4 of the tests"),
        # the compiler's error, not the parser's
        ("return 1\n", "does not compile: 'return' outside function at line 1 of the tests"),
        ("x = '\0'\n", "does not compile: source code string cannot contain null bytes"),
        ("def check_add():\n    pass\n", "defines no top-level test_* function"),
        ("class TestAdd:\n    def test_add(self):\n        pass\n", "defines no top-level test_* function"),
    ],
)  # fmt: skip
def test_code_tests_must_compile_and_define_a_test(tmp_path, tests, message):
    out = problems(make_set(tmp_path, [with_expected(tests=tests)]))
    assert out == [f"cases.jsonl:1: expected.tests: {message}"]


def test_tests_on_another_task_type_are_checked_too(tmp_path):
    case = {"id": "f1", "task_type": "factual", "input": "q", "expected": {"answer": "a", "tests": "def test_x(:\n"}}
    out = problems(make_set(tmp_path, [case]))
    assert out == ["cases.jsonl:1: expected.tests: does not compile: invalid syntax at line 1 of the tests"]
