"""Retrievers built once per (retriever name, golden set, corpus date) and shared by every system."""

from __future__ import annotations

import asyncio
import time
from datetime import date
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..golden import GoldenSet
from ..records import OneTimeWork
from ..registry import create
from ._base import Retriever
from .spec import RetrieverSpec


class RetrieverPool:
    def __init__(self, specs: dict[str, RetrieverSpec], *, cache_dir: Path):
        self.specs = dict(specs)
        self.cache_dir = cache_dir
        self._built: dict[tuple[str, str, date | None], Any] = {}
        self._locks: dict[tuple[str, str, date | None], asyncio.Lock] = {}
        self.work: list[OneTimeWork] = []  # each index built for the run, with its time

    async def get(self, name: str, golden_set: GoldenSet, as_of: date | None = None) -> Retriever:
        key = (name, golden_set.name, as_of)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._built:
                return self._built[key]
            if name not in self.specs:
                raise ConfigError(f"retriever: unknown retriever {name!r}; defined: {sorted(self.specs)}")
            spec = self.specs[name]
            try:
                retriever = create("retriever", spec.kind, **dict(spec.model_extra or {}))
            except ConfigError as exc:
                raise ConfigError(f"retrievers.{name}: {exc}") from exc
            if hasattr(retriever, "members"):  # fusion: members are other named retrievers
                retriever.members = [await self.get(m, golden_set, as_of) for m in retriever.retrievers]
            else:
                docs = golden_set.corpus_as_of(as_of)
                if not docs:
                    raise ConfigError(f"retrievers.{name}: golden set {golden_set.name!r} has no corpus to index")
                t0 = time.perf_counter()
                await retriever.build(docs, self.cache_dir)
                # ``reused``: the retriever found its index (embeddings) in the cache, as dense does
                self.work.append(OneTimeWork(kind="index", name=f"{name}/{golden_set.name}",
                                             seconds=time.perf_counter() - t0,
                                             reused=bool(getattr(retriever, "reused", False)),
                                             detail={"kind": spec.kind, "documents": len(docs)}))  # fmt: skip
            self._built[key] = retriever
            return retriever

    def describe(self) -> dict[str, Any]:
        """Settings and index hashes of every retriever built so far (for the run manifest)."""
        return {
            f"{name}/{gs}/{as_of or 'latest'}": getattr(r, "describe", dict)()
            for (name, gs, as_of), r in self._built.items()
        }
