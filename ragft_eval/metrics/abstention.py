"""Abstention: did the system decline unanswerable cases, and wrongly decline answerable ones?

A response is a refusal when the system says it abstained (``extra["abstained"]``, as the RAG
retrieval guardrail does) or its answer is detected as one by the metric's ``detector``:

- ``patterns`` (the default): one of the refusal patterns matches (the golden set's
  ``refusal_patterns``, case-insensitive ``re.search``; a metric's ``patterns`` parameter overrides).
  The best F1 of the three on the held-out labelled answers (README, "Refusals").
- ``learned``: the learned detector (:mod:`ragft_eval.judges.refusal`) says so.
- ``either``: patterns or learned: the highest recall, a little less precise.

The detector is recorded in the run's manifest and named under the report's table.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..answers import is_refusal
from ..errors import ConfigError
from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext

# why abstention (false_refusal) is unscored on an answerable (unanswerable) case: outside its population
OUTSIDE_POPULATION = {True: "the case is answerable", False: "the case is unanswerable"}


DETECTORS = ("patterns", "learned", "either")


class _RefusalMetric(BaseMetric):
    scores_answerable = False

    def __init__(self, *, patterns: Sequence[str] | None = None, detector: str = "patterns"):
        if detector not in DETECTORS:
            raise ConfigError(f"detector: expected one of {', '.join(DETECTORS)}, got {detector!r}")
        if patterns is not None and detector == "learned":
            raise ConfigError("patterns: the learned detector uses no patterns; use detector: either to add them")
        self.patterns = tuple(patterns) if patterns is not None else None
        self.detector = detector

    def undefined_reason(self, case: Case) -> str | None:
        if case.answerable != self.scores_answerable:
            return OUTSIDE_POPULATION[case.answerable]
        return None

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        refused = response.extra.get("abstained", False)
        if not refused and self.detector != "learned":
            patterns = self.patterns if self.patterns is not None else ctx.golden_set.manifest.refusal_patterns
            refused = is_refusal(response, patterns)
        if not refused and self.detector != "patterns":
            from ..judges.refusal import is_refusal_learned  # scikit-learn: only when asked for

            refused = is_refusal_learned(response.answer)
        return self.scored(float(bool(refused)))


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
