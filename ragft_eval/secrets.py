"""Secrets in user params: a value written as ``{env: NAME}`` is read from the environment when used.

``params`` of ``python`` systems and ``python`` retrievers go to the user's class and into the run
manifest (``describe()``), and the suite config itself is stored, so a key or password written there
would land in the store and the reports.  Instead, write a reference::

    retrievers:
      qdrant:
        kind: python
        target: mypkg.search:QdrantRetriever
        params: {url: "https://qdrant.example", api_key: {env: QDRANT_API_KEY}}

A reference is a mapping with exactly one key, ``env``, whose value is an environment variable name.
:func:`resolve_env_refs` replaces every reference (also inside nested mappings and lists) with the
variable's string value at start/build time; the caller keeps the params as written for ``describe()``,
so the manifest shows ``{"env": "QDRANT_API_KEY"}`` and never the value.  A variable that is not set is
a :class:`~ragft_eval.errors.ConfigError` naming the setting::

    system 'x': params.api_key: environment variable QDRANT_API_KEY is not set
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from .errors import ConfigError

__all__ = ["is_env_ref", "resolve_env_refs"]

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_env_ref(value: Any) -> bool:
    """Whether ``value`` is an environment reference: a mapping whose only key is ``env``."""
    return isinstance(value, Mapping) and len(value) == 1 and "env" in value


def resolve_env_refs(params: Mapping[str, Any], *, setting: str) -> dict[str, Any]:
    """A copy of ``params`` with every ``{env: NAME}`` replaced by ``os.environ[NAME]`` (a string).

    ``setting`` names ``params`` itself in messages, e.g. ``"system 'x': params"``; a problem inside is
    reported at its dotted path (``system 'x': params.db.password: ...``; list items by index).
    ``params`` is not modified.
    """
    return {str(key): _resolve(value, f"{setting}.{key}") for key, value in params.items()}


def _resolve(value: Any, where: str) -> Any:
    if is_env_ref(value):
        name = value["env"]
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise ConfigError(f"{where}: env: expected an environment variable name, got {name!r}")
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]
    if isinstance(value, Mapping):
        return {str(k): _resolve(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        items = [_resolve(v, f"{where}.{i}") for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    return value
