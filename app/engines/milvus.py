"""The ``milvus`` engine: one published version's collections in Milvus (Standalone, Distributed or Lite).

BM25 runs server-side on the jieba-analysed passage text, dense search on the
stored vectors; every candidate of either side gets the other side's evidence
too (a filtered BM25 search, its vector fetched), so fusion sees what it sees
with the local engine. The per-script means and probe means are small files of
the version directory; documents are read once at load. Term statistics are
not exposed by Milvus: the search then weighs query terms uniformly.

Every call to Milvus that fails for want of a server raises ``EngineUnavailable``
naming the URI (its user and password never shown: ``milvus_layout.redact_uri``),
the constructor's own connection included; the registry then serves this
corpus's 503s from memory and re-checks the connection each refresh, so the
corpus comes back by itself. At most ``MilvusOptions.max_calls`` calls are in
flight per engine: a hung server holds that many threads, and every further
call fails at once with ``EngineBusy`` (503 with Retry-After) instead of taking
the threads the other corpora and ``/healthz`` need.
"""
from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import grpc
import numpy as np
from pymilvus import MilvusException

from app.engines.milvus_options import MilvusOptions
from app.engines.protocol import (
    Candidates,
    Capabilities,
    ChunkRecord,
    DocumentRecord,
    EngineBusy,
    EngineQuery,
    EngineUnavailable,
    reference_sample,
)
from indexing import layout
from indexing import milvus_layout as ml

# pymilvus logs every failed call and reconnection attempt with a traceback (dozens of lines every refresh while
# a server is down); an unreachable server is reported once, as the corpus's failure, by the registry instead.
for _name in ("pymilvus.decorators", "pymilvus.client.connection_manager"):
    logging.getLogger(_name).setLevel(logging.CRITICAL)

T = TypeVar("T")
CONNECT_FAILED = 2  # pymilvus Status.CONNECT_FAILED
COLLECTION_NOT_FOUND = 100
COLLECTION_NOT_LOADED = 101  # after a Milvus Lite restart collections come back released
MAX_LIMIT = 16384  # Milvus caps a search's top-k and a query's window at 16,384 rows
DOC_PAGE = 5000  # documents read per query at load


class MilvusEngine:
    def __init__(self, version_dir: Path, manifest: layout.Manifest, options: MilvusOptions = MilvusOptions()):
        self.manifest = manifest
        self.index = ml.MilvusIndex.of(manifest)
        self.options = options
        self.uri = options.uri or self.index.uri
        self.shown_uri = ml.redact_uri(self.uri)
        self._slots = threading.BoundedSemaphore(max(1, options.max_calls))
        try:  # the client connects at once: a server down at start is a retry, not a broken index
            self._client = ml.MilvusConnection(self.uri, options.token, self.index.db_name, options.timeout_s).client()
        except MilvusException as exc:
            raise self._unavailable(f"Milvus at {self.shown_uri} is unreachable: {exc.message}") from None
        except grpc.RpcError as exc:
            raise self._rpc_error(exc) from None
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="milvus")  # BM25 and dense side by side
        self._load_lock = threading.Lock()
        dense = self.index.dim is not None
        means = version_dir / layout.SCRIPT_MEANS
        self.script_means = np.load(means) if dense and means.is_file() else None
        self.capabilities = Capabilities(dense=dense, term_statistics=False,
                                         script_centering=self.script_means is not None, title_vectors=dense)
        self.term_stats = None  # Milvus exposes no document frequencies
        try:
            self.check()
            self._documents = self._read_documents()
        except BaseException:
            self.close()
            raise
        self._first_chunks = np.array([d.first_chunk for d in self._documents], dtype=np.int64)
        self._groups = np.array([d.dup_group for d in self._documents], dtype=np.int64)
        self._reference_ids = reference_sample(manifest.chunks)
        self._reference: tuple[np.ndarray, np.ndarray] | None = None  # their vectors and scripts, read on first use

    # --- connection ----------------------------------------------------------------------------

    def _unavailable(self, message: str) -> EngineUnavailable:
        """The error to show, with any credentials of the URI redacted (pymilvus's messages may quote it)."""
        return EngineUnavailable(message.replace(self.uri, self.shown_uri))

    def _slot(self) -> None:
        if not self._slots.acquire(blocking=False):
            raise EngineBusy(f"Milvus at {self.shown_uri} already has {self.options.max_calls} calls of this corpus "
                             "in flight (RAG_MILVUS_MAX_CALLS): it is slow or hung; retry in a moment")

    def _call(self, fn: Callable[..., T], *args, reload: bool = True, **kwargs) -> T:
        """One Milvus call: reloads released collections once (unless ``reload`` is off: loading itself, or
        checking); an unreachable server raises EngineUnavailable, one call too many EngineBusy."""
        for attempt in (0, 1):
            self._slot()
            try:
                return fn(*args, timeout=self.options.timeout_s, **kwargs)
            except MilvusException as exc:
                if exc.code != COLLECTION_NOT_LOADED or attempt == 1 or not reload:
                    raise self._translate(exc) from None
            except grpc.RpcError as exc:
                raise self._rpc_error(exc) from None
            finally:
                self._slots.release()
            self._load()  # released by a Milvus Lite restart: load once, then call again
        raise AssertionError("unreachable")

    def _rpc_error(self, exc: grpc.RpcError) -> EngineUnavailable:
        if exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return self._unavailable(f"Milvus at {self.shown_uri} did not answer within {self.options.timeout_s:g} s "
                                     "(RAG_MILVUS_TIMEOUT_S)")
        return self._unavailable(f"Milvus at {self.shown_uri} is unreachable ({exc.code().name})")

    def _translate(self, exc: MilvusException) -> Exception:
        if exc.code == COLLECTION_NOT_FOUND:
            return self._unavailable(f"Milvus at {self.shown_uri} has no collection of this index ({exc.message}); "
                                     "rebuild it with --engine milvus")
        if exc.code == CONNECT_FAILED or isinstance(exc.code, grpc.StatusCode):
            return self._unavailable(f"Milvus at {self.shown_uri} is unreachable: {exc.message}")
        return exc

    def _load(self) -> None:
        with self._load_lock:
            for name in (self.index.chunks, self.index.documents):
                self._call(self._client.load_collection, name, reload=False)

    def check(self) -> None:
        """Both collections present and loaded (loading them after a restart); EngineUnavailable otherwise."""
        from pymilvus.client.types import LoadState

        for name in (self.index.chunks, self.index.documents):
            state = self._call(self._client.get_load_state, name, reload=False)["state"]
            if state == LoadState.NotExist:
                raise EngineUnavailable(f"Milvus at {self.shown_uri} has no collection {name}; rebuild the index with "
                                        "--engine milvus")
            if state != LoadState.Loaded:
                self._load()

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()

    # --- records -------------------------------------------------------------------------------

    def _read_documents(self) -> list[DocumentRecord]:
        docs: list[DocumentRecord] = []
        fields = list(ml.DOC_FIELDS)
        for start in range(0, self.manifest.documents, DOC_PAGE):
            rows = self._call(self._client.query, self.index.documents, limit=DOC_PAGE, output_fields=fields,
                              filter=f"doc_index >= {start} and doc_index < {start + DOC_PAGE}")
            for r in sorted(rows, key=lambda r: r["doc_index"]):
                docs.append(DocumentRecord(r["doc_index"], r["title"], r["url"], r["body_chars"], r["n_chunks"],
                                           r["first_chunk"], r["dup_group"], json.loads(r["metadata"])))
        if [d.doc_index for d in docs] != list(range(self.manifest.documents)):
            raise layout.IndexFormatError(f"Milvus collection {self.index.documents} does not hold documents "
                                          f"0..{self.manifest.documents - 1}; rebuild the index")
        return docs

    def documents(self) -> Sequence[DocumentRecord]:
        return self._documents

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]:
        if not len(ids):
            return {}
        rows = self._call(self._client.get, self.index.chunks, ids=[int(i) for i in ids],
                          output_fields=list(ml.CHUNK_FIELDS))
        return {r["id"]: ChunkRecord(*(r[f] for f in ml.CHUNK_FIELDS)) for r in rows}

    # --- candidates ----------------------------------------------------------------------------

    def candidates(self, query: EngineQuery) -> Candidates:
        qvec = query.vector if self.capabilities.dense else None
        shift = None
        if qvec is not None and self.script_means is not None and query.script_centering > 0:
            shift = query.script_centering * (self.script_means @ qvec)
        dense_top = dense = best = None
        if query.mode == "bm25" or qvec is None:
            lexical = self._bm25(query, query.depth)
            ids = np.array(sorted(lexical), dtype=np.int64)
            bm25 = np.array([lexical[i] for i in ids], dtype=np.float64)
            best = max(lexical, key=lexical.get) if lexical else None
        elif query.mode == "dense":
            ids, dense = self._dense(qvec, query.depth, shift)
            dense_top = dense
            lexical = self._bm25(query, len(ids), ids)
            bm25 = np.array([lexical.get(int(i), 0.0) for i in ids], dtype=np.float64)
        else:
            lexical_f = self._pool.submit(self._bm25, query, query.depth)
            dense_ids, dense_top = self._dense(qvec, query.depth, shift)
            lexical = lexical_f.result()
            best = max(lexical, key=lexical.get) if lexical else None
            lexical_only = np.array(sorted(set(lexical) - set(dense_ids.tolist())), dtype=np.int64)
            dense_only = np.array([i for i in dense_ids.tolist() if i not in lexical], dtype=np.int64)
            # the other side's evidence for each side's candidates, as the local engine scores the union
            more_lexical = self._pool.submit(self._bm25, query, len(dense_only), dense_only)
            more_dense = self._dense_of(qvec, lexical_only, shift)
            lexical.update(more_lexical.result())
            ids = np.concatenate([dense_ids, lexical_only])
            dense = np.concatenate([dense_top, more_dense])
            bm25 = np.array([lexical.get(int(i), 0.0) for i in ids], dtype=np.float64)
        docs = np.searchsorted(self._first_chunks, ids, side="right") - 1
        title = reference = None
        if dense is not None:
            reference = self._reference_scores(qvec, shift)
            if query.titles:
                title = self._title_scores(qvec, docs)
        return Candidates(ids=ids, docs=docs, groups=self._groups[docs], bm25=bm25, dense=dense, title=title,
                          dense_top=dense_top, best_lexical=best, dense_reference=reference)

    def _bm25(self, query: EngineQuery, limit: int, within: np.ndarray | None = None) -> dict[int, float]:
        """Chunk id -> BM25 score of the best ``limit`` chunks (of ``within`` if given); no query term, no hits."""
        if not query.terms or limit <= 0 or (within is not None and not len(within)):
            return {}
        limit = min(limit, MAX_LIMIT)
        expr = "" if within is None else f"id in {[int(i) for i in within]}"
        hits = self._call(self._client.search, self.index.chunks, data=[query.text], anns_field=ml.SPARSE,
                          limit=limit, filter=expr, output_fields=["id"], search_params={"metric_type": "BM25"})[0]
        return {int(h["id"]): abs(float(h["distance"])) for h in hits}  # Milvus Lite returns BM25 negated

    def _search_params(self, limit: int) -> dict:
        if self.index.dense_index == "HNSW":
            return {"metric_type": "IP", "params": {"ef": max(self.options.ef_search, limit)}}
        return {"metric_type": "IP"}

    def _dense(self, qvec: np.ndarray, depth: int, shift: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """The nearest chunks and their scores, best first, after script centering."""
        k = min(depth if shift is None else 2 * depth, self.manifest.chunks, MAX_LIMIT)  # the shift reorders the edge
        hits = self._call(self._client.search, self.index.chunks, data=[qvec.tolist()], anns_field=ml.VECTOR,
                          limit=k, output_fields=[ml.SCRIPT], search_params=self._search_params(k))[0]
        ids = np.array([h["id"] for h in hits], dtype=np.int64)
        scores = np.array([h["distance"] for h in hits], dtype=np.float32)
        if shift is not None:
            scores = scores - shift[np.array([h["entity"][ml.SCRIPT] for h in hits], dtype=np.int64)]
        order = np.argsort(-scores, kind="stable")[:depth]
        return ids[order], scores[order]

    def _dense_of(self, qvec: np.ndarray, ids: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
        """Dense scores of given chunks: their vectors fetched, scored as the local engine does."""
        if not len(ids):
            return np.zeros(0, dtype=np.float32)
        return self._scored(*self._vectors_of(ids), qvec, shift)

    def _reference_scores(self, qvec: np.ndarray, shift: np.ndarray | None) -> np.ndarray | None:
        """Dense scores of the confidence's reference sample (``reference_sample``); its vectors are read once."""
        if self._reference_ids is None:
            return None
        if self._reference is None:  # a version's collection never changes; a race only reads it twice
            self._reference = self._vectors_of(self._reference_ids)
        return self._scored(*self._reference, qvec, shift)

    def _vectors_of(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        rows = {r["id"]: r for r in self._call(self._client.get, self.index.chunks, ids=ids.tolist(),
                                               output_fields=[ml.VECTOR, ml.SCRIPT])}
        return (np.array([rows[int(i)][ml.VECTOR] for i in ids], dtype=np.float32),
                np.array([rows[int(i)][ml.SCRIPT] for i in ids], dtype=np.int64))

    @staticmethod
    def _scored(vectors: np.ndarray, scripts: np.ndarray, qvec: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
        scores = vectors @ qvec
        return scores if shift is None else scores - shift[scripts]

    def _title_scores(self, qvec: np.ndarray, docs: np.ndarray) -> np.ndarray:
        unique = np.unique(docs)
        hits = self._call(self._client.search, self.index.documents, data=[qvec.tolist()],
                          anns_field=ml.TITLE_VECTOR, limit=min(len(unique), MAX_LIMIT),
                          filter=f"doc_index in {unique.tolist()}",
                          output_fields=["doc_index"], search_params=self._search_params(len(unique)))[0]
        by_doc = {int(h["entity"]["doc_index"]): float(h["distance"]) for h in hits}
        return np.array([by_doc.get(int(d), 0.0) for d in docs], dtype=np.float32)
