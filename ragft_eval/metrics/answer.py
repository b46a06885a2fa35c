"""Answer metrics with SQuAD normalisation: exact match, token F1, token recall, and K-Precision.

Normalisation (the SQuAD v1.1 evaluation script): lowercase, remove punctuation, remove the
articles a/an/the, collapse whitespace.  Exact match, F1 and recall take the max over the reference
answer and its aliases.  Cases without a reference answer (unanswerable, JSON-only) are unscored.
"""

from __future__ import annotations

from collections.abc import Callable

from ..answers import squad_normalize, token_f1, token_recall, tokens
from ..records import Case, Response
from ..registry import register
from ._base import BaseMetric, ScoreContext


def exact_match(prediction: str, reference: str) -> float:
    """1.0 when the two are equal after SQuAD normalisation, else 0.0."""
    return float(squad_normalize(prediction) == squad_normalize(reference))


class _ReferenceMetric(BaseMetric):
    compare: Callable[[str, str], float]  # (prediction, reference) -> [0, 1]; each metric names its own

    def undefined_reason(self, case: Case) -> str | None:
        return None if case.expected and case.expected.answers else "no reference answer for this case"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if reason := self.undefined_reason(case):
            return self.unscored(reason)
        refs = case.expected.answers
        answer = response.answer or ""
        values = [self.compare(answer, ref) for ref in refs]
        best = max(range(len(values)), key=values.__getitem__)
        return self.scored(values[best], matched=refs[best])


@register("metric", "exact_match")
class ExactMatch(_ReferenceMetric):
    """1 if the normalised answer equals a normalised reference or alias, else 0."""

    name = "exact_match"
    compare = staticmethod(exact_match)


@register("metric", "token_f1")
class TokenF1(_ReferenceMetric):
    """Max over references of SQuAD token F1, in [0, 1]."""

    name = "token_f1"
    compare = staticmethod(token_f1)


@register("metric", "token_recall")
class TokenRecall(_ReferenceMetric):
    """Max over references of the share of reference tokens present in the answer, in [0, 1]."""

    name = "token_recall"
    compare = staticmethod(token_recall)


@register("metric", "k_precision")
class KPrecision(BaseMetric):
    """K-Precision (Adlakha et al., TACL 2024): share of answer tokens that occur in the context given.

    A lexical faithfulness baseline: 1 means every answer token appears in the retrieved context.
    Unscored without a recorded context, or for an answer with no tokens.
    """

    name = "k_precision"
    needs = "context"

    async def score(self, case: Case, response: Response, ctx: ScoreContext):
        if not response.context:
            return self.not_recorded()
        answer = tokens(response.answer or "")
        if not answer:
            return self.unscored("the answer has no tokens")
        context = set(tokens(response.context))
        return self.scored(sum(1 for t in answer if t in context) / len(answer))
