"""Judges you can trust: LLM judges with structured output and a tolerant parser, ragas's LLM on the
one model interface, a learned faithfulness judge (a MiniLM cross-encoder trained on CPU, registered as
judge ``learned``), a lexical faithfulness judge (a logistic regression on word support, judge
``lexical``), and calibration against human labels.  The judged metrics that use them
(``judge_grade``, ``judge_style``, ``judge_pairwise``, ``faithfulness``) are in :mod:`ragft_eval.metrics.judged`."""

from ._base import Judge, JudgeSpec, Verdict
from .learned import LearnedJudge, LearnedJudgeSpec
from .lexical import LexicalJudge, LexicalJudgeSpec, LexicalModel
from .llm import JudgeClient, swap_verdicts
from .parse import parse_output
from .training import JudgeArtifact, JudgeTrainConfig, load_judge_train_config, train_judge

__all__ = [
    "Judge",
    "JudgeArtifact",
    "JudgeClient",
    "JudgeSpec",
    "JudgeTrainConfig",
    "LearnedJudge",
    "LearnedJudgeSpec",
    "LexicalJudge",
    "LexicalJudgeSpec",
    "LexicalModel",
    "Verdict",
    "load_judge_train_config",
    "parse_output",
    "swap_verdicts",
    "train_judge",
]
