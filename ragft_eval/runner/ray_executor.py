"""The Ray executor: a run's work items sharded over the worker processes of a Ray cluster.

What runs where, and why:

* **The driver** (the process that called ``run_async``) has loaded the suite, started every system
  (fine-tunes, index builds and the routed system's threshold search on dev happen there, once), and
  keeps ``finish``: every answer comes back to it and is scored and written there, through the store's
  one write path (one transaction per (system, case)), so a SQLite store works as well as PostgreSQL and
  the hooks and progress see every case.  Writing from the workers would need a shared store, and the
  judge's calls would scatter over the cluster with their cache.
* **A worker** (a Ray actor, ``max_restarts``) builds its systems from the suite's stored config with what
  the driver's start decided handed over (:func:`started_params`: the fine-tune's adapter file instead of
  its config, so a worker cannot train; the routed system's chosen threshold, so it skips the dev
  search); indexes load from the on-disk cache the driver filled.  Each worker reports what its start
  did (new index folders: none expected) and the content hashes of its golden sets, checked against the
  driver's.  The suite folder, golden sets and cache dir must be at the same paths on every node.
* **One endpoint's limits** (concurrency with AIMD, rpm, tpm) live in one Ray actor for all the run's
  endpoints (:class:`SharedLimits`), which every worker's and the driver's
  :class:`~ragft_eval.llm.resilience.Endpoint` goes through: the cluster respects the caps one process
  would.  Retries and the circuit breaker stay per process.
* **Local llama.cpp servers** run in each worker that needs one; the CPU-slot rule (``cpu_count //
  n_threads`` local requests per machine) is the per-node Ray resource :data:`CPU_SLOT`: a worker
  with a local model holds one slot, so the workers on a node never run more local requests at once than
  its cores take.  A cluster started for the run declares it; ``ray start --resources='{"ragft_cpu_slot": N}'``
  declares it on a node of your own.
* **A killed worker**: its chunk's unanswered items go back to the queue and are answered by another (or
  its restarted) worker; the driver finishes each item once (by its index), and ``Store.write`` replaces
  a (run, system, golden set, case) row, so nothing is lost or stored twice.  A killed driver resumes from
  the store like any run.

Not shared across the cluster (refused, not silently wrong): ``--max-cost`` budgets and ``batch:`` models.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, RagftError, RunStopped
from ..records import Response
from ..systems import GenerativeSystem, RoutedSystem, System
from ._ray_limits import Replaced, SharedLimits, share_endpoints, unshare_endpoints
from .answering import answer_case
from .executor import Executor, Finish, LocalExecutor
from .plan import Plan, build_systems
from .suite import Suite, SystemSpec

if TYPE_CHECKING:
    from ..llm import ModelPool

CPU_SLOT = "ragft_cpu_slot"  # the per-node Ray resource of the CPU-slot rule (see the module docstring)
Key = tuple[str, str, str]  # (system, golden set, case id)


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise ConfigError("executor: ray needs Ray: pip install 'ragft-eval[ray]'") from None
    return ray


def started_params(system: System) -> dict[str, Any]:
    """The parameters a worker's copy of a started ``system`` gets instead of its config's, so that it
    does not redo the system's one-time work: the routed system's chosen ``threshold`` (no dev search) and
    a fine-tune config's trained adapter file (the worker's start cannot train)."""
    out: dict[str, Any] = {}
    stage: Any = system
    if isinstance(system, RoutedSystem):
        out["threshold"] = system.threshold
        stage = system.first
    if isinstance(stage, GenerativeSystem) and stage.adapter and Path(stage.adapter).suffix in (".yaml", ".yml"):
        lora = getattr(stage._client, "lora", None)  # the started client's adapter file, from the artifact cache
        if lora is not None:
            out["adapter"] = str(lora)
    return out


def worker_suite(suite: Suite, systems: dict[str, System]) -> Suite:
    """``suite`` with each started system's :func:`started_params` in its spec: what workers build from."""
    specs = []
    for spec in suite.systems:
        over = started_params(systems[spec.name]) if spec.name in systems else {}
        specs.append(SystemSpec(name=spec.name, kind=spec.kind, **{**spec.params, **over}) if over else spec)
    return suite.model_copy(update={"systems": tuple(specs)})


def system_models(suite: Suite, names: Iterable[str]) -> set[str]:
    """The models the systems ``names`` call (``model``, ``fallback_model``)."""
    out = set()
    for spec in suite.systems:
        if spec.name in names:
            for key in ("model", "fallback_model"):
                model = spec.params.get(key)
                if isinstance(model, str) and model in suite.models:
                    out.add(model)
    return out


# --- a worker -----------------------------------------------------------------------------------------


class Worker:
    """One worker process (a Ray actor): the run's systems, built from the suite and started once (on its
    first call, and again after a restart), answering the items it is sent."""

    def __init__(self, suite: Suite, names: list[str], *, concurrency: int, cache: str | None,
                 limits: Any, shared: list[str], cpu_slots: int | None):  # fmt: skip
        self.suite, self.names, self.concurrency, self.cache = suite, names, concurrency, cache
        self.limits, self.shared, self.cpu_slots = limits, shared, cpu_slots
        self.owner = f"{socket.gethostname()}:{os.getpid()}"
        self._started: dict[str, Any] | None = None
        self._lock: asyncio.Lock | None = None
        self._stack = contextlib.AsyncExitStack()

    async def ready(self) -> dict[str, Any]:
        """Start (once): golden sets, model and retriever pools, systems; what the start did."""
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            if self._started is None:
                self._started = await self._start()
        return self._started

    async def _start(self) -> dict[str, Any]:
        from ..llm import ModelPool
        from ..llm.cache import CallCache
        from ..retrieval import RetrieverPool
        from ..systems import RunContext

        suite = self.suite
        golden_sets = suite.load_golden_sets()
        cache_dir = suite.resolve(suite.cache_dir)
        indexes = cache_dir / "indexes"
        before = set(os.listdir(indexes)) if indexes.is_dir() else set()
        spec = suite.cache_spec(self.cache)
        calls = None if spec.systems == spec.judge == "off" else CallCache(suite.resolve(spec.dir))
        models = ModelPool(suite.models, base_dir=suite.base_dir, cache=calls, cpu_slots=self.cpu_slots,
                           cache_policy={"systems": spec.systems, "judge": spec.judge})  # fmt: skip
        self._stack.push_async_callback(models.close)
        self.endpoints = models.endpoints
        if self.limits is not None:
            share_endpoints(models, self.limits, self.shared, self.owner, create=True)
        retrievers = RetrieverPool(suite.retrievers, cache_dir=cache_dir)
        ctx = RunContext(base_dir=suite.base_dir, golden_sets=golden_sets, cache_dir=cache_dir, models=models,
                         retrievers=retrievers)  # fmt: skip
        self.systems = build_systems(suite, self.names)
        for system in self.systems.values():
            self._stack.push_async_callback(system.close)
            await system.start(ctx)
        local = LocalExecutor(concurrency=self.concurrency)
        self.turns = {n: asyncio.Semaphore(local.limit(s)) for n, s in self.systems.items()}
        self.cases = {(gs.name, c.id): c for gs in golden_sets.values() for c in gs.cases}
        after = set(os.listdir(indexes)) if indexes.is_dir() else set()
        return {"owner": self.owner, "pid": os.getpid(), "node": socket.gethostname(),
                "golden_sets": {n: gs.content_hash for n, gs in golden_sets.items()},
                "new_indexes": sorted(after - before),
                "one_time": [w.model_dump(mode="json") for w in [*ctx.one_time, *retrievers.work]]}  # fmt: skip

    async def answer(self, items: list[tuple[int, Key]], timeout_s: float):
        """Answer ``items`` ((index, key) pairs), yielding lists of (index, Response or None, exception or
        None) as they finish: whatever finished since the last yield, so a busy worker sends fewer,
        larger messages and an idle one streams."""
        await self.ready()
        done: asyncio.Queue[tuple[int, Response | None, BaseException | None]] = asyncio.Queue()

        async def one(i: int, key: Key) -> None:
            system, golden_set, case_id = key
            try:
                async with self.turns[system]:
                    response = await answer_case(self.systems[system], self.cases[(golden_set, case_id)], timeout_s)
                done.put_nowait((i, response, None))
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # RunStopped, or a harness bug: the driver decides
                done.put_nowait((i, None, exc))

        tasks = [asyncio.ensure_future(one(i, key)) for i, key in items]
        try:
            left = len(tasks)
            while left:
                batch = [await done.get()]
                while not done.empty():
                    batch.append(done.get_nowait())
                left -= len(batch)
                yield batch
        finally:
            for task in tasks:
                task.cancel()

    async def stats(self) -> dict[str, dict[str, int]]:
        """What this worker sent to each endpoint (calls, attempts, failed calls), for the driver's log."""
        return {key: {"calls": ep.calls, "attempts": ep.attempts, "failed_calls": ep.failed_calls}
                for key, ep in getattr(self, "endpoints", {}).items()}  # fmt: skip

    async def close(self) -> None:
        await self._stack.aclose()


class _Handle:
    """The driver's view of one worker actor: its current incarnation (owner), and whether it is gone."""

    def __init__(self, actor: Any):
        self.actor = actor
        self.info: dict[str, Any] = {}
        self.incarnation = 0
        self.dead = False
        self.lock = asyncio.Lock()


# --- the executor -------------------------------------------------------------------------------------


class RayExecutor:
    """Shards a plan's work items over ``workers`` Ray worker processes (see the module docstring).

    ``suite`` is the run's suite (workers build their systems from it); ``address`` a Ray cluster's
    address (``ray://...`` or ``host:port``; None: the cluster this process is connected to, or a local
    one started for the run and stopped after it); ``workers`` the worker processes (None: one per CPU
    of the cluster); ``concurrency`` the cases in flight per system in each worker (None: the suite's);
    ``cache`` the ``--cache`` override; ``chunk`` items sent to a worker at once (None: sized to the
    plan); ``max_restarts`` how often a killed worker is restarted.
    """

    def __init__(self, suite: Suite, *, address: str | None = None, workers: int | None = None,
                 concurrency: int | None = None, cache: str | None = None, chunk: int | None = None,
                 max_restarts: int = 3):  # fmt: skip
        if workers is not None and workers < 1:
            raise ValueError(f"workers: expected >= 1, got {workers}")
        if chunk is not None and chunk < 1:
            raise ValueError(f"chunk: expected >= 1, got {chunk}")
        self.suite = suite
        self.address = address
        self.workers = workers
        self.concurrency = concurrency or suite.concurrency
        self.cache = cache
        self.chunk = chunk
        self.max_restarts = max_restarts
        # what the last execute saw: each worker's start (ready()), items resent after a worker died
        self.worker_info: list[dict[str, Any]] = []
        self.resent = 0
        self.timings: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def limit(self, system: System) -> int:
        """Cases of ``system`` in flight at once in one worker (as :meth:`LocalExecutor.limit`)."""
        return LocalExecutor(concurrency=self.concurrency).limit(system)

    def describe(self) -> dict[str, object]:
        return {"kind": "ray", "address": self.address, "workers": self.workers, "concurrency": self.concurrency}

    def _check(self, plan: Plan) -> None:
        batch = sorted(n for n, s in self.suite.models.items() if s.batch is not None)
        used = [n for n, s in plan.systems.items() if getattr(s, "batched", False)]
        if used:
            raise ConfigError(f"executor: ray: systems {', '.join(used)} call batch: models "
                              f"({', '.join(batch)}); a Batch API job is gathered in one process: run them with "
                              "the local executor")  # fmt: skip

    def _connect(self, ray: Any, slots: int) -> bool:
        """Connect to the cluster (True: this call started it, and stops it after the run)."""
        if ray.is_initialized():
            return False
        if self.address is not None:
            ray.init(address=self.address, log_to_driver=False)
            return False
        # a cluster of this machine for the run: its CPUs, its CPU slots, a small object store (answers are small)
        ray.init(num_cpus=os.cpu_count() or 1, resources={CPU_SLOT: slots}, include_dashboard=False,
                 log_to_driver=False, object_store_memory=256 * 1024**2)  # fmt: skip
        return True

    def worker_options(self, resources: dict[str, float], local: list[str]) -> tuple[int, dict[str, Any]]:
        """How many workers, and their Ray actor options, on a cluster with ``resources`` when the systems
        call the local models ``local``: a worker with a local model holds one CPU slot of its node."""
        workers = self.workers or max(1, int(resources.get("CPU", 1)))
        # num_cpus 0: a worker mostly waits on endpoints; what a local model burns is counted in CPU slots
        opts: dict[str, Any] = {"num_cpus": 0, "max_restarts": self.max_restarts, "max_task_retries": 0,
                                "max_concurrency": 10_000, "scheduling_strategy": "SPREAD"}  # fmt: skip
        if local:
            slots = int(resources.get(CPU_SLOT, 0))
            if slots < 1:
                hint = f"ray start --resources='{{\"{CPU_SLOT}\": N}}' (N = cores // n_threads)"
                raise ConfigError(f"executor: ray: systems call local models ({', '.join(local)}) and no node of "
                                  f"the cluster declares the {CPU_SLOT!r} resource; start each node with "
                                  f"{hint}")  # fmt: skip
            workers = min(workers, slots)  # one local request per slot: more workers would only wait for one
            opts["resources"] = {CPU_SLOT: 1}
        return workers, opts

    async def execute(self, plan: Plan, finish: Finish, *, timeout_s: float) -> None:
        if not plan.items:
            return
        self._check(plan)
        ray = _ray()
        from ..llm import CpuSlots
        from ..llm.client import endpoint_key

        t0 = time.monotonic()
        names = list(plan.systems)
        used = {m: self.suite.models[m] for m in sorted(system_models(self.suite, names))}
        local = [m for m, s in used.items() if s.local is not None]
        # one limiter per remote endpoint the systems call (models on one endpoint share it, as in ModelPool)
        endpoints = {endpoint_key(s): (s.limits.concurrency, s.limits.rpm, s.limits.tpm)
                     for s in used.values() if s.local is None}  # fmt: skip
        owned = self._connect(ray, CpuSlots.for_machine(self.suite.models.values()).slots)
        self.timings = {"connect_s": time.monotonic() - t0}
        actors: list[Any] = []
        pool, replaced, limits = _driver_pool(plan.systems), {}, None
        try:
            workers, opts = self.worker_options(ray.cluster_resources(), local)
            if endpoints:
                # restarted if killed (its counts start afresh; a release for an older grant is ignored)
                limits = ray.remote(num_cpus=0, max_concurrency=10_000, max_restarts=3, max_task_retries=3)(
                    SharedLimits
                ).remote(endpoints)
                actors.append(limits)
                if pool is not None:  # the driver's own calls to those endpoints (a judge on one) count too
                    replaced = share_endpoints(pool, limits, endpoints, "driver", create=False)
            remote = ray.remote(**opts)(Worker)
            suite = worker_suite(self.suite, plan.systems)
            handles = [_Handle(remote.remote(suite, names, concurrency=self.concurrency, cache=self.cache,
                                             limits=limits, shared=list(endpoints),
                                             cpu_slots=1 if local else None))
                       for _ in range(workers)]  # fmt: skip
            actors += [h.actor for h in handles]
            t1 = time.monotonic()
            infos = await asyncio.gather(*(h.actor.ready.remote() for h in handles))
            self.timings["workers_start_s"] = time.monotonic() - t1
            for h, info in zip(handles, infos, strict=True):
                h.info = info
            self.worker_info = list(infos)
            _check_golden_sets(plan, infos)
            t2 = time.monotonic()
            await self._drive(ray, plan, finish, timeout_s, handles, limits)
            self.timings["answer_s"] = time.monotonic() - t2
            if pool is not None:
                await _fold_stats(pool, handles, limits, replaced)
        finally:
            if pool is not None:
                unshare_endpoints(pool, replaced)
            await _stop(ray, actors, owned)

    def _chunk(self, plan: Plan, workers: int) -> int:
        if self.chunk is not None:
            return self.chunk
        widest = max(self.limit(s) for s in plan.systems.values())
        # big enough to keep a worker's slots busy, small enough that the tail is shared and a killed
        # worker loses little
        return max(2 * widest, min(256, len(plan.items) // (8 * workers)))

    async def _drive(self, ray: Any, plan: Plan, finish: Finish, timeout_s: float, handles: list[_Handle],
                     limits: Any) -> None:  # fmt: skip
        items = plan.items
        size = self._chunk(plan, len(handles))
        pending = collections.deque(list(range(i, min(i + size, len(items)))) for i in range(0, len(items), size))
        answered: set[int] = set()
        stopped: list[RunStopped] = []
        self.resent = 0
        # where the driver's time goes: in finish (scoring, the store's write, hooks), and how many messages
        self.counts = {"chunks": len(pending), "chunk_size": size, "messages": 0}
        finishing = 0.0
        busy = 0  # chunks out at a worker: a dead worker's may come back to the queue
        changed = asyncio.Event()

        async def take(h: _Handle) -> list[int] | None:
            while not stopped and not h.dead:
                if pending:
                    return pending.popleft()
                if not busy:  # nothing queued and nothing out that could come back: done
                    return None
                changed.clear()
                await changed.wait()
            return None

        async def feed(h: _Handle) -> None:
            nonlocal finishing, busy
            while (chunk := await take(h)) is not None:
                incarnation = h.incarnation
                busy += 1
                try:
                    stream = h.actor.answer.options(num_returns="streaming").remote(
                        [(i, items[i].key) for i in chunk], timeout_s
                    )
                    async for ref in stream:
                        self.counts["messages"] += 1
                        for i, response, exc in await ref:
                            if i in answered:  # a resent item whose first answer arrived after all
                                continue
                            answered.add(i)
                            if isinstance(exc, RunStopped):
                                stopped.append(exc)
                            elif exc is not None:
                                raise exc
                            else:
                                t = time.perf_counter()
                                await finish(items[i], response)
                                finishing += time.perf_counter() - t
                except ray.exceptions.RayActorError:
                    rest = [i for i in chunk if i not in answered]
                    self.resent += len(rest)
                    if rest:
                        pending.appendleft(rest)
                        changed.set()  # another worker may take it while this one restarts
                    await _revive(ray, h, incarnation, limits)
                finally:
                    busy -= 1
                    changed.set()

        # two streams per worker: the next chunk starts while the last one's slowest cases finish
        tasks = [asyncio.ensure_future(feed(h)) for h in handles for _ in range(2)]
        try:
            for task in asyncio.as_completed(tasks):
                await task
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.timings["finish_s"] = finishing
        if stopped:
            raise stopped[0]
        if pending:
            left = sum(len(c) for c in pending)
            raise RagftError(f"executor: ray: every worker died; {left} case(s) not answered (the run is resumable)")


def _driver_pool(systems: dict[str, System]) -> ModelPool | None:
    """The driver's model pool, from a started generative system's context (None: no system has one)."""
    for system in systems.values():
        for stage in (system, getattr(system, "first", None), getattr(system, "second", None)):
            ctx = getattr(stage, "_ctx", None)
            if ctx is not None:
                return ctx.models
    return None


def _check_golden_sets(plan: Plan, infos: list[dict[str, Any]]) -> None:
    """Workers must answer the cases the driver planned: the same golden-set content on every node."""
    sets = {i.golden_set.name: i.golden_set for i in plan.items}
    want = {name: gs.content_hash for name, gs in sets.items()}  # a hash of every case: once per set
    for info in infos:
        for name, digest in want.items():
            if info["golden_sets"].get(name) != digest:
                raise ConfigError(f"executor: ray: worker {info['owner']} loaded golden set {name!r} as "
                                  f"{info['golden_sets'].get(name)}, the driver as {digest}: every node needs "
                                  "the same files at the same paths")  # fmt: skip


async def _revive(ray: Any, h: _Handle, incarnation: int, limits: Any) -> None:
    """After a worker died: give back its endpoint slots, and wait for its restart (or mark it dead)."""
    async with h.lock:
        if h.incarnation != incarnation or h.dead:  # the other stream of this worker did it already
            return
        if limits is not None:
            limits.forget.remote(h.info.get("owner", ""))
        deadline = time.monotonic() + 120
        while True:
            try:
                h.info = await h.actor.ready.remote()
                h.incarnation += 1
                return
            except ray.exceptions.ActorDiedError:
                h.dead = True
                return
            except ray.exceptions.RayActorError:
                if time.monotonic() > deadline:
                    h.dead = True
                    return
                await asyncio.sleep(0.2)


async def _fold_stats(pool: ModelPool, handles: list[_Handle], limits: Any, replaced: Replaced) -> None:
    """Add the workers' calls to the driver's endpoints and the cluster limiter's counts to its limiter,
    so the run's endpoint log covers the whole cluster (a killed worker's calls are lost with it)."""
    stats = await asyncio.gather(*(h.actor.stats.remote() for h in handles if not h.dead), return_exceptions=True)
    for worker in stats:
        if isinstance(worker, BaseException):
            continue
        for key, counts in worker.items():
            ep = pool.endpoints.get(key)
            if ep is not None:
                ep.calls += counts["calls"]
                ep.attempts += counts["attempts"]
                ep.failed_calls += counts["failed_calls"]
    cluster = await limits.summary.remote() if replaced else {}
    for key, (limiter, _, _) in replaced.items():
        s = cluster[key]
        limiter.throttled += s["throttled"]
        limiter.decreases += s["decreases"]
        limiter.increases += s["increases"]
        limiter.peak = max(limiter.peak, s["peak_in_flight"])


async def _stop(ray: Any, actors: list[Any], owned: bool) -> None:
    """Close the workers (their local servers stop, caches close), then end every actor of the run."""
    closing = [asyncio.wait_for(a.close.remote(), 30) for a in actors if hasattr(a, "close")]
    await asyncio.gather(*closing, return_exceptions=True)
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor)
    if owned:
        ray.shutdown()


def build_executor(suite: Suite, *, kind: str | None = None, address: str | None = None,
                   workers: int | None = None, cache: str | None = None) -> Executor:  # fmt: skip
    """The executor of a run: ``kind`` (``--executor``) or the suite's ``executor:`` (default ``local``);
    ``address`` and ``workers`` override the suite's."""
    spec = suite.executor
    kind = kind or (spec.kind if spec is not None else "local")
    if kind == "local":
        return LocalExecutor(concurrency=suite.concurrency)
    if kind != "ray":
        raise ConfigError(f"executor: expected local or ray, got {kind!r}")
    return RayExecutor(suite, address=address or (spec.address if spec else None),
                       workers=workers or (spec.workers if spec else None), cache=cache)  # fmt: skip
