"""Hybrid retrieval by reciprocal-rank fusion (Cormack et al., SIGIR 2009).

score(p) = sum over member retrievers of 1 / (k_rrf + rank of p in that member), ranks from 1, over each
member's top ``depth``.  Passages are matched by chunk id, so members should chunk the same way.
"""

from __future__ import annotations

from typing import Any

from ..registry import register
from ._base import Passage, Retriever


@register("retriever", "fusion")
class FusionRetriever:
    kind = "fusion"

    def __init__(self, *, retrievers: list[str], k_rrf: int = 60, depth: int = 50):
        if len(retrievers) < 2:
            raise TypeError(f"retrievers: fusion needs at least two retriever names, got {retrievers!r}")
        self.retrievers = list(retrievers)
        self.k_rrf, self.depth = k_rrf, depth
        self.members: list[Retriever] = []

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "k_rrf": self.k_rrf, "depth": self.depth,
                "members": [getattr(m, "describe", dict)() for m in self.members]}  # fmt: skip

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        fused: dict[str, float] = {}
        first: dict[str, Passage] = {}
        for member in self.members:
            for rank, p in enumerate(await member.retrieve(query, self.depth), 1):
                fused[p.chunk_id] = fused.get(p.chunk_id, 0.0) + 1.0 / (self.k_rrf + rank)
                first.setdefault(p.chunk_id, p)
        best = sorted(fused, key=lambda c: (fused[c], c), reverse=True)[:k]
        return [Passage(first[c].doc_id, c, first[c].text, fused[c]) for c in best]
