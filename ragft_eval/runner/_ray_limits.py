"""The limits of a run's endpoints shared by every process of a Ray run (:mod:`.ray_executor`).

One :class:`SharedLimits` actor holds, per endpoint, what one process's
:class:`~ragft_eval.llm.resilience.Endpoint` holds for itself: the AIMD concurrency limit and the
rpm/tpm leaky buckets.  :func:`share_endpoints` puts stand-ins for them into a model pool's endpoints,
so that every attempt of every worker (and of the driver) takes its slot and its rate from the actor,
and the cluster keeps the caps one process would.  Retries, their backoff and the circuit breaker stay
per process: they are about one caller's calls, not the endpoint's capacity.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..llm import ModelPool


class SharedLimits:
    """The limits of the run's endpoints for every process of a run (one Ray async actor for all of them:
    an actor is a process): per endpoint key, the AIMD concurrency limit and the rpm/tpm leaky buckets of
    :class:`~ragft_eval.llm.resilience.Endpoint`, here once.

    Slots are held per owner (a worker process): a dead owner's slots are given back (:meth:`forget`),
    and a slot granted to an owner that died while it waited is given back at once, so a killed worker
    does not shrink a cap for the rest of the run."""

    def __init__(self, endpoints: dict[str, tuple[int, float | None, float | None]]):
        from aiolimiter import AsyncLimiter

        from ..llm.resilience import AimdLimiter

        self.limiters = {key: AimdLimiter(cap) for key, (cap, _, _) in endpoints.items()}
        self.rates = {(key, which): AsyncLimiter(rate, 60) for key, (_, rpm, tpm) in endpoints.items()
                      for which, rate in (("rpm", rpm), ("tpm", tpm)) if rate}  # fmt: skip
        self.held: collections.Counter[tuple[str, str]] = collections.Counter()
        self.gone: set[str] = set()

    # every method is async: they then run on the actor's event loop, as the limiters' futures need
    async def acquire(self, key: str, owner: str) -> float:
        granted = await self.limiters[key].acquire()
        if owner in self.gone:
            self.limiters[key].release(granted, "cancelled")
        else:
            self.held[key, owner] += 1
        return granted

    async def release(self, key: str, owner: str, granted: float, outcome: str) -> None:
        if self.held[key, owner] > 0:  # else: a dead owner's slot, already given back
            self.held[key, owner] -= 1
            self.limiters[key].release(granted, outcome)  # type: ignore[arg-type]

    async def pause(self, key: str, seconds: float) -> None:
        self.limiters[key].pause(seconds)

    async def rate(self, key: str, which: str, amount: float) -> None:
        await self.rates[key, which].acquire(amount)

    async def forget(self, owner: str) -> None:
        self.gone.add(owner)
        for (key, who), n in list(self.held.items()):
            if who == owner:
                del self.held[key, who]
                for _ in range(n):
                    self.limiters[key].release(self.limiters[key].clock(), "cancelled")

    async def summary(self) -> dict[str, dict[str, Any]]:
        return {key: limiter.summary() for key, limiter in self.limiters.items()}


class _SharedLimiter:
    """Stands in for an Endpoint's :class:`~ragft_eval.llm.resilience.AimdLimiter`: the slot is the
    cluster's (:class:`SharedLimits`).  ``release`` and ``pause`` are sent without waiting (the endpoint
    calls them synchronously); a slot still coming when its waiter is cancelled is handed back."""

    def __init__(self, actor: Any, key: str, owner: str):
        self.actor, self.key, self.owner = actor, key, owner

    async def acquire(self) -> float:
        ref = self.actor.acquire.remote(self.key, self.owner)
        try:
            return await ref
        except asyncio.CancelledError:
            # Ray resolves ref before it runs release: the slot is given back once it is granted
            self.actor.release.remote(self.key, self.owner, ref, "cancelled")
            raise

    def release(self, granted: float, outcome: str) -> None:
        self.actor.release.remote(self.key, self.owner, granted, outcome)

    def pause(self, seconds: float) -> None:
        self.actor.pause.remote(self.key, seconds)


class _SharedRate:
    """Stands in for an Endpoint's rpm or tpm ``AsyncLimiter``: the bucket is the cluster's."""

    def __init__(self, actor: Any, key: str, which: str, max_rate: float):
        self.actor, self.key, self.which, self.max_rate = actor, key, which, max_rate

    async def acquire(self, amount: float = 1) -> None:
        await self.actor.rate.remote(self.key, self.which, amount)


Replaced = dict[str, tuple[Any, Any, Any]]


def share_endpoints(pool: ModelPool, actor: Any, keys: Iterable[str], owner: str, *, create: bool) -> Replaced:
    """Route the limits of ``pool``'s endpoints ``keys`` through the cluster's :class:`SharedLimits`
    ``actor`` (``create``: make the endpoints now, before any client is made; else only those the pool
    has); returns what was replaced, for :func:`unshare_endpoints`."""
    from ..llm.client import endpoint_key

    keys, replaced = set(keys), {}
    for name, spec in pool.specs.items():
        key = endpoint_key(spec)
        if key not in keys or key in replaced or spec.local is not None:
            continue
        if not create and key not in pool.endpoints:
            continue
        ep = pool.endpoint(name)
        replaced[key] = (ep.limiter, ep.rpm, ep.tpm)
        ep.limiter = _SharedLimiter(actor, key, owner)  # type: ignore[assignment]
        ep.rpm = _SharedRate(actor, key, "rpm", ep.rpm.max_rate) if ep.rpm else None  # type: ignore[assignment]
        ep.tpm = _SharedRate(actor, key, "tpm", ep.tpm.max_rate) if ep.tpm else None  # type: ignore[assignment]
    return replaced


def unshare_endpoints(pool: ModelPool, replaced: Replaced) -> None:
    for key, (limiter, rpm, tpm) in replaced.items():
        ep = pool.endpoints[key]
        ep.limiter, ep.rpm, ep.tpm = limiter, rpm, tpm
