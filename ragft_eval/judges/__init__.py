"""Judges you can trust: LLM judges with structured output and a tolerant parser, ragas's LLM on the
one model interface, and calibration against human labels.  The judged metrics that use them
(``judge_grade``, ``judge_style``, ``judge_pairwise``, ``faithfulness``) are in :mod:`ragft_eval.metrics.judged`."""

from ._base import Judge, JudgeSpec, Verdict
from .llm import JudgeClient, swap_verdicts
from .parse import parse_output

__all__ = [
    "Judge",
    "JudgeClient",
    "JudgeSpec",
    "Verdict",
    "parse_output",
    "swap_verdicts",
]
