"""Model access over the OpenAI-compatible API, and the local llama.cpp server lifecycle."""

from .client import CpuSlots, ModelClient, ModelPool
from .interface import Api, ChatMessage, Model, ModelRequest, ModelResponse
from .server import BUILTIN_MODELS, LocalServer, resolve_gguf
from .spec import LocalServerSpec, ModelSpec

__all__ = [
    "BUILTIN_MODELS",
    "Api",
    "ChatMessage",
    "CpuSlots",
    "LocalServer",
    "LocalServerSpec",
    "Model",
    "ModelClient",
    "ModelPool",
    "ModelRequest",
    "ModelResponse",
    "ModelSpec",
    "resolve_gguf",
]
