"""What a model call costs: a dated table of list prices for common hosted models, overridable per suite,
and the machine time of local models.

A hosted model is priced per 1M tokens: input, cached input (prompt tokens the provider served from its
prompt cache) and output, with a discount for its Batch API.  A local model is priced by the dollars per
hour of the machine that runs it, times the measured time of the call.  Prices are looked up by model id;
a fine-tuned ``ft:BASE:...`` id uses the table's ``ft:BASE`` entry.  A model with no price has no cost
(None, "not priced"), never a cost of 0.

The defaults are list prices as OpenAI published them, checked on :data:`PRICES_AS_OF`; prices change, so
a suite that depends on them should set its own under ``models.<name>.price``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

PRICES_AS_OF = "2025-06-01"


class Price(BaseModel):
    """US dollars per 1M tokens (hosted) or per hour of the machine (local); ``batch_discount`` is the
    share taken off for calls sent through a Batch API (0.5: half price)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    input_per_1m: float | None = Field(default=None, ge=0)
    cached_input_per_1m: float | None = Field(default=None, ge=0)
    output_per_1m: float | None = Field(default=None, ge=0)
    batch_discount: float = Field(default=0.0, ge=0, lt=1)
    usd_per_hour: float | None = Field(default=None, ge=0)
    source: str = "suite"

    @model_validator(mode="after")
    def _one_kind(self) -> Price:
        per_token = self.input_per_1m is not None or self.output_per_1m is not None
        if per_token == (self.usd_per_hour is not None):
            raise ValueError("give per-token prices (input_per_1m, output_per_1m) or usd_per_hour, not both or neither")
        if per_token and (self.input_per_1m is None or self.output_per_1m is None):
            raise ValueError("per-token prices need both input_per_1m and output_per_1m")
        return self

    def cost(
        self,
        *,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        cached_tokens: int | None = None,
        seconds: float | None = None,
        batch: bool = False,
    ) -> float | None:
        """The call's cost in dollars, or None when what it is priced by was not reported."""
        if self.usd_per_hour is not None:
            return None if seconds is None else self.usd_per_hour * seconds / 3600
        if prompt_tokens is None or completion_tokens is None:
            return None
        assert self.input_per_1m is not None and self.output_per_1m is not None
        cached = min(cached_tokens or 0, prompt_tokens)
        cached_rate = self.cached_input_per_1m if self.cached_input_per_1m is not None else self.input_per_1m
        usd = ((prompt_tokens - cached) * self.input_per_1m + cached * cached_rate
               + completion_tokens * self.output_per_1m) / 1e6  # fmt: skip
        return usd * (1 - self.batch_discount) if batch else usd


def _list(input_: float, cached: float, output: float) -> Price:
    return Price(input_per_1m=input_, cached_input_per_1m=cached, output_per_1m=output, batch_discount=0.5,
                 source=f"OpenAI list price, {PRICES_AS_OF}")  # fmt: skip


DEFAULT_PRICES: dict[str, Price] = {
    "gpt-4o-mini": _list(0.15, 0.075, 0.60),
    "ft:gpt-4o-mini": _list(0.30, 0.15, 1.20),
    "gpt-4o": _list(2.50, 1.25, 10.00),
    "ft:gpt-4o": _list(3.75, 1.875, 15.00),
    "gpt-4.1": _list(2.00, 0.50, 8.00),
    "ft:gpt-4.1": _list(3.00, 0.75, 12.00),
    "gpt-4.1-mini": _list(0.40, 0.10, 1.60),
    "ft:gpt-4.1-mini": _list(0.80, 0.20, 3.20),
    "gpt-4.1-nano": _list(0.10, 0.025, 0.40),
    "ft:gpt-4.1-nano": _list(0.20, 0.05, 0.80),
    "o4-mini": _list(1.10, 0.275, 4.40),
    "o3": _list(2.00, 0.50, 8.00),
    "text-embedding-3-small": Price(input_per_1m=0.02, output_per_1m=0.0, batch_discount=0.5,
                                    source=f"OpenAI list price, {PRICES_AS_OF}"),
    "text-embedding-3-large": Price(input_per_1m=0.13, output_per_1m=0.0, batch_discount=0.5,
                                    source=f"OpenAI list price, {PRICES_AS_OF}"),
}  # fmt: skip


def lookup(model: str, *, configured: Price | None = None, table: dict[str, Price] | None = None) -> Price | None:
    """The price of ``model``: the suite's own setting first, then the table (exact id, then a dated
    snapshot's base id such as ``gpt-4o-mini-2024-07-18`` -> ``gpt-4o-mini``, then ``ft:BASE``)."""
    if configured is not None:
        return configured
    table = DEFAULT_PRICES if table is None else table
    if model in table:
        return table[model]
    if model.startswith("ft:"):
        base = model.split(":")[1]
        return table.get(f"ft:{base}")
    for known in sorted(table, key=len, reverse=True):  # the longest id that prefixes a dated snapshot
        if model.startswith(known + "-") and model[len(known) + 1 : len(known) + 2].isdigit():
            return table[known]
    return None
