"""One registry for every pluggable kind (metric, system, retriever, judge), open to third parties.

Built-ins register with a decorator (``@register("metric", "recall")``); other packages add theirs
through the entry-point group ``ragft_eval`` with names ``KIND.NAME`` (for example
``metric.my_metric = mypkg.metrics:MyMetric``).  Suite configs name a kind and pass keyword parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any, TypeVar

from .errors import ConfigError

KINDS = ("metric", "system", "retriever", "judge")
_REGISTRY: dict[str, dict[str, Any]] = {k: {} for k in KINDS}
_BUILTINS_LOADED = False
_T = TypeVar("_T")


def register(kind: str, name: str) -> Callable[[_T], _T]:
    """Class decorator registering a factory under ``kind``/``name``."""
    if kind not in _REGISTRY:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def deco(obj: _T) -> _T:
        _REGISTRY[kind][name] = obj
        return obj

    return deco


def _load_builtins() -> None:
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    for module in ("metrics", "systems", "retrieval", "judges"):
        import_module(f"ragft_eval.{module}")
    for ep in entry_points(group="ragft_eval"):
        kind, _, name = ep.name.partition(".")
        if kind in _REGISTRY and name:
            _REGISTRY[kind].setdefault(name, ep)


def names(kind: str) -> list[str]:
    """Registered names of ``kind``, sorted."""
    _load_builtins()
    return sorted(_REGISTRY[kind])


def lookup(kind: str, name: str) -> Any:
    """The factory registered as ``kind``/``name``; a ConfigError lists the known names otherwise."""
    _load_builtins()
    table = _REGISTRY[kind]
    if name not in table:
        raise ConfigError(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(table))}")
    obj = table[name]
    if hasattr(obj, "load") and hasattr(obj, "group"):  # an entry point, loaded on first use
        obj = table[name] = obj.load()
    return obj


def create(kind: str, registered: str, /, **params: Any) -> Any:
    """Build the object registered as ``kind``/``registered`` from keyword parameters."""
    factory = lookup(kind, registered)
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"{kind} {registered!r}: {exc}") from exc


def import_object(path: str, *, setting: str) -> Any:
    """Import ``package.module:attr`` (or ``package.module.attr``); the error names ``setting``."""
    module_name, sep, attr = path.partition(":")
    if not sep:
        module_name, _, attr = path.rpartition(".")
    if not module_name or not attr:
        raise ConfigError(f"{setting}: expected an import path 'package.module:name', got {path!r}")
    try:
        module = import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"{setting}: cannot import module {module_name!r} ({exc})") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"{setting}: module {module_name!r} has no attribute {attr!r}") from exc
