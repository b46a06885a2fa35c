"""Systems under test, all on one protocol: ``System.answer(case) -> Response``."""

from . import python, replay
from ._base import BaseSystem, RunContext, System
from .python import PythonSystem, coerce_response
from .replay import ReplaySystem

__all__ = [
    "BaseSystem",
    "PythonSystem",
    "ReplaySystem",
    "RunContext",
    "System",
    "coerce_response",
    "python",
    "replay",
]
