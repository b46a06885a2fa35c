"""The runner: suite configs, selection, the async run loop and resume."""

from .run import RunResult, Selection, run, run_async, score_response
from .suite import MetricSpec, RetrieverSpec, Suite, SystemSpec, load_suite

__all__ = [
    "MetricSpec",
    "RetrieverSpec",
    "RunResult",
    "Selection",
    "Suite",
    "SystemSpec",
    "load_suite",
    "run",
    "run_async",
    "score_response",
]
