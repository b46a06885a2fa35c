"""ragft-eval: which LLM architecture to ship (prompt-only, RAG, fine-tuned, hybrid), with evidence.

The data flow: golden set -> systems -> runner -> metrics -> store -> stats -> report / gates.
"""

from .errors import RagftError
from .evaluate import RunResult, run, run_async
from .golden import GoldenSet, load_golden_set
from .records import Case, CaseResult, MetricResult, Response, RunManifest
from .runner import Suite, load_suite
from .stats import RunSummary

__version__ = "0.1.0"

__all__ = [
    "Case",
    "CaseResult",
    "GoldenSet",
    "MetricResult",
    "RagftError",
    "Response",
    "RunManifest",
    "RunResult",
    "RunSummary",
    "Suite",
    "load_golden_set",
    "load_suite",
    "run",
    "run_async",
]
