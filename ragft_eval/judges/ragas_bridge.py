"""ragas's LLM, built on the one model interface instead of a second OpenAI client.

ragas (through instructor) calls ``chat.completions.create(**openai_kwargs)``.  :func:`ragas_llm` hands
it a ``create`` that turns those arguments into a :class:`ModelRequest`, sends it through
:meth:`Model.call` (so ragas's calls take the same turns, limits and, later, cache and retries as every
other call) and gives back the OpenAI response object instructor parses.  Each call is tallied in the
:class:`CallTally` of the score being computed, including transport failures, so that a judge outage is
an ``error`` and not a shrinking n.
"""

from __future__ import annotations

import contextvars
from dataclasses import dataclass
from typing import Any

import openai

from ..errors import EndpointError, RunStopped
from ..llm import Model, ModelRequest

# openai arguments instructor sends in JSON modes that map onto a ModelRequest; anything else is refused
_SAMPLING = ("max_tokens", "temperature", "top_p", "seed", "stop", "response_format")


@dataclass
class CallTally:
    """ragas's model calls for one score: how many, their tokens, and the transport failures among them."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    unreported: int = 0  # calls whose usage the endpoint did not report
    cost_usd: float = 0.0  # at the judge model's price
    unpriced: int = 0  # calls without a cost (the model has no price, or did not report what it is priced by)
    stopped: Exception | None = None  # the run stopped itself (a budget cap) during a call
    failures: int = 0
    last_failure: str | None = None

    def as_details(self) -> dict[str, int | None]:
        """Calls and tokens for the metric's details; tokens are None when a call did not report them (a
        missing count is not a 0)."""
        known = self.unreported == 0
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens if known else None,
                "completion_tokens": self.completion_tokens if known else None,
                "cost_usd": self.cost_usd if self.unpriced == 0 else None}  # fmt: skip


TALLY: contextvars.ContextVar[CallTally | None] = contextvars.ContextVar("ragas_tally", default=None)


def request_from_openai(kwargs: dict[str, Any]) -> ModelRequest:
    """The :class:`ModelRequest` of an ``openai`` ``chat.completions.create`` call."""
    unknown = set(kwargs) - {"model", "messages", "n", *_SAMPLING}
    if unknown:
        raise TypeError(f"ragas bridge: unsupported chat arguments {sorted(unknown)}")
    if kwargs.get("n", 1) != 1:
        raise TypeError("ragas bridge: n > 1 is not supported")
    fields = {k: kwargs[k] for k in _SAMPLING if kwargs.get(k) is not None}
    if "stop" in fields:
        stop = fields["stop"]
        fields["stop"] = (stop,) if isinstance(stop, str) else tuple(stop)
    messages = [{"role": m["role"], "content": m["content"] or ""} for m in kwargs["messages"]]
    return ModelRequest.chat(messages, **fields)


def ragas_llm(model: Model, *, temperature: float, max_tokens: int) -> Any:
    """A ragas ``InstructorLLM`` whose every call goes through ``model.call``."""
    import instructor
    from openai.types.chat import ChatCompletion
    from ragas.llms.base import InstructorLLM, InstructorModelArgs

    async def create(**kwargs: Any) -> ChatCompletion:
        tally = TALLY.get()
        try:
            out = await model.call(request_from_openai(kwargs))
        except RunStopped as exc:  # ragas and instructor must not swallow it: the scorer re-raises it
            if tally is not None:
                tally.stopped = exc
            raise
        except (openai.OpenAIError, EndpointError, OSError) as exc:  # the endpoint failed, not the parse
            if tally is not None:
                tally.failures += 1
                tally.last_failure = f"{type(exc).__name__}: {exc}"[:300]
            raise
        if tally is not None:
            tally.calls += 1
            if out.prompt_tokens is None or out.completion_tokens is None:
                tally.unreported += 1
            else:
                tally.prompt_tokens += out.prompt_tokens
                tally.completion_tokens += out.completion_tokens
            price = getattr(model, "cost", None)  # a Model that can price its calls (ModelClient can)
            usd = price(out.prompt_tokens, out.completion_tokens, latency_s=out.latency_s) if price else None
            if usd is None:
                tally.unpriced += 1
            else:
                tally.cost_usd += usd
        usage = None
        if out.prompt_tokens is not None and out.completion_tokens is not None:
            usage = {"prompt_tokens": out.prompt_tokens, "completion_tokens": out.completion_tokens,
                     "total_tokens": out.prompt_tokens + out.completion_tokens}  # fmt: skip
        return ChatCompletion.model_validate({
            "id": "ragft", "object": "chat.completion", "created": 0, "model": out.served_model or kwargs["model"],
            "choices": [{"index": 0, "finish_reason": out.finish_reason or "stop",
                         "message": {"role": "assistant", "content": out.text}}],
            "usage": usage,
        })  # fmt: skip

    # JSON_SCHEMA sends {"type": "json_object", "schema": ...}, which llama.cpp enforces as a grammar
    mode = instructor.Mode.JSON_SCHEMA if getattr(model, "is_local", False) else instructor.Mode.JSON
    client = instructor.AsyncInstructor(client=None, create=instructor.patch(create=create, mode=mode), mode=mode)
    args = InstructorModelArgs(temperature=temperature, top_p=1.0, max_tokens=max_tokens)
    model_id = getattr(getattr(model, "spec", None), "model", model.name)
    return InstructorLLM(client=client, model=model_id, provider="openai", model_args=args, max_retries=1)
