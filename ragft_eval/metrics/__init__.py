"""Metrics: retrieval (trec_eval semantics), answers, abstention, structured output, operational.

Every metric implements :class:`Metric` and is registered by name for suite configs
(``metric: recall, k: 10``).  The pytrec_eval-compatible function is :func:`ragft_eval.metrics.retrieval.score`.
"""

from . import abstention, answer, code, judged, key_facts, operational, retrieval, structured
from ._base import BaseMetric, Metric, PairMetric, ScoreContext, not_recorded_reason
from .abstention import is_refusal
from .answer import squad_normalize, token_f1, token_recall
from .scoring import is_pairwise, precheck, score_pair, score_response
from .selection import Selected, build_metrics, named_judges
from .structured import extract_json, field_match, schema_errors

__all__ = [
    "BaseMetric",
    "Metric",
    "PairMetric",
    "ScoreContext",
    "Selected",
    "abstention",
    "answer",
    "build_metrics",
    "code",
    "extract_json",
    "field_match",
    "is_pairwise",
    "is_refusal",
    "judged",
    "key_facts",
    "named_judges",
    "not_recorded_reason",
    "operational",
    "precheck",
    "retrieval",
    "schema_errors",
    "score_pair",
    "score_response",
    "squad_normalize",
    "structured",
    "token_f1",
    "token_recall",
]
