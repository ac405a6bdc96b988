"""Corpus file -> published index versions, built aside and swapped in atomically, dense vectors in stages.

The lexical part (chunks, BM25, near-duplicate groups, chunk scripts) comes first
and takes seconds. Dense vectors follow in stages, each published as soon as it
is done so a running service searches with whatever is ready:

    none    BM25 only
    titles  one vector per document title (~1% of the text): every chunk is scored by its title
    leads   plus each document's first chunk: a document's other chunks are scored by its lead
    full    every chunk has its own vector

A stage is published on its way to the target only when more than
``BuildOptions.stage_min_chars`` of embedding remain after it, and never below
the stage already published. Vectors are cached by content hash, so a killed build
resumes where it stopped and a rebuild embeds only what changed.
"""
from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np
from tqdm import tqdm

from indexing import folder, layout
from indexing.chunking import Span, chunk_spans
from indexing.corpus import Document, iter_documents
from indexing.dedup import group_near_duplicates, signature
from indexing.dense import EmbeddingCache, embed_missing, script_groups, write_faiss
from indexing.embedders import Embedder, load_embedder
from indexing.lexical import Vocabulary, build_bm25
from indexing.probes import probe_means
from indexing.settings import IndexSettings
from indexing.tokenizer import TOKENIZER_ID, script_of, tokenize

log = logging.getLogger(__name__)

STAGES = layout.DENSE_STAGES  # ("none", "titles", "leads", "full")


@dataclass
class BuildOptions:
    name: str
    index_dir: Path
    chunk_size: int
    chunk_overlap: int
    embedder: str | None  # None: BM25-only, dense vectors can be added by a later build
    dense: str = "full"  # the stage to stop at when embedding: titles, leads or full
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
    force: bool = False  # allow a BM25-only build to replace a published index that has vectors
    # Publish a stage on the way only if more embedding than this remains: below it (a few seconds on 2 cores)
    # another version is not worth it.
    stage_min_chars: int = 20_000
    embed_cache_dir: Path | None = None  # default <index_dir>/.embed-cache; a staging build shares the real one
    private: bool = False  # the corpus directory 0700, every file 0600, whatever the umask (on-demand indexes)

    @classmethod
    def from_settings(cls, settings: IndexSettings, name: str, dense: bool = True, dense_stage: str = "full",
                      **overrides) -> "BuildOptions":
        values = dict(
            dense=dense_stage,
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

    @property
    def target(self) -> str:
        return self.dense if self.embedder else "none"


@dataclass(frozen=True)
class Progress:
    """Where a build is: its stage and the embedding done of all that remains to its target."""

    stage: str
    done_chars: int
    total_chars: int
    chars_per_s: float | None

    @property
    def eta_s(self) -> float | None:
        if not self.chars_per_s:
            return None
        return max(0.0, (self.total_chars - self.done_chars) / self.chars_per_s)


@dataclass
class BuildReport:
    manifest: layout.Manifest
    version_dir: Path
    embedded: int = 0
    reused: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)  # the stages published, in order
    published_s: list[float] = field(default_factory=list)  # seconds from the build's start to each


class BuildLocked(RuntimeError):
    """Another live process builds this corpus."""


@contextmanager
def build_lock(index_dir: Path, name: str, private: bool = False) -> Iterator[None]:
    """An OS lock held by the building process: released when it exits, however it exits. ``private``: the
    corpus directory is made 0700 first, so nothing written under it is visible to others meanwhile."""
    root = layout.corpus_root(index_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    if private:
        os.chmod(root, 0o700)
    with open(root / layout.BUILD_LOCK, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise BuildLocked(f"another build of {name!r} is running ({holder}); wait for it or stop it") from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime())}")
        fh.flush()
        for stale in root.glob("v-*.partial"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        yield


def content_hash(text: str) -> str:
    """Key of a text in the embedding cache: the same text is embedded once, whatever corpus it comes from."""
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


@dataclass
class _Lexical:
    """What the dense stages need of the lexical stage, kept compact."""

    dir: Path
    manifest_fields: dict
    chunk_hashes: list[str]
    chunk_scripts: np.ndarray
    first_chunks: np.ndarray  # id of each document's first chunk
    titles: list[str]


def _documents(path: Path, prepared: folder.Prepared | None) -> Iterator[tuple[Document, tuple]]:
    """The documents to index with their blocks: a JSON corpus's documents (no blocks), or a prepared
    folder's sections."""
    if prepared is None:
        yield from ((doc, ()) for doc in iter_documents(path))
        return
    for i, s in enumerate(prepared.sections):
        yield Document(i, s.title or f"untitled document {i}", s.body, s.url, s.metadata), s.blocks


def _block_spans(body: str, blocks: tuple, size: int, overlap: int) -> list[Span]:
    """Chunks of each block on its own, in body offsets: a chunk never spans two blocks (it cites one place)."""
    return [Span(start + s.start, start + s.end) for start, end, _ in blocks
            for s in chunk_spans(body[start:end], size, overlap)]


def _write_folder_tables(db: sqlite3.Connection, prepared: folder.Prepared) -> None:
    db.executescript(layout.FOLDER_SCHEMA)
    db.executemany(f"INSERT INTO files VALUES ({','.join('?' * 12)})",
                   [tuple(dataclasses.astuple(f)) for f in prepared.files])
    db.executemany(f"INSERT INTO blocks VALUES ({','.join('?' * 11)})", [
        (doc, i, start, end, b.place.kind, b.place.number, b.place.sheet, b.place.first_row, b.place.last_row,
         json.dumps(list(b.heading), ensure_ascii=False), b.text)
        for doc, s in enumerate(prepared.sections) for i, (start, end, b) in enumerate(s.blocks)])


def _lexical_stage(path: Path, staged: Path, opts: BuildOptions, progress: bool) -> _Lexical:
    """Chunks, BM25, near-duplicate groups and chunk scripts, written into ``staged``."""
    t0 = time.perf_counter()
    db = sqlite3.connect(staged / layout.CHUNKS_DB)
    db.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;" + layout.SCHEMA)
    prepared = folder.read_prepared(path) if folder.is_prepared(path) else None
    if prepared is not None:
        _write_folder_tables(db, prepared)
    vocab = Vocabulary()
    token_ids: list[np.ndarray] = []
    hashes: list[str] = []
    scripts: list[int] = []
    chunk_docs: list[int] = []
    first_chunks: list[int] = []
    titles: list[str] = []
    signatures = []
    stats = dict(documents=0, empty_documents=0, characters=0)
    chunk_rows, doc_rows = [], []
    for doc, blocks in tqdm(_documents(path, prepared), desc="reading+chunking", unit="doc", disable=not progress):
        spans = _block_spans(doc.body, blocks, opts.chunk_size, opts.chunk_overlap) if blocks else \
            chunk_spans(doc.body, opts.chunk_size, opts.chunk_overlap)
        pieces = [(s.start, s.end, doc.body[s.start : s.end]) for s in spans] or [(0, 0, "")]
        first = len(chunk_docs)
        title_terms = tokenize(doc.title)  # every chunk is indexed under its title too; segment it once
        for chunk_index, (start, end, content) in enumerate(pieces):
            text = layout.passage_text(doc.title, content)
            token_ids.append(vocab.encode(title_terms + tokenize(content)))
            hashes.append(content_hash(text))
            scripts.append(layout.SCRIPTS.index(script_of(text)))
            chunk_docs.append(doc.index)
            chunk_rows.append((len(chunk_docs) - 1, doc.index, chunk_index, doc.title, content, doc.url, start, end,
                               hashes[-1]))
        doc_rows.append((doc.index, doc.title, doc.url, len(doc.body), len(pieces), first, doc.index,
                         json.dumps(doc.metadata, ensure_ascii=False)))
        first_chunks.append(first)
        titles.append(doc.title)
        signatures.append(signature(doc.body))
        stats["documents"] += 1
        stats["empty_documents"] += not doc.body.strip()
        stats["characters"] += len(doc.body)
        if len(chunk_rows) >= 5000:
            db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", chunk_rows)
            chunk_rows.clear()
    db.executemany("INSERT INTO chunks VALUES (?,?,?,?,?,?,?,?,?)", chunk_rows)
    db.executemany("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", doc_rows)
    seconds = {"read_chunk_tokenize": time.perf_counter() - t0}

    t0 = time.perf_counter()
    build_bm25(token_ids, vocab, opts.bm25_k1, opts.bm25_b, opts.bm25_method, staged / layout.BM25_DIR)
    seconds["bm25"] = time.perf_counter() - t0
    del token_ids

    t0 = time.perf_counter()
    groups = group_near_duplicates(signatures, opts.dedup_threshold)
    db.executemany("UPDATE documents SET dup_group = ? WHERE doc_index = ?",
                   [(int(g), i) for i, g in enumerate(groups) if g != i])
    (avg_chunk_chars,) = db.execute("SELECT AVG(end_char - start_char) FROM chunks").fetchone()
    db.commit()
    db.close()
    chunk_scripts = np.asarray(scripts, dtype=np.uint8)
    np.save(staged / layout.DOC_GROUPS, groups)
    np.save(staged / layout.CHUNK_DOCS, np.asarray(chunk_docs, dtype=np.int32))
    np.save(staged / layout.CHUNK_SCRIPTS, chunk_scripts)
    seconds["dedup"] = time.perf_counter() - t0
    cjk = int(chunk_scripts.sum())
    fields = dict(stats, chunks=len(chunk_docs), duplicate_groups=_count_groups(groups),
                  avg_chunk_chars=round(avg_chunk_chars or 0.0, 1), build_seconds=seconds,
                  dominant_script="cjk" if cjk * 2 >= len(chunk_scripts) else "latin",
                  source_kind=prepared.kind if prepared is not None else "json")
    return _Lexical(staged, fields, hashes, chunk_scripts, np.asarray(first_chunks, dtype=np.int64), titles)


def _count_groups(groups: np.ndarray) -> int:
    """Groups with more than one member."""
    _, counts = np.unique(groups, return_counts=True)
    return int((counts > 1).sum())


class _Stages:
    """The texts each dense stage embeds, in order, and which of them the cache already holds."""

    def __init__(self, lex: _Lexical, cache: EmbeddingCache):
        self.lex = lex
        self.cache = cache
        db = sqlite3.connect(f"file:{lex.dir / layout.CHUNKS_DB}?mode=ro", uri=True)
        texts = [layout.passage_text(t, c) for t, c in db.execute("SELECT title, content FROM chunks ORDER BY id")]
        db.close()
        leads = set(lex.first_chunks.tolist())
        rest = [i for i in range(len(texts)) if i not in leads]
        self.title_hashes = [content_hash(t) for t in lex.titles]
        self.items = {
            "titles": (self.title_hashes, lex.titles),
            "leads": ([lex.chunk_hashes[i] for i in sorted(leads)], [texts[i] for i in sorted(leads)]),
            "full": ([lex.chunk_hashes[i] for i in rest], [texts[i] for i in rest]),
        }
        self.chunk_texts = texts

    def missing_chars(self, stage: str, known: set[str]) -> int:
        hashes, texts = self.items[stage]
        seen: set[str] = set()
        total = 0
        for h, t in zip(hashes, texts):
            if h not in known and h not in seen:
                seen.add(h)
                total += len(t)
        return total

    def reached(self, known: set[str]) -> str:
        """The highest stage the cache completes, stages being cumulative."""
        reached = "none"
        for stage in STAGES[1:]:
            if any(h not in known for h in self.items[stage][0]):
                break
            reached = stage
        return reached


def _write_dense(staged: Path, lex: _Lexical, stages: _Stages, embedder: Embedder, opts: BuildOptions,
                 known: set[str]) -> tuple[str, float, str | None]:
    """Dense files for what the cache holds, up to the target stage (vectors cached beyond it stay out: a
    titles build serves titles, whatever else an earlier build embedded); returns (stage, share of chunks with
    their own vector, ann)."""
    stage = STAGES[min(STAGES.index(stages.reached(known)), STAGES.index(opts.target))]
    if stage == "none":
        return "none", 0.0, None
    cache = stages.cache
    allowed = {"titles": np.zeros(len(lex.chunk_hashes), dtype=bool), "full": np.ones(len(lex.chunk_hashes), bool)}
    allowed["leads"] = np.isin(np.arange(len(lex.chunk_hashes)), lex.first_chunks)
    covered = allowed[stage] & np.fromiter((h in known for h in lex.chunk_hashes), dtype=bool,
                                           count=len(lex.chunk_hashes))
    ids = np.flatnonzero(covered)
    titles = cache.matrix(stages.title_hashes)
    np.save(staged / layout.TITLE_VECTORS, titles)
    np.save(staged / layout.PROBE_MEANS, probe_means(embedder))
    ann = None
    if len(ids):
        vectors = cache.matrix([lex.chunk_hashes[i] for i in ids])
        ann = opts.vector_index(len(ids))
        write_faiss(vectors, ann, staged / layout.DENSE_INDEX, opts.hnsw_m,
                    ids=None if len(ids) == len(covered) else ids)
        texts, group_vectors = [stages.chunk_texts[i] for i in ids], vectors
    else:
        texts, group_vectors = lex.titles, titles  # the titles stage: the titles tell the script bias
    _, means = script_groups(texts, group_vectors)
    np.save(staged / layout.SCRIPT_MEANS, means)
    if len(ids) < len(covered):
        np.save(staged / layout.DENSE_CHUNKS, covered)
    return stage, len(ids) / max(len(covered), 1), ann


def _publish(lex: _Lexical, opts: BuildOptions, source: tuple[str, str], t_start: float,
             dense: Callable[[Path], tuple[str, float, str | None]] | None,
             embedder_info: layout.EmbedderInfo | None) -> tuple[layout.Manifest, Path]:
    """One complete version: the lexical files (hard links) plus the dense files of this point, then the swap."""
    staged = layout.new_version_dir(opts.index_dir, opts.name)
    try:
        for src in lex.dir.rglob("*"):
            if src.is_file():
                dst = staged / src.relative_to(lex.dir)
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.link(src, dst)
        stage, coverage, ann = dense(staged) if dense else ("none", 0.0, None)
        fields = dict(lex.manifest_fields)
        fields["build_seconds"] = {k: round(v, 3) for k, v in {**fields["build_seconds"],
                                                               "total": time.perf_counter() - t_start}.items()}
        manifest = layout.Manifest(
            name=opts.name, source_path=source[0], source_sha256=source[1], chunk_size=opts.chunk_size,
            chunk_overlap=opts.chunk_overlap, tokenizer=TOKENIZER_ID,
            bm25=dict(k1=opts.bm25_k1, b=opts.bm25_b, method=opts.bm25_method),
            embedder=embedder_info if stage != "none" else None, ann=ann,
            built_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            dense_stage=stage, dense_target=opts.target, dense_coverage=round(coverage, 4), **fields,
        )
        layout.write_manifest(staged, manifest)
        if opts.private:
            _make_private(staged, recursive=True)
        final = layout.publish(opts.index_dir, opts.name, staged)
        if opts.private:
            _make_private(layout.corpus_root(opts.index_dir, opts.name))
        return manifest, final
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _make_private(path: Path, recursive: bool = False) -> None:
    """No group or other rights on ``path`` and what it holds (all of it, or its files and itself)."""
    for p in [path, *(path.rglob("*") if recursive else path.iterdir())]:
        if p.is_file() or p.is_dir():
            os.chmod(p, 0o700 if p.is_dir() else 0o600)


def _published_stage(index_dir: Path, name: str) -> str:
    manifest = layout.published_manifest(index_dir, name)
    return manifest.dense_stage if manifest else "none"


def _same_content(opts: BuildOptions, source_sha256: str) -> bool:
    """Whether the published version holds these very chunks (same file, same chunking and tokenizer)."""
    m = layout.published_manifest(opts.index_dir, opts.name)
    return bool(m) and (m.source_sha256, m.chunk_size, m.chunk_overlap, m.tokenizer) == (
        source_sha256, opts.chunk_size, opts.chunk_overlap, TOKENIZER_ID)


def build_index(corpus_path: Path, opts: BuildOptions, progress: bool = True,
                on_progress: Callable[[Progress], None] | None = None,
                source_label: str | None = None) -> BuildReport:
    """Build the lexical part, then the dense stages up to ``opts.dense``, publishing as it goes.

    ``source_label``: the path to record as the source (when ``corpus_path`` is a private snapshot of it).
    On any failure the published index stays as it was.
    """
    corpus_path = Path(corpus_path).resolve()
    layout.check_name(opts.name)
    if opts.chunk_size <= 0 or not 0 <= opts.chunk_overlap < opts.chunk_size:
        raise ValueError(f"chunk overlap ({opts.chunk_overlap}) must be >= 0 and below chunk size ({opts.chunk_size})")
    if opts.target not in STAGES:
        raise ValueError(f"unknown dense stage {opts.dense!r}: use one of {', '.join(STAGES[1:])}")
    t_start = time.perf_counter()
    root_existed = layout.corpus_root(opts.index_dir, opts.name).exists()
    try:
        with build_lock(opts.index_dir, opts.name, opts.private):
            published_stage = _published_stage(opts.index_dir, opts.name)
            if opts.target == "none" and published_stage != "none" and not opts.force:
                raise ValueError(f"index {opts.name!r} has dense vectors ({published_stage} stage); a BM25-only "
                                 "build would drop them. Build without --no-dense instead (unchanged chunks reuse "
                                 "their cached vectors, so it costs seconds), or pass --force")
            lexical_dir = layout.new_version_dir(opts.index_dir, opts.name)
            try:
                return _build(corpus_path, opts, lexical_dir, progress, on_progress, source_label, t_start,
                              published_stage)
            finally:
                shutil.rmtree(lexical_dir, ignore_errors=True)
    except BaseException:
        if not root_existed:
            _remove_if_never_published(opts.index_dir, opts.name)
        raise


def _remove_if_never_published(index_dir: Path, name: str) -> None:
    """A first build that failed (an empty or binary file...) leaves no empty corpus directory behind."""
    root = layout.corpus_root(index_dir, name)
    if root.is_dir() and not (root / layout.CURRENT).exists() and not any(root.glob("v-*")):
        shutil.rmtree(root, ignore_errors=True)


def _build(corpus_path: Path, opts: BuildOptions, lexical_dir: Path, progress: bool,
           on_progress: Callable[[Progress], None] | None, source_label: str | None, t_start: float,
           published_stage: str) -> BuildReport:
    source = (source_label or str(corpus_path), layout.file_sha256(corpus_path))
    lex = _lexical_stage(corpus_path, lexical_dir, opts, progress)
    seconds = lex.manifest_fields["build_seconds"]
    if not opts.embedder:
        manifest, final = _publish(lex, opts, source, t_start, None, None)
        return BuildReport(manifest, final, seconds=seconds, published=["none"],
                           published_s=[round(time.perf_counter() - t_start, 1)])

    t0 = time.perf_counter()
    embedder = load_embedder(opts.embedder, opts.query_prefix, opts.passage_prefix, opts.device)
    info = layout.EmbedderInfo(opts.embedder, embedder.id, embedder.dim, opts.query_prefix, opts.passage_prefix)
    cache = EmbeddingCache(Path(opts.embed_cache_dir or Path(opts.index_dir) / layout.EMBED_CACHE_DIR),
                           embedder.cache_key, embedder.dim)
    try:
        stages = _Stages(lex, cache)
        plan = list(STAGES[1 : STAGES.index(opts.target) + 1])
        known = cache.known()
        before = {h for name in plan for h in stages.items[name][0] if h in known}
        remaining = {name: stages.missing_chars(name, known) for name in plan}
        total, done, rate = sum(remaining.values()), 0, None
        published: list[str] = []
        published_s: list[float] = []
        floor, same = STAGES.index(published_stage), _same_content(opts, source[1])

        def maybe_publish(left: int) -> None:
            """Publish what the cache holds now, if embedding remains and it improves on what is served."""
            nonlocal floor, same
            known_now = cache.known()
            reached = min(STAGES.index(stages.reached(known_now)), STAGES.index(opts.target))
            if left <= opts.stage_min_chars or reached < floor or (same and reached <= floor):
                return
            _publish(lex, opts, source, t_start, lambda d: _write_dense(d, lex, stages, embedder, opts, known_now),
                     info)
            published.append(STAGES[reached])
            published_s.append(round(time.perf_counter() - t_start, 1))
            floor, same = reached, True

        maybe_publish(total)
        embedded = 0
        for i, name in enumerate(plan):
            hashes, texts = stages.items[name]
            started, base = time.perf_counter(), done

            def report(chars: int, name=name, started=started, base=base) -> None:
                nonlocal done, rate
                done = base + chars
                elapsed = time.perf_counter() - started
                rate = chars / elapsed if elapsed > 0 and chars else rate
                if on_progress:
                    on_progress(Progress(name, done, total, rate))

            if on_progress:  # the stage has begun: its share and "measuring" before the first batch lands
                on_progress(Progress(name, done, total, rate))
            embedded += embed_missing(embedder, cache, hashes, texts, opts.embed_batch_size, progress,
                                      on_batch=report, label=f"embedding {name}")
            done = base + remaining[name]
            if i < len(plan) - 1:
                maybe_publish(total - done)
        seconds["dense"] = time.perf_counter() - t0
        manifest, final = _publish(lex, opts, source, t_start, lambda d: _write_dense(d, lex, stages, embedder, opts,
                                                                                        cache.known()), info)
        published.append(manifest.dense_stage)
        published_s.append(round(time.perf_counter() - t_start, 1))
        return BuildReport(manifest, final, embedded, len(before), seconds, published, published_s)
    finally:
        cache.close()
