"""A corpus file an agent names -> the index that serves it, indexing it on first use.

BM25 is built at once (seconds), in the caller's process, so the first answer
comes right away; dense vectors go through the index directory's build queue
(``indexing/queue.py``), which publishes each stage as it lands and resumes a
killed build the next time the corpus is used. The file is opened once, safely
(``app/serving/access.py``), and every build reads a private snapshot of it.

A file over ``RAG_MAX_SOURCE_BYTES`` is refused before it is hashed or copied; a
build that fails removes its snapshot, and its error names the caller's path,
never the snapshot's. Content hashes are cached per file identity (device,
inode, size, mtime, ctime: an in-place rewrite that restores the mtime still
moves the ctime), at most ``HASH_CACHE`` of them, least recently used first out.
A folder or a single document (PDF, DOCX, PPTX...) is read by ``indexing/folder.py`` into a prepared
snapshot first; its listing is fingerprinted on every call, so a file added, changed or removed is seen on
the next call, and only that file is extracted again (extractions are cached by content).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from app.serving.access import OpenedCorpus, check_folder, open_corpus
from app.backend.protocol import Backend
from app.settings import Settings
from indexing import gc, layout, sources
from indexing.queue import BuildQueue, BuildStatus

log = logging.getLogger(__name__)
PUBLISH_WAIT_S = 60  # a remote service, or another agent's process building the same file, publishes by then


@dataclass(frozen=True)
class Resolved:
    name: str
    path: Path  # the real path of the corpus file
    new: bool  # indexed by this call
    build: BuildStatus | None  # a background build still under way (or interrupted, or failed)


class CorpusResolver:
    HASH_CACHE = 1024  # file identities whose content hash is kept (a few hundred bytes each)

    def __init__(self, settings: Settings, backend: Backend):
        self.settings = settings
        self.backend = backend
        self.queue = BuildQueue(settings.index_dir, settings.build_slots)
        self._sha: OrderedDict[tuple, str] = OrderedDict()

    def _hash(self, opened: OpenedCorpus) -> str:
        sha = self._sha.get(opened.identity) or sources.sha256_of(opened.fd)
        self._remember(opened.identity, sha)
        return sha

    def _remember(self, key: tuple, sha: str) -> None:
        """Keep ``key``'s content hash as the most recent of at most HASH_CACHE."""
        self._sha[key] = sha
        self._sha.move_to_end(key)
        while len(self._sha) > self.HASH_CACHE:
            self._sha.popitem(last=False)

    def resolve(self, json_path: str) -> Resolved:
        from indexing.folder import JSON_SUFFIXES

        if Path(json_path).is_dir() or (Path(json_path).suffix.lower() not in JSON_SUFFIXES
                                        and not json_path.endswith(".chunks.db") and Path(json_path).is_file()):
            return self._resolve_material(json_path)
        with open_corpus(json_path, self.settings.roots()) as opened:
            sources.check_size(opened.size, self.settings.max_source_bytes, json_path)
            sha = self._hash(opened)
            name = self.backend.find(sha, str(opened.real_path))
            new = name is None
            if new:
                name = self._index_now(opened.fd, opened.real_path)
                self._collect()
            elif (lost := self.queue.status(name)) is not None and lost.requeue:  # its job file was unreadable
                self._queue_dense(self._snapshot(opened.fd, opened.real_path), opened.real_path, name)
            path = opened.real_path
        build = self.queue.status(name)
        if build is not None and build.state in ("queued", "interrupted"):
            self.queue.ensure_worker()  # resumes a build whose worker was killed
        return Resolved(name, path, new, build)

    def _resolve_material(self, json_path: str) -> Resolved:
        """A folder or one document: fingerprint its listing, prepare it when that changed, index it if new."""
        from indexing import folder

        if Path(json_path).is_dir():
            real = check_folder(json_path, self.settings.roots())
        else:
            with open_corpus(json_path, self.settings.roots()) as opened:
                real = opened.real_path
        listed = folder.listing(real)
        key = ("material", str(real), folder.EXTRACTION_VERSION, folder.fingerprint(*listed))
        sha = self._sha.get(key)
        name = self.backend.find(sha, str(real)) if sha else None
        new = name is None
        if new:
            snap = folder.write_prepared(folder.prepare(real, self.settings.index_dir, walked=listed),
                                         self.settings.index_dir)
            self._remember(key, snap.sha256)
            name = self.backend.find(snap.sha256, str(real))
            new = name is None
            if new:
                name = self._index_snapshot(snap, real)
                self._collect()
        build = self.queue.status(name)
        if build is not None and build.state in ("queued", "interrupted"):
            self.queue.ensure_worker()
        return Resolved(name, real, new, build)

    def _collect(self) -> None:
        """The automatic retention limits, if set (RAG_ONDEMAND_MAX_IDLE_DAYS, RAG_INDEX_MAX_BYTES)."""
        s = self.settings
        if s.ondemand_max_idle_days is not None or s.index_max_bytes is not None:
            report = gc.collect(s.index_dir, s.ondemand_max_idle_days, s.index_max_bytes)
            if report.freed:
                log.info("retention: freed %.1f MB in %d item(s)", report.freed_bytes / 1e6, len(report.freed))

    def _snapshot(self, fd: int, path: Path) -> sources.Snapshot:
        return sources.snapshot(fd, self.settings.index_dir, path.suffix, self.settings.max_source_bytes, str(path))

    def _queue_dense(self, snap: sources.Snapshot, path: Path, name: str) -> None:
        """Queue the dense build of ``name``, dropping queued builds of older contents of the same file."""
        from indexing.build import BuildOptions
        from indexing.queue import BuildJob

        for old in self.queue.jobs():
            if old.source_label == str(path) and old.name != name and self.queue.drop_queued(old.name):
                if not any(j.source == old.source for j in self.queue.jobs()):
                    sources.discard(Path(old.source), self.settings.index_dir)
        dense = dataclasses.asdict(BuildOptions.from_settings(self.settings, name, dense=True, private=True))
        self.queue.submit(BuildJob(name, str(snap.path), str(path), {**dense, "index_dir": str(dense["index_dir"])}))
        self.queue.ensure_worker()

    def _index_now(self, fd: int, path: Path) -> str:
        return self._index_snapshot(self._snapshot(fd, path), path)

    def _index_snapshot(self, snap: sources.Snapshot, path: Path) -> str:
        from indexing.build import BuildLocked, BuildOptions, build_index  # build code only when a corpus is new

        name = layout.default_name(path, snap.sha256)
        lexical = BuildOptions.from_settings(self.settings, name, dense=False, private=True)
        try:
            build_index(snap.path, lexical, progress=False, source_label=str(path))
        except BuildLocked:
            pass  # another agent's process indexes the same file right now: wait for its index below
        except Exception as exc:
            if not any(j.source == str(snap.path) for j in self.queue.jobs()):  # no queued build reads it
                sources.discard(snap.path, self.settings.index_dir)
            raise _naming(exc, snap.path, path) from None
        gc.mark_on_demand(self.settings.index_dir, name)
        gc.mark_used(self.settings.index_dir, name)
        self._queue_dense(snap, path, name)
        deadline = time.monotonic() + PUBLISH_WAIT_S
        while self.backend.find(snap.sha256, str(path)) is None:  # a remote service picks it up by polling
            if time.monotonic() > deadline:
                raise RuntimeError(f"indexed {path} as {name!r} but the retrieval service does not serve it yet; "
                                   "retry in a minute")
            time.sleep(0.5)
        return name


def _naming(exc: Exception, snapshot: Path, path: Path) -> Exception:
    """``exc`` with the snapshot's path replaced by the caller's: the agent knows its file, not our copy."""
    for shown in {str(snapshot.resolve()), str(snapshot)}:
        if isinstance(exc, OSError):
            if exc.filename == shown:
                exc.filename = str(path)
        elif exc.args and isinstance(exc.args[0], str):
            exc.args = (exc.args[0].replace(shown, str(path)), *exc.args[1:])
    return exc
