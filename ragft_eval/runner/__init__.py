"""The runner: suite configs, selection, the async run loop and resume."""

from .run import RunResult, Selection, run, run_async, score_response
from .suite import LocalServerSpec, MetricSpec, ModelSpec, RetrieverSpec, Suite, SystemSpec, load_suite

__all__ = [
    "LocalServerSpec",
    "MetricSpec",
    "ModelSpec",
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
