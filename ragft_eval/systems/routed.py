"""``routed``: the speculative pattern — answer with the fine-tuned model, fall back to RAG when unsure.

Confidence is the mean token log-probability of the fine-tuned answer (the server's logprobs: a local
model needs ``local.logits_all: true``; a chat endpoint returns them with ``logprobs: true``).
The threshold is chosen on the calibration split (``dev``), not
by hand: both paths answer every dev case, each answer gets a quality in [0, 1] (:func:`quality`), and the
threshold maximising the routed system's mean dev quality wins (ties go to the lower threshold, which
sends more cases to the cheaper fine-tuned path).  Every response records the path it took
(``extra.route``) and its confidence; the ``fallback_rate`` metric shows the share on each path.
"""

from __future__ import annotations

from typing import Any

from ..answers import extract_json, field_match, is_refusal, token_recall
from ..golden import DEFAULT_REFUSAL_PATTERNS
from ..records import Case, Response, Usage
from ..registry import register
from ._base import BaseSystem, RunContext
from .generative import FineTunedSystem, RAGSystem


def quality(case: Case, response: Response, refusal_patterns=DEFAULT_REFUSAL_PATTERNS) -> float:
    """A quick [0, 1] quality used only to pick the threshold: refusal on unanswerable cases, field match
    for JSON, the house format for style cases, else the best token recall against the references."""
    import re

    if response.failed:
        return 0.0
    if not case.answerable:
        return float(is_refusal(response, refusal_patterns))
    if case.expected is not None and case.expected.json_value is not None:
        value, err = extract_json(response.answer)
        return 0.0 if err else field_match(value, case.expected.json_value)[0]
    if case.expected is not None and case.expected.pattern:
        return float(re.search(case.expected.pattern, (response.answer or "").strip()) is not None)
    refs = case.expected.answers if case.expected else ()
    return max((token_recall(response.answer or "", r) for r in refs), default=0.0)


def choose_threshold(points: list[tuple[float | None, float, float]]) -> tuple[float, float]:
    """``(threshold, dev quality)`` from (confidence, quality fine-tuned, quality RAG) per dev case.

    A case is answered by the fine-tuned path when its confidence >= threshold (no confidence: RAG).
    """
    candidates = [*sorted({c for c, _, _ in points if c is not None}), float("inf")]
    best: tuple[float, float] | None = None
    for t in candidates:
        q = sum(ft if c is not None and c >= t else rag for c, ft, rag in points) / len(points)
        if best is None or q > best[1] + 1e-12:
            best = (t, q)
    return best if best is not None else (float("inf"), 0.0)


def _total(a: float | None, b: float | None) -> float | None:
    """The sum over both stages, or None (not measured) when either stage did not report it: a missing
    count is not a 0."""
    return None if a is None or b is None else a + b


@register("system", "routed")
class RoutedSystem(BaseSystem):
    kind = "routed"
    records = frozenset({"retrieved", "context", "route"})

    def __init__(
        self,
        *,
        name: str,
        model: str,
        retriever: str,
        adapter: str | None = None,
        fallback_model: str | None = None,
        k: int = 3,
        threshold: float | None = None,
        calibration_split: str = "dev",
        calibration_limit: int | None = None,
        few_shot: int = 0,
    ):
        self.name = name
        self.first = FineTunedSystem(name=name, model=model, adapter=adapter, logprobs=True)
        # the RAG stage is built as a rag system with the same settings is (few_shot included), so that
        # routed's fallback and that system send the same prompts
        self.second = RAGSystem(name=name, model=fallback_model or model, retriever=retriever, k=k, few_shot=few_shot)
        self.threshold = threshold
        self.calibration_split = calibration_split
        self.calibration_limit = calibration_limit
        self.calibration: dict[str, Any] = {}

    async def start(self, ctx: RunContext) -> None:
        await self.first.start(ctx)
        await self.second.start(ctx)
        if self.threshold is not None:
            self.calibration = {"source": "config", "threshold": self.threshold}
            return
        points = []
        with ctx.phase("threshold search", f"{self.name} on {self.calibration_split}"):
            for gs in ctx.golden_sets.values():
                for case in gs.select(splits=[self.calibration_split])[: self.calibration_limit]:
                    a, b = await self.first.answer(case), await self.second.answer(case)
                    patterns = gs.manifest.refusal_patterns
                    points.append((a.extra.get("mean_logprob"), quality(case, a, patterns),
                                   quality(case, b, patterns)))  # fmt: skip
        if not points:
            raise TypeError(f"routed: no {self.calibration_split!r} cases to choose the threshold on")
        self.threshold, q = choose_threshold(points)
        self.calibration = {
            "source": f"chosen on the {self.calibration_split} split",
            "threshold": self.threshold if self.threshold != float("inf") else "inf (always RAG)",
            "n": len(points),
            "dev_quality_routed": round(q, 4),
            "dev_quality_finetuned": round(sum(p[1] for p in points) / len(points), 4),
            "dev_quality_rag": round(sum(p[2] for p in points) / len(points), 4),
            "dev_share_finetuned": round(
                sum(p[0] is not None and p[0] >= self.threshold for p in points) / len(points), 4
            ),
        }

    async def plan_start(self, ctx: RunContext) -> None:
        """See :meth:`GenerativeSystem.plan_start`; the threshold search on dev is not run."""
        await self.first.plan_start(ctx)
        await self.second.plan_start(ctx)

    async def planned_requests(self, case: Case) -> list[tuple[str, Any]]:
        """Both stages' requests: the fine-tuned one always, the RAG one when the case falls back (an upper
        bound: how many fall back is known only after the run)."""
        return [*await self.first.planned_requests(case), *await self.second.planned_requests(case)]

    async def close(self) -> None:
        await self.first.close()
        await self.second.close()

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "finetuned": self.first.describe(), "rag": self.second.describe(),
                "calibration": self.calibration}  # fmt: skip

    async def answer(self, case: Case) -> Response:
        first = await self.first.answer(case)
        conf = first.extra.get("mean_logprob")
        if not first.failed and conf is not None and conf >= self.threshold:
            extra = {**first.extra, "route": "finetuned", "confidence": conf, "first_stage_s": first.latency_s}
            return first.model_copy(update={"extra": extra})
        second = await self.second.answer(case)
        usage = Usage(
            prompt_tokens=_total(first.usage.prompt_tokens, second.usage.prompt_tokens),
            completion_tokens=_total(first.usage.completion_tokens, second.usage.completion_tokens),
            calls=first.usage.calls + second.usage.calls,
        )
        latency = _total(first.latency_s, second.latency_s)
        cost = _total(first.cost_usd, second.cost_usd)
        # each stage's own time: the first stage runs on a server that computes logprobs (logits_all), and
        # the report can set it apart from what the same answer costs on a plain server
        extra = {**second.extra, "route": "rag", "confidence": conf, "finetuned_answer": first.answer,
                 "first_stage_s": first.latency_s, "second_stage_s": second.latency_s}  # fmt: skip
        return second.model_copy(update={"usage": usage, "latency_s": latency, "cost_usd": cost, "extra": extra})
