"""Config of a model endpoint: a remote OpenAI-compatible API, or a local llama.cpp server the harness runs."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocalServerSpec(_Spec):
    """A llama.cpp server the harness starts for this model (one process per model)."""

    gguf: str = "gemma3-270m"
    n_threads: int = Field(default=2, ge=1)
    n_ctx: int = Field(default=4096, ge=512)
    logits_all: bool = False
    lora: str | None = None
    finetune: str | None = None
    startup_timeout_s: float = Field(default=120, gt=0)


class ModelSpec(_Spec):
    """An OpenAI-compatible model: a remote endpoint (``base_url``) or a local llama.cpp server (``local``).

    ``api`` is the endpoint its systems call: ``chat`` (``/v1/chat/completions``, the default for remote
    models: OpenAI's current models and their ``ft:`` fine-tunes serve only chat) or ``completions``
    (``/v1/completions``, the default for local servers: the demo model is a base model used without a
    chat template).
    """

    model: str
    base_url: str | None = None
    api: Literal["chat", "completions"] | None = None
    api_key_env: str | None = None
    local: LocalServerSpec | None = None
    timeout_s: float = Field(default=120, gt=0)
    max_tokens: int = Field(default=96, ge=1)
    temperature: float = Field(default=0.0, ge=0)
    stop: tuple[str, ...] = ("\n\n", "\nQuestion:", "<end_of_turn>")
    seed: int = 0
    usd_per_1k_prompt_tokens: float = Field(default=0.0, ge=0)
    usd_per_1k_completion_tokens: float = Field(default=0.0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.base_url is None) == (self.local is None):
            raise ValueError("give exactly one of base_url (a remote endpoint) or local (a llama.cpp server)")
        if self.api_key_env is not None and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"api_key_env names an environment variable, got {self.api_key_env!r}")
        return self

    @property
    def endpoint_api(self) -> Literal["chat", "completions"]:
        """``api`` as configured, else the default for where the model runs."""
        return self.api or ("completions" if self.local is not None else "chat")
