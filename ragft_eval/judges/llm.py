"""LLM judges: reference-guided grading, pairwise comparison, rubric (style) grading, binary faithfulness
and answer-only hallucination — one structured call each, parsed tolerantly.

Every call goes through the one model interface (:meth:`Model.call`).  Structured output: against a
local llama.cpp server the JSON schema becomes a GBNF grammar on ``/v1/completions`` (the local model is
a base model without a chat template); against other endpoints it is a chat call with
``response_format`` (OpenAI's ``json_schema``, or llama.cpp's ``json_object`` + schema).
Whatever comes back is parsed by :func:`parse_output`; nothing unparseable becomes a score.
"""

from __future__ import annotations

import json
from typing import Any

import openai

from ..errors import EndpointError
from ..hashing import content_hash
from ..llm import Model, ModelRequest, ModelResponse
from . import templates
from ._base import JudgeSpec, Verdict
from .parse import Kind, parse_output


def _schema(kind: Kind, scale: tuple[int, int]) -> dict[str, Any]:
    """The verdict first, then a short reason: a bounded reason keeps calls fast and never truncates the verdict."""
    reason = {"type": "string", "maxLength": 160}
    if kind == "score":
        lo, hi = scale
        props = {"score": {"type": "integer", "minimum": lo, "maximum": hi},
                 "verdict": {"type": "string", "enum": ["pass", "fail"]}, "reason": reason}  # fmt: skip
        return {"type": "object", "properties": props, "required": ["score", "verdict", "reason"]}
    if kind == "pairwise":
        props = {"winner": {"type": "string", "enum": ["A", "B", "tie"]}, "reason": reason}
        return {"type": "object", "properties": props, "required": ["winner", "reason"]}
    props = {"verdict": {"type": "string", "enum": ["yes", "no"]}, "reason": reason}
    return {"type": "object", "properties": props, "required": ["verdict", "reason"]}


class JudgeClient:
    """Sends one judging prompt with a JSON schema to the judge model and returns a Verdict (the
    :class:`~ragft_eval.judges.Judge` the judged metrics use)."""

    def __init__(self, client: Model, spec: JudgeSpec):
        self.client = client
        self.spec = spec

    @property
    def model(self) -> str:
        return self.client.spec.model

    def describe(self) -> dict[str, Any]:
        return {"spec": self.spec.model_dump(mode="json"), "model": self.client.describe()}

    def params(self, repeat: int) -> dict[str, Any]:
        return {"temperature": self.spec.temperature, "seed": self.spec.seed + repeat, "repeat": repeat,
                "max_tokens": self.spec.max_tokens, "structured": self._mode()}  # fmt: skip

    def _mode(self) -> str:
        if self.spec.structured != "auto":
            return self.spec.structured
        return "grammar" if self.client.api == "completions" else "json_schema"

    def request(self, prompt: str, schema: dict[str, Any], repeat: int) -> ModelRequest:
        """The model request of one judgment (a grammar on completions, ``response_format`` on chat)."""
        mode = self._mode()
        kw = {"max_tokens": self.spec.max_tokens, "temperature": self.spec.temperature,
              "seed": self.spec.seed + repeat, "repeat": repeat}  # fmt: skip
        if mode == "grammar":
            from llama_cpp.llama_grammar import json_schema_to_gbnf

            return ModelRequest.completion(prompt, stop=(), grammar=json_schema_to_gbnf(json.dumps(schema)), **kw)
        fmt: dict[str, Any] | None = None
        if mode == "json_schema":
            fmt = {"type": "json_schema", "json_schema": {"name": "verdict", "schema": schema, "strict": False}}
        elif mode == "json_object":
            fmt = {"type": "json_object", "schema": schema}
        return ModelRequest.chat([{"role": "user", "content": prompt}], response_format=fmt, **kw)

    async def _call(self, prompt: str, schema: dict[str, Any], repeat: int) -> ModelResponse:
        return await self.client.call(self.request(prompt, schema, repeat))

    async def verdict(self, template: str, fields: dict[str, str], *, kind: Kind, repeat: int = 0) -> Verdict:
        prompt = template.format(**fields, low=self.spec.scale[0], high=self.spec.scale[1])
        params = self.params(repeat)
        base = {
            "judge_model": self.model,
            "template_hash": content_hash({"t": template, "kind": kind}),
            "params": params,
        }
        try:
            out = await self._call(prompt, _schema(kind, self.spec.scale), repeat)
        except (openai.OpenAIError, EndpointError) as exc:
            return Verdict(status="error", problem=f"judge endpoint failed: {type(exc).__name__}: {exc}"[:500], **base)
        parsed = parse_output(out.text, kind=kind, scale=self.spec.scale, finish_reason=out.finish_reason)
        return Verdict(
            status=parsed.status, score=parsed.score, raw_score=parsed.raw_score, label=parsed.label,
            reason=parsed.reason, problem=parsed.problem, raw=out.text, latency_s=out.latency_s,
            prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens, attempts=out.attempts,
            cost_usd=self.client.cost(out.prompt_tokens, out.completion_tokens, latency_s=out.latency_s), **base,
        )  # fmt: skip

    async def grade(self, *, question: str, answer: str, reference: str, rubric: str, repeat: int = 0) -> Verdict:
        fields = {"question": question, "answer": answer, "reference": reference, "rubric": rubric}
        return await self.verdict(templates.GRADE, fields, kind="score", repeat=repeat)

    async def style(self, *, question: str, answer: str, rubric: str, repeat: int = 0) -> Verdict:
        fields = {"question": question, "answer": answer, "rubric": rubric}
        return await self.verdict(templates.STYLE, fields, kind="score", repeat=repeat)

    async def pairwise(self, *, question: str, answer_a: str, answer_b: str, repeat: int = 0) -> Verdict:
        fields = {"question": question, "answer_a": answer_a, "answer_b": answer_b}
        return await self.verdict(templates.PAIRWISE, fields, kind="pairwise", repeat=repeat)

    async def faithful(self, *, context: str, answer: str, repeat: int = 0) -> Verdict:
        return await self.verdict(
            templates.FAITHFUL, {"context": context, "answer": answer}, kind="binary", repeat=repeat
        )

    async def hallucinated(self, *, question: str, answer: str, repeat: int = 0) -> Verdict:
        fields = {"question": question, "answer": answer}
        return await self.verdict(templates.HALLUCINATION, fields, kind="binary", repeat=repeat)


def swap_verdicts(first: Verdict, second: Verdict) -> tuple[str | None, bool]:
    """Combine a pairwise judgment in both orders: ``first`` saw (x, y) as (A, B), ``second`` saw (y, x).

    Returns ``(outcome for x, consistent)``: ``win``/``loss`` only when both orders agree, else ``tie``;
    None when either order failed to parse.
    """
    if first.status != "ok" or second.status != "ok":
        return None, False
    a, b = first.label, second.label
    if a == "a" and b == "b":
        return "win", True
    if a == "b" and b == "a":
        return "loss", True
    return "tie", a == b == "tie"
