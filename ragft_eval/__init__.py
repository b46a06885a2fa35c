"""ragft-eval: which LLM architecture to ship (prompt-only, RAG, fine-tuned, hybrid), with evidence.

The data flow: golden set -> systems -> runner -> metrics -> store -> stats -> report / gates.

The names below are imported on first use (PEP 562): pytest loads ``ragft_eval.pytest_plugin`` in every
project where ragft-eval is installed, and importing the package must then cost nothing.
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    "Case": "records",
    "CaseResult": "records",
    "MetricResult": "records",
    "Response": "records",
    "RunManifest": "records",
    "RagftError": "errors",
    "GoldenSet": "golden",
    "load_golden_set": "golden",
    "RunResult": "evaluate",
    "run": "evaluate",
    "run_async": "evaluate",
    "Suite": "runner",
    "load_suite": "runner",
    "RunSummary": "stats",
}

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


def __getattr__(name: str) -> _typing.Any:
    if name in _EXPORTS:
        value = getattr(_importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if _typing.TYPE_CHECKING:
    from .errors import RagftError
    from .evaluate import RunResult, run, run_async
    from .golden import GoldenSet, load_golden_set
    from .records import Case, CaseResult, MetricResult, Response, RunManifest
    from .runner import Suite, load_suite
    from .stats import RunSummary
