"""Answer metrics: SQuAD v1.1 normalisation, token F1 / recall, exact match, K-Precision.

Expected values are hand-computed from the official SQuAD v1.1 evaluation script
(``normalize_answer``: lowercase, drop ASCII punctuation, drop the articles a/an/the, collapse whitespace;
``f1_score``: bag-of-token precision/recall; the max over the ground truths).  The script's two functions
are restated below (:func:`_squad_normalize`, :func:`_squad_f1`) and compared with the harness on
generated text as well.
"""

from __future__ import annotations

import asyncio
import re
import string
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ragft_eval.golden import GoldenSet, Manifest
from ragft_eval.metrics import ScoreContext
from ragft_eval.metrics.answer import ExactMatch, KPrecision, TokenF1, TokenRecall, squad_normalize, token_f1
from ragft_eval.metrics.answer import token_recall as token_recall_fn
from ragft_eval.records import Case, Expected, MetricResult, Response
from ragft_eval.registry import create

CTX = ScoreContext(golden_set=GoldenSet(path=Path("."), manifest=Manifest(name="answers", version="1"), cases=()))


# --- the SQuAD v1.1 script, restated ---------------------------------------------------------------------


def _squad_normalize(s: str) -> str:
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _squad_f1(prediction: str, ground_truth: str) -> float:
    pred, gold = _squad_normalize(prediction).split(), _squad_normalize(ground_truth).split()
    num_same = sum((Counter(pred) & Counter(gold)).values())
    if num_same == 0:
        return 0.0
    p, r = num_same / len(pred), num_same / len(gold)
    return 2 * p * r / (p + r)


def case(answer: str | None = None, aliases: tuple[str, ...] = (), **kw) -> Case:
    expected = Expected(answer=answer, aliases=aliases) if answer is not None or aliases else kw.pop("expected", None)
    return Case(id=kw.pop("id", "c1"), task_type="factual", input="q?", expected=expected, **kw)


def response(answer: str | None = None, **kw) -> Response:
    return Response(case_id="c1", system="s", answer=answer, **kw)


def score(metric, c: Case, r: Response) -> MetricResult:
    return asyncio.run(metric.score(c, r, CTX))


# --- normalisation ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("The  Pro plan, costs $49!", "pro plan costs 49"),
        ("The Quick, Brown Fox!", "quick brown fox"),
        ("  An  apple a day  ", "apple day"),
        ("the the a an", ""),
        ("theory Anne anthem", "theory anne anthem"),  # articles only as whole words
        ("U.S.A.", "usa"),  # punctuation is deleted, not replaced by a space
        ("rock'n'roll", "rocknroll"),
        ("A-team", "ateam"),
        ("the-end", "theend"),  # punctuation goes first, so 'the' is no longer a word here
        ("(the) answer", "answer"),
        ("Tab\tand\nnew line\r\n", "tab and new line"),
        ("Café — “quoted”", "café — “quoted”"),  # only ASCII punctuation, as in the script
        ("", ""),
        ("?!.", ""),
    ],
)
def test_squad_normalize_hand_computed(text, want):
    assert squad_normalize(text) == want
    assert _squad_normalize(text) == want  # the restated script agrees, so the table is right


_WORDS = ["the", "a", "an", "The", "AN", "Paris", "café", "U.S.", "don't", "49", "$49", "x", "theory", "a.b"]
_SEPS = [" ", "  ", "\t", "\n", ", ", ". ", "-", "!", "'", "(", ")", ""]


@st.composite
def _answers(draw) -> str:
    words = draw(st.lists(st.sampled_from(_WORDS), max_size=8))
    seps = draw(st.lists(st.sampled_from(_SEPS), min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


@settings(max_examples=300, deadline=None)
@given(st.one_of(_answers(), st.text(max_size=30)))
def test_squad_normalize_matches_the_script(text):
    assert squad_normalize(text) == _squad_normalize(text)


@settings(max_examples=300, deadline=None)
@given(_answers(), _answers())
def test_token_f1_matches_the_script_when_both_have_tokens(pred, ref):
    if _squad_normalize(pred) and _squad_normalize(ref):
        assert token_f1(pred, ref) == pytest.approx(_squad_f1(pred, ref))


# --- token F1 and recall ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pred", "ref", "want"),
    [
        ("the cat sat on the mat", "a cat on a mat", 6 / 7),  # p = 3/4, r = 3/3
        ("costs 49 dollars per month", "49 dollars", 4 / 7),  # p = 2/5, r = 1
        ("paris paris paris", "Paris", 0.5),  # bag of tokens: one match, p = 1/3, r = 1
        ("New York City", "york, new", 0.8),  # order does not matter: p = 2/3, r = 1
        ("The Eiffel Tower.", "eiffel tower", 1.0),
        ("blue", "red", 0.0),
        ("", "red", 0.0),
        ("red", "", 0.0),
        ("the", "a", 1.0),  # both empty after normalisation: SQuAD v2.0's convention (v1.1 gives 0)
    ],
)
def test_token_f1_hand_computed(pred, ref, want):
    assert token_f1(pred, ref) == pytest.approx(want)


def test_token_f1_is_symmetric():
    assert token_f1("a b c d", "c d e") == pytest.approx(token_f1("c d e", "a b c d"))


@pytest.mark.parametrize(
    ("pred", "ref", "want"),
    [
        ("cat", "cat mat", 0.5),
        ("mat mat cat", "mat mat mat", 2 / 3),  # bag: only two of the three 'mat' are covered
        ("The answer is 42, surely.", "42", 1.0),
        ("nothing here", "42", 0.0),
        ("", "the", 1.0),  # no reference tokens and no answer tokens
        ("x", "the", 0.0),  # no reference tokens but an answer
    ],
)
def test_token_recall_hand_computed(pred, ref, want):
    assert token_recall_fn(pred, ref) == pytest.approx(want)


# --- metric objects --------------------------------------------------------------------------------------


def test_registry_builds_the_answer_metrics():
    for name, cls in [
        ("exact_match", ExactMatch),
        ("token_f1", TokenF1),
        ("token_recall", TokenRecall),
        ("k_precision", KPrecision),
    ]:
        metric = create("metric", name)
        assert isinstance(metric, cls)
        assert (metric.name, metric.unit, metric.higher_is_better) == (name, "ratio", True)


@pytest.mark.parametrize(
    ("answer", "want", "matched"),
    [
        ("obama.", 1.0, "Obama"),
        ("The President Obama", 1.0, "President Obama"),
        ("BARACK  OBAMA!", 1.0, "Barack Obama"),
        ("Barack H. Obama", 0.0, "Barack Obama"),  # no alias matches: the first reference is reported
        (None, 0.0, "Barack Obama"),  # no answer text is an empty answer, scored 0
    ],
)
def test_exact_match_is_max_over_answer_and_aliases(answer, want, matched):
    result = score(ExactMatch(), case("Barack Obama", ("Obama", "President Obama")), response(answer))
    assert result.status == "scored"
    assert result.value == want
    assert result.details["matched"] == matched
    assert (result.metric, result.unit, result.higher_is_better) == ("exact_match", "ratio", True)


def test_token_f1_metric_takes_the_best_reference():
    c = case("Barack Obama", ("Obama", "President Obama"))
    result = score(TokenF1(), c, response("President Barack Obama"))
    # 'barack obama': p = 2/3, r = 1 -> 0.8; 'obama': 0.5; 'president obama': 0.8 -> the first best wins
    assert result.value == pytest.approx(0.8)
    assert result.details["matched"] == "Barack Obama"


def test_token_recall_metric_takes_the_best_reference():
    c = case("forty nine dollars", ("49 dollars",))
    result = score(TokenRecall(), c, response("It is 49 dollars a month"))
    assert result.value == pytest.approx(1.0)
    assert result.details["matched"] == "49 dollars"


def test_aliases_alone_are_references():
    c = case(aliases=("yes", "correct"))
    assert score(ExactMatch(), c, response("Correct!")).value == 1.0


@pytest.mark.parametrize("metric", [ExactMatch(), TokenF1(), TokenRecall()], ids=lambda m: m.name)
@pytest.mark.parametrize(
    "c",
    [
        Case(id="u", task_type="unanswerable", input="q?", answerable=False),
        Case(id="j", task_type="json", input="q?", expected=Expected.model_validate({"json": {"a": 1}})),
        Case(id="p", task_type="format", input="q?", expected=Expected(pattern=r"^\d+$")),
    ],
    ids=["no-expected", "json-only", "pattern-only"],
)
def test_reference_metrics_unscored_without_a_reference(metric, c):
    result = score(metric, c, response("anything"))
    assert result.status == "unscored"
    assert result.value is None
    assert result.reason == "no reference answer for this case"
    assert metric.undefined_reason(c) == result.reason


@pytest.mark.parametrize("metric", [ExactMatch(), TokenF1(), TokenRecall()], ids=lambda m: m.name)
def test_reference_metrics_defined_with_a_reference(metric):
    assert metric.undefined_reason(case("x")) is None


# --- K-Precision -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "context", "want"),
    [
        ("Pro plan costs 49 euros", "The Pro plan costs $49 per month.", 0.8),  # 4 of 5 answer tokens
        ("The Pro plan.", "pro PLAN", 1.0),
        ("plan plan xyz", "plan", 2 / 3),  # every answer token counts, repeats included
        ("nothing in common", "The Pro plan", 0.0),
    ],
)
def test_k_precision_hand_computed(answer, context, want):
    result = score(KPrecision(), case("unused"), response(answer, context=context))
    assert result.status == "scored"
    assert result.value == pytest.approx(want)


@pytest.mark.parametrize(
    ("answer", "context", "reason"),
    [
        ("Pro plan", None, "no context: the system records no retrieved context"),
        ("Pro plan", "", "no context: the system records no retrieved context"),
        ("", "The Pro plan", "the answer has no tokens"),
        (None, "The Pro plan", "the answer has no tokens"),
        ("The a an ?!", "The Pro plan", "the answer has no tokens"),
    ],
)
def test_k_precision_unscored(answer, context, reason):
    result = score(KPrecision(), case("unused"), response(answer, context=context))
    assert (result.status, result.value, result.reason) == ("unscored", None, reason)


def test_k_precision_needs_no_reference():
    c = Case(id="u", task_type="unanswerable", input="q?", answerable=False)
    assert score(KPrecision(), c, response("pro plan", context="pro plan")).value == 1.0
