"""``python``: a user's own retriever, by import path — the seam where an existing vector store plugs in.

The target is a class (instantiated with ``params``) or a factory function; the object has
``retrieve(query, k)`` (sync or async) returning passages as :class:`Passage` or dicts with ``doc_id``,
``text`` and ``score`` (``chunk_id`` optional).  An optional ``build(docs)`` receives the golden set's
corpus, for stores that index it themselves.  Example, Qdrant behind the seam::

    class QdrantRetriever:
        def __init__(self, url: str, collection: str):
            from qdrant_client import QdrantClient
            self.client, self.collection = QdrantClient(url), collection
            self.encoder = SentenceTransformer(str(get_model_path()))
        def retrieve(self, query: str, k: int):
            hits = self.client.query_points(self.collection, query=self.encoder.encode(query).tolist(), limit=k).points
            return [{"doc_id": h.payload["doc_id"], "text": h.payload["text"], "score": h.score} for h in hits]

pgvector or Chroma look the same: a query returning (doc id, text, score) rows, best first.
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
from ._base import Passage


@register("retriever", "python")
class PythonRetriever:
    kind = "python"

    def __init__(self, *, target: str, params: dict[str, Any] | None = None):
        self.target = target
        self.params = dict(params or {})
        self._obj: Any = None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "target": self.target, "params": self.params}

    async def build(self, docs: Sequence[Document], cache_dir: Path) -> None:
        factory = import_object(self.target, setting="retrievers: target")
        self._obj = factory(**self.params) if callable(factory) else factory
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
                out.append(Passage(str(h["doc_id"]), str(h.get("chunk_id", h["doc_id"])), str(h.get("text", "")),
                                   float(h.get("score", 0.0))))  # fmt: skip
        return out
