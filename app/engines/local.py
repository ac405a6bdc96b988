"""The ``local`` engine: bm25s sparse matrices and a FAISS index, memory-mapped from one version directory.

Every file of the version is opened at load (the chunk store included), so a
version pruned by a later publish keeps serving the requests that hold it.

While dense vectors are still being built (``manifest.dense_stage`` titles or
leads), a chunk without its own vector is scored by its document's lead chunk if
that has one, else by its document's title vector: never as zero, so partial
coverage ranks documents by what is known of them.
"""
from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import bm25s
import faiss
import numpy as np

from app.engines.local_terms import BM25TermStats
from app.engines.protocol import (
    Candidates, Capabilities, ChunkRecord, DocumentRecord, EngineQuery, reference_sample,
)
from indexing import layout

CHUNK_COLUMNS = "id, doc_index, chunk_index, title, content, url, start_char, end_char"


@dataclass(frozen=True)
class LocalOptions:
    ef_search: int = 128  # HNSW search breadth (raised to the candidate depth if lower)
    threads: int = 1  # OpenMP threads of one vector search; per calling thread, not process-wide


class LocalEngine:
    def __init__(self, version_dir: Path, manifest: layout.Manifest, options: LocalOptions = LocalOptions()):
        self.manifest = manifest
        self.options = options
        self._db = layout.connect_readonly(version_dir)
        self._db_lock = threading.Lock()
        self.bm25 = bm25s.BM25.load(str(version_dir / layout.BM25_DIR), mmap=True, show_progress=False)
        self.vocab: dict[str, int] = self.bm25.vocab_dict
        self.term_stats = BM25TermStats.of(self.bm25, manifest.chunks)
        self.chunk_docs = np.load(version_dir / layout.CHUNK_DOCS, mmap_mode="r")
        self.doc_groups = np.load(version_dir / layout.DOC_GROUPS, mmap_mode="r")
        self.vectors = self.chunk_scripts = self.script_means = self.title_vectors = self.covered = None
        if manifest.embedder:
            if (version_dir / layout.DENSE_INDEX).is_file():  # absent at the titles stage
                self.vectors = faiss.read_index(str(version_dir / layout.DENSE_INDEX), faiss.IO_FLAG_MMAP)
            if (version_dir / layout.SCRIPT_MEANS).is_file():  # absent in indexes built before it existed
                self.chunk_scripts = np.load(version_dir / layout.CHUNK_SCRIPTS, mmap_mode="r")
                self.script_means = np.load(version_dir / layout.SCRIPT_MEANS)
                self.title_vectors = np.load(version_dir / layout.TITLE_VECTORS, mmap_mode="r")
            if (version_dir / layout.DENSE_CHUNKS).is_file():
                self.covered = np.load(version_dir / layout.DENSE_CHUNKS)
        self.capabilities = Capabilities(
            dense=self.vectors is not None or self.title_vectors is not None,
            term_statistics=True,
            script_centering=self.script_means is not None,
            title_vectors=self.title_vectors is not None,
            partial_dense=True,
        )
        self._documents = [
            DocumentRecord(d, t, u, c, k, f, g, json.loads(m))
            for d, t, u, c, k, f, g, m in self._query(
                "SELECT doc_index, title, url, body_chars, n_chunks, first_chunk, dup_group, metadata "
                "FROM documents ORDER BY doc_index")
        ]
        self._first_chunks = np.fromiter((d.first_chunk for d in self._documents), dtype=np.int64,
                                         count=len(self._documents))
        self._reference = reference_sample(manifest.chunks)
        self._reference_vectors: np.ndarray | None = None

    def _query(self, sql: str, params: Sequence = ()) -> list[tuple]:
        with self._db_lock:  # one connection, opened at load: it outlives a pruned version directory
            return self._db.execute(sql, params).fetchall()

    # --- records -------------------------------------------------------------------------------

    def documents(self) -> Sequence[DocumentRecord]:
        return self._documents

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        if not len(ids):
            return {}
        ids = [int(i) for i in ids]
        rows = self._query(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)
        return {row[0]: ChunkRecord(*row) for row in rows}

    def check(self) -> None:
        """Files opened at load stay readable: nothing can become unreachable."""

    def close(self) -> None:
        with self._db_lock:
            self._db.close()

    # --- candidates ----------------------------------------------------------------------------

    def candidates(self, query: EngineQuery) -> Candidates:
        lexical = self._bm25(query.terms)
        qvec = query.vector if self.capabilities.dense else None
        shift = self._script_shift(qvec, query.script_centering) if qvec is not None else None
        dense_top = dense = reference = None
        if query.mode == "bm25" or qvec is None:
            ids = self._lexical_candidates(lexical, query.depth)
        elif query.mode == "dense":
            ids, dense = self._dense_candidates(qvec, query.depth, shift)
            dense_top = dense
        else:
            dense_ids, dense_top = self._dense_candidates(qvec, query.depth, shift)
            ids = np.union1d(self._lexical_candidates(lexical, query.depth), dense_ids)
            dense = self._dense_scores(qvec, ids, shift)
        if dense is not None:
            reference = self._reference_scores(qvec, shift)
        docs = np.asarray(self.chunk_docs[ids], dtype=np.int64)
        title = None
        if query.titles and dense is not None and self.title_vectors is not None:
            title = self.title_vectors[docs] @ qvec
        best = int(np.argmax(lexical)) if lexical.size and lexical.max() > 0 else None
        return Candidates(ids=ids.astype(np.int64), docs=docs, groups=np.asarray(self.doc_groups[docs], np.int64),
                          bm25=lexical[ids].astype(np.float64), dense=dense, title=title, dense_top=dense_top,
                          best_lexical=best, dense_reference=reference)

    def _bm25(self, terms: Sequence[str]) -> np.ndarray:
        """BM25 score of every chunk."""
        known = [t for t in terms if t in self.vocab]
        if not known:
            return np.zeros(self.manifest.chunks, dtype=np.float32)
        return np.asarray(self.bm25.get_scores(known))

    @staticmethod
    def _lexical_candidates(lexical: np.ndarray, depth: int) -> np.ndarray:
        positive = np.flatnonzero(lexical > 0)
        return positive[np.argsort(-lexical[positive], kind="stable")[:depth]]

    def _script_shift(self, qvec: np.ndarray, weight: float) -> np.ndarray | None:
        """Per-script offsets to subtract from dense scores: the query's similarity to each script's mean passage.

        A multilingual embedder rates any passage in the query's language above the rest (English questions
        over a Chinese corpus pulled up an English exam paper and the Hugging Face home page); scoring each
        passage against its own script's mean keeps what is topical. English questions over miro: dense
        MRR@10 0.794 -> 0.812; Chinese (CMRC) unchanged (docs/quality.md).
        """
        if self.script_means is None or weight <= 0:
            return None
        return weight * (self.script_means @ qvec)

    def _reference_scores(self, qvec: np.ndarray, shift: np.ndarray | None) -> np.ndarray | None:
        """Dense scores of the reference sample, scored like every candidate (partial coverage included)."""
        if self._reference is None or (self.vectors is None and self.covered is None):
            return None
        if self.covered is not None:
            return self._dense_scores(qvec, self._reference, shift)
        if self._reference_vectors is None:  # read once: the version's vectors never change
            self._reference_vectors = self.vectors.reconstruct_batch(self._reference)
        scores = self._reference_vectors @ qvec
        return scores if shift is None else scores - shift[self.chunk_scripts[self._reference]]

    def _nearest(self, qvec: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The k chunks whose own vectors are nearest (raw inner products)."""
        if self.vectors is None or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        hnsw = self.manifest.ann == "hnsw"
        params = faiss.SearchParametersHNSW(efSearch=max(self.options.ef_search, k)) if hnsw else None
        # One OpenMP thread per search (per calling thread): a single query over 100k vectors is faster
        # single-threaded here (9.6 ms vs 13.2 ms with 2 threads), and requests run in parallel.
        faiss.omp_set_num_threads(self.options.threads)
        scores, ids = self.vectors.search(qvec.reshape(1, -1), min(k, self.vectors.ntotal), params=params)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def _dense_candidates(self, qvec: np.ndarray, depth: int, shift: np.ndarray | None
                          ) -> tuple[np.ndarray, np.ndarray]:
        k = min(depth if shift is None else 2 * depth, self.manifest.chunks)  # the shift reorders the edge
        ids, scores = self._nearest(qvec, k)
        if self.covered is not None:  # partial coverage: documents whose title matches stand in by their lead
            titles = np.asarray(self.title_vectors @ qvec)
            top_docs = np.argpartition(-titles, min(k, len(titles)) - 1)[:k] if len(titles) > k else np.arange(
                len(titles))
            ids = np.union1d(ids, self._first_chunks[top_docs])
            scores = self._dense_scores(qvec, ids, None)
        if shift is None and self.covered is None:
            return ids, scores
        if shift is not None:
            scores = scores - shift[self.chunk_scripts[ids]]
        order = np.argsort(-scores, kind="stable")[:depth]
        return ids[order], scores[order]

    def _dense_scores(self, qvec: np.ndarray, ids: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
        """Each chunk's own vector, else its document's lead chunk's, else its document title's similarity."""
        ids = ids.astype(np.int64)
        if self.covered is None:
            scores = self.vectors.reconstruct_batch(ids) @ qvec
        else:
            scores = np.empty(len(ids), dtype=np.float32)
            own = self.covered[ids]
            if own.any():
                scores[own] = self.vectors.reconstruct_batch(ids[own]) @ qvec
            docs = np.asarray(self.chunk_docs[ids[~own]], dtype=np.int64)
            leads = self._first_chunks[docs]
            by_lead = self.covered[leads]
            proxy = np.asarray(self.title_vectors[docs] @ qvec, dtype=np.float32)
            if by_lead.any():
                proxy[by_lead] = self.vectors.reconstruct_batch(leads[by_lead]) @ qvec
            scores[~own] = proxy
        return scores if shift is None else scores - shift[self.chunk_scripts[ids]]
