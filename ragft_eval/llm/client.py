"""OpenAI-compatible model access: one client per configured model, local or remote.

:class:`ModelClient` implements the one model interface (:class:`~ragft_eval.llm.interface.Model`):
every call, chat or completion, is a :class:`ModelRequest` through :meth:`ModelClient.call`.  Every call
has a timeout, a ``max_tokens`` and stop sequences (a base model rambles otherwise), all from the model's
config and overridable per request.  The API key is read from the environment variable
the config names (never stored).  Latency is measured around the HTTP call only, after the request
has its turn: a local server takes one request at a time and the wait for that turn is queueing in
the harness, not the model's latency.

Every request goes through :meth:`ModelClient.call`, and every attempt of it through the model's
:class:`~ragft_eval.llm.resilience.Endpoint` (limits, AIMD on 429, retries, circuit breaker), shared by
every client of the same endpoint in a :class:`ModelPool`.  No error that leaves a client carries the
API key: some gateways echo it in their error bodies, so every message is redacted (:meth:`ModelClient.redact`).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
import openai

from ..errors import CircuitOpenError, ConfigError, EndpointError
from . import queueing
from .interface import Api, ModelRequest, ModelResponse
from .resilience import CallFailed, Endpoint, MalformedResponse, estimate_tokens
from .server import LocalServer, resolve_gguf
from .spec import ModelSpec

T = TypeVar("T")
LOCAL_API_KEY = "sk-local-no-key"  # llama.cpp needs none, the openai client insists on one


def endpoint_key(spec: ModelSpec, lora: Path | None = None) -> str:
    """What identifies one endpoint for its limits and breaker: ``base_url`` + model id; a local server's
    alias (and its LoRA adapter: each adapter is a server of its own)."""
    if spec.local is not None:
        return f"local:{spec.model}" + (f"+{lora}" if lora else "")
    return f"{(spec.base_url or '').rstrip('/')} {spec.model}"


def new_endpoint(spec: ModelSpec, lora: Path | None = None) -> Endpoint:
    """The :class:`Endpoint` of a model: its limits (none for a local server) and its retry policy."""
    name = f"local server {spec.model!r}" if spec.local is not None else f"endpoint {spec.base_url} model {spec.model}"
    return Endpoint(endpoint_key(spec, lora), name, limits=None if spec.local is not None else spec.limits,
                    retry=spec.retry_policy)  # fmt: skip


class ModelClient:
    """Talks to one configured model through the ``openai`` client (completions and chat)."""

    name: str
    api: Api

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        *,
        base_dir: Path,
        lora: Path | None = None,
        cpu: CpuSlots | None = None,
        endpoint: Endpoint | None = None,
    ):
        self.name = name
        self.spec = spec
        self.api = spec.endpoint_api
        self.base_dir = base_dir
        self.lora = lora
        self.server: LocalServer | None = None
        self._client: openai.AsyncOpenAI | None = None
        # A local server serves one request at a time; local servers share the CPU (``cpu``).
        self._turn = asyncio.Semaphore(1) if spec.local is not None else None
        self._cpu = cpu if spec.local is not None else None
        # shared with every client of the same endpoint when the pool hands one in
        self.endpoint = endpoint or new_endpoint(spec, lora)
        self._secrets: tuple[str, ...] = ()

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this server, then for a CPU slot; latency is measured inside, so waits are excluded
        (and the wait is on the case's queue clock, so the runner's per-case timeout excludes it too)."""
        async with contextlib.AsyncExitStack() as stack:
            with queueing.waiting():
                await stack.enter_async_context(self._turn or contextlib.nullcontext())
                await stack.enter_async_context(self._cpu or contextlib.nullcontext())
            yield

    @property
    def is_local(self) -> bool:
        return self.spec.local is not None

    async def start(self) -> None:
        """Start the local server (if any), then check the endpoint answers and knows the model."""
        if self.spec.local is not None:
            gguf = resolve_gguf(self.spec.local.gguf, base_dir=self.base_dir)
            lora = self.lora or (Path(self.spec.local.lora) if self.spec.local.lora else None)
            if lora is not None and not lora.is_absolute():
                lora = self.base_dir / lora
            if lora is not None and not lora.is_file():
                raise ConfigError(f"models.{self.name}.local.lora: no LoRA adapter file at {str(lora)!r}")
            self.server = LocalServer(self.spec.local, alias=self.spec.model, gguf=gguf, lora=lora)
            await self.server.start()
            base_url, api_key = self.server.base_url, LOCAL_API_KEY
        else:
            base_url = self.spec.base_url
            api_key = LOCAL_API_KEY
            if self.spec.api_key_env:
                api_key = os.environ.get(self.spec.api_key_env, "")
                if not api_key:
                    raise ConfigError(
                        f"models.{self.name}.api_key_env: environment variable {self.spec.api_key_env} is not set"
                    )
        if api_key != LOCAL_API_KEY:
            raw = api_key.encode()
            # the key, and its base64 forms (a Basic header echoed back), are redacted from every message
            self._secrets = (api_key, base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode())
        # max_retries=0: the endpoint's policy retries (resilience.py), bounded, counted and shared with the
        # limiter; the SDK's own retries would be invisible to both and multiply the attempts
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=self.spec.timeout_s, max_retries=0
        )
        await self._check_model()
        if self.api == "completions" and self.spec.local is None:
            await self._check_completions()

    async def _check_model(self) -> None:
        assert self._client is not None
        try:
            models = [m.id async for m in self._client.models.list()]
        except openai.APIConnectionError as exc:
            raise EndpointError(
                f"models.{self.name}.base_url: cannot reach {self._client.base_url} ({exc.__cause__ or exc})"
            ) from exc
        except openai.AuthenticationError as exc:
            # from None: the original error's body may quote the key
            raise ConfigError(
                self.redact(f"models.{self.name}.api_key_env: the endpoint rejected the key ({exc.message})")
            ) from None
        except openai.APIStatusError as exc:
            raise EndpointError(
                f"models.{self.name}.base_url: {self._client.base_url} answered {exc.status_code}"
            ) from None
        if models and self.spec.model not in models:
            shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
            raise EndpointError(
                f"models.{self.name}.model: {self.spec.model!r} is not served at {self._client.base_url}; "
                f"it serves: {shown}"
            )

    async def _check_completions(self) -> None:
        """Fail at start, not once per case, when a completions model is served only through chat."""
        assert self._client is not None
        try:
            await self._client.completions.create(model=self.spec.model, prompt="ok", max_tokens=1)
        except openai.NotFoundError as exc:
            raise ConfigError(
                self.redact(
                    f"models.{self.name}.api: completions, but {self._client.base_url} serves no /v1/completions for "
                    f"{self.spec.model!r} ({exc.status_code}: {exc.message}); set api: chat"
                )
            ) from None
        except openai.APIStatusError as exc:
            raise EndpointError(
                self.redact(
                    f"models.{self.name}.api: the completions check at {self._client.base_url} answered "
                    f"{exc.status_code}: {exc.message}"
                )
            ) from None

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self.server is not None:
            self.server.stop()

    def describe(self) -> dict[str, Any]:
        """Model identifiers, sampling parameters and (local) server flags and file hashes for the manifest."""
        out: dict[str, Any] = {
            "model": self.spec.model,
            "api": self.api,
            "price": price.model_dump(mode="json") if (price := self.spec.resolved_price) else None,
            "base_url": self.spec.base_url,
            "api_key_env": self.spec.api_key_env,
            "sampling": {"temperature": self.spec.temperature, "max_tokens": self.spec.max_tokens,
                         "stop": list(self.spec.stop), "seed": self.spec.seed, "timeout_s": self.spec.timeout_s},
        }  # fmt: skip
        if self.server is not None:
            out["local"] = {**self.server.describe(), "cpu_slots": self._cpu.slots if self._cpu else None}
        return out

    def _extra(self) -> dict[str, Any]:
        # llama.cpp's server defaults repeat_penalty to 1.1; greedy evaluation wants none
        return {"repeat_penalty": 1.0} if self.is_local else {}

    async def _dead_server_error(self, exc: Exception) -> Exception:
        if self.server is not None:
            for _ in range(40):  # a just-killed process may not be reaped yet when the connection drops
                if self.server.exit_code is not None:
                    break
                await asyncio.sleep(0.05)
        if self.server is not None and self.server.exit_code is not None:
            return EndpointError(
                f"local server for model {self.name!r} died (exit code {self.server.exit_code}):\n{self.server.tail()}"
            )
        return exc

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None, *, latency_s: float | None = None,
             cached_tokens: int | None = None) -> float | None:  # fmt: skip
        """The call's cost in dollars from the model's price (:attr:`ModelSpec.resolved_price`); None when
        the model is not priced or what it is priced by was not reported."""
        price = self.spec.resolved_price
        if price is None:
            return None
        return price.cost(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, seconds=latency_s,
                          cached_tokens=cached_tokens, batch=self.spec.batch is not None)  # fmt: skip

    def _kwargs(self, request: ModelRequest) -> dict[str, Any]:
        """The ``openai`` call's arguments: the request's fields, the model's config for what it leaves out."""
        spec = self.spec
        stop = request.stop if request.stop is not None else (spec.stop if request.api == "completions" else ())
        extra = {**self._extra()}
        if request.grammar is not None:
            extra["grammar"] = request.grammar
        kwargs: dict[str, Any] = {
            "model": spec.model,
            "max_tokens": request.max_tokens or spec.max_tokens,
            "temperature": spec.temperature if request.temperature is None else request.temperature,
            "seed": spec.seed if request.seed is None else request.seed,
            "extra_body": extra,
        }
        # OpenAI accepts at most 4 stop sequences; llama.cpp takes any number
        stop = list(stop)[: None if self.is_local else 4]
        if stop:
            kwargs["stop"] = stop
        if request.top_p is not None:
            kwargs["top_p"] = request.top_p
        if request.api == "completions":
            kwargs["prompt"] = request.prompt
            if request.logprobs:
                kwargs["logprobs"] = 1
        else:
            kwargs["messages"] = [m.model_dump() for m in request.messages]
            if request.response_format is not None:
                kwargs["response_format"] = request.response_format
            if request.logprobs:
                kwargs["logprobs"] = True
        return kwargs

    def redact(self, text: str) -> str:
        """``text`` with the API key (and its base64 forms) replaced by ``***``: the one redaction of every
        message that leaves the client."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    async def call(self, request: ModelRequest) -> ModelResponse:
        """Send one request to its endpoint and return what came back (the one way the harness calls a model).

        Every attempt goes through the endpoint's limits and retry policy (:meth:`Endpoint.call`); the
        response records how many attempts it took.  A call that fails for good raises the ``openai``
        error of its last attempt (``RateLimitError``, ``InternalServerError``, ``APITimeoutError``...) or
        an :class:`EndpointError`, whose message says how many attempts failed and why, with the key
        redacted; an endpoint given up on raises :class:`CircuitOpenError` without sending anything.
        """
        if self._client is None:
            raise EndpointError(f"model {self.name!r} is not started")
        kwargs = self._kwargs(request)
        endpoint = self._client.completions if request.api == "completions" else self._client.chat.completions

        async def send(timeout: float | None) -> ModelResponse:
            async with self.turn():
                t0 = time.perf_counter()
                try:
                    r = await endpoint.create(**kwargs, timeout=min(self.spec.timeout_s, timeout or math.inf))
                except openai.APIConnectionError as exc:  # timeouts too
                    dead = await self._dead_server_error(exc) if self.server is not None else exc
                    if dead is exc:
                        raise
                    raise dead from exc
                latency = time.perf_counter() - t0
            return self._response(request, r, latency)

        try:
            done = await self.endpoint.call(send, tokens=estimate_tokens(request, kwargs["max_tokens"]),
                                            redact=self.redact)  # fmt: skip
        except CallFailed as failed:
            raise self._outbound(failed) from None  # the original errors may quote the key
        except CircuitOpenError:
            raise  # its message was redacted when the breaker opened
        except Exception as exc:
            if self.redact(str(exc)) != str(exc):
                raise EndpointError(self.redact(f"{type(exc).__name__}: {exc}")) from None
            raise
        return done.value.model_copy(update={"attempts": done.attempts, "retried": done.retried})

    @property
    def sdk(self) -> openai.AsyncOpenAI:
        """The started ``openai`` client (for the Batch API's files and batches endpoints, :mod:`.batch`)."""
        if self._client is None:
            raise EndpointError(f"model {self.name!r} is not started")
        return self._client

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The JSON body the request is sent as (what a Batch API line carries)."""
        kwargs = self._kwargs(request)
        return {**{k: v for k, v in kwargs.items() if k != "extra_body"}, **kwargs["extra_body"]}

    async def retried(self, send: Callable[[float | None], Awaitable[T]]) -> T:
        """``send(timeout)`` under the endpoint's limits and retry policy, as :meth:`call` sends a
        completion (for the Batch API's own calls: uploads, polls, downloads)."""
        try:
            done = await self.endpoint.call(send, redact=self.redact)
        except CallFailed as failed:
            raise self._outbound(failed) from None
        return done.value

    def parse(self, request: ModelRequest, body: dict[str, Any], *, latency: float | None) -> ModelResponse:
        """The :class:`ModelResponse` of a completion body (a Batch API output line's ``response.body``)."""
        from openai.types import Completion
        from openai.types.chat import ChatCompletion

        model = Completion if request.api == "completions" else ChatCompletion
        try:
            parsed = model.model_validate(body)
        except ValueError as exc:
            raise MalformedResponse(f"not a {model.__name__}: {exc}") from exc
        return self._response(request, parsed, latency)

    def _response(self, request: ModelRequest, r: Any, latency: float | None) -> ModelResponse:
        """The :class:`ModelResponse` of a 200; :class:`MalformedResponse` when the body is not a valid
        completion (no choices, or not an object at all: the ``openai`` client returns a non-JSON body as
        a string), a transport failure that is retried."""
        try:
            choice = r.choices[0]
            lps: tuple[float, ...] | None = None
            if request.api == "completions":
                text = choice.text or ""
                if request.logprobs and choice.logprobs is not None and choice.logprobs.token_logprobs is not None:
                    lps = tuple(float(x) for x in choice.logprobs.token_logprobs if x is not None)
            else:
                text = choice.message.content or ""
                if request.logprobs and choice.logprobs is not None and choice.logprobs.content is not None:
                    lps = tuple(float(t.logprob) for t in choice.logprobs.content)
        except (AttributeError, IndexError, KeyError, TypeError) as exc:
            raise MalformedResponse(f"no completion choice in a {type(r).__name__}") from exc
        usage = getattr(r, "usage", None)
        return ModelResponse(
            text=text,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_s=latency,
            finish_reason=getattr(choice, "finish_reason", None),
            token_logprobs=lps,
            served_model=getattr(r, "model", None) or None,
            system_fingerprint=getattr(r, "system_fingerprint", None) or None,
        )

    def _outbound(self, failed: CallFailed) -> Exception:
        """The error a failed call raises: the last attempt's ``openai`` error type (judges and ragas tell
        an endpoint failure from a parse failure by it), with the attempts in its message, redacted, and
        none of the original's request (its headers hold the key) or body."""
        message = self.redact(failed.describe())
        last = failed.last.exc
        if isinstance(last, openai.APIStatusError | openai.APIConnectionError):
            request = httpx.Request(last.request.method, last.request.url)
            if isinstance(last, openai.APIStatusError):
                return type(last)(message, response=httpx.Response(last.status_code, request=request), body=None)
            out = openai.APITimeoutError(request) if isinstance(last, openai.APITimeoutError) else (
                openai.APIConnectionError(message=message, request=request))  # fmt: skip
            out.message, out.args = message, (message,)
            return out
        return EndpointError(message)

    async def complete(self, prompt: str, **request: Any) -> ModelResponse:
        """A text completion (``/v1/completions``), the right call for a base model without a chat template."""
        return await self.call(ModelRequest.completion(prompt, **request))

    async def chat(self, messages: list[dict[str, str]], **request: Any) -> ModelResponse:
        """A chat completion (``/v1/chat/completions``); ``response_format`` is sent as given."""
        return await self.call(ModelRequest.chat(messages, **request))


class CpuSlots:
    """How many local model requests may run at once across all local servers of a run.

    Every llama.cpp server spins ``n_threads`` threads per request; four servers generating at once on
    2 cores ran 8 busy threads, every call slowed several-fold, and calls ran past their timeouts (the
    server then kept generating for a request whose client gave up, so the next one waited behind it; a
    generation now stops when its client goes away, :mod:`~ragft_eval.llm.llama_server`). One
    slot per ``cpu_count // n_threads`` keeps the cores busy without oversubscribing them. ``peak``
    is the most requests seen in flight at once.
    """

    def __init__(self, slots: int):
        if slots < 1:
            raise ValueError(f"slots: expected >= 1, got {slots}")
        self.slots = slots
        self.peak = 0
        self._in_flight = 0
        self._sem = asyncio.Semaphore(slots)

    @classmethod
    def for_machine(cls, specs: Iterable[ModelSpec]) -> CpuSlots:
        threads = max((s.local.n_threads for s in specs if s.local is not None), default=1)
        return cls(max(1, (os.cpu_count() or 1) // threads))

    async def __aenter__(self) -> None:
        await self._sem.acquire()
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)

    async def __aexit__(self, *exc: object) -> None:
        self._in_flight -= 1
        self._sem.release()


class ModelPool:
    """The suite's models, started on first use (one server per local model) and all closed at the end.

    It holds one :class:`Endpoint` per endpoint (:func:`endpoint_key`), shared by every client on it: two
    models (a system's and the judge's) with the same ``base_url`` and model id share one limit, one rate
    budget and one breaker, as the provider counts them together.
    """

    def __init__(
        self,
        specs: dict[str, ModelSpec],
        *,
        base_dir: Path,
        cpu_slots: int | None = None,
        cache: Any = None,
        cache_policy: Mapping[str, str] | None = None,
        budget: Any = None,
        batches: Any = None,
    ):
        """``cache`` (a :class:`~ragft_eval.llm.cache.CallCache`), ``cache_policy`` (role -> policy) and
        ``budget`` (a :class:`~ragft_eval.llm.budget.Budget`) wrap every role's calls (:mod:`.roles`);
        ``batches`` (a :class:`~ragft_eval.llm.batch.BatchLedger`) records the Batch API jobs of ``batch:``
        models (a fresh one when not given)."""
        self.specs = dict(specs)
        self.base_dir = base_dir
        self.cache = cache
        self.cache_policy = dict(cache_policy or {"systems": "read_write", "judge": "read_write"})
        self.budget = budget
        self.batches = batches
        self._queues: dict[str, Any] = {}  # client key -> BatchQueue of a batch model
        self.cpu = CpuSlots(cpu_slots) if cpu_slots else CpuSlots.for_machine(self.specs.values())
        self._clients: dict[str, ModelClient] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self._endpoint_of: dict[str, str] = {}  # endpoint key -> the first model that made it
        self._lock = asyncio.Lock()

    def endpoint(self, name: str, lora: Path | None = None) -> Endpoint:
        """The shared :class:`Endpoint` of model ``name``; models on one endpoint must agree on its settings."""
        spec = self.specs[name]
        key = endpoint_key(spec, lora)
        if key not in self.endpoints:
            self.endpoints[key] = new_endpoint(spec, lora)
            self._endpoint_of[key] = name
        first = self._endpoint_of[key]
        other = self.specs[first]
        if (other.limits, other.retry_policy) != (spec.limits, spec.retry_policy):
            raise ConfigError(
                f"models.{name}: shares its endpoint ({spec.base_url}, model {spec.model!r}) with models.{first}, "
                "whose limits/retry differ; one endpoint has one set of limits: give both the same"
            )
        return self.endpoints[key]

    def endpoint_summaries(self) -> list[dict[str, Any]]:
        """What the run did to each endpoint (calls, attempts, breaker, the limit over time), for the run log."""
        out = []
        for endpoint in self.endpoints.values():
            summary = endpoint.summary()
            servers = [c.server for c in self._clients.values() if c.server is not None and c.endpoint is endpoint]
            if servers:  # what the local server itself says it generated (a warm re-run: 0)
                summary["server_generations"] = sum(server.served for server in servers)
            out.append(summary)
        return out

    async def get(self, name: str, *, lora: Path | None = None, role: str = "systems") -> Any:
        """Model ``name`` as ``role`` uses it (``systems`` or ``judge``): the started shared client (with
        ``lora``: a separate server serving that adapter), through the run's cache and budget."""
        client = await self.client(name, lora=lora)
        queue = self._batch_queue(client) if client.spec.batch is not None else None
        if self.cache is None and self.budget is None and queue is None:
            return client
        from .roles import RoleModel

        return RoleModel(client, role, cache=self.cache, policy=self.cache_policy.get(role, "read_write"),
                         budget=self.budget, batch=queue)  # fmt: skip

    def _batch_queue(self, client: ModelClient) -> Any:
        """The one :class:`~ragft_eval.llm.batch.BatchQueue` of a batch model, shared by its roles."""
        from .batch import BatchLedger, BatchQueue

        if self.batches is None:
            self.batches = BatchLedger()
        key = f"{client.name}+{client.lora}" if client.lora else client.name
        if key not in self._queues:
            assert client.spec.batch is not None
            self._queues[key] = BatchQueue(client, client.spec.batch, self.batches)
        return self._queues[key]

    def unstarted(self, name: str) -> ModelClient:
        """A client for model ``name`` that is never started (no server, no network): for saying what a run
        would send (``--dry-run``)."""
        if name not in self.specs:
            raise ConfigError(f"model: unknown model {name!r}; defined models: {sorted(self.specs)}")
        return ModelClient(name, self.specs[name], base_dir=self.base_dir, cpu=self.cpu,
                           endpoint=self.endpoint(name))  # fmt: skip

    async def client(self, name: str, *, lora: Path | None = None) -> ModelClient:
        """The started client for model ``name`` (with ``lora``: a separate server serving that adapter)."""
        key = f"{name}+{lora}" if lora else name
        async with self._lock:
            if key not in self._clients:
                if name not in self.specs:
                    raise ConfigError(f"model: unknown model {name!r}; defined models: {sorted(self.specs)}")
                client = ModelClient(name, self.specs[name], base_dir=self.base_dir, lora=lora, cpu=self.cpu,
                                     endpoint=self.endpoint(name, lora))  # fmt: skip
                try:
                    await client.start()
                except BaseException:
                    await client.close()
                    raise
                self._clients[key] = client
            return self._clients[key]

    async def close(self) -> None:
        queues, self._queues = list(self._queues.values()), {}
        for queue in queues:
            await queue.close()
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
        if self.cache is not None:
            self.cache.close()
