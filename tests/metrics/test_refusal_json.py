"""Refusal detection does not look inside JSON: an ``"I don't know"`` as a JSON value is an attempt at the
structured answer, not a refusal; prose around the JSON is still searched; ``extra["abstained"]`` is
always a refusal.  Checked on :func:`ragft_eval.answers.is_refusal` and through the abstention metrics."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragft_eval.answers import is_refusal, text_outside_json
from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import ScoreContext
from ragft_eval.metrics.abstention import Abstention, FalseRefusal
from ragft_eval.records import Case, Expected, Response

# the demo golden set's patterns that matter here
PATTERNS = (
    r"\bI don['’]?t know\b",
    r"\bno information\b",
    r"\b(?:cannot|can['’]t|can not) (?:answer|find|determine)\b",
)


def _response(answer: str | None, **extra) -> Response:
    return Response(case_id="c1", system="s", answer=answer, extra=extra)


@pytest.mark.parametrize(
    "answer",
    [
        '{"plan": "I don\'t know", "price": null}',
        '  [{"note": "no information"}]  ',
        '```json\n{"reason": "I cannot determine the owner"}\n```',
        'Here is the JSON:\n```json\n{"answer": "I don\'t know"}\n```',
        'Answer: {"answer": "I don\'t know"}',
        '{"text": "I don\'t know\nyet"}',  # a raw newline in a string: invalid JSON, still an attempt at it
    ],
)
def test_refusal_words_inside_json_are_not_a_refusal(answer):
    assert not is_refusal(_response(answer), PATTERNS)


@pytest.mark.parametrize(
    "answer",
    [
        "I don't know.",
        'I don\'t know. Here is a guess: {"plan": "Team"}',  # the prose around the JSON refuses
        '"I don\'t know"',  # a bare JSON string is not structured output
        '{"plan": "I don\'t know"',  # not JSON (unclosed): searched as prose
        "I don't know [1]",  # a bracketed number parses as a JSON array; the prose is still searched
    ],
)
def test_refusals_outside_json_still_count(answer):
    assert is_refusal(_response(answer), PATTERNS)


def test_abstained_is_a_refusal_whatever_the_answer():
    assert is_refusal(_response('{"answer": "Team"}', abstained=True), PATTERNS)
    assert is_refusal(_response(None, abstained=True), PATTERNS)
    assert not is_refusal(_response(None), PATTERNS)


def test_text_outside_json():
    assert text_outside_json('{"a": 1}') == ""
    assert text_outside_json('before {"a": 1} after') == "before  after"
    assert text_outside_json("x ```json\n[1, 2]\n``` y") == "x  y"
    assert text_outside_json("no json here") is None
    assert text_outside_json('"a string"') is None
    assert text_outside_json("42") is None


CTX = ScoreContext(
    golden_set=GoldenSet(
        path=Path("."), manifest=Manifest(name="r", version="1", refusal_patterns=list(PATTERNS)), cases=()
    )
)


def test_abstention_metrics_read_json_answers_as_attempts():
    answerable = Case(
        id="c1", task_type="json", input="Give the plan as JSON.", expected=Expected(json={"plan": "Team"})
    )
    unanswerable = Case(id="c1", task_type="unanswerable", input="CEO's shoe size as JSON?", answerable=False)
    json_answer = _response('{"plan": "I don\'t know"}')
    assert asyncio.run(FalseRefusal().score(answerable, json_answer, CTX)).value == 0.0
    assert asyncio.run(Abstention().score(unanswerable, json_answer, CTX)).value == 0.0
    assert asyncio.run(Abstention().score(unanswerable, _response("I don't know."), CTX)).value == 1.0


def test_the_refusal_detector_is_a_parameter_and_is_recorded():
    """``detector: patterns | learned | either``: a refusal the patterns miss is caught by the learned
    detector; ``either`` takes both; a JSON answer stays an attempt for every detector; bad values and
    patterns given to the learned detector are refused, naming the field."""
    from ragft_eval.errors import ConfigError
    from ragft_eval.metrics.selection import describe_metric

    unanswerable = Case(id="c1", task_type="unanswerable", input="AMD's quick ratio for FY22?", answerable=False)
    # one of the missed examples: no pattern of PATTERNS matches it
    missed = _response("As an AI, I don't have real-time data access to provide the current quick ratio.")
    caught = _response("I don't know.")

    def score(detector: str, response: Response) -> float:
        return asyncio.run(Abstention(detector=detector).score(unanswerable, response, CTX)).value

    assert [score(d, missed) for d in ("patterns", "learned", "either")] == [0.0, 1.0, 1.0]
    assert score("either", caught) == 1.0
    assert [score(d, _response('{"ratio": "I don\'t know"}')) for d in ("learned", "either")] == [0.0, 0.0]
    assert score("learned", _response("x", abstained=True)) == 1.0
    with pytest.raises(ConfigError, match="detector: expected one of patterns, learned, either"):
        Abstention(detector="regex")
    with pytest.raises(ConfigError, match="patterns: the learned detector uses no patterns"):
        FalseRefusal(detector="learned", patterns=[r"\bno\b"])
    assert describe_metric(FalseRefusal(detector="either"), "false_refusal", None)["detector"] == "either"
