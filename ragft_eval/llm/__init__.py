"""Model access over the OpenAI-compatible API, and the local llama.cpp server lifecycle."""

from .client import Completion, ModelClient, ModelPool
from .server import BUILTIN_MODELS, LocalServer, resolve_gguf
from .spec import LocalServerSpec, ModelSpec

__all__ = [
    "BUILTIN_MODELS",
    "Completion",
    "LocalServer",
    "LocalServerSpec",
    "ModelClient",
    "ModelPool",
    "ModelSpec",
    "resolve_gguf",
]
