"""Corpus file -> a new published index version, built aside and swapped in atomically."""
from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
from tqdm import tqdm

from indexing import layout
from indexing.chunking import chunk_spans
from indexing.corpus import iter_documents
from indexing.dedup import group_near_duplicates, signature
from indexing.dense import EmbeddingCache, embed_missing, script_groups, write_faiss
from indexing.embedders import load_embedder
from indexing.lexical import Vocabulary, build_bm25
from indexing.settings import Settings
from indexing.tokenizer import TOKENIZER_ID, tokenize

log = logging.getLogger(__name__)


@dataclass
class BuildOptions:
    name: str
    index_dir: Path
    chunk_size: int
    chunk_overlap: int
    embedder: str | None  # None: BM25-only, dense vectors can be added by a later build
    query_prefix: str | None = None
    passage_prefix: str | None = None
    device: str | None = None
    embed_batch_size: int = 16
    ann: str = "auto"
    hnsw_min_chunks: int = 50_000
    hnsw_m: int = 32
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_method: str = "lucene"
    dedup_threshold: float = 0.8

    @classmethod
    def from_settings(cls, settings: Settings, name: str, dense: bool = True, **overrides) -> "BuildOptions":
        values = dict(
            name=name,
            index_dir=settings.index_dir,
            chunk_size=settings.chunk_size,
            chunk_overlap=settings.chunk_overlap,
            embedder=settings.embedder if dense else None,
            query_prefix=settings.query_prefix,
            passage_prefix=settings.passage_prefix,
            device=settings.device,
            embed_batch_size=settings.embed_batch_size,
            ann=settings.ann,
            hnsw_min_chunks=settings.hnsw_min_chunks,
            hnsw_m=settings.hnsw_m,
            bm25_k1=settings.bm25_k1,
            bm25_b=settings.bm25_b,
            bm25_method=settings.bm25_method,
            dedup_threshold=settings.dedup_threshold,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def vector_index(self, chunks: int) -> str:
        """'auto' means exact search while it is cheap, HNSW once a flat scan costs more than the query embedding."""
        if self.ann == "auto":
            return "hnsw" if chunks >= self.hnsw_min_chunks else "flat"
        return self.ann


@dataclass
class BuildReport:
    manifest: layout.Manifest
    version_dir: Path
    embedded: int = 0
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)


@contextmanager
def _build_lock(index_dir: Path, name: str) -> Iterator[None]:
    root = layout.corpus_root(index_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".build.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeError(f"another build of {name!r} is running in {root}") from None
        for stale in root.glob("v-*.partial"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        yield


def _chunk_corpus(path: Path, opts: BuildOptions, db: sqlite3.Connection, progress: bool) -> dict:
    """Stream documents into the chunk store; return what later stages need, kept compact."""
    vocab = Vocabulary()
    token_ids: list[np.ndarray] = []
    hashes: list[str] = []
    chunk_docs: list[int] = []
    signatures = []
    stats = dict(documents=0, empty_documents=0, characters=0)
    chunk_rows, doc_rows = [], []
    for doc in tqdm(iter_documents(path), desc="reading+chunking", unit="doc", disable=not progress):
        spans = chunk_spans(doc.body, opts.chunk_size, opts.chunk_overlap)
        pieces = [(s.start, s.end, doc.body[s.start : s.end]) for s in spans] or [(0, 0, "")]
        first = len(chunk_docs)
        title_terms = tokenize(doc.title)  # every chunk is indexed under its title too; segment it once
        for chunk_index, (start, end, content) in enumerate(pieces):
            digest = content_hash(layout.passage_text(doc.title, content))
            token_ids.append(vocab.encode(title_terms + tokenize(content)))
            hashes.append(digest)
            chunk_docs.append(doc.index)
            chunk_rows.append((len(chunk_docs) - 1, doc.index, chunk_index, doc.title, content, doc.url, start, end, digest))
        doc_rows.append((doc.index, doc.title, doc.url, len(doc.body), len(pieces), first, doc.index,
                         json.dumps(doc.metadata, ensure_ascii=False)))
        signatures.append(signature(doc.body))
        stats["documents"] += 1
        stats["empty_documents"] += not doc.body.strip()
        stats["characters"] += len(doc.body)
        if len(chunk_rows) >= 5000:
            db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", chunk_rows)
            chunk_rows.clear()
    db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", chunk_rows)
    db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", doc_rows)
    return dict(stats, vocab=vocab, token_ids=token_ids, hashes=hashes, chunk_docs=chunk_docs, signatures=signatures)


def content_hash(text: str) -> str:
    """Key of a text in the embedding cache: the same text is embedded once, whatever corpus it comes from."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def _texts_in_order(db: sqlite3.Connection) -> list[str]:
    return [layout.passage_text(t, c) for t, c in db.execute("SELECT title, content FROM chunks ORDER BY id")]


def build_index(corpus_path: Path, opts: BuildOptions, progress: bool = True) -> BuildReport:
    """Build every part of the index in a staging directory, then publish it; on any failure nothing changes."""
    corpus_path = Path(corpus_path).resolve()
    layout.check_name(opts.name)
    if opts.chunk_size <= 0 or not 0 <= opts.chunk_overlap < opts.chunk_size:
        raise ValueError(f"chunk overlap ({opts.chunk_overlap}) must be >= 0 and below chunk size ({opts.chunk_size})")
    seconds: dict[str, float] = {}
    with _build_lock(opts.index_dir, opts.name):
        staged = layout.new_version_dir(opts.index_dir, opts.name)
        try:
            t0 = time.perf_counter()
            source_sha = layout.file_sha256(corpus_path)
            db = sqlite3.connect(staged / layout.CHUNKS_DB)
            db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + layout.SCHEMA)
            parts = _chunk_corpus(corpus_path, opts, db, progress)
            seconds["read_chunk_tokenize"] = time.perf_counter() - t0

            t0 = time.perf_counter()
            build_bm25(parts["token_ids"], parts["vocab"], opts.bm25_k1, opts.bm25_b, opts.bm25_method,
                       staged / layout.BM25_DIR)
            seconds["bm25"] = time.perf_counter() - t0
            del parts["token_ids"]

            t0 = time.perf_counter()
            groups = group_near_duplicates(parts.pop("signatures"), opts.dedup_threshold)
            db.executemany("UPDATE documents SET dup_group = ? WHERE doc_index = ?",
                           [(int(g), i) for i, g in enumerate(groups) if g != i])
            db.commit()
            np.save(staged / layout.DOC_GROUPS, groups)
            np.save(staged / layout.CHUNK_DOCS, np.asarray(parts["chunk_docs"], dtype=np.int32))
            seconds["dedup"] = time.perf_counter() - t0

            embedder_info, embedded, reused, ann = None, 0, 0, None
            if opts.embedder:
                t0 = time.perf_counter()
                embedder = load_embedder(opts.embedder, opts.query_prefix, opts.passage_prefix, opts.device)
                cache = EmbeddingCache(Path(opts.index_dir) / layout.EMBED_CACHE_DIR,
                                       embedder.cache_key, embedder.dim)
                try:
                    hashes = parts["hashes"]
                    texts = _texts_in_order(db)
                    titles = [t for (t,) in db.execute("SELECT title FROM documents ORDER BY doc_index")]
                    title_hashes = [content_hash(t) for t in titles]
                    every_hash = hashes + title_hashes
                    embedded = embed_missing(embedder, cache, every_hash, texts + titles, opts.embed_batch_size,
                                             progress)
                    reused = len(set(every_hash)) - embedded
                    ann = opts.vector_index(len(hashes))
                    vectors = cache.matrix(hashes)
                    write_faiss(vectors, ann, staged / layout.DENSE_INDEX, opts.hnsw_m)
                    scripts, means = script_groups(texts, vectors)
                    np.save(staged / layout.CHUNK_SCRIPTS, scripts)
                    np.save(staged / layout.SCRIPT_MEANS, means)
                    np.save(staged / layout.TITLE_VECTORS, cache.matrix(title_hashes))
                finally:
                    cache.close()
                embedder_info = layout.EmbedderInfo(opts.embedder, embedder.id, embedder.dim,
                                                    opts.query_prefix, opts.passage_prefix)
                seconds["dense"] = time.perf_counter() - t0
            db.close()

            manifest = layout.Manifest(
                name=opts.name,
                source_path=str(corpus_path),
                source_sha256=source_sha,
                documents=parts["documents"],
                empty_documents=parts["empty_documents"],
                chunks=len(parts["chunk_docs"]),
                characters=parts["characters"],
                chunk_size=opts.chunk_size,
                chunk_overlap=opts.chunk_overlap,
                tokenizer=TOKENIZER_ID,
                bm25=dict(k1=opts.bm25_k1, b=opts.bm25_b, method=opts.bm25_method),
                embedder=embedder_info,
                ann=ann,
                duplicate_groups=_count_groups(groups),
                built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                build_seconds={k: round(v, 3) for k, v in seconds.items()},
            )
            layout.write_manifest(staged, manifest)
            final = layout.publish(opts.index_dir, opts.name, staged)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
    return BuildReport(manifest, final, embedded, reused, seconds)


def _count_groups(groups: np.ndarray) -> int:
    """Groups with more than one member."""
    _, counts = np.unique(groups, return_counts=True)
    return int((counts > 1).sum())
