"""BM25 with bm25s (Lucene variant, English stopwords), index cached on disk by corpus and settings."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..hashing import content_hash
from ..records import Document
from ..registry import register
from ._base import IndexedRetriever, Passage


@register("retriever", "bm25")
class BM25Retriever(IndexedRetriever):
    """Sparse lexical retrieval. Scores of 0 (no shared term) are not returned."""

    kind = "bm25"

    def __init__(self, *, k1: float = 1.5, b: float = 0.75, stopwords: str | None = "en", **chunking: Any):
        super().__init__(**chunking)
        self.k1, self.b, self.stopwords = k1, b, stopwords
        self._bm25: Any = None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "k1": self.k1, "b": self.b, "stopwords": self.stopwords}

    async def build(self, docs: Sequence[Document], cache_dir: Path) -> None:
        await super().build(docs, cache_dir)
        self.index_hash = content_hash(
            {"settings": self.settings(), "chunks": [(c.chunk_id, c.text) for c in self.chunks]}
        )
        folder = cache_dir / "indexes" / f"bm25-{self.index_hash[7:23]}"
        self._bm25 = await asyncio.to_thread(self._load_or_index, folder)

    def _load_or_index(self, folder: Path) -> Any:
        import bm25s

        if (folder / "params.index.json").is_file():
            return bm25s.BM25.load(str(folder), load_corpus=False, mmap=False)
        tokens = bm25s.tokenize([c.text for c in self.chunks], stopwords=self.stopwords, show_progress=False)
        index = bm25s.BM25(k1=self.k1, b=self.b, method="lucene")
        index.index(tokens, show_progress=False)
        folder.mkdir(parents=True, exist_ok=True)
        index.save(str(folder))
        return index

    def scores(self, query: str) -> np.ndarray:
        import bm25s

        tokens = bm25s.tokenize([query], stopwords=self.stopwords, return_ids=False, show_progress=False)[0]
        vocab = self._bm25.vocab_dict
        tokens = [t for t in tokens if t in vocab]
        if not tokens:
            return np.zeros(len(self.chunks), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float64)

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        return self.top(self.scores(query), k, positive_only=True)
