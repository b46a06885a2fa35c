"""Config of a model endpoint: a remote OpenAI-compatible API, or a local llama.cpp server the harness runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from .prices import Price, lookup


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


class LimitsSpec(_Spec):
    """How hard the harness may press one remote endpoint (``models.<name>.limits``).

    ``concurrency`` caps the requests in flight at once; on a 429 the endpoint's limit halves and climbs
    back towards the cap (:class:`~ragft_eval.llm.resilience.AimdLimiter`).  ``rpm`` and ``tpm`` cap
    requests and tokens per minute (a request's tokens are *estimated* before it is sent: prompt
    characters / 4 + ``max_tokens``).  No rate caps by default: a hosted API's limits depend on the
    account's tier, and its 429s with their reset headers pace the run without them.  Every system and
    judge on the same endpoint (``base_url`` + ``model``) shares one set of limits.
    """

    concurrency: int = Field(default=16, ge=1)
    rpm: float | None = Field(default=None, gt=0)
    tpm: float | None = Field(default=None, gt=0)


class RetrySpec(_Spec):
    """How a failed call is retried (``models.<name>.retry``), and when an endpoint is given up on.

    A 429, a 5xx, a timeout, a dropped connection or a body that is not a valid API response is retried
    with jittered exponential backoff (``backoff_s`` doubling up to ``max_backoff_s``, or longer when the
    endpoint says when to come back), at most ``max_attempts`` times and ``deadline_s`` seconds of
    attempts and backoff per call (waits for the endpoint's limits excluded).  Other 4xx answers are
    attempted once.  After ``breaker_failures`` consecutive failed calls the endpoint's remaining calls
    fail at once (``None``: never).
    """

    max_attempts: int = Field(default=6, ge=1)
    deadline_s: float = Field(default=300, gt=0)
    backoff_s: float = Field(default=0.25, gt=0)
    max_backoff_s: float = Field(default=30, gt=0)
    breaker_failures: int | None = Field(default=10, ge=1)


class BatchSpec(_Spec):
    """Batch mode (``models.<name>.batch``, ``true`` for the defaults): the model's calls go through
    OpenAI's Batch API (:mod:`ragft_eval.llm.batch`) at its batch discount, for a nightly run that can wait.

    Calls arriving within ``gather_s`` of each other go into one batch (at most ``max_requests``); the
    batch is polled every ``poll_s``; after ``wait_s`` without its results, ``run`` stops with exit code 5
    (batch pending) and ``--resume RUN_ID`` collects the same batch later.
    """

    wait_s: float = Field(default=3600, ge=0)
    poll_s: float = Field(default=30, gt=0)
    gather_s: float = Field(default=2.0, ge=0)
    max_requests: int = Field(default=50_000, ge=1, le=50_000)  # the Batch API's limit per batch
    completion_window: Literal["24h"] = "24h"

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {} if value is True else value


# A local server keeps the behaviour it had before retries existed: one attempt (a request that timed
# out is still being generated, so a retry would only queue behind it) and no breaker.
LOCAL_RETRY = RetrySpec(max_attempts=1, breaker_failures=None)


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
    # what a call costs: ``price`` (per 1M tokens, or usd_per_hour for a local model's machine), else the
    # older per-1k settings, else the dated table of llm.prices for a hosted model id; else not priced
    price: Price | None = None
    usd_per_1k_prompt_tokens: float | None = Field(default=None, ge=0)
    usd_per_1k_completion_tokens: float | None = Field(default=None, ge=0)
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    batch: BatchSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> ModelSpec:
        if (self.base_url is None) == (self.local is None):
            raise ValueError("give exactly one of base_url (a remote endpoint) or local (a llama.cpp server)")
        if self.api_key_env is not None and not self.api_key_env.replace("_", "").isalnum():
            raise ValueError(f"api_key_env names an environment variable, got {self.api_key_env!r}")
        if self.local is not None and "limits" in self.model_fields_set:
            raise ValueError("limits are for remote endpoints: a local server answers one request at a time "
                             "(and shares the CPU slots) and needs no rate caps")  # fmt: skip
        if self.batch is not None and self.local is not None:
            raise ValueError("batch is OpenAI's Batch API, for a remote endpoint (base_url); a local server has none")
        return self

    @model_validator(mode="before")
    @classmethod
    def _batch_false(cls, value: Any) -> Any:
        # ``batch: false`` means what leaving it out means
        if isinstance(value, dict) and value.get("batch") is False:
            value = {k: v for k, v in value.items() if k != "batch"}
        return value

    @model_serializer(mode="wrap")
    def _omit_default_call_policy(self, handler: SerializerFunctionWrapHandler) -> Any:
        # limits and retry say how the endpoint is called, not what it answers: left out of the dump at
        # their defaults, so the config hash of every suite written before them is unchanged
        data = handler(self)
        if isinstance(data, dict):
            for key in ("limits", "retry"):
                if key in data and getattr(self, key) == type(self).model_fields[key].default_factory():
                    del data[key]
            if data.get("batch", 0) is None:  # added later: absent keeps the hash of older suites
                del data["batch"]
        return data

    @property
    def retry_policy(self) -> RetrySpec:
        """``retry`` as configured; a local server without one keeps a single attempt (:data:`LOCAL_RETRY`)."""
        if self.local is not None and "retry" not in self.model_fields_set:
            return LOCAL_RETRY
        return self.retry

    @property
    def resolved_price(self) -> Price | None:
        """The price of this model's calls (None: not priced, so its cost is unknown, never 0)."""
        if self.price is not None:
            return self.price
        if self.usd_per_1k_prompt_tokens is not None or self.usd_per_1k_completion_tokens is not None:
            return Price(input_per_1m=(self.usd_per_1k_prompt_tokens or 0.0) * 1000,
                         output_per_1m=(self.usd_per_1k_completion_tokens or 0.0) * 1000)  # fmt: skip
        return lookup(self.model) if self.local is None else None

    @property
    def endpoint_api(self) -> Literal["chat", "completions"]:
        """``api`` as configured, else the default for where the model runs."""
        return self.api or ("completions" if self.local is not None else "chat")
