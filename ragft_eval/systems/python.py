"""``python``: a user's callable or class, named by import path.

``target: mypkg.systems:answer`` names either a function ``(case) -> str | dict | Response`` (sync or
async) or a class, instantiated with ``params``, whose ``answer(case)`` method returns the same.
A ``str`` becomes the answer; a ``dict`` holds Response fields (``answer``, ``retrieved``, ``context``...).

A param written as ``{env: NAME}`` is read from the environment at start (see :mod:`ragft_eval.secrets`);
the manifest keeps the reference, never the value.  ``records: [retrieved, context]`` declares what the
responses record besides the answer, so a failed case is unscored, not an error, on a metric that needs
what the system never records (undeclared: unknown, and such a failure counts as an error).  A result
without ``latency_s`` gets the measured wall time of the call.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Iterable
from typing import Any

from ..errors import ConfigError
from ..records import RECORDABLE, Case, Response, RetrievedDoc
from ..registry import import_object, register
from ..secrets import resolve_env_refs
from ._base import BaseSystem, RunContext


def coerce_response(value: Any, case: Case, system: str) -> Response:
    """A Response from what a user's callable returned."""
    if isinstance(value, Response):
        return value.model_copy(update={"case_id": case.id, "system": system})
    if isinstance(value, str):
        return Response(case_id=case.id, system=system, answer=value)
    if isinstance(value, dict):
        fields = dict(value)
        if fields.get("retrieved") is not None:
            fields["retrieved"] = tuple(
                d if isinstance(d, RetrievedDoc) else RetrievedDoc(**{"rank": i, **d})
                for i, d in enumerate(fields["retrieved"], 1)
            )
        return Response.model_validate({**fields, "case_id": case.id, "system": system})
    raise TypeError(f"expected str, dict or Response from the system, got {type(value).__name__}")


def parse_records(value: Iterable[str] | None, *, setting: str) -> frozenset[str] | None:
    """``records`` as declared in a suite (a list of ``retrieved``, ``context``, ``route``), or None."""
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ConfigError(f"{setting}: expected a list such as [retrieved, context], got {value!r}")
    known = sorted(RECORDABLE)
    out = set()
    for item in value:
        if item not in RECORDABLE:
            raise ConfigError(f"{setting}: unknown value {item!r}; expected any of {', '.join(known)}")
        out.add(item)
    return frozenset(out)


@register("system", "python")
class PythonSystem(BaseSystem):
    kind = "python"

    def __init__(
        self,
        *,
        name: str,
        target: str,
        params: dict[str, Any] | None = None,
        concurrency: int | None = None,
        records: list[str] | None = None,
    ):
        self.name = name
        self.target = target
        self.params = dict(params or {})  # as written (env references unresolved): what describe() shows
        self.max_concurrency = concurrency
        self.records = parse_records(records, setting=f"system {name!r}: records")
        self._fn: Any = None

    async def start(self, ctx: RunContext) -> None:
        obj = import_object(self.target, setting=f"system {self.name!r}: target")
        if inspect.isclass(obj):
            # resolved values go to the user's class only, never onto self
            instance = obj(**resolve_env_refs(self.params, setting=f"system {self.name!r}: params"))
            if not hasattr(instance, "answer"):
                raise ConfigError(f"system {self.name!r}: target: class {self.target!r} has no answer(case) method")
            if hasattr(instance, "start"):
                result = instance.start()
                if inspect.isawaitable(result):
                    await result
            self._fn = instance.answer
        elif callable(obj):
            if self.params:
                raise ConfigError(f"system {self.name!r}: params: only a class target takes params")
            self._fn = obj
        else:
            raise ConfigError(f"system {self.name!r}: target: {self.target!r} is neither a function nor a class")

    def describe(self) -> dict[str, Any]:
        records = sorted(self.records) if self.records is not None else None
        return {"kind": self.kind, "target": self.target, "params": self.params, "records": records}

    async def answer(self, case: Case) -> Response:
        fn = self._fn

        def timed() -> tuple[Any, float]:
            # timed inside the worker thread, so waiting for a free thread is not counted
            t0 = time.perf_counter()
            return fn(case), time.perf_counter() - t0

        if inspect.iscoroutinefunction(fn):
            t0 = time.perf_counter()
            value = await fn(case)
            elapsed = time.perf_counter() - t0
        else:
            value, elapsed = await asyncio.to_thread(timed)
        response = coerce_response(value, case, self.name)
        if response.latency_s is None:  # what the system reports wins; else the call's own wall time
            response = response.model_copy(update={"latency_s": elapsed})
        return response
