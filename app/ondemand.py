"""A corpus file an agent names -> the index that serves it, indexing it on first use.

BM25 is built at once (seconds), in the caller's process, so the first answer
comes right away; dense vectors go through the index directory's build queue
(``indexing/queue.py``), which publishes each stage as it lands and resumes a
killed build the next time the corpus is used. The file is opened once, safely
(``app/access.py``), and every build reads a private snapshot of it.

A folder or a single document (PDF, DOCX, PPTX...) is read by ``indexing/folder.py`` into a prepared
snapshot first; its listing is fingerprinted on every call, so a file added, changed or removed is seen on
the next call, and only that file is extracted again (extractions are cached by content).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from app.access import check_folder, open_corpus
from app.backend.protocol import Backend
from app.settings import Settings
from indexing import layout, sources
from indexing.queue import BuildQueue, BuildStatus

PUBLISH_WAIT_S = 60  # a remote service, or another agent's process building the same file, publishes by then


@dataclass(frozen=True)
class Resolved:
    name: str
    path: Path  # the real path of the corpus file
    new: bool  # indexed by this call
    build: BuildStatus | None  # a background build still under way (or interrupted, or failed)


class CorpusResolver:
    def __init__(self, settings: Settings, backend: Backend):
        self.settings = settings
        self.backend = backend
        self.queue = BuildQueue(settings.index_dir, settings.build_slots)
        self._sha: dict[tuple, str] = {}

    def resolve(self, json_path: str) -> Resolved:
        from indexing.folder import JSON_SUFFIXES

        if Path(json_path).is_dir() or (Path(json_path).suffix.lower() not in JSON_SUFFIXES
                                        and not json_path.endswith(".chunks.db") and Path(json_path).is_file()):
            return self._resolve_material(json_path)
        with open_corpus(json_path, self.settings.roots()) as opened:
            sha = self._sha.get(opened.identity) or sources.sha256_of(opened.fd)
            self._sha[opened.identity] = sha
            name = self.backend.find(sha, str(opened.real_path))
            new = name is None
            if new:
                name = self._index_now(opened.fd, opened.real_path)
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
            listed, left_out = folder.walk(real)
        else:
            with open_corpus(json_path, self.settings.roots()) as opened:
                real = opened.real_path
                info = real.stat()
                listed, left_out = [folder.Listed(real.name, real, "document", info.st_size, info.st_mtime_ns)], 0
        key = ("material", str(real), folder.EXTRACTION_VERSION, folder.fingerprint(listed, left_out))
        sha = self._sha.get(key)
        name = self.backend.find(sha, str(real)) if sha else None
        new = name is None
        if new:
            snap = folder.write_prepared(folder.prepare(real, self.settings.index_dir), self.settings.index_dir)
            self._sha[key] = snap.sha256
            name = self.backend.find(snap.sha256, str(real))
            new = name is None
            if new:
                name = self._index_snapshot(snap, real)
        build = self.queue.status(name)
        if build is not None and build.state in ("queued", "interrupted"):
            self.queue.ensure_worker()
        return Resolved(name, real, new, build)

    def _index_now(self, fd: int, path: Path) -> str:
        return self._index_snapshot(sources.snapshot(fd, self.settings.index_dir, path.suffix), path)

    def _index_snapshot(self, snap: sources.Snapshot, path: Path) -> str:
        from indexing.build import BuildLocked, BuildOptions, build_index  # build code only when a corpus is new
        from indexing.queue import BuildJob

        name = layout.default_name(path, snap.sha256)
        lexical = BuildOptions.from_settings(self.settings, name, dense=False)
        try:
            build_index(snap.path, lexical, progress=False, source_label=str(path))
        except BuildLocked:
            pass  # another agent's process indexes the same file right now: wait for its index below
        dense = dataclasses.asdict(BuildOptions.from_settings(self.settings, name, dense=True))
        self.queue.submit(BuildJob(name, str(snap.path), str(path), {**dense, "index_dir": str(dense["index_dir"])}))
        self.queue.ensure_worker()
        deadline = time.monotonic() + PUBLISH_WAIT_S
        while self.backend.find(snap.sha256, str(path)) is None:  # a remote service picks it up by polling
            if time.monotonic() > deadline:
                raise RuntimeError(f"indexed {path} as {name!r} but the retrieval service does not serve it yet; "
                                   "retry in a minute")
            time.sleep(0.5)
        return name
