"""Judges you can trust: LLM judges with structured output and a tolerant parser, ragas faithfulness,
repeats with spread and flip rate, and calibration against human labels."""

from . import metrics
from ._base import Judge, JudgeSpec, Verdict
from .llm import JudgeClient, swap_verdicts
from .metrics import Faithfulness, JudgedMetric, JudgeGrade, JudgePairwise, JudgeStyle
from .parse import parse_output

__all__ = [
    "Faithfulness",
    "Judge",
    "JudgeClient",
    "JudgeGrade",
    "JudgePairwise",
    "JudgeSpec",
    "JudgeStyle",
    "JudgedMetric",
    "Verdict",
    "metrics",
    "parse_output",
    "swap_verdicts",
]
