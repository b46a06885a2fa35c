"""Operational metrics report what the system measured, never a half-count completed with zeros."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import ScoreContext
from ragft_eval.metrics.operational import Tokens
from ragft_eval.records import Case, Response, Usage

CASE = Case(id="c", task_type="factual", input="q?")
CTX = ScoreContext(golden_set=GoldenSet(path=Path("."), manifest=Manifest(name="s", version="1"), cases=(CASE,)))


def _tokens(prompt: int | None, completion: int | None):
    usage = Usage(prompt_tokens=prompt, completion_tokens=completion, calls=1)
    return asyncio.run(Tokens().score(CASE, Response(case_id="c", system="s", usage=usage), CTX))


@pytest.mark.parametrize(
    ("prompt", "completion", "missing"), [(50, None, "no completion tokens"), (None, 20, "no prompt tokens")]
)
def test_tokens_with_one_side_missing_is_unscored_naming_it(prompt, completion, missing):
    result = _tokens(prompt, completion)
    assert (result.status, result.value) == ("unscored", None)
    assert missing in result.reason


def test_tokens_scored_when_both_sides_are_reported():
    result = _tokens(50, 20)
    assert (result.status, result.value) == ("scored", 70)
    assert _tokens(None, None).reason == "the system reports no token usage"
