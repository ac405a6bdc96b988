"""Query vectors for one loaded index: the index's embedder, centering, and a cache of repeated questions."""
from __future__ import annotations

import functools

import numpy as np

from app.ranking.centering import centered
from indexing.embedders import Embedder
from indexing.probes import probe_means


class QueryEncoder:
    def __init__(self, embedder: Embedder, means: np.ndarray | None, cache_size: int):
        self.embedder = embedder
        # Indexes built before the probe means were stored get them computed once here.
        self.probe_means = means if means is not None else probe_means(embedder)
        # Agents repeat queries (search, then get-context on the same question) and the embedding is most of
        # a dense query's cost; 4,096 cached vectors take 6 MB.
        self.vector = functools.lru_cache(maxsize=cache_size)(self._embed)

    def _embed(self, query: str, centering: float) -> np.ndarray:
        vector = centered(self.embedder.embed_query(query), query, self.probe_means, centering)
        vector.flags.writeable = False  # shared by every request that hits the cache
        return vector
