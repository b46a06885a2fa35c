"""Retrieval: the Retriever protocol; BM25 (bm25s), dense (sentence-transformers), reciprocal-rank fusion,
a user's retriever by import path; chunking with a chunk-to-doc mapping; on-disk index caching."""

from . import bm25, dense, fusion, python
from ._base import IndexedRetriever, Passage, Retriever, chunk_documents
from .bm25 import BM25Retriever
from .dense import DenseRetriever
from .fusion import FusionRetriever
from .pool import RetrieverPool
from .python import PythonRetriever
from .spec import RetrieverSpec

__all__ = [
    "BM25Retriever",
    "DenseRetriever",
    "FusionRetriever",
    "IndexedRetriever",
    "Passage",
    "PythonRetriever",
    "Retriever",
    "RetrieverPool",
    "RetrieverSpec",
    "bm25",
    "chunk_documents",
    "dense",
    "fusion",
    "python",
]
