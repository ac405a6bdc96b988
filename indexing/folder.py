"""A folder (or a single document) -> one corpus: walk it, extract each file once, and write a prepared corpus.

    walk(root)                  the files under a folder: documents, JSON corpora, and files only listed
    prepare(root, index_dir)    extract every document (``indexing/extract``, in a bounded worker process),
                                read every JSON corpus, and return a ``Prepared`` corpus: its files and its
                                sections, each section a run of blocks with their places
    write_prepared / read_prepared
                                the prepared corpus as one JSON snapshot under ``.sources/`` (named by its
                                content hash): what builds and the build queue read, like a JSON snapshot

Rules (issue 20):
- hidden files and folders are skipped, and so are symlinks that leave the folder;
- images, audio, video and the old tool's ``*.chunks.db`` caches are listed, never indexed;
- a document is extracted once per content: ``<index_dir>/.extract-cache/<sha256>-v<EXTRACTION_VERSION>.json``
  holds the result, so a changed folder re-extracts only the files that changed;
- a JSON document repeated across the folder's JSON corpora is stored once (a task's
  ``long_context_sampled_*.json`` files are subsets of its ``long_context.json``): larger files are read first;
- a long file becomes several *sections* (document rows of the index), each a run of whole blocks of about
  ``SECTION_CHARS``, so diversity (``max_per_doc``) counts a 139-page manual as many documents, not one
  (docs/quality.md, "Task folders": the measurement behind ``SECTION_CHARS``).
"""
from __future__ import annotations

import hashlib
import json
import os
import queue
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from indexing import layout, sources
from indexing.corpus import CorpusError, iter_documents
from indexing.extract.factory import EXTRACTION_VERSION, SUPPORTED_SUFFIXES, format_of
from indexing.extract.protocol import Block, Extracted, Limits, Place
from indexing.tokenizer import script_of

JSON_SUFFIXES = frozenset({".json", ".jsonl", ".ndjson"})
MEDIA_SUFFIXES = frozenset({
    ".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".svg", ".heic", ".ico",
    ".mp4", ".mov", ".avi", ".mkv", ".webm", ".flv", ".wmv", ".m4v",
    ".mp3", ".wav", ".flac", ".ogg", ".m4a", ".aac", ".wma",
})
CHUNKS_DB_SUFFIX = ".chunks.db"
MAX_FILES = 20_000  # files walked per folder; past it the rest are left out, and the listing says so
# Worker processes extracting at once: a task folder's documents on 2 cores took 7.6 s one after another and
# 5.2 s (its largest PDF alone) on two workers (docs/performance.md, "Task folders").
EXTRACT_WORKERS = min(2, os.cpu_count() or 1)
SECTION_CHARS = 2_500  # a section (a document row) ends at the first block boundary past this many characters
TITLE_CHARS = 120


class FolderError(ValueError):
    """A folder that cannot be indexed at all (nothing readable in it); the message names it."""


@dataclass(frozen=True)
class Listed:
    """A file found by the walk. ``kind``: document (an extractor reads it), json (a corpus), or listed."""

    rel: str  # path relative to the folder, '/'-separated
    path: Path
    kind: str
    size: int
    mtime_ns: int
    reason: str = ""  # why a listed file is not indexed


@dataclass(frozen=True)
class Section:
    """One document row of the index: consecutive blocks of one file (or one JSON document, without blocks)."""

    title: str
    body: str
    file_index: int
    blocks: tuple[tuple[int, int, Block], ...] = ()  # (start, end) of each block's text in ``body``
    url: str | None = None
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Prepared:
    """A folder read and extracted: what a build indexes. ``files`` are ``layout.FileRow`` values."""

    root: str
    kind: str  # "document" or "folder"
    files: tuple[layout.FileRow, ...]
    sections: tuple[Section, ...]


def _classify(rel: str, suffix: str, supported: frozenset[str]) -> tuple[str, str]:
    if rel.lower().endswith(CHUNKS_DB_SUFFIX):
        return "listed", "the old tool's chunk cache: not a document"
    if suffix in JSON_SUFFIXES:
        return "json", ""
    if suffix in supported:
        return "document", ""
    if suffix in MEDIA_SUFFIXES:
        return "listed", "image, audio or video: holds no text to index"
    return "listed", f"unsupported format ({suffix or 'no suffix'})"


def walk(root: Path, max_files: int = MAX_FILES) -> tuple[list[Listed], int]:
    """The files under ``root`` in path order, and how many were left out past ``max_files``.

    Hidden entries (a name starting with '.') are skipped; a symlink is followed only if it stays in the folder.
    """
    root = Path(root).resolve()
    found: list[Listed] = []
    left_out = 0
    stack = [root]
    seen_dirs = {root}
    while stack:
        directory = stack.pop()
        try:
            entries = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError:
            continue  # vanished or unreadable: its files are simply not there
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            try:
                real = path.resolve() if entry.is_symlink() else path
                if not real.is_relative_to(root):
                    continue
                info = real.stat()
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                if real not in seen_dirs:
                    seen_dirs.add(real)
                    subdirs.append(real if entry.is_symlink() else path)
                continue
            if not stat.S_ISREG(info.st_mode):
                continue
            if len(found) >= max_files:
                left_out += 1
                continue
            rel = path.relative_to(root).as_posix()
            kind, reason = _classify(rel, path.suffix.lower(), SUPPORTED_SUFFIXES)
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:  # bytes that are not UTF-8 cannot be cited: named, not indexed
                rel = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
                kind, reason = "listed", "its name is not valid UTF-8: rename it to index it"
            found.append(Listed(rel, real, kind, info.st_size, info.st_mtime_ns, reason))
        stack.extend(reversed(subdirs))
    found.sort(key=lambda f: f.rel)
    return found, left_out


def fingerprint(files: list[Listed], left_out: int = 0) -> str:
    """Changes whenever a file is added, removed, renamed or rewritten (size or modification time)."""
    digest = hashlib.sha256()
    for f in files:
        digest.update(f"{f.rel}\0{f.size}\0{f.mtime_ns}\n".encode("utf-8", "surrogateescape"))
    digest.update(str(left_out).encode())
    return digest.hexdigest()


# --- extraction, cached by content -------------------------------------------------------------------


def _cache_path(index_dir: Path, sha256: str) -> Path:
    return Path(index_dir) / layout.EXTRACT_CACHE_DIR / f"{sha256}-v{EXTRACTION_VERSION}.json"


def _to_json(result: Extracted) -> dict:
    return asdict(result)


def _block(data: dict) -> Block:
    return Block(data["text"], Place(**data["place"]), tuple(data["heading"]))


def _from_json(data: dict) -> Extracted:
    blocks = tuple(_block(b) for b in data.pop("blocks"))
    return Extracted(blocks=blocks, **{**data, "warnings": tuple(data.get("warnings", ()))})


def cached_extraction(index_dir: Path, sha256: str) -> Extracted | None:
    try:
        return _from_json(json.loads(_cache_path(index_dir, sha256).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def store_extraction(index_dir: Path, sha256: str, result: Extracted) -> None:
    path = _cache_path(index_dir, sha256)
    sources.private_dir(path.parent)  # extracted text is as private as the snapshots (issue 22.8)
    sources.write_private(path, json.dumps(_to_json(result), ensure_ascii=False).encode("utf-8"))


# failures that may pass on another try (sandbox.py's reasons): never cached
_TRANSIENT = ("timed out", "out of memory", "worker died", "vanished", "not found", "cannot read")


def _open_checked(path: Path, root: Path) -> int:
    """Open a file of the folder without following a final symlink; refuse one whose real path left the root."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        real = Path(os.readlink(f"/proc/self/fd/{fd}")) if os.path.exists("/proc/self/fd") else path
        if not stat.S_ISREG(info.st_mode) or not real.is_relative_to(root):
            raise PermissionError(f"{path} left the folder or is not a regular file")
        os.set_blocking(fd, True)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _extract(listed: Listed, root: Path, index_dir: Path, pool, fmt: str) -> tuple[str, Extracted]:
    """(content sha256, result) of one document, from the cache or a private snapshot run through the pool."""
    try:
        fd = _open_checked(listed.path, root)
    except OSError as exc:
        return "", Extracted(fmt, "failed", reason=f"cannot be opened: {exc.strerror or exc}")
    try:
        sha = sources.sha256_of(fd)
        hit = cached_extraction(index_dir, sha)
        if hit is not None:
            return sha, hit
        snap = sources.snapshot(fd, index_dir, listed.path.suffix)
    finally:
        os.close(fd)
    # the extractor reads the snapshot under the file's own name (a CSV's sheet is named after its file)
    private = Path(tempfile.mkdtemp(prefix=".extract-", dir=snap.path.parent))
    try:
        named = private / listed.path.name
        os.link(snap.path, named)
        result = pool.extract(named)
    finally:
        shutil.rmtree(private, ignore_errors=True)
        sources.discard(snap.path, index_dir)
    if not (result.status == "failed" and any(m in result.reason for m in _TRANSIENT)):
        store_extraction(index_dir, sha, result)
    return sha, result


# --- sections ----------------------------------------------------------------------------------------


def _sections_of(result: Extracted, base_title: str, file_index: int,
                 section_chars: int) -> Iterator[Section]:
    """Consecutive blocks of about ``section_chars``, never splitting a block; each titled by the file's title
    and the heading its first block sits under."""
    run: list[Block] = []

    def emit() -> Section:
        parts, body, offset = [], [], 0
        for block in run:
            parts.append((offset, offset + len(block.text), block))
            body.append(block.text)
            offset += len(block.text) + 2
        heading = next((b.heading for b in run if b.heading), ())
        title = f"{base_title} · {heading[-1]}" if heading and heading[-1] != base_title else base_title
        return Section(_clean(title)[:TITLE_CHARS], "\n\n".join(body), file_index, tuple(parts))

    size = 0
    for block in result.blocks:
        if not block.text.strip():
            continue
        if run and size >= section_chars:
            yield emit()
            run, size = [], 0
        run.append(block)
        size += len(block.text)
    if run:
        yield emit()


def _clean(text: str) -> str:
    return " ".join(text.split())


def _language(texts: list[str]) -> str | None:
    sample = "".join(t[:2000] for t in texts[:20])
    return script_of(sample) if sample.strip() else None


def _extract_all(documents: list[Listed], root: Path, index_dir: Path, limits: Limits,
                 workers: int) -> list[tuple[str, Extracted]]:
    """Each document's (sha256, extraction), in order; ``workers`` bounded worker processes share the files (one
    started only when a file misses the cache)."""
    from indexing.extract.sandbox import ExtractionPool

    results: list[tuple[str, Extracted] | None] = [None] * len(documents)
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(documents)):
        todo.put(i)

    def work() -> None:
        with ExtractionPool(limits) as pool:
            while True:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                results[i] = _extract(documents[i], root, index_dir, pool, format_of(documents[i].path))

    threads = [threading.Thread(target=work, name=f"extract-{k}") for k in range(max(1, min(workers, len(documents))))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None]


def listing(root: Path, max_files: int = MAX_FILES) -> tuple[list[Listed], int]:
    """What a folder (``walk``) or a single document file holds, and how many files were left out."""
    if root.is_dir():
        return walk(root, max_files)
    info = root.stat()
    return [Listed(root.name, root, "document", info.st_size, info.st_mtime_ns)], 0


def prepare(root: Path, index_dir: Path, limits: Limits = Limits(), section_chars: int = SECTION_CHARS,
            max_files: int = MAX_FILES, workers: int = EXTRACT_WORKERS,
            walked: tuple[list[Listed], int] | None = None) -> Prepared:
    """Read a folder, or a single document file, into sections and a file listing; never raises for one bad
    file (it is listed as failed or skipped, with the reason). ``walked``: its ``listing``, when the caller has
    it already (on-demand indexing fingerprints it first)."""
    root = Path(root).resolve()
    kind, base = ("folder", root) if root.is_dir() else ("document", root.parent)
    listed, left_out = walked or listing(root, max_files)
    files: list[layout.FileRow] = []
    sections: list[Section] = []
    seen_json: dict[str, str] = {}  # key of a JSON document -> the file that holds it first

    def add(rel: str, fmt: str, status: str, reason: str, pages, chars: int, language, sha: str, title: str,
            new_sections: list[Section]) -> None:
        files.append(layout.FileRow(len(files), rel, fmt, status, reason, pages, chars, language, sha, title,
                                    len(sections), len(new_sections)))
        sections.extend(new_sections)

    # JSON corpora first, largest first: a subset file finds its documents already stored
    jsons = sorted((f for f in listed if f.kind == "json"), key=lambda f: (-f.size, f.rel))
    for f in jsons:
        index = len(files)
        new: list[Section] = []
        duplicates: dict[str, int] = {}
        try:
            for doc in iter_documents(f.path):
                key = hashlib.sha1(f"{doc.title}\0{doc.body}".encode("utf-8", "surrogatepass")).hexdigest()
                if key in seen_json:
                    duplicates[seen_json[key]] = duplicates.get(seen_json[key], 0) + 1
                    continue
                seen_json[key] = f.rel
                new.append(Section(doc.title, doc.body, index, (), doc.url, dict(doc.metadata)))
        except (CorpusError, OSError, UnicodeDecodeError) as exc:
            add(f.rel, "json", "failed", str(exc).replace(str(f.path), f.rel), None, 0, None, "", f.rel, [])
            continue
        reason = "; ".join(f"{n} documents already in {other}" for other, n in duplicates.items())
        add(f.rel, "json", "indexed", reason, len(new) + sum(duplicates.values()), sum(len(s.body) for s in new),
            _language([s.body for s in new]), "", Path(f.rel).stem, new)

    documents = [f for f in listed if f.kind == "document"]
    extracted = _extract_all(documents, base, index_dir, limits, workers)
    for f, (sha, result) in zip(documents, extracted):
        base_title = _clean(result.title) or Path(f.rel).name
        new = list(_sections_of(result, base_title, len(files), section_chars)) if result.status == "indexed" else []
        status = result.status if new or result.status != "indexed" else "skipped"
        reason = "; ".join(r for r in (result.reason, *result.warnings) if r) or ("" if new else "no text found")
        add(f.rel, result.format or format_of(f.path), status, reason, result.pages, sum(len(s.body) for s in new),
            _language([b.text for b in result.blocks]), sha, base_title, new)

    for f in listed:
        if f.kind == "listed":
            add(f.rel, f.path.suffix.lower().lstrip(".") or "file", "listed", f.reason, None, 0, None, "", f.rel, [])
    if left_out:
        add(f"({left_out} more files)", "file", "listed", f"left out: a folder is read up to {max_files:,} files",
            None, 0, None, "", "", [])
    if not sections:
        what = "folder" if kind == "folder" else "document"
        why = "; ".join(f"{r.path}: {r.reason}" for r in files if r.status in ("failed", "skipped"))[:400]
        raise FolderError(f"{root}: the {what} holds no text to index" + (f" ({why})" if why else
                          " (no supported files: PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, TXT or JSON)"))
    return Prepared(str(root), kind, tuple(files), tuple(sections))


# --- the prepared snapshot -----------------------------------------------------------------------------

PREPARED_SUFFIX = ".folder.json"


def write_prepared(prepared: Prepared, index_dir: Path) -> sources.Snapshot:
    """Store the prepared corpus under ``.sources/<sha256>.folder.json``; same content, same name."""
    data = json.dumps(asdict(prepared), ensure_ascii=False, sort_keys=True).encode("utf-8", "surrogatepass")
    sha = hashlib.sha256(data).hexdigest()
    directory = sources.private_dir(Path(index_dir) / layout.SOURCES_DIR)
    final = directory / f"{sha}{PREPARED_SUFFIX}"
    if not final.exists():
        sources.write_private(final, data)
    return sources.Snapshot(final, sha, len(data))


def is_prepared(path: Path) -> bool:
    return Path(path).name.endswith(PREPARED_SUFFIX)


def read_prepared(path: Path) -> Prepared:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    files = tuple(layout.FileRow(**f) for f in data["files"])
    sections = tuple(
        Section(s["title"], s["body"], s["file_index"],
                tuple((start, end, _block(b)) for start, end, b in s["blocks"]),
                s["url"], s["metadata"])
        for s in data["sections"])
    return Prepared(data["root"], data["kind"], files, sections)
