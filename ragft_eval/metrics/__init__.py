"""Metrics: retrieval (trec_eval semantics), answers, abstention, structured output, operational.

Every metric implements :class:`Metric` and is registered by name for suite configs
(``metric: recall, k: 10``).  The pytrec_eval-compatible function is :func:`ragft_eval.metrics.retrieval.score`.
"""

from . import abstention, answer, operational, retrieval, structured
from ._base import BaseMetric, Metric, ScoreContext
from .abstention import is_refusal
from .answer import squad_normalize, token_f1, token_recall
from .structured import extract_json, field_match, schema_errors

__all__ = [
    "BaseMetric",
    "Metric",
    "ScoreContext",
    "abstention",
    "answer",
    "extract_json",
    "field_match",
    "is_refusal",
    "operational",
    "retrieval",
    "schema_errors",
    "squad_normalize",
    "structured",
    "token_f1",
    "token_recall",
]
