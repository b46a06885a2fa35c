"""Systems under test, all on one protocol: ``System.answer(case) -> Response``."""

from . import generative, python, replay, routed
from ._base import BaseSystem, RunContext, System
from .generative import FineTunedSystem, GenerativeSystem, HybridSystem, PromptOnlySystem, RAGSystem
from .python import PythonSystem, coerce_response
from .replay import ReplaySystem
from .routed import RoutedSystem

__all__ = [
    "BaseSystem",
    "FineTunedSystem",
    "GenerativeSystem",
    "HybridSystem",
    "PromptOnlySystem",
    "PythonSystem",
    "RAGSystem",
    "ReplaySystem",
    "RoutedSystem",
    "RunContext",
    "System",
    "coerce_response",
    "generative",
    "python",
    "replay",
    "routed",
]
