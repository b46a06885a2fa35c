"""A model as one role uses it: the systems under test, or the judge.

One :class:`ModelClient` (one server, one endpoint limiter) may serve both roles, but each role has its
own cache policy (a nightly run calls the systems afresh while the judge's verdicts may be replayed), so
:class:`ModelPool.get` hands each role a :class:`RoleModel`: the shared client, through the run's call
cache with the role's policy, and through the run's budget (and, for a ``batch:`` model, through its
:class:`~ragft_eval.llm.batch.BatchQueue`).  It implements the one model interface, so
nothing that calls a model can tell, or bypass it.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from .batch import BatchQueue
from .budget import Budget
from .cache import CachePolicy, CallCache, Role, cache_key, model_identity
from .client import ModelClient
from .interface import Api, ModelRequest, ModelResponse
from .resilience import estimate_tokens


class RoleModel:
    """``client`` as ``role`` uses it (cache policy, budget); every other attribute is the client's."""

    def __init__(self, client: ModelClient, role: Role, *, cache: CallCache | None, policy: CachePolicy,
                 budget: Budget | None, batch: BatchQueue | None = None) -> None:  # fmt: skip
        self._client, self.role, self._batch = client, role, batch
        self._cache, self.policy, self._budget = cache, policy, budget
        self._identity: dict[str, Any] | None = None
        self._latencies: deque[float] = deque(maxlen=20)  # recent call times: a local call's projected cost

    @property
    def name(self) -> str:
        return self._client.name

    @property
    def api(self) -> Api:
        return self._client.api

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._client, attr)

    def identity(self) -> dict[str, Any]:
        """What identifies the model for the cache (after start: a local server's file hashes)."""
        if self._identity is None:
            self._identity = model_identity(self._client.describe())
        return self._identity

    def projected_cost(self, request: ModelRequest) -> float | None:
        """What the call may cost at most, before it is sent (estimated prompt tokens + max_tokens)."""
        max_tokens = request.max_tokens or self._client.spec.max_tokens
        tokens = estimate_tokens(request, max_tokens)
        typical = max(self._latencies, default=None)  # a local model: its slowest recent call
        return self._client.cost(max(0, tokens - max_tokens), max_tokens, latency_s=typical if typical else 1.0)

    async def _send(self, request: ModelRequest) -> ModelResponse:
        reserved = 0.0
        if self._budget is not None:
            reserved = await self._budget.reserve(self.projected_cost(request), what=f"{self.role} {self.name}")
        try:
            if self._batch is not None:  # a batch model: the call joins the model's next Batch API job
                out = await self._batch.call(request, cache_key(self.identity(), request))
            else:
                out = await self._client.call(request)
        except BaseException:
            if self._budget is not None:
                self._budget.settle(reserved, None)
            raise
        if out.latency_s is not None:
            self._latencies.append(out.latency_s)
        if self._budget is not None:
            self._budget.settle(reserved, self._client.cost(out.prompt_tokens, out.completion_tokens,
                                                            latency_s=out.latency_s))  # fmt: skip
        return out

    async def call(self, request: ModelRequest) -> ModelResponse:
        if self._cache is None or self.policy == "off":
            return await self._send(request)
        identity = self.identity()
        return await self._cache.through(cache_key(identity, request), identity, self.policy,
                                         lambda: self._send(request))  # fmt: skip
