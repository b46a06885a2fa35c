"""``ragft-eval run SUITE --dry-run``: what a run would call and cost, before any model call.

For each system and for the judge: the number of calls, their input tokens counted with the model's own
tokenizer (OpenAI's encodings for OpenAI models, from the ``bpe-openai`` package, which ships them, so no
download is needed; the GGUF's vocabulary for a local model; otherwise characters / 4, and the table
says which), an output-token estimate (the mean of the cache's stored calls of that model where it has
some, else ``max_tokens`` as the upper bound) and the cost at the model's price.  Calls the cache
already holds (and would replay under the run's policy) are subtracted.  Nothing is started: no local
server, no fine-tune, no request; retrieval indexes are built, since the prompts of RAG systems hold
what they retrieve (local and free).

What cannot be known before the run is said, not guessed: a routed system's calls are counted for both
stages (an upper bound), ``python`` and ``replay`` systems make no call the harness sees, a local model's
cost depends on the measured time, and ragas faithfulness is counted as two judge calls per scored case
(statements, then verdicts).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .judges import JudgeClient
from .judges import templates as judge_templates
from .llm import ModelPool, ModelRequest
from .llm.cache import CallCache, cache_key, model_identity
from .llm.client import ModelClient
from .metrics import build_metrics, is_pairwise
from .retrieval import RetrieverPool
from .runner import Selection, Suite, build_systems, load_suite
from .systems import RunContext

MEASURED_TIME = "priced by measured time: not known before the run"

@dataclass
class Estimate:
    """What one system (or the judge) would call."""

    who: str
    model: str | None
    calls: int = 0
    cached: int = 0
    input_tokens: int = 0
    output_tokens: float = 0.0
    tokenizer: str = ""
    output_source: str = ""
    cost_usd: float | None = 0.0
    notes: list[str] = field(default_factory=list)

    def add(self, cost: float | None) -> None:
        self.cost_usd = None if cost is None or self.cost_usd is None else self.cost_usd + cost


class TokenCounter:
    """Counts a request's input tokens with the best tokenizer at hand for its model."""

    def __init__(self) -> None:
        self._openai: dict[str, Any] = {}
        self._llama: dict[str, Any] = {}

    def _openai_encoding(self, model_id: str) -> Any:
        import bpe_openai

        base = model_id.split(":")[1] if model_id.startswith("ft:") else model_id
        if base not in self._openai:
            try:
                self._openai[base] = bpe_openai.encoding_for_model(base)
            except Exception:  # not an OpenAI model id: no OpenAI tokenizer applies
                self._openai[base] = None
        return self._openai[base]

    def _llama_vocab(self, client: ModelClient) -> Any:
        from .llm.server import resolve_gguf

        gguf = resolve_gguf(client.spec.local.gguf, base_dir=client.base_dir)
        if str(gguf) not in self._llama:
            from llama_cpp import Llama

            self._llama[str(gguf)] = Llama(model_path=str(gguf), vocab_only=True, verbose=False)
        return self._llama[str(gguf)]

    def count(self, client: ModelClient, request: ModelRequest) -> tuple[int, str]:
        texts = [request.prompt] if request.prompt is not None else [m.content for m in request.messages]
        if client.spec.local is not None:
            with contextlib.suppress(Exception):  # the local extra may be missing: fall back, and say so
                vocab = self._llama_vocab(client)
                return sum(len(vocab.tokenize(t.encode(), add_bos=False)) for t in texts), "the GGUF's own vocabulary"
        encoding = self._openai_encoding(client.spec.model)
        if encoding is not None:
            # OpenAI's chat format adds about 3 tokens per message and 3 for the reply's priming
            overhead = 3 * len(request.messages) + 3 if request.messages else 0
            return sum(len(encoding.encode(t)) for t in texts) + overhead, f"OpenAI {encoding.name}"
        return sum(len(t) for t in texts) // 4, "estimate: characters / 4"


def _judge_prompt(kind: str) -> str:
    prompts = {"judge_grade": judge_templates.GRADE, "judge_style": judge_templates.STYLE}
    return prompts.get(kind, judge_templates.PAIRWISE)


async def estimate(suite: Suite, *, selection: Selection, cache: str | None = None) -> list[Estimate]:
    """Per system and for the judge, what the run would call and cost (see the module docstring)."""
    golden_sets = suite.load_golden_sets()
    cases = selection.cases(golden_sets.values())
    spec = suite.cache_spec(cache)
    cache_dir = suite.resolve(spec.dir)
    calls = CallCache(cache_dir) if (cache_dir / "cache.sqlite").exists() else None
    models = ModelPool(suite.models, base_dir=suite.base_dir)
    index_dir = suite.resolve(suite.cache_dir)
    ctx = RunContext(base_dir=suite.base_dir, golden_sets=golden_sets, cache_dir=index_dir, models=models,
                     retrievers=RetrieverPool(suite.retrievers, cache_dir=index_dir))  # fmt: skip
    counter = TokenCounter()
    out: list[Estimate] = []
    systems = build_systems(suite, selection.systems)

    def account(est: Estimate, client: ModelClient, request: ModelRequest, policy: str) -> None:
        tokens, how = counter.count(client, request)
        est.calls += 1
        est.tokenizer = how
        key_hit = calls is not None and policy in ("read_write", "read") and client.spec.local is None and \
            calls.contains(cache_key(model_identity(client.describe()), request))  # fmt: skip
        if key_hit:
            est.cached += 1
            return
        max_tokens = request.max_tokens or client.spec.max_tokens
        n, mean = calls.completion_tokens(client.spec.model) if calls is not None else (0, None)
        out_tokens = mean if mean is not None else max_tokens
        est.output_source = (f"mean of {n} cached calls" if mean is not None else "max_tokens (upper bound)")
        est.input_tokens += tokens
        est.output_tokens += out_tokens
        price = client.spec.resolved_price
        if price is None:
            est.add(None)
        elif price.usd_per_hour is not None:
            est.add(None)
            if MEASURED_TIME not in est.notes:  # once per system, not once per call
                est.notes.append(MEASURED_TIME)
        else:
            est.add(price.cost(prompt_tokens=tokens, completion_tokens=round(out_tokens)))

    answer_budget = 0
    for name, system in systems.items():
        m = getattr(system, "model", None) or getattr(getattr(system, "first", None), "model", None)
        est = Estimate(who=name, model=suite.models[m].model if m else None)
        if not hasattr(system, "planned_requests"):
            est.notes.append(f"a {getattr(system, 'kind', 'user')} system: no model call the harness sees")
            est.cost_usd = None
            out.append(est)
            continue
        await system.plan_start(ctx)
        if getattr(system, "kind", "") == "routed":
            est.notes.append("both stages counted: how many cases fall back is known only after the run")
        for _, case in cases:
            for model, request in await system.planned_requests(case):
                client = models.unstarted(model)
                answer_budget = max(answer_budget, request.max_tokens or client.spec.max_tokens)
                account(est, client, request, spec.systems)
        out.append(est)

    metrics, _ = build_metrics(suite)
    judged = [m for m in metrics if m.needs_judge]
    if judged:
        jspec = suite.judge_spec()
        client = models.unstarted(jspec.model)
        judge = JudgeClient(client, jspec)
        est = Estimate(who="judge", model=suite.models[jspec.model].model)
        filler = "x " * answer_budget  # the answer is not known before the run: its upper bound stands in
        for metric in judged:
            kind = type(getattr(metric, "metric", metric)).__name__
            for name, system in systems.items():
                records = system.records
                if metric.needs is not None and records is not None and metric.needs not in records:
                    continue  # unscored for this system (it never records what the metric needs): no call
                for _, case in cases:
                    if metric.undefined_reason(case) or (is_pairwise(metric) and name == metric.baseline):
                        continue
                    if kind == "Faithfulness":
                        n_calls = 2
                        prompt = f"{case.question}\n{filler}\n{filler}"
                    else:
                        n_calls = jspec.repeats * (2 if is_pairwise(metric) else 1)
                        prompt = f"{_judge_prompt(metric.name)}\n{case.question}\n{filler}"
                    for r in range(n_calls):
                        account(est, client, judge.request(prompt, {"type": "object"}, r), spec.judge)
        est.notes.append("judge prompts counted with each answer at its max_tokens (an upper bound)")
        out.append(est)
    if calls is not None:
        calls.close()
    return out


def render(estimates: Iterable[Estimate]) -> str:
    """The dry run as a Markdown table, then its notes."""
    lines = ["| who | model | calls | cached | input tokens | tokenizer | output tokens (est.) | output from "
             "| cost USD |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    notes = []
    total: float | None = 0.0
    for e in estimates:
        cost = "not priced" if e.cost_usd is None else f"{e.cost_usd:.6f}"
        total = None if e.cost_usd is None or total is None else total + e.cost_usd
        lines.append(f"| {e.who} | {e.model or '—'} | {e.calls} | {e.cached} | {e.input_tokens} | {e.tokenizer or '—'} "
                     f"| {e.output_tokens:.0f} | {e.output_source or '—'} | {cost} |")  # fmt: skip
        notes += [f"{e.who}: {n}" for n in e.notes]
    shown = "not known (some calls are not priced)" if total is None else f"${total:.6f}"
    lines.append(f"\ntotal projected cost: {shown}")
    return "\n".join(lines + [f"- {n}" for n in notes]) + "\n"


async def dry_run(path: str | Path, *, selection: Selection, cache: str | None = None) -> str:
    return render(await estimate(load_suite(path), selection=selection, cache=cache))
