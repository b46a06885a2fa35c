"""Tolerant parsing of judge output: JSON bare or fenced, raw control characters inside strings, field
names matched loosely, and every failure named (unparseable, refused, truncated, out of scale) instead
of becoming a default score.

>>> parse_output('```json\\n{"score": 4, "reason": "close"}\\n```', kind="score", scale=(1, 5)).score
0.75
>>> parse_output('{"score": 7}', kind="score", scale=(1, 5)).status
'out_of_scale'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from ..answers import extract_json
from ..golden import DEFAULT_REFUSAL_PATTERNS

Kind = Literal["score", "pass", "pairwise", "binary"]
_SCORE_KEYS = ("score", "rating", "grade")
_LABEL_KEYS = {"pass": ("verdict", "pass", "passed"), "pairwise": ("winner", "better", "choice"),
               "binary": ("verdict", "answer", "label")}  # fmt: skip
_REASON_KEYS = ("reason", "reasoning", "explanation", "rationale")


@dataclass(frozen=True)
class Parsed:
    status: str
    score: float | None = None
    raw_score: float | None = None
    label: str | None = None
    reason: str | None = None
    problem: str | None = None


def _get(obj: dict[str, Any], keys: tuple[str, ...]) -> Any:
    lowered = {str(k).lower().strip(): v for k, v in obj.items()}
    for k in keys:
        if k in lowered:
            return lowered[k]
    return None


def _label(value: Any, kind: Kind) -> str | None:
    if isinstance(value, bool):
        return {"pass": "pass" if value else "fail", "binary": "yes" if value else "no"}.get(kind)
    if not isinstance(value, str | int):
        return None
    text = str(value).strip().lower().strip(".\"' ")
    if kind == "pairwise":
        table = {"a": "a", "1": "a", "answer a": "a", "response a": "a", "b": "b", "2": "b", "answer b": "b",
                 "response b": "b", "tie": "tie", "equal": "tie", "both": "tie", "neither": "tie"}  # fmt: skip
    elif kind == "pass":
        table = {"pass": "pass", "passed": "pass", "yes": "pass", "true": "pass", "correct": "pass",
                 "fail": "fail", "failed": "fail", "no": "fail", "false": "fail", "incorrect": "fail"}  # fmt: skip
    else:
        table = {"yes": "yes", "true": "yes", "supported": "yes", "faithful": "yes", "hallucinated": "yes",
                 "no": "no", "false": "no", "unsupported": "no", "unfaithful": "no",
                 "not hallucinated": "no"}  # fmt: skip
    return table.get(text)


def parse_output(
    raw: str,
    *,
    kind: Kind,
    scale: tuple[int, int] = (1, 5),
    finish_reason: str | None = None,
    refusal_patterns: tuple[str, ...] = DEFAULT_REFUSAL_PATTERNS,
) -> Parsed:
    """Parse a judge's raw text for a ``kind`` of judgment; scores are normalised to [0, 1] over ``scale``."""
    value, err = extract_json(raw, strict=False)  # a grammar-constrained judge may put a newline in a string
    if err or not isinstance(value, dict):
        if finish_reason == "length":
            return Parsed("truncated", problem=f"output cut at max_tokens before the JSON closed ({err})")
        if any(re.search(p, raw or "", flags=re.IGNORECASE) for p in refusal_patterns):
            return Parsed("refused", problem="the judge declined to judge")
        return Parsed("unparseable", problem=err or f"expected a JSON object, got {type(value).__name__}")
    reason = _get(value, _REASON_KEYS)
    reason = str(reason) if reason is not None else None
    if kind == "score":
        s = _get(value, _SCORE_KEYS)
        if isinstance(s, str):
            try:
                s = float(s.strip())
            except ValueError:
                return Parsed("unparseable", reason=reason, problem=f"score is not a number: {s!r}")
        if not isinstance(s, int | float) or isinstance(s, bool):
            return Parsed("unparseable", reason=reason, problem=f"no numeric score field in {sorted(value)}")
        lo, hi = scale
        if not lo <= s <= hi:
            return Parsed("out_of_scale", raw_score=float(s), reason=reason, problem=f"score {s} outside [{lo}, {hi}]")
        label = _label(_get(value, _LABEL_KEYS["pass"]), "pass")
        return Parsed("ok", score=(float(s) - lo) / (hi - lo), raw_score=float(s), label=label, reason=reason)
    label = _label(_get(value, _LABEL_KEYS[kind]), kind)
    if label is None:
        got = _get(value, _LABEL_KEYS[kind])
        return Parsed("unparseable", reason=reason, problem=f"no recognisable {kind} label (got {got!r})")
    score = {"pass": 1.0, "fail": 0.0, "yes": 1.0, "no": 0.0, "a": None, "b": None, "tie": None}[label]
    return Parsed("ok", score=score, label=label, reason=reason)
