"""``st:<model>``: any sentence-transformers model name or local path, with configurable prefixes and device."""
from __future__ import annotations

import numpy as np


class SentenceTransformerEmbedder:
    parallel_queries = False

    def __init__(self, model: str, query_prefix: str = "", passage_prefix: str = "", device: str | None = None):
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:  # the README's plain install has no torch: say what to install
            raise RuntimeError(f"st: embedders need the st extra and torch ({exc}): install the CPU torch wheel, "
                               "then pip install -e '.[st]' (README, Quick start)") from None

        self._model = SentenceTransformer(model, device=device)
        self._query_prefix = query_prefix
        self._passage_prefix = passage_prefix
        dimension = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())
        self.id = f"st:{model}|q={query_prefix!r}|p={passage_prefix!r}"
        self.cache_key = self.id

    def _encode(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(texts, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False)
        return np.asarray(vectors, dtype=np.float32)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self._encode([self._passage_prefix + t for t in texts]).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        return self._encode([self._query_prefix + text])[0]
