"""Abstention: did the system decline unanswerable cases, and wrongly decline answerable ones?

A response is a refusal when the system says it abstained (``extra["abstained"]``, as the RAG
retrieval guardrail does) or its answer matches one of the refusal patterns (the golden set's
``refusal_patterns``, case-insensitive ``re.search``; a metric's ``patterns`` parameter overrides).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..answers import is_refusal
from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext

# why abstention (false_refusal) is unscored on an answerable (unanswerable) case: outside its population
OUTSIDE_POPULATION = {True: "the case is answerable", False: "the case is unanswerable"}


class _RefusalMetric(BaseMetric):
    scores_answerable = False

    def __init__(self, *, patterns: Sequence[str] | None = None):
        self.patterns = tuple(patterns) if patterns is not None else None

    def undefined_reason(self, case: Case) -> str | None:
        if case.answerable != self.scores_answerable:
            return OUTSIDE_POPULATION[case.answerable]
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        patterns = self.patterns if self.patterns is not None else ctx.golden_set.manifest.refusal_patterns
        return self.scored(float(is_refusal(response, patterns)))


@register("metric", "abstention")
class Abstention(_RefusalMetric):
    """On unanswerable cases: 1 if the system declined, else 0. Higher is better."""

    name = "abstention"


@register("metric", "false_refusal")
class FalseRefusal(_RefusalMetric):
    """On answerable cases: 1 if the system declined anyway, else 0. Lower is better."""

    name = "false_refusal"
    higher_is_better = False
    scores_answerable = True
