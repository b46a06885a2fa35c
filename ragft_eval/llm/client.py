"""OpenAI-compatible model access: one client per configured model, local or remote.

Every call has a timeout, a ``max_tokens`` and stop sequences (a base model rambles otherwise), all
from the model's config and overridable per call.  The API key is read from the environment variable
the config names (never stored).  Latency is measured around the HTTP call only, after the request
has its turn: a local server takes one request at a time and the wait for that turn is queueing in
the harness, not the model's latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import openai

from ..errors import ConfigError, EndpointError
from .server import LocalServer, resolve_gguf
from .spec import ModelSpec

LOCAL_API_KEY = "sk-local-no-key"  # llama.cpp needs none, the openai client insists on one


@dataclass(frozen=True)
class Completion:
    """One model call's outcome."""

    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    latency_s: float
    finish_reason: str | None
    token_logprobs: tuple[float, ...] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def mean_logprob(self) -> float | None:
        """Mean token log-probability (None without logprobs or tokens)."""
        lps = [lp for lp in (self.token_logprobs or ()) if lp is not None and math.isfinite(lp)]
        return sum(lps) / len(lps) if lps else None


class ModelClient:
    """Talks to one configured model through the ``openai`` client (completions and chat)."""

    def __init__(
        self,
        name: str,
        spec: ModelSpec,
        *,
        base_dir: Path,
        lora: Path | None = None,
        cpu: CpuSlots | None = None,
    ):
        self.name = name
        self.spec = spec
        self.base_dir = base_dir
        self.lora = lora
        self.server: LocalServer | None = None
        self._client: openai.AsyncOpenAI | None = None
        # A local server serves one request at a time; local servers share the CPU (``cpu``).
        self._turn = asyncio.Semaphore(1) if spec.local is not None else None
        self._cpu = cpu if spec.local is not None else None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Wait for this server, then for a CPU slot; latency is measured inside, so waits are excluded."""
        async with self._turn or contextlib.nullcontext(), self._cpu or contextlib.nullcontext():
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
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=self.spec.timeout_s, max_retries=0
        )
        await self._check_model()

    async def _check_model(self) -> None:
        assert self._client is not None
        try:
            models = [m.id async for m in self._client.models.list()]
        except openai.APIConnectionError as exc:
            raise EndpointError(
                f"models.{self.name}.base_url: cannot reach {self._client.base_url} ({exc.__cause__ or exc})"
            ) from exc
        except openai.AuthenticationError as exc:
            raise ConfigError(f"models.{self.name}.api_key_env: the endpoint rejected the key ({exc.message})") from exc
        except openai.APIStatusError as exc:
            raise EndpointError(
                f"models.{self.name}.base_url: {self._client.base_url} answered {exc.status_code}"
            ) from exc
        if models and self.spec.model not in models:
            shown = ", ".join(models[:10]) + (" ..." if len(models) > 10 else "")
            raise EndpointError(
                f"models.{self.name}.model: {self.spec.model!r} is not served at {self._client.base_url}; "
                f"it serves: {shown}"
            )

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

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        if prompt_tokens is None and completion_tokens is None:
            return None
        return ((prompt_tokens or 0) * self.spec.usd_per_1k_prompt_tokens
                + (completion_tokens or 0) * self.spec.usd_per_1k_completion_tokens) / 1000  # fmt: skip

    async def complete(
        self,
        prompt: str,
        *,
        max_tokens: int | None = None,
        stop: tuple[str, ...] | list[str] | None = None,
        logprobs: bool = False,
        temperature: float | None = None,
        seed: int | None = None,
        extra_body: dict[str, Any] | None = None,
    ) -> Completion:
        """A text completion (``/v1/completions``), the right call for a base model without a chat template."""
        if self._client is None:
            raise EndpointError(f"model {self.name!r} is not started")
        kwargs: dict[str, Any] = dict(
            model=self.spec.model, prompt=prompt, max_tokens=max_tokens or self.spec.max_tokens,
            stop=list(stop if stop is not None else self.spec.stop)[: None if self.is_local else 4] or None,
            temperature=self.spec.temperature if temperature is None else temperature,
            seed=self.spec.seed if seed is None else seed, extra_body={**self._extra(), **(extra_body or {})},
        )  # fmt: skip
        if logprobs:
            kwargs["logprobs"] = 1
        async with self.turn():
            t0 = time.perf_counter()
            try:
                r = await self._client.completions.create(**kwargs)
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise await self._dead_server_error(exc) from exc
            latency = time.perf_counter() - t0
        choice = r.choices[0]
        lps = None
        if logprobs and choice.logprobs is not None and choice.logprobs.token_logprobs is not None:
            lps = tuple(float(x) for x in choice.logprobs.token_logprobs if x is not None)
        usage = r.usage
        return Completion(
            text=choice.text or "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_s=latency,
            finish_reason=choice.finish_reason,
            token_logprobs=lps,
        )

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int | None = None,
        response_format: dict[str, Any] | None = None,
        temperature: float | None = None,
        seed: int | None = None,
        stop: tuple[str, ...] | list[str] | None = None,
    ) -> Completion:
        """A chat completion; ``response_format`` is sent as given (llama.cpp enforces ``json_object`` + schema)."""
        if self._client is None:
            raise EndpointError(f"model {self.name!r} is not started")
        kwargs: dict[str, Any] = dict(
            model=self.spec.model, messages=messages, max_tokens=max_tokens or self.spec.max_tokens,
            temperature=self.spec.temperature if temperature is None else temperature,
            seed=self.spec.seed if seed is None else seed, extra_body=self._extra(),
        )  # fmt: skip
        if stop:
            kwargs["stop"] = list(stop)[:4]
        if response_format is not None:
            kwargs["response_format"] = response_format
        async with self.turn():
            t0 = time.perf_counter()
            try:
                r = await self._client.chat.completions.create(**kwargs)
            except (openai.APIConnectionError, openai.APITimeoutError) as exc:
                raise await self._dead_server_error(exc) from exc
            latency = time.perf_counter() - t0
        choice = r.choices[0]
        usage = r.usage
        return Completion(
            text=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
            latency_s=latency,
            finish_reason=choice.finish_reason,
        )


class CpuSlots:
    """How many local model requests may run at once across all local servers of a run.

    Every llama.cpp server spins ``n_threads`` threads per request; four servers generating at once on
    2 cores ran 8 busy threads, every call slowed several-fold, and calls ran past their timeouts (the
    server keeps generating for a request whose client gave up, so the next one waited behind it). One
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
    """The suite's models, started on first use (one server per local model) and all closed at the end."""

    def __init__(self, specs: dict[str, ModelSpec], *, base_dir: Path, cpu_slots: int | None = None):
        self.specs = dict(specs)
        self.base_dir = base_dir
        self.cpu = CpuSlots(cpu_slots) if cpu_slots else CpuSlots.for_machine(self.specs.values())
        self._clients: dict[str, ModelClient] = {}
        self._lock = asyncio.Lock()

    async def get(self, name: str, *, lora: Path | None = None) -> ModelClient:
        """The started client for model ``name`` (with ``lora``: a separate server serving that adapter)."""
        key = f"{name}+{lora}" if lora else name
        async with self._lock:
            if key not in self._clients:
                if name not in self.specs:
                    raise ConfigError(f"model: unknown model {name!r}; defined models: {sorted(self.specs)}")
                client = ModelClient(name, self.specs[name], base_dir=self.base_dir, lora=lora, cpu=self.cpu)
                try:
                    await client.start()
                except BaseException:
                    await client.close()
                    raise
                self._clients[key] = client
            return self._clients[key]

    async def close(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.close()
