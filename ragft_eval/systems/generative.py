"""The LLM-backed architectures: ``prompt_only`` and ``rag`` (and, on the same class, ``finetuned``
and ``hybrid``, which add a LoRA adapter).

One class, four registered names, because the four differ only in two switches: a retriever (RAG)
and an adapter (fine-tuned).  Each call records the exact context given to the model, the retrieved
doc ids and scores, token usage, latency (the model call's, not time queued), cost and model identity.

Retrieval fetches ``depth`` passages (default max(k, 10)) and records their documents (first
occurrence, best first) so that recall@10 means something for a k=3 system; the model sees the top
``k`` passages.  ``min_score`` is a retrieval guardrail: when the best passage scores below it the
system abstains ("I don't know.", ``extra.abstained``) without calling the model.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import Case, Response, RetrievedDoc, Usage
from ..registry import register
from . import prompts
from ._base import BaseSystem, RunContext


class GenerativeSystem(BaseSystem):
    kind = "generative"
    uses_retriever = False
    uses_adapter = False

    def __init__(
        self,
        *,
        name: str,
        model: str,
        retriever: str | None = None,
        k: int = 3,
        depth: int | None = None,
        min_score: float | None = None,
        corpus_as_of: date | None = None,
        template: str | None = None,
        few_shot: int = 0,
        max_tokens: int | None = None,
        json_max_tokens: int = 160,
        adapter: str | None = None,
        logprobs: bool = False,
        stop: list[str] | None = None,
        json_stop: list[str] | None = None,
    ):
        if self.uses_retriever and retriever is None:
            raise TypeError(f"{self.kind} needs retriever: the name of a retriever defined under retrievers")
        if not self.uses_retriever and retriever is not None:
            raise TypeError(f"{self.kind} takes no retriever (use rag or hybrid)")
        if k < 1:
            raise TypeError(f"k: expected k >= 1, got {k}")
        if few_shot < 0:
            raise TypeError(f"few_shot: expected >= 0, got {few_shot}")
        self.name = name
        self.model = model
        self.retriever = retriever
        self.records = frozenset({"retrieved", "context"} if self.uses_retriever else ())
        self.k = k
        self.depth = max(depth or 10, k)
        self.min_score = min_score
        self.corpus_as_of = corpus_as_of
        self.template = template or (prompts.RAG if self.uses_retriever else prompts.PROMPT_ONLY)
        prompts.check_template(self.template, needs_context=self.uses_retriever, setting="template")
        self.few_shot = few_shot
        self.max_tokens = max_tokens
        self.json_max_tokens = json_max_tokens
        self.adapter = adapter
        self.logprobs = logprobs
        # a short answer is one line: stop at the first newline (a base model rambles on otherwise)
        self.stop = tuple(stop) if stop is not None else prompts.TEXT_STOP
        self.json_stop = tuple(json_stop) if json_stop is not None else prompts.JSON_STOP
        self._ctx: RunContext | None = None
        self._client: Any = None

    async def start(self, ctx: RunContext) -> None:
        self._ctx = ctx
        spec = ctx.services["models"].specs.get(self.model)
        if self.uses_adapter and self.adapter is None and (spec is None or spec.local is not None):
            raise ConfigError(
                f"system {self.name!r}: adapter: a {self.kind} system on a local model needs a LoRA adapter "
                "(a GGUF file or a fine-tune config); a remote fine-tuned model id (ft:...) needs none"
            )
        lora = await self._adapter_path(ctx) if self.adapter else None
        self._client = await ctx.services["models"].get(self.model, lora=lora)
        if self._client.is_local:
            # a local server answers one request at a time: more cases in flight only queue, and the queue
            # would eat into the per-case timeout
            self.max_concurrency = 1
        if self.uses_retriever:  # build indexes now: their hashes go into the manifest, their time not into latency
            for gs in ctx.golden_sets.values():
                if gs.corpus:
                    await ctx.services["retrievers"].get(self.retriever, gs, self.corpus_as_of)

    async def _adapter_path(self, ctx: RunContext) -> Path:
        path = ctx.resolve(self.adapter)
        if path.suffix in (".yaml", ".yml"):
            from ..finetune import ensure_adapter

            return await ensure_adapter(path, ctx)
        if not path.is_file():
            raise ConfigError(f"system {self.name!r}: adapter: no LoRA file at {str(path)!r}")
        return path

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self._client.describe() if self._client else self.model,
            "retriever": self.retriever,
            "k": self.k,
            "depth": self.depth,
            "min_score": self.min_score,
            "corpus_as_of": str(self.corpus_as_of) if self.corpus_as_of else None,
            "few_shot": self.few_shot,
            "template_hash": prompts.template_hash(self.template),
            "stop": list(self.stop),
            "json_stop": list(self.json_stop),
            "adapter": self.adapter,
        }

    def examples(self, case: Case) -> list[Case]:
        """Up to ``few_shot`` train cases of the case's golden set, same task type first, in file order."""
        if not self.few_shot or self._ctx is None:
            return []
        train = self._ctx.golden_sets[case.golden_set].select(splits=["train"])
        same = [c for c in train if c.task_type == case.task_type]
        other = [c for c in train if c.task_type != case.task_type]
        return (same + other)[: self.few_shot]

    async def retrieve(self, case: Case) -> list:
        pool = self._ctx.services["retrievers"]
        retriever = await pool.get(self.retriever, self._ctx.golden_sets[case.golden_set], self.corpus_as_of)
        return await retriever.retrieve(case.question, self.depth)

    async def answer(self, case: Case) -> Response:
        fields: dict[str, Any] = {"model": {"id": self.model}}
        passages: list = []
        if self.uses_retriever:
            hits = await self.retrieve(case)
            docs: dict[str, float] = {}
            for p in hits:
                docs.setdefault(p.doc_id, p.score)
            fields["retrieved"] = tuple(
                RetrievedDoc(doc_id=d, score=s, rank=r) for r, (d, s) in enumerate(docs.items(), 1)
            )
            passages = [p.text for p in hits[: self.k]]
            fields["context"] = prompts.context_block(passages)
            if self.min_score is not None and (not hits or hits[0].score < self.min_score):
                best = hits[0].score if hits else None
                return self.response(
                    case, answer=prompts.REFUSAL, usage=Usage(calls=0), latency_s=0.0, cost_usd=0.0,
                    extra={"abstained": True, "best_score": best}, **fields,
                )  # fmt: skip
        prompt, prefix = prompts.render(self.template, case, examples=self.examples(case), passages=passages)
        max_tokens = self.json_max_tokens if prefix else self.max_tokens
        stop = self.json_stop if prefix else self.stop
        out = await self._client.complete(prompt, max_tokens=max_tokens, stop=stop, logprobs=self.logprobs)
        answer = (prefix + out.text).strip()
        extra: dict[str, Any] = {"finish_reason": out.finish_reason}
        if self.logprobs:
            extra["mean_logprob"] = out.mean_logprob
        return self.response(
            case,
            answer=answer,
            usage=Usage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens, calls=1),
            latency_s=out.latency_s,
            cost_usd=self._client.cost(out.prompt_tokens, out.completion_tokens),
            extra=extra,
            **fields,
        )


@register("system", "prompt_only")
class PromptOnlySystem(GenerativeSystem):
    """The model alone, with an optional few-shot block from the train split."""

    kind = "prompt_only"


@register("system", "rag")
class RAGSystem(GenerativeSystem):
    """Retrieve top-k passages, put them in the prompt, generate."""

    kind, uses_retriever = "rag", True


@register("system", "finetuned")
class FineTunedSystem(GenerativeSystem):
    """The base model with a LoRA adapter (its own llama.cpp server), or a fine-tuned model id on an
    OpenAI-compatible endpoint (``model`` names a remote model such as ``ft:gpt-4o-mini:org::id``, no adapter)."""

    kind, uses_adapter = "finetuned", True


@register("system", "hybrid")
class HybridSystem(GenerativeSystem):
    """The fine-tuned model with RAG (same retrieval settings as ``rag``)."""

    kind, uses_retriever, uses_adapter = "hybrid", True, True
