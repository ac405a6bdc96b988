"""The on-disk index format, the one place the indexer and the service agree on it.

    <index_dir>/<name>/CURRENT          name of the published version directory (replaced atomically)
    <index_dir>/<name>/v-<stamp>/       one immutable, complete index version:
        manifest.json                   format version, source, counts, parameters, file checksums
        chunks.sqlite                   tables ``chunks`` (citation columns) and ``documents``; for a folder or a
                                        single document also ``files`` and ``blocks`` (FOLDER_SCHEMA)``
        chunk_docs.npy                  int32 doc index of every chunk row (row id == position)
        doc_groups.npy                  int32 near-duplicate group of every document
        bm25/                           bm25s sparse index (memory-mapped at load)
        dense.faiss                     FAISS index of normalised passage vectors (optional)
        chunk_scripts.npy               uint8 script of every chunk, 0 latin / 1 cjk (with dense.faiss)
        script_means.npy                float32 (2, dim) mean passage vector per script (with dense.faiss)
        title_vectors.npy               float32 (documents, dim) vector of each document title (with dense.faiss)
        probe_means.npy                 float32 (2, dim) mean vector of content-free questions per script (with dense.faiss)
        dense_chunks.npy                bool per chunk: has its own vector (only while dense coverage is partial)
    <index_dir>/.embed-cache/           content-hash -> vector cache per embedder, shared by all corpora:
                                        resumes killed builds, makes rebuilds and overlapping corpora cheap
    <index_dir>/.sources/               private snapshots of corpus files that builds read (indexing/sources.py)
    <index_dir>/.extract-cache/         text extracted from documents, by content hash and EXTRACTION_VERSION
                                        (indexing/folder.py): a changed folder re-extracts only changed files
    <index_dir>/.queue/                 background builds waiting or running, and their progress (indexing/queue.py)

A build writes a new ``v-*`` directory beside the published one and then
replaces ``CURRENT``; readers that already opened the old version keep it.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNKS_DB = "chunks.sqlite"
CHUNK_DOCS = "chunk_docs.npy"
DOC_GROUPS = "doc_groups.npy"
BM25_DIR = "bm25"
DENSE_INDEX = "dense.faiss"
CHUNK_SCRIPTS = "chunk_scripts.npy"
SCRIPT_MEANS = "script_means.npy"
TITLE_VECTORS = "title_vectors.npy"
PROBE_MEANS = "probe_means.npy"
DENSE_CHUNKS = "dense_chunks.npy"
DENSE_STAGES = ("none", "titles", "leads", "full")  # what dense vectors a version has, cumulative
SCRIPTS = ("latin", "cjk")  # row order of SCRIPT_MEANS, values of CHUNK_SCRIPTS
CURRENT = "CURRENT"
EMBED_CACHE_DIR = ".embed-cache"
BUILD_LOCK = ".build.lock"  # in a corpus root: held by the build writing it (indexing/build.build_lock)
SOURCES_DIR = ".sources"
QUEUE_DIR = ".queue"
EXTRACT_CACHE_DIR = ".extract-cache"
SOURCE_KINDS = ("json", "document", "folder")  # what a build read: a JSON corpus, one document file, a folder
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

SCHEMA = """
CREATE TABLE chunks (
    id INTEGER PRIMARY KEY,
    doc_index INTEGER NOT NULL,
    chunk_index INTEGER NOT NULL,
    title TEXT NOT NULL,
    content TEXT NOT NULL,
    url TEXT,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL,
    content_hash TEXT NOT NULL
);
CREATE UNIQUE INDEX chunks_coords ON chunks (doc_index, chunk_index);
CREATE TABLE documents (
    doc_index INTEGER PRIMARY KEY,
    title TEXT NOT NULL,
    url TEXT,
    body_chars INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL,
    first_chunk INTEGER NOT NULL,
    dup_group INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
"""

# A folder or a single document: its files, and each document's blocks (the places chunks cite). A document row
# of such an index is one *section* of a file (a run of pages, slides or parts, indexing/folder.py), so that
# diversity counts a long file as several documents; ``files`` says which document rows each file holds.
FOLDER_SCHEMA = """
CREATE TABLE files (
    file_index INTEGER PRIMARY KEY,
    path TEXT NOT NULL,             -- relative to the folder (the file name for a single document)
    format TEXT NOT NULL,           -- pdf, docx, pptx, xlsx, csv, html, md, txt, json, or the suffix of a listed file
    status TEXT NOT NULL,           -- indexed, skipped, failed, listed (a file that holds no text: kept out)
    reason TEXT NOT NULL,           -- why skipped/failed/listed, or what was left out or deduplicated
    pages INTEGER,                  -- pages, slides or sheets; documents of a JSON corpus
    chars INTEGER NOT NULL,         -- characters indexed
    language TEXT,                  -- script of most of its text: cjk or latin
    sha256 TEXT NOT NULL,
    title TEXT NOT NULL,
    first_doc INTEGER NOT NULL,     -- its document rows: first_doc .. first_doc + n_docs - 1
    n_docs INTEGER NOT NULL
);
CREATE TABLE blocks (
    doc_index INTEGER NOT NULL,
    block_index INTEGER NOT NULL,
    start_char INTEGER NOT NULL,    -- offsets in the document body, as chunk offsets; no chunk spans two blocks
    end_char INTEGER NOT NULL,
    kind TEXT NOT NULL,             -- page, slide, sheet, part
    number INTEGER NOT NULL,
    sheet TEXT,
    first_row INTEGER,
    last_row INTEGER,
    heading TEXT NOT NULL,          -- JSON list: the section titles the block sits under
    text TEXT NOT NULL,
    PRIMARY KEY (doc_index, block_index)
);
"""


@dataclass(frozen=True)
class FileRow:
    """One file of a folder index (table ``files``)."""

    file_index: int
    path: str
    format: str
    status: str
    reason: str
    pages: int | None
    chars: int
    language: str | None
    sha256: str
    title: str
    first_doc: int
    n_docs: int


@dataclass(frozen=True)
class BlockRow:
    """One block of a document row (table ``blocks``): where its text sits in the file."""

    doc_index: int
    block_index: int
    start_char: int
    end_char: int
    kind: str
    number: int
    sheet: str | None
    first_row: int | None
    last_row: int | None
    heading: tuple[str, ...]
    text: str


def read_files(db: sqlite3.Connection) -> list[FileRow]:
    return [FileRow(*row) for row in db.execute(f"SELECT {', '.join(FileRow.__dataclass_fields__)} FROM files "
                                                "ORDER BY file_index")]


def read_blocks(db: sqlite3.Connection) -> list[BlockRow]:
    rows = db.execute(f"SELECT {', '.join(BlockRow.__dataclass_fields__)} FROM blocks "
                      "ORDER BY doc_index, block_index")
    return [BlockRow(*row[:9], tuple(json.loads(row[9])), row[10]) for row in rows]


def passage_text(title: str, content: str) -> str:
    """What both retrievers index for a chunk: its document title leads, as titles carry the topic."""
    return f"{title}\n{content}" if content else title


class IndexFormatError(RuntimeError):
    """An index directory that cannot be trusted: missing, of another format, or corrupted."""


@dataclass
class EmbedderInfo:
    spec: str
    id: str
    dim: int
    query_prefix: str | None = None
    passage_prefix: str | None = None


@dataclass
class Manifest:
    name: str
    source_path: str
    source_sha256: str
    documents: int
    empty_documents: int
    chunks: int
    characters: int
    chunk_size: int
    chunk_overlap: int
    tokenizer: str
    bm25: dict[str, Any]
    embedder: EmbedderInfo | None
    ann: str | None
    duplicate_groups: int
    built_at: str
    build_seconds: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    engine: str = "local"  # which engine serves it (app/engines); "local" = the files of this directory
    engine_options: dict[str, Any] = field(default_factory=dict)  # e.g. a Milvus URI and collection
    avg_chunk_chars: float = 0.0
    dense_stage: str = "none"  # DENSE_STAGES: titles = title vectors only, leads = + each document's first chunk
    dense_target: str = "none"  # the stage the build was asked to reach
    dense_coverage: float = 0.0  # share of chunks with their own vector
    dominant_script: str = "cjk"  # script of most chunks (SCRIPTS); questions in the other one are cross-language
    source_kind: str = "json"  # SOURCE_KINDS; "document" and "folder" indexes have the FOLDER_SCHEMA tables

    def __post_init__(self) -> None:
        if self.embedder is not None and self.dense_stage == "none":  # written before dense stages existed
            self.dense_stage, self.dense_target, self.dense_coverage = "full", "full", 1.0

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=2)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        data = json.loads(text)
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"index format {data.get('format_version')} is not {FORMAT_VERSION}; rebuild it with build_index.py"
            )
        embedder = data.pop("embedder")
        return cls(embedder=EmbedderInfo(**embedder) if embedder else None, **data)


def default_name(path: Path, sha256: str) -> str:
    """A name that tells corpora apart when every agent task calls its file long_context.json:
    ``<folder>-<file stem>-<8 hex of the content hash>``, characters a name cannot hold mapped to '-'."""
    def slug(text: str) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-._")[:24]

    path = Path(path)
    parts = [p for p in (slug(path.parent.name), slug(path.stem.split(".")[0])) if p] or ["corpus"]
    return "-".join([*parts, sha256[:8]])


def valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.match(name))


def check_name(name: str) -> str:
    if not valid_name(name):
        raise ValueError(f"invalid index name {name!r}: use ASCII letters, digits, '.', '_' or '-' (max 64, "
                         "starting with a letter or digit), e.g. --name corpus-1")
    return name


def corpus_root(index_dir: Path, name: str) -> Path:
    return Path(index_dir) / check_name(name)


def published_version(index_dir: Path, name: str) -> Path | None:
    """The directory CURRENT points at, refusing anything that leaves the corpus root."""
    root = corpus_root(index_dir, name)
    try:
        raw = (root / CURRENT).read_bytes()
    except FileNotFoundError:
        return None
    try:
        target = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        raise IndexFormatError(f"{root / CURRENT} is not a version name (binary content); "
                               "rebuild the index or restore CURRENT") from None
    if not target.startswith("v-") or "/" in target or target.endswith(".partial"):
        raise IndexFormatError(f"{root / CURRENT} names {target[:80]!r}, which is not a version directory; "
                               "rebuild the index or restore CURRENT")
    if not (root / target).is_dir():
        raise IndexFormatError(f"{root / CURRENT} names {target!r}, which does not exist; rebuild the index")
    return root / target


def list_corpora(index_dir: Path) -> list[str]:
    """Corpus directories: published ones, and ones whose CURRENT is missing but hold versions (so a lost
    pointer reads as "no published version", not as an unknown corpus)."""
    index_dir = Path(index_dir)
    if not index_dir.is_dir():
        return []
    return sorted(p.name for p in index_dir.iterdir() if NAME_PATTERN.match(p.name) and p.is_dir()
                  and ((p / CURRENT).exists() or any(v.is_dir() for v in p.glob("v-*"))))


def new_version_dir(index_dir: Path, name: str) -> Path:
    root = corpus_root(index_dir, name)
    root.mkdir(parents=True, exist_ok=True)
    now = time.time_ns()
    # names sort in creation order (pruning keeps the newest by name): UTC second, then its nanoseconds
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9)) + f"-{now % 10**9:09d}"
    path = root / f"v-{stamp}-{os.getpid()}.partial"
    path.mkdir()
    return path


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def data_files(version_dir: Path) -> list[Path]:
    return sorted(p for p in version_dir.rglob("*") if p.is_file() and p.name != MANIFEST)


def write_manifest(version_dir: Path, manifest: Manifest) -> None:
    manifest.files = {str(p.relative_to(version_dir)): file_sha256(p) for p in data_files(version_dir)}
    _write_atomic(version_dir / MANIFEST, manifest.to_json())


def read_manifest(version_dir: Path, verify: bool = True) -> Manifest:
    """Read and (by default) verify every file's checksum, so a flipped byte is caught at load."""
    try:
        manifest = Manifest.from_json((version_dir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexFormatError(f"{version_dir} has no {MANIFEST}; rebuild the index") from None
    except (ValueError, TypeError) as exc:
        raise IndexFormatError(f"{version_dir / MANIFEST} is unreadable ({exc}); rebuild the index") from None
    if verify:
        present = {str(p.relative_to(version_dir)) for p in data_files(version_dir)}
        if present != set(manifest.files):
            raise IndexFormatError(f"{version_dir}: files differ from the manifest; rebuild the index")
        for rel, expected in manifest.files.items():
            if file_sha256(version_dir / rel) != expected:
                raise IndexFormatError(f"{version_dir / rel} fails its checksum (corrupted); rebuild the index")
    return manifest



def published_manifest(index_dir: Path, name: str) -> Manifest | None:
    """The manifest of the version served for ``name``, unverified; None when there is none or it is unreadable
    (the builder, the worker and ``zh-rag gc`` ask this to decide, and a broken index must not stop them)."""
    try:
        version = published_version(index_dir, name)
        return read_manifest(version, verify=False) if version else None
    except (OSError, IndexFormatError):
        return None


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _fsync_tree(path: Path) -> None:
    for p in [*path.rglob("*"), path]:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def publish(index_dir: Path, name: str, staged: Path, keep: int = 2) -> Path:
    """Make a fully written version the published one; the swap is one atomic rename of CURRENT."""
    final = staged.with_name(staged.name.removesuffix(".partial"))
    _fsync_tree(staged)
    os.rename(staged, final)
    _write_atomic(corpus_root(index_dir, name) / CURRENT, final.name)
    _prune(corpus_root(index_dir, name), final.name, keep)
    return final


def _prune(root: Path, current: str, keep: int) -> None:
    """Drop old finished versions beyond ``keep`` (a served version keeps its open files; stale ``.partial``
    directories of killed builds are removed by the next build's lock step, not here)."""
    versions = sorted((p for p in root.glob("v-*") if p.is_dir() and p.name != current), key=lambda p: p.name)
    finished = [p for p in versions if not p.name.endswith(".partial")]
    for old in finished[: max(0, len(finished) - (keep - 1))]:
        shutil.rmtree(old, ignore_errors=True)


def connect_readonly(version_dir: Path) -> sqlite3.Connection:
    uri = f"file:{version_dir / CHUNKS_DB}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False)
