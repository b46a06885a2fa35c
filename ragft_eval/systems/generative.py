"""The LLM-backed architectures: ``prompt_only`` and ``rag`` (and, on the same class, ``finetuned``
and ``hybrid``, which add a LoRA adapter).

One class, four registered names, because the four differ only in two switches: a retriever (RAG)
and an adapter (fine-tuned).  Each call records the exact context given to the model, the retrieved
doc ids and scores, token usage, latency (the model call's, not time queued), cost and model identity
(the configured id, and the model id and ``system_fingerprint`` the server says it served).

The model's ``api`` decides the call: ``completions`` renders the template's completion form (with the
`` {`` prefill for JSON cases and the newline stop for short answers); ``chat`` renders its chat form
(instructions, few-shot turns, context and question) and asks for JSON with a ``response_format`` (the
case's JSON Schema where it has one).  See :mod:`ragft_eval.prompts`.

Retrieval fetches ``depth`` passages (default max(k, 10)) and records their documents (first
occurrence, best first) so that recall@10 means something for a k=3 system; the model sees the top
``k`` passages.  ``min_score`` is a retrieval guardrail: when the best passage scores below it the
system abstains ("I don't know.", ``extra.abstained``) without calling the model.
"""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path
from typing import Any

from .. import prompts
from ..errors import ConfigError
from ..llm import ModelRequest
from ..records import Case, Response, RetrievedDoc, Usage
from ..registry import register
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
        template: str | dict[str, str] | None = None,
        few_shot: int = 0,
        max_tokens: int | None = None,
        json_max_tokens: int = 160,
        code_max_tokens: int = 256,
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
        default = prompts.RAG if self.uses_retriever else prompts.PROMPT_ONLY
        self.template = prompts.template_from_config(template, default, setting="template")
        # what a RAG system sends for a case it does not retrieve for (an extraction case: the source is
        # in the question): the prompt-only form
        self.closed_book = prompts.PROMPT_ONLY
        prompts.check_template(self.template, needs_context=self.uses_retriever, setting="template")
        self.few_shot = few_shot
        self.max_tokens = max_tokens
        self.json_max_tokens = json_max_tokens
        self.code_max_tokens = code_max_tokens
        self.adapter = adapter
        self.logprobs = logprobs
        # completions: generation stops where the case's format ends (prompts.stop_for: a base model rambles
        # on otherwise).  Chat: the assistant's turn ends the answer; only stops set explicitly are sent.
        self.stop_config = tuple(stop) if stop is not None else None
        self.json_stop_config = tuple(json_stop) if json_stop is not None else None
        self._ctx: RunContext | None = None
        self._client: Any = None

    @property
    def api(self) -> str:
        return self._client.api if self._client is not None else "completions"

    def stop_for(self, case: Case) -> tuple[str, ...] | None:
        """The stop sequences of ``case``'s request: the suite's (``stop``, ``json_stop``) where set, else
        where the case's format ends (:func:`ragft_eval.prompts.stop_for`) on completions, none on chat."""
        explicit = self.json_stop_config if prompts.expects_json(case) else self.stop_config
        if explicit is not None:
            return explicit
        return prompts.stop_for(case) if self.api == "completions" else None

    def max_tokens_for(self, case: Case) -> int | None:
        if prompts.expects_json(case):
            return self.json_max_tokens
        return self.code_max_tokens if prompts.is_code(case) else self.max_tokens

    def retrieves_for(self, case: Case) -> bool:
        """Whether the system retrieves for ``case``: a RAG system does, except for an extraction case
        (JSON) without relevant documents, whose source is the message in its question, not the corpus."""
        return self.uses_retriever and not (prompts.expects_json(case) and not case.relevant_docs)

    async def start(self, ctx: RunContext) -> None:
        self._ctx = ctx
        spec = ctx.models.specs.get(self.model)
        if self.uses_adapter and self.adapter is None and (spec is None or spec.local is not None):
            raise ConfigError(
                f"system {self.name!r}: adapter: a {self.kind} system on a local model needs a LoRA adapter "
                "(a GGUF file or a fine-tune config); a remote fine-tuned model id (ft:...) needs none"
            )
        lora = await self._adapter_path(ctx) if self.adapter else None
        served = self.model if self.adapter is None else f"{self.model} + {Path(self.adapter).stem}"
        with ctx.phase("server", served):
            self._client = await ctx.models.get(self.model, lora=lora)
        if self._client.is_local:
            # a local server answers one request at a time: more cases in flight only queue, and the queue
            # would eat into the per-case timeout
            self.max_concurrency = 1
        elif spec is not None and spec.batch is not None:
            # a batch model's calls wait in the provider's queue, not here: every case may be in flight at
            # once, so that its calls go out together in one batch
            self.max_concurrency, self.batched = spec.batch.max_requests, True
        if self.uses_retriever:  # build indexes now: their hashes go into the manifest, their time not into latency
            for gs in ctx.golden_sets.values():
                if gs.corpus:
                    with ctx.phase("index", f"{self.retriever} on {gs.name}"):
                        await ctx.retrievers.get(self.retriever, gs, self.corpus_as_of)

    async def _adapter_path(self, ctx: RunContext) -> Path:
        path = ctx.resolve(self.adapter)
        if path.suffix in (".yaml", ".yml"):
            from ..finetune.artifact import ensure_artifact, work_of

            with ctx.phase("fine-tune", path.stem):  # seconds when the adapter is cached
                artifact = await ensure_artifact(path)
            work = work_of(artifact)
            if all(w.detail.get("key") != artifact.key for w in ctx.one_time):  # one adapter, several systems
                ctx.one_time.append(work)
            return artifact.path
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
            "api": self.api,
            "template_hash": prompts.template_hash(self.template, self.api),
            "stop": list(self.stop_config) if self.stop_config is not None else "per case (prompts.stop_for)",
            "json_stop": list(self.json_stop_config) if self.json_stop_config is not None else "per case",
            "code_max_tokens": self.code_max_tokens,
            "adapter": self.adapter,
        }

    async def plan_start(self, ctx: RunContext) -> None:
        """Get ready to say what the system *would* send (``--dry-run``): the retriever's index is built
        (local, free), but no model is started, no adapter trained and nothing is sent."""
        self._ctx = ctx
        self._client = ctx.models.unstarted(self.model)
        if self.uses_retriever:
            for gs in ctx.golden_sets.values():
                if gs.corpus:
                    await ctx.retrievers.get(self.retriever, gs, self.corpus_as_of)

    async def planned_requests(self, case: Case) -> list[tuple[str, ModelRequest]]:
        """``(model, request)`` the system would send for ``case`` (after :meth:`plan_start`); none when the
        retrieval guardrail would abstain."""
        passages: list[str] = []
        if self.retrieves_for(case):
            hits = await self.retrieve(case)
            if self.min_score is not None and (not hits or (hits[0].score or 0.0) < self.min_score):
                return []
            passages = [p.text for p in hits[: self.k]]
        return [(self.model, self.request(case, passages)[0])]

    def examples(self, case: Case) -> list[Case]:
        """Up to ``few_shot`` train cases of the case's golden set: those of the same task type and schema
        first (an extraction case gets an example of its own schema), then the same task type, then the
        rest, in file order.  Train cases dated before a change (``as_of``: their facts are the old ones)
        are never examples: they would put stale facts in the prompt."""
        if not self.few_shot or self._ctx is None:
            return []
        train = [c for c in self._ctx.golden_sets[case.golden_set].select(splits=["train"]) if c.as_of is None]

        def rank(c: Case) -> int:
            same_task = c.task_type == case.task_type
            return 0 if same_task and c.schema_ref == case.schema_ref else 1 if same_task else 2

        return sorted(train, key=rank)[: self.few_shot]

    async def retrieve(self, case: Case) -> list:
        pool = self._ctx.retrievers
        retriever = await pool.get(self.retriever, self._ctx.golden_sets[case.golden_set], self.corpus_as_of)
        return await retriever.retrieve(case.question, self.depth)

    async def answer(self, case: Case) -> Response:
        fields: dict[str, Any] = {"model": {"id": self.model}}
        passages: list = []
        if self.retrieves_for(case):
            t0 = time.perf_counter()
            hits = await self.retrieve(case)
            retrieval_s = time.perf_counter() - t0
            docs: dict[str, float | None] = {}
            for p in hits:
                docs.setdefault(p.doc_id, p.score)
            fields["retrieved"] = tuple(
                RetrievedDoc(doc_id=d, score=s, rank=r) for r, (d, s) in enumerate(docs.items(), 1)
            )
            passages = [p.text for p in hits[: self.k]]
            fields["context"] = prompts.context_block(passages)
            # the documents the model was actually given (the top k passages), apart from the longer list
            # recorded for recall@10: what failure attribution asks about
            context_docs = list(dict.fromkeys(p.doc_id for p in hits[: self.k]))
            if self.min_score is not None and hits and hits[0].score is None:
                raise ConfigError(f"system {self.name!r}: min_score: retriever {self.retriever!r} gives no scores "
                                  "(its hits carry no score)")  # fmt: skip
            if self.min_score is not None and (not hits or hits[0].score < self.min_score):
                best = hits[0].score if hits else None
                # the guardrail's own time is the retrieval it took: no model was called
                return self.response(
                    case, answer=prompts.REFUSAL, usage=Usage(calls=0), latency_s=retrieval_s, cost_usd=0.0,
                    extra={"abstained": True, "best_score": best, "context_doc_ids": context_docs}, **fields,
                )  # fmt: skip
        request, prefix = self.request(case, passages)
        out = await self._client.call(request)
        answer = (prefix + out.text).strip()
        if self.api == "completions":
            answer = prompts.shape_answer(case, answer)
        extra: dict[str, Any] = {"finish_reason": out.finish_reason, "attempts": out.attempts}
        if out.cached:  # replayed from the call cache: latency, usage and cost are the original call's
            extra["cached"] = True
        if out.retried:  # the short reasons of the failed attempts ("429", "timeout"...)
            extra["retried"] = list(out.retried)
        if "retrieved" in fields:
            extra["context_doc_ids"] = context_docs
        if self.logprobs:
            extra["mean_logprob"] = out.mean_logprob
        return self.response(
            case,
            answer=answer,
            usage=Usage(prompt_tokens=out.prompt_tokens, completion_tokens=out.completion_tokens, calls=1),
            latency_s=out.latency_s,
            cost_usd=self._client.cost(out.prompt_tokens, out.completion_tokens, latency_s=out.latency_s),
            extra=extra,
            **{**fields, "model": out.identity(self.model, self._client.spec.model)},
        )

    def request(self, case: Case, passages: list[str]) -> tuple[ModelRequest, str]:
        """The model request for ``case`` (and the prefix its completion continues; empty for chat)."""
        examples = self.examples(case)
        json_case = prompts.expects_json(case)
        max_tokens, stop = self.max_tokens_for(case), self.stop_for(case)
        template = self.template
        if self.uses_retriever and not self.retrieves_for(case):  # no passages: the prompt without a context
            template = self.closed_book
        if self.api == "completions":
            prompt, prefix = prompts.render(template, case, examples=examples, passages=passages)
            return ModelRequest.completion(prompt, max_tokens=max_tokens, stop=stop or (),
                                           logprobs=self.logprobs), prefix  # fmt: skip
        messages = prompts.render_chat(template, case, examples=examples, passages=passages)
        fmt = self.response_format(case) if json_case else None
        return ModelRequest.chat(messages, max_tokens=max_tokens, stop=stop or (), response_format=fmt,
                                 logprobs=self.logprobs), ""  # fmt: skip

    def response_format(self, case: Case) -> dict[str, Any]:
        """``response_format`` of a JSON case: its JSON Schema where it has one, else any JSON object."""
        gs = self._ctx.golden_sets.get(case.golden_set) if self._ctx else None
        schema = gs.schemas.get(case.schema_ref) if gs is not None and case.schema_ref else None
        if schema is None:
            return {"type": "json_object"}
        name = "".join(ch if ch.isalnum() or ch in "_-" else "_" for ch in (case.schema_ref or "answer"))[:64]
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": False}}


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
