"""``replay``: answers and retrievals read from a JSONL file (production logs, another tool's output).

One line per case::

    {"case_id": "q1", "answer": "...", "retrieved": [{"doc_id": "d1", "score": 3.2}], "context": "...",
     "usage": {"prompt_tokens": 400, "completion_tokens": 20}, "latency_s": 0.8, "cost_usd": 0.0002,
     "model": "gpt-x", "error": {"type": "TimeoutError", "message": "..."}}

Only ``case_id`` is required.  ``retrieved`` may carry ``rank``; without it docs are ranked as
listed.  A case with no line is an errored case ("no replay record"), never a dropped one.  What is not
in a line stays absent: a doc without ``score`` has no score, a line without ``latency_s`` no latency.

What the system ``records`` is read from the file: ``retrieved``, ``context`` or ``route``
(``extra.route``) when any line that did not fail carries it, so a failed case is unscored, not an error,
on a metric that needs what the file never records.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError, validation_problems
from ..hashing import file_hash
from ..records import Case, ErrorInfo, Response, RetrievedDoc, Usage
from ..registry import register
from ._base import BaseSystem, RunContext


class _ReplayDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")
    doc_id: str
    score: float | None = None  # absent stays absent: a made-up 0.0 would trip min_score-style checks
    rank: int | None = None


class _ReplayLine(BaseModel):
    model_config = ConfigDict(extra="forbid")
    case_id: str
    answer: str | None = None
    retrieved: list[_ReplayDoc] | None = None
    context: str | None = None
    usage: Usage = Usage()
    latency_s: float | None = Field(default=None, ge=0)
    cost_usd: float | None = Field(default=None, ge=0)
    model: str | None = None
    error: ErrorInfo | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


def infer_records(lines: Iterable[_ReplayLine]) -> frozenset[str] | None:
    """What the file records: each field some line that did not fail carries (None: no line succeeded)."""
    ok = [rec for rec in lines if rec.error is None]
    if not ok:  # no evidence either way: unknown, so failed cases stay errors
        return None
    found = set()
    if any(rec.retrieved is not None for rec in ok):
        found.add("retrieved")
    if any(rec.context is not None for rec in ok):
        found.add("context")
    if any(rec.extra.get("route") is not None for rec in ok):
        found.add("route")
    return frozenset(found)


@register("system", "replay")
class ReplaySystem(BaseSystem):
    kind = "replay"

    def __init__(self, *, name: str, path: str):
        self.name = name
        self.path = path
        self._records: dict[str, _ReplayLine] = {}
        self._hash = ""

    async def start(self, ctx: RunContext) -> None:
        path = ctx.resolve(self.path)
        if not path.is_file():
            raise ConfigError(f"system {self.name!r}: path: replay file {str(path)!r} does not exist")
        problems = []
        with path.open(encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = _ReplayLine.model_validate(json.loads(line))
                except json.JSONDecodeError as exc:
                    problems.append(f"{path.name}:{lineno}: (line): malformed JSON: {exc.msg}")
                    continue
                except ValidationError as exc:
                    problems.extend(str(p) for p in validation_problems(exc, path.name, lineno))
                    continue
                self._records[rec.case_id] = rec
        if problems:
            raise ConfigError(f"system {self.name!r}: replay file has problems:\n" + "\n".join(problems))
        self._hash = file_hash(str(path))
        self.records = infer_records(self._records.values())

    def describe(self) -> dict[str, Any]:
        records = sorted(self.records) if self.records is not None else None
        return {"kind": self.kind, "path": self.path, "file_hash": self._hash, "records": records}

    async def answer(self, case: Case) -> Response:
        rec = self._records.get(case.id)
        if rec is None:
            return self.response(
                case, error=ErrorInfo(type="MissingReplay", message=f"no replay record for case {case.id!r}")
            )
        retrieved = None
        if rec.retrieved is not None:
            order = sorted(range(len(rec.retrieved)), key=lambda i: (rec.retrieved[i].rank or i + 1, i))
            retrieved = tuple(
                RetrievedDoc(doc_id=rec.retrieved[i].doc_id, score=rec.retrieved[i].score, rank=r)
                for r, i in enumerate(order, 1)
            )
        return self.response(
            case,
            answer=rec.answer,
            retrieved=retrieved,
            context=rec.context,
            usage=rec.usage,
            latency_s=rec.latency_s,
            cost_usd=rec.cost_usd,
            model={"id": rec.model} if rec.model else {},
            extra=rec.extra,
            error=rec.error,
        )
