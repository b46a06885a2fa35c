"""``python``: a user's own retriever, by import path — the seam where an existing vector store plugs in.

The target is a class (instantiated with ``params``) or a factory function; the object has
``retrieve(query, k)`` (sync or async) returning passages, best first, as :class:`Passage` or dicts with
``doc_id``, ``text`` and ``score`` (``chunk_id`` optional; a hit without ``score`` has none, not 0.0).
An optional ``build(docs)`` receives the golden set's corpus, for stores that index it themselves.
Example, Qdrant behind the seam::

    class QdrantRetriever:
        def __init__(self, url: str, collection: str, api_key: str | None = None):
            from qdrant_client import QdrantClient
            self.client, self.collection = QdrantClient(url, api_key=api_key), collection
            self.encoder = SentenceTransformer(str(get_model_path()))
        def retrieve(self, query: str, k: int):
            hits = self.client.query_points(self.collection, query=self.encoder.encode(query).tolist(), limit=k).points
            return [{"doc_id": h.payload["doc_id"], "text": h.payload["text"], "score": h.score} for h in hits]

pgvector or Chroma look the same: a query returning (doc id, text, score) rows, best first.

Keep keys and passwords out of the suite: a param written as ``{env: NAME}`` is read from the environment
at build (see :mod:`ragft_eval.secrets`), e.g. ``params: {url: ..., collection: docs, api_key: {env: QDRANT_API_KEY}}``;
the manifest keeps the reference, never the value.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..records import Document
from ..registry import import_object, register
from ..secrets import resolve_env_refs
from ._base import Passage


@register("retriever", "python")
class PythonRetriever:
    kind = "python"

    def __init__(self, *, target: str, params: dict[str, Any] | None = None):
        self.target = target
        self.params = dict(params or {})  # as written (env references unresolved): what describe() shows
        self._obj: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "params": self.params}

    async def build(self, docs: Sequence[Document], cache_dir: Path) -> None:
        factory = import_object(self.target, setting="retrievers: target")
        if callable(factory):
            # resolved values go to the user's object only, never onto self
            self._obj = factory(**resolve_env_refs(self.params, setting=f"retrievers: target {self.target!r}: params"))
        else:
            self._obj = factory
        if not hasattr(self._obj, "retrieve"):
            raise ConfigError(f"retrievers: target: {self.target!r} gives an object without retrieve(query, k)")
        if hasattr(self._obj, "build"):
            result = self._obj.build(list(docs))
            if inspect.isawaitable(result):
                await result

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        fn = self._obj.retrieve
        hits = await fn(query, k) if inspect.iscoroutinefunction(fn) else await asyncio.to_thread(fn, query, k)
        out = []
        for h in list(hits)[:k]:
            if isinstance(h, Passage):
                out.append(h)
            else:
                score = h.get("score")
                out.append(Passage(str(h["doc_id"]), str(h.get("chunk_id", h["doc_id"])), str(h.get("text", "")),
                                   None if score is None else float(score)))  # fmt: skip
        return out
