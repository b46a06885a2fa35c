"""Config of a retriever: its registered ``kind`` and the kind's keyword parameters."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RetrieverSpec(BaseModel):
    """A retriever: ``kind`` (bm25, dense, fusion, python) and its keyword parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)
    kind: str
