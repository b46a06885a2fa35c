"""Judge records and config: a Verdict keeps the judge's raw output and everything needed to redo it.

A verdict's ``status`` is ``ok`` only when the output parsed, was on scale and answered the question;
``unparseable``, ``refused``, ``truncated`` and ``out_of_scale`` keep the raw text and never become a
default score; ``error`` means the judge endpoint failed (a judge error, not the system's).
"""

from __future__ import annotations

from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..llm import Model
from ..records import SCHEMA_VERSION

VerdictStatus = Literal["ok", "unparseable", "refused", "truncated", "out_of_scale", "error"]


class Verdict(BaseModel):
    """One judgment: a normalised ``score`` in [0, 1] and/or a ``label``, with provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    status: VerdictStatus
    score: float | None = None
    raw_score: float | None = None
    label: str | None = None
    reason: str | None = None
    raw: str = ""
    problem: str | None = None
    judge_model: str = ""
    template_hash: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    latency_s: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # what the judge's call cost at the judge model's price (None: not priced), and how many HTTP attempts
    cost_usd: float | None = None
    attempts: int = 1

    @model_validator(mode="after")
    def _check(self) -> Verdict:
        if self.status == "ok" and self.score is None and self.label is None:
            raise ValueError("an ok verdict needs a score or a label")
        if self.status != "ok" and not self.problem:
            raise ValueError(f"a {self.status} verdict needs a problem description")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise ValueError(f"score must be normalised to [0, 1], got {self.score}")
        return self


class JudgeSpec(BaseModel):
    """``judge:`` in a suite: which model judges, how, and how often."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str
    temperature: float = Field(default=0.0, ge=0)
    seed: int = 0
    repeats: int = Field(default=1, ge=1)
    max_tokens: int = Field(default=160, ge=16)
    scale: tuple[int, int] = (1, 5)
    structured: Literal["auto", "grammar", "json_schema", "json_object", "none"] = "auto"
    faithfulness_max_tokens: int = Field(default=384, ge=32)

    @model_validator(mode="after")
    def _check(self) -> JudgeSpec:
        if self.repeats > 1 and self.temperature == 0:
            raise ValueError(
                f"repeats: {self.repeats} repeats at temperature 0 measure nothing (every repeat is the same, "
                "so the flip rate is 0 by construction); set temperature > 0 or repeats: 1"
            )
        lo, hi = self.scale
        if not lo < hi:
            raise ValueError(f"scale: expected [low, high] with low < high, got {list(self.scale)}")
        return self


@runtime_checkable
class Judge(Protocol):
    """What the judged metrics and calibration need of a judge (implemented by :class:`JudgeClient`).

    ``client`` is the judge's model (the one model interface; ragas's calls go through it too) and
    ``spec`` its ``judge:`` config.  Each method makes one judgment of one item and never raises for a
    failed call: a failure is a Verdict with status ``error``.
    """

    spec: JudgeSpec
    client: Model

    @property
    def model(self) -> str: ...

    def describe(self) -> dict[str, Any]: ...

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict: ...

    async def style(self, *, question: str, answer: str, rubric: str, repeat: int = 0) -> Verdict: ...

    async def pairwise(self, *, question: str, answer_a: str, answer_b: str, repeat: int = 0) -> Verdict: ...

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict: ...


class NarrowJudge:
    """The :class:`Judge` calls for a judge that makes one kind of judgment (a trained faithfulness judge,
    a grader): every call it does not override returns an ``error`` verdict naming what it judges
    (:meth:`unsupported`), never a made-up score.  A subclass has ``model`` and ``task``."""

    model: str
    task: str

    def unsupported(self, call: str) -> Verdict:
        problem = f"the judge {self.model} judges {self.task} only, not {call}"
        return Verdict(status="error", judge_model=self.model, problem=problem)

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict:
        return self.unsupported("grade")

    async def style(self, *, question: str, answer: str, rubric: str, repeat: int = 0) -> Verdict:
        return self.unsupported("style")

    async def pairwise(self, *, question: str, answer_a: str, answer_b: str, repeat: int = 0) -> Verdict:
        return self.unsupported("pairwise")

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict:
        return self.unsupported("faithfulness")

    async def hallucinated(self, *, question: str, answer: str, repeat: int = 0) -> Verdict:
        return self.unsupported("hallucinated")
