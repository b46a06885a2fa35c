"""The one model interface: a :class:`ModelRequest` in, a :class:`ModelResponse` out.

Every model call of the harness goes through :meth:`Model.call`: the systems' generations, the judges'
verdicts, ragas's faithfulness calls (through :mod:`ragft_eval.llm.ragas_bridge`) and anything added
later.  It is the single place where a call cache, a rate limiter and retries wrap, so that no call can
bypass them.  Chat and completion alike: ``api`` says which endpoint a request is for
(``/v1/chat/completions`` or ``/v1/completions``).

The response records what the server says it served (``served_model``, ``system_fingerprint``), so a
hosted model that changes under the same name is visible in the stored responses.
"""

from __future__ import annotations

import math
from typing import Any, Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field, model_validator

SCHEMA_VERSION = 1

Api = Literal["chat", "completions"]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChatMessage(_Record):
    """One chat turn sent to a model."""

    role: Literal["system", "user", "assistant"]
    content: str


class ModelRequest(_Record):
    """One model call, complete enough to be a cache key: nothing that changes the output is left out.

    ``None`` sampling fields take the model's configured defaults.  ``grammar`` (a GBNF grammar) is a
    llama.cpp extension for local servers; ``response_format`` is OpenAI's (chat only).  ``repeat`` is
    the repeat index of a judgment repeated N times, so that repeats are distinct calls.
    """

    schema_version: int = SCHEMA_VERSION
    api: Api
    messages: tuple[ChatMessage, ...] = ()
    prompt: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0)
    top_p: float | None = Field(default=None, gt=0, le=1)
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    response_format: dict[str, Any] | None = None
    grammar: str | None = None
    logprobs: bool = False
    repeat: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _shape(self) -> ModelRequest:
        if self.api == "chat":
            if not self.messages or self.prompt is not None:
                raise ValueError("a chat request has messages and no prompt")
            if self.grammar is not None:
                raise ValueError("grammar is a completions extension; use response_format for chat")
        else:
            if self.prompt is None or self.messages:
                raise ValueError("a completions request has a prompt and no messages")
            if self.response_format is not None:
                raise ValueError("response_format is a chat option; use grammar for completions")
        return self

    @classmethod
    def chat(cls, messages: list[dict[str, str]] | tuple[ChatMessage, ...], **kw: Any) -> ModelRequest:
        msgs = tuple(m if isinstance(m, ChatMessage) else ChatMessage(**m) for m in messages)
        return cls(api="chat", messages=msgs, **kw)

    @classmethod
    def completion(cls, prompt: str, **kw: Any) -> ModelRequest:
        return cls(api="completions", prompt=prompt, **kw)


class ModelResponse(_Record):
    """What one model call returned, with the model identity the server reported."""

    schema_version: int = SCHEMA_VERSION
    text: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    # the call's own time; None for a call answered by a Batch API batch (hours in a queue are not its speed)
    latency_s: float | None
    finish_reason: str | None = None
    token_logprobs: tuple[float, ...] | None = None
    served_model: str | None = None
    system_fingerprint: str | None = None
    # how many HTTP attempts the call took, and the short reason of each failed one ("429", "timeout"...)
    attempts: int = Field(default=1, ge=1)
    retried: tuple[str, ...] = ()
    # replayed from the call cache: latency and usage are the original call's, and it cost nothing now
    cached: bool = False

    @property
    def mean_logprob(self) -> float | None:
        """Mean token log-probability (None without logprobs or tokens)."""
        lps = [lp for lp in (self.token_logprobs or ()) if math.isfinite(lp)]
        return sum(lps) / len(lps) if lps else None

    def identity(self, name: str, requested: str) -> dict[str, str]:
        """The ``Response.model`` record: the model's key under ``models:`` (``id``), the model id it
        asked for (``model``) and, where the server reported them, what it served and its fingerprint."""
        out = {"id": name, "model": requested}
        if self.served_model:
            out["served"] = self.served_model
        if self.system_fingerprint:
            out["fingerprint"] = self.system_fingerprint
        return out


@runtime_checkable
class Model(Protocol):
    """A configured model: ``name`` is its key under ``models:``; ``api`` the endpoint its systems use."""

    name: str
    api: Api

    async def call(self, request: ModelRequest) -> ModelResponse: ...
