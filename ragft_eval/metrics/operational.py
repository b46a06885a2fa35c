"""Operational metrics: latency, tokens and cost, in their own units (lower is better).

Errored responses are reported in the error rate, not folded into these means.
"""

from __future__ import annotations

from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext


@register("metric", "latency")
class Latency(BaseMetric):
    """Seconds the system took for the case (time queued inside the harness excluded)."""

    name, unit, higher_is_better = "latency", "s", False

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if response.latency_s is None:
            return self.unscored("the system reports no latency")
        return self.scored(response.latency_s)


@register("metric", "tokens")
class Tokens(BaseMetric):
    """Prompt plus completion tokens over every model call for the case (unscored unless both are reported)."""

    name, unit, higher_is_better = "tokens", "tokens", False

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        u = response.usage
        if u.prompt_tokens is None and u.completion_tokens is None:
            return self.unscored("the system reports no token usage")
        # half a count is no total: summing the missing side as 0 would understate it as if measured
        if u.completion_tokens is None:
            return self.unscored("the system reports no completion tokens (prompt tokens only)", calls=u.calls)
        if u.prompt_tokens is None:
            return self.unscored("the system reports no prompt tokens (completion tokens only)", calls=u.calls)
        return self.scored(u.prompt_tokens + u.completion_tokens, calls=u.calls)


@register("metric", "cost")
class Cost(BaseMetric):
    """US dollars spent on the case, as the system reports or as priced from token usage."""

    name, unit, higher_is_better = "cost", "usd", False

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if response.cost_usd is None:
            return self.unscored("the system reports no cost")
        return self.scored(response.cost_usd)


@register("metric", "fallback_rate")
class FallbackRate(BaseMetric):
    """For routed systems: 1 if the case fell back to the RAG path, 0 if the fine-tuned path answered.

    Its mean is the share of cases on the fallback path; unscored for systems that do not route.
    """

    # a routing statistic, not a quality: a failed case is not counted as a fallback
    name, unit, higher_is_better = "fallback_rate", "share", False
    needs = "route"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        route = response.extra.get("route")
        if route is None:
            return self.not_recorded()
        return self.scored(float(route != "finetuned"), route=route, confidence=response.extra.get("confidence"))
