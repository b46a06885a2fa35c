"""``python``: a user's callable or class, named by import path.

``target: mypkg.systems:answer`` names either a function ``(case) -> str | dict | Response`` (sync or
async) or a class, instantiated with ``params``, whose ``answer(case)`` method returns the same.
A ``str`` becomes the answer; a ``dict`` holds Response fields (``answer``, ``retrieved``, ``context``...).
"""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from ..errors import ConfigError
from ..records import Case, Response, RetrievedDoc
from ..registry import import_object, register
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


@register("system", "python")
class PythonSystem(BaseSystem):
    kind = "python"

    def __init__(self, *, name: str, target: str, params: dict[str, Any] | None = None, concurrency: int | None = None):
        self.name = name
        self.target = target
        self.params = dict(params or {})
        self.max_concurrency = concurrency
        self._fn: Any = None

    async def start(self, ctx: RunContext) -> None:
        obj = import_object(self.target, setting=f"system {self.name!r}: target")
        if inspect.isclass(obj):
            instance = obj(**self.params)
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
        return {"kind": self.kind, "target": self.target, "params": self.params}

    async def answer(self, case: Case) -> Response:
        if inspect.iscoroutinefunction(self._fn):
            value = await self._fn(case)
        else:
            value = await asyncio.to_thread(self._fn, case)
        return coerce_response(value, case, self.name)
