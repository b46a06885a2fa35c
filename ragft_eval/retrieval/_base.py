"""The Retriever protocol, passages, chunking, and the ranking rule every built-in retriever shares."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..records import Document


@dataclass(frozen=True)
class Passage:
    """A retrieved piece of a document: ``chunk_id`` is ``doc_id`` itself without chunking, else ``doc_id#n``.

    ``score`` is None when there is none: a user's retriever that reports no score, or a chunk not yet
    scored.  Order, not score, is the ranking (best first), so a missing score never reorders passages.
    """

    doc_id: str
    chunk_id: str
    text: str
    score: float | None = None


@runtime_checkable
class Retriever(Protocol):
    """Returns up to ``k`` passages for ``query``, best first."""

    async def retrieve(self, query: str, k: int) -> list[Passage]: ...


class IndexedRetriever:
    """A retriever that indexes a corpus once (``build``, cached on disk by content hash and settings)."""

    kind = "retriever"

    def __init__(self, *, chunk_size: int | None = None, chunk_overlap: int = 0):
        if chunk_size is not None and chunk_size < 1:
            raise TypeError(f"chunk_size: expected >= 1 words, got {chunk_size}")
        if chunk_size is not None and not 0 <= chunk_overlap < chunk_size:
            raise TypeError(f"chunk_overlap: expected 0 <= chunk_overlap < chunk_size, got {chunk_overlap}")
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.chunks: list[Passage] = []
        self.index_hash = ""
        self._tiebreak: np.ndarray | None = None

    def settings(self) -> dict[str, Any]:
        return {"kind": self.kind, "chunk_size": self.chunk_size, "chunk_overlap": self.chunk_overlap}

    def describe(self) -> dict[str, Any]:
        return {**self.settings(), "index_hash": self.index_hash, "chunks": len(self.chunks)}

    async def build(self, docs: Sequence[Document], cache_dir: Path) -> None:
        self.chunks = chunk_documents(docs, self.chunk_size, self.chunk_overlap)
        # rank of each chunk id in descending string order: ties in score go to the larger id (trec_eval)
        order = sorted(range(len(self.chunks)), key=lambda i: self.chunks[i].chunk_id, reverse=True)
        self._tiebreak = np.empty(len(order), dtype=np.int64)
        self._tiebreak[order] = np.arange(len(order))

    def top(self, scores: np.ndarray, k: int, *, positive_only: bool) -> list[Passage]:
        """The ``k`` best chunks by score, ties by chunk id descending; optionally only scores > 0."""
        order = np.lexsort((self._tiebreak, -scores))[:k]
        return [
            Passage(c.doc_id, c.chunk_id, c.text, float(scores[i]))
            for i in order
            if not positive_only or scores[i] > 0
            for c in (self.chunks[i],)
        ]


def chunk_documents(docs: Sequence[Document], size: int | None, overlap: int = 0) -> list[Passage]:
    """Split documents into windows of ``size`` words overlapping by ``overlap`` (None: one chunk per doc).

    The title is kept at the head of every chunk so a chunk stays meaningful on its own.
    """
    out: list[Passage] = []
    for doc in docs:
        head = f"{doc.title}: " if doc.title else ""
        words = doc.text.split()
        if size is None or len(words) <= size:
            out.append(Passage(doc.id, doc.id, head + doc.text))
            continue
        step = size - overlap
        for n, start in enumerate(range(0, max(len(words) - overlap, 1), step)):
            out.append(Passage(doc.id, f"{doc.id}#{n}", head + " ".join(words[start : start + size])))
    return out
