"""Which corpora are served: discovers published indexes, loads them off the request path, hot-swaps rebuilds."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from app.retrieval import CorpusIndex, ServeOptions
from indexing import layout

log = logging.getLogger(__name__)


class CorpusUnavailable(LookupError):
    pass


@dataclass(frozen=True)
class Failure:
    version: str
    reason: str


class Registry:
    """Name -> loaded index. Readers take a reference and keep it, so a swap never disturbs a request."""

    def __init__(self, index_dir: Path, options: ServeOptions = ServeOptions(), interval_s: float = 2.0):
        self.index_dir = Path(index_dir)
        self.options = options
        self.interval_s = interval_s
        self._indexes: dict[str, CorpusIndex] = {}
        self._failures: dict[str, Failure] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.loaded_once = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self.loaded_once.set()
            self._stop.wait(self.interval_s)

    def refresh(self) -> None:
        """Load what is newly published; drop what was removed; keep serving the old version if a new one fails."""
        names = layout.list_corpora(self.index_dir)
        for name in names:
            try:
                version = layout.published_version(self.index_dir, name)
            except layout.IndexFormatError as exc:
                self._fail(name, "?", str(exc))
                continue
            current = self._indexes.get(name)
            failed = self._failures.get(name)
            if version is None or (current and current.version_dir == version):
                continue
            if failed and failed.version == version.name:
                continue
            try:
                loaded = CorpusIndex(version, self.options)
            except Exception as exc:  # any unreadable index must not take the service down
                self._fail(name, version.name, str(exc))
                continue
            with self._lock:
                self._indexes[name] = loaded
                self._failures.pop(name, None)
            log.info("serving %s from %s (loaded in %.2fs)", name, version.name, loaded.load_seconds)
        with self._lock:
            for gone in set(self._indexes) - set(names):
                del self._indexes[gone]
                log.info("corpus %s removed", gone)

    def _fail(self, name: str, version: str, reason: str) -> None:
        with self._lock:
            self._failures[name] = Failure(version, reason)
        log.error("corpus %s version %s cannot be served: %s", name, version, reason)

    def get(self, name: str) -> CorpusIndex:
        with self._lock:
            index = self._indexes.get(name)
            failure = self._failures.get(name)
        if index is not None:
            return index
        if failure is not None:
            raise CorpusUnavailable(f"corpus {name!r} is unavailable: {failure.reason}")
        raise KeyError(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._indexes)

    def failures(self) -> dict[str, str]:
        with self._lock:
            return {name: f.reason for name, f in self._failures.items() if name not in self._indexes}

    def by_source(self, path: Path, sha256: str | None = None) -> CorpusIndex | None:
        """The index built from this corpus file (same resolved path, or same content hash)."""
        resolved = str(Path(path).resolve())
        with self._lock:
            indexes = list(self._indexes.values())
        for index in indexes:
            if index.manifest.source_path == resolved or (sha256 and index.manifest.source_sha256 == sha256):
                return index
        return None
