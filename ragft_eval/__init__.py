"""ragft-eval: which LLM architecture to ship (prompt-only, RAG, fine-tuned, hybrid), with evidence.

The data flow: golden set -> system -> response -> metrics -> store -> aggregation -> report / gate.
"""

from .errors import RagftError
from .golden import GoldenSet, load_golden_set
from .records import Case, CaseResult, MetricResult, Response, RunManifest
from .runner import RunResult, Suite, load_suite, run, run_async

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
    "Suite",
    "load_golden_set",
    "load_suite",
    "run",
    "run_async",
]
