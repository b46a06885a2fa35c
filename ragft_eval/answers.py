"""What an answer says, read the same way by the systems and the metrics: SQuAD normalisation and
token overlap, JSON extraction and field match, and refusal detection (which does not look inside JSON).

These are pure functions of text and records.  They live beneath both ``systems`` (the routed system
scores its dev answers to pick its threshold) and ``metrics`` (which define the scores on them), so
that neither imports the other.
"""

from __future__ import annotations

import json
import re
import string
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .records import Response

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def squad_normalize(text: str) -> str:
    """SQuAD answer normalisation.

    >>> squad_normalize("The  Pro plan, costs $49!")
    'pro plan costs 49'
    """
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    return squad_normalize(text).split()


def token_f1(prediction: str, reference: str) -> float:
    """Harmonic mean of token precision and recall (bag of tokens), SQuAD style.

    >>> round(token_f1("costs 49 dollars per month", "49 dollars"), 4)
    0.5714
    """
    pred, ref = tokens(prediction), tokens(reference)
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    p, r = common / len(pred), common / len(ref)
    return 2 * p * r / (p + r)


def token_recall(prediction: str, reference: str) -> float:
    """Share of the reference's tokens (bag) found in the prediction."""
    pred, ref = tokens(prediction), tokens(reference)
    if not ref:
        return float(not pred)
    return sum((Counter(pred) & Counter(ref)).values()) / len(ref)


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def extract_json(text: str | None, *, strict: bool = True) -> tuple[Any, str | None]:
    """``(value, None)`` for the JSON found in ``text``, or ``(None, reason)`` when there is none.

    ``strict=False`` accepts raw control characters (a newline) inside strings, which JSON forbids:
    right for reading a judge's verdict, wrong for grading whether a system's answer is valid JSON.

    >>> extract_json('Here: ```json\\n{"a": 1}\\n```')
    ({'a': 1}, None)
    >>> print(extract_json('{"a": 1,}')[1])
    malformed JSON: Expecting property name enclosed in double quotes at line 1 column 9
    """
    if text is None or not text.strip():
        return None, "empty answer"
    candidates = [text.strip()]
    candidates += [m.group(1).strip() for m in _FENCE.finditer(text)]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end:
            candidates.append(text[start : end + 1])
    first_error = None
    for cand in candidates:
        try:
            return json.loads(cand, strict=strict), None
        except json.JSONDecodeError as exc:
            msg = exc.msg.removesuffix(" at")  # "Invalid control character at" reads "... at at line"
            first_error = first_error or f"malformed JSON: {msg} at line {exc.lineno} column {exc.colno}"
    return None, first_error


def _leaves(value: Any, path: tuple[str | int, ...] = ()) -> dict[tuple[str | int, ...], Any]:
    """Leaf values by path (a tuple of keys and indexes: ``{"a.b": 1}`` differs from ``{"a": {"b": 1}}``)."""
    if isinstance(value, dict) and value:
        out: dict[tuple[str | int, ...], Any] = {}
        for k, v in value.items():
            out.update(_leaves(v, (*path, str(k))))
        return out
    if isinstance(value, list) and value:
        out = {}
        for i, v in enumerate(value):
            out.update(_leaves(v, (*path, i)))
        return out
    return {path: value}


def _pointer(path: tuple[str | int, ...]) -> str:
    """A JSON Pointer (RFC 6901) for a leaf path, for display."""
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in path) if path else ""


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def field_match(predicted: Any, expected: Any) -> tuple[float, list[str]]:
    """Share of the expected leaf paths matched, and the JSON Pointers of those that did not match."""
    want, got = _leaves(expected), _leaves(predicted)
    missed = [_pointer(p) for p, v in want.items() if p not in got or not _equal(got[p], v)]
    return (len(want) - len(missed)) / len(want), missed


def _parses_as_container(text: str) -> bool:
    """True when ``text`` is a JSON object or array (raw control characters in strings allowed)."""
    try:
        return isinstance(json.loads(text, strict=False), dict | list)
    except json.JSONDecodeError:
        return False


def text_outside_json(text: str) -> str | None:
    """``text`` without the JSON object or array it holds, or None when it holds none.

    The JSON is found where :func:`extract_json` looks for it: the whole stripped text, a fenced block
    (the fence is removed with it), or the span from the first ``{``/``[`` to the last ``}``/``]``.
    A bare JSON string or number is not counted: ``"I don't know"`` in quotes is still prose.

    >>> text_outside_json('{"answer": "I do not know"}')
    ''
    >>> text_outside_json('Here it is: ```json\\n{"a": 1}\\n```')
    'Here it is: '
    >>> print(text_outside_json("I don't know."))
    None
    """
    if _parses_as_container(text.strip()):
        return ""
    for m in _FENCE.finditer(text):
        if _parses_as_container(m.group(1).strip()):
            return text[: m.start()] + text[m.end() :]
    for open_, close in (("{", "}"), ("[", "]")):
        start, end = text.find(open_), text.rfind(close)
        if 0 <= start < end and _parses_as_container(text[start : end + 1]):
            return text[:start] + text[end + 1 :]
    return None


def is_refusal(response: Response, patterns: Sequence[str]) -> bool:
    """True when the response abstained or its answer matches a refusal pattern.

    The patterns are not run over JSON: when the answer holds a JSON object or array (see
    :func:`text_outside_json`) only the prose around it is searched, because an ``"I don't know"``
    inside a JSON value is an attempt at the structured answer (a field's value), not a refusal.
    ``extra["abstained"]`` is a refusal whatever the answer.
    """
    if response.extra.get("abstained"):
        return True
    answer = response.answer or ""
    outside = text_outside_json(answer)
    prose = answer if outside is None else outside
    return any(re.search(p, prose, flags=re.IGNORECASE) for p in patterns)
