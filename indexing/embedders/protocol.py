"""What every embedder declares and does; the indexer, the vector cache and the service see only this."""
from __future__ import annotations

from typing import Protocol

import numpy as np


class Embedder(Protocol):
    """Vectors are float32 and L2-normalised, so inner product == cosine.

    - ``id``: this implementation and model, as recorded in an index manifest and shown in statistics.
    - ``cache_key``: the identity of the vector space, keying the content-hash vector cache
      (``indexing/dense.py``). Two embedders share it only if their vectors are interchangeable
      (cosine >= 0.999 on real text, measured); see the package docstring.
    - ``dim``: vector length.
    - ``parallel_queries``: ``embed_query`` may run from several threads at once without serialising.
    """

    id: str
    cache_key: str
    dim: int
    parallel_queries: bool

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, L2-normalised."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """(dim,) float32, L2-normalised."""
        ...
