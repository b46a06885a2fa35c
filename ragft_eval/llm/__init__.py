"""Model access over the OpenAI-compatible API, and the local llama.cpp server lifecycle."""

from .client import CpuSlots, ModelClient, ModelPool
from .interface import Api, ChatMessage, Model, ModelRequest, ModelResponse
from .resilience import AimdLimiter, Breaker, Endpoint, parse_duration, retry_after_s
from .server import BUILTIN_MODELS, LocalServer, resolve_gguf
from .spec import LimitsSpec, LocalServerSpec, ModelSpec, RetrySpec

__all__ = [
    "BUILTIN_MODELS",
    "AimdLimiter",
    "Api",
    "Breaker",
    "ChatMessage",
    "CpuSlots",
    "Endpoint",
    "LimitsSpec",
    "LocalServer",
    "LocalServerSpec",
    "Model",
    "ModelClient",
    "ModelPool",
    "ModelRequest",
    "ModelResponse",
    "ModelSpec",
    "RetrySpec",
    "parse_duration",
    "resolve_gguf",
    "retry_after_s",
]
