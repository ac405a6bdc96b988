"""Which corpora are served: discovers published indexes, loads them off the request path, hot-swaps rebuilds.

One bad corpus never stops the others: any error while reading or loading one
corpus is recorded against that corpus only (and shown by ``/readyz``), and the
watcher thread logs and carries on, so a corpus comes back by itself once its
files are good again. A corpus whose engine's storage is unreachable (Milvus
down) is retried at every refresh, whether it failed to load or went down
while served: it comes back without a restart once its storage answers.
Those retries and the checks of served corpora's storage run on a thread of
their own per corpus (one at a time each), so a hung storage never delays the
refresh of the other corpora.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from app.engines.protocol import EngineUnavailable
from app.errors import CorpusLoading, CorpusUnavailable, UnknownCorpus
from app.backend.loaded import LoadedCorpus, ServeOptions
from indexing import gc, layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    version: str | None  # the version that failed to load; None when no version could be named
    reason: str
    retry: bool = False  # the engine's storage was unreachable: try the same version again next refresh


@dataclass(frozen=True)
class LoadCounts:
    loads: dict[str, int]  # versions loaded per corpus since start
    failures: dict[str, int]  # distinct load failures per corpus since start


class Registry:
    """Name -> loaded index. Readers take a reference and keep it, so a swap never disturbs a request.

    ``eager``: load every corpus in the watcher thread (the REST service); otherwise a corpus is loaded on
    first use (the MCP server, which serves one agent's corpora out of a shared index directory).
    """

    def __init__(self, index_dir: Path, options: ServeOptions = ServeOptions(), interval_s: float = 2.0,
                 eager: bool = True):
        self.index_dir = Path(index_dir)
        self.options = options
        self.interval_s = interval_s
        self.eager = eager
        self._indexes: dict[str, LoadedCorpus] = {}
        self._failures: dict[str, Failure] = {}
        self._down: dict[str, str] = {}  # loaded corpora whose engine cannot reach its storage now, with why
        self._checked: dict[str, float] = {}  # when each loaded corpus's engine was last checked
        self._probes: dict[str, threading.Thread] = {}  # a check or retried load under way, per corpus
        self._stamped: dict[str, float] = {}  # when each corpus was last stamped as used (indexing/gc.py)
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._stop = threading.Event()
        self.loaded_once = threading.Event()
        self._thread: threading.Thread | None = None
        self.reloads = 0  # versions loaded since start (a hot reload counts one)
        self._loads: Counter[str] = Counter()
        self._load_failures: Counter[str] = Counter()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="index-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.refresh()
            except Exception:  # the watcher must outlive anything one poll can throw
                log.exception("index refresh failed; retrying in %.1fs", self.interval_s)
            self.loaded_once.set()
            self._stop.wait(self.interval_s)

    def refresh(self, only: list[str] | None = None) -> None:
        """Load what is newly published; drop what was removed; keep serving the old version if a new one fails."""
        on_disk = layout.list_corpora(self.index_dir)
        with self._load_lock:
            for name in (on_disk if only is None else [n for n in only if n in on_disk]):
                try:
                    self._refresh_one(name)
                except Exception as exc:  # any unreadable index must not take the others down
                    self._fail(name, None, f"{type(exc).__name__}: {exc}")
            if only is None:
                with self._lock:
                    for gone in (set(self._indexes) | set(self._failures)) - set(on_disk):
                        self._indexes.pop(gone, None)
                        self._failures.pop(gone, None)
                        self._down.pop(gone, None)
                        log.info("corpus %s removed", gone)

    def _refresh_one(self, name: str) -> None:
        try:
            version = layout.published_version(self.index_dir, name)
        except layout.IndexFormatError as exc:
            self._fail(name, None, str(exc))
            return
        if version is None:
            self._fail(name, None, f"corpus {name!r} has no published version yet (a first build is running or "
                                   "failed); build it with `zh-rag build`", counted=False)
            return
        current = self._indexes.get(name)
        failed = self._failures.get(name)
        if current and current.version == version.name:
            if failed:
                with self._lock:
                    self._failures.pop(name, None)
            self._aside(name, self._check, name, current)
            return
        if failed and failed.version == version.name:
            if failed.retry:  # its storage was unreachable: try again, away from the other corpora
                self._aside(name, self._load, name, version)
            return
        self._load(name, version)

    def _aside(self, name: str, fn, *args) -> None:
        """Run ``fn`` on a thread of its own unless one for ``name`` still runs (a hung storage holds only it)."""
        running = self._probes.get(name)
        if running is not None and running.is_alive():
            return
        if not self.eager:  # on-demand loading (MCP): the caller waits for its corpus anyway
            fn(*args)
            return
        self._probes[name] = threading.Thread(target=self._logged, args=(name, fn, *args), name=f"probe-{name}",
                                              daemon=True)
        self._probes[name].start()

    def _logged(self, name: str, fn, *args) -> None:
        try:
            fn(*args)
        except Exception as exc:  # like refresh: one corpus's trouble is recorded against it only
            self._fail(name, None, f"{type(exc).__name__}: {exc}")

    def _load(self, name: str, version: Path) -> None:
        try:
            loaded = LoadedCorpus.open(version, self.options)
        except EngineUnavailable as exc:
            self._fail(name, version.name, str(exc), retry=True)
            return
        except Exception as exc:
            self._fail(name, version.name, str(exc))
            return
        with self._lock:
            served = self._indexes.get(name)
            if served is not None and served.version > version.name:  # a retry that a newer version overtook
                return
            self._indexes[name] = loaded
            self._failures.pop(name, None)
            self._down.pop(name, None)
            self.reloads += 1
            self._loads[name] += 1
        log.info("serving %s from %s (loaded in %.2fs)", name, version.name, loaded.load_seconds)

    def _fail(self, name: str, version: str | None, reason: str, counted: bool = True, retry: bool = False) -> None:
        """Record why ``name`` cannot be served; a new failure counts once in ``load_counts`` (unless not
        ``counted``: a corpus whose first build has not published yet has not failed to load). ``retry``: the
        engine's storage was unreachable, so the same version is tried again on the next refresh."""
        for root in {str(self.index_dir.resolve()), str(self.index_dir)}:  # reasons are shown without a key
            reason = reason.replace(root + os.sep, "")
        failure = Failure(version, reason, retry)
        with self._lock:
            new = self._failures.get(name) != failure
            self._failures[name] = failure
            if new and counted:
                self._load_failures[name] += 1
        if new:
            log.error("corpus %s (version %s) cannot be served: %s", name, version or "?", reason)

    def _check(self, name: str, corpus: LoadedCorpus) -> None:
        """At most once per interval: is the served corpus's storage reachable? Marks it down or back up."""
        now = time.monotonic()
        if now - self._checked.get(name, -self.interval_s) < self.interval_s:
            return
        self._checked[name] = now
        try:
            corpus.engine.check()
        except EngineUnavailable as exc:
            self.mark_down(name, corpus, str(exc))
            return
        with self._lock:
            back = self._indexes.get(name) is corpus and self._down.pop(name, None) is not None
        if back:
            log.warning("corpus %s is back: its engine answers again", name)

    def mark_down(self, name: str, corpus: LoadedCorpus, reason: str) -> None:
        """A served corpus's engine lost its storage: answer 503 with ``reason`` until a check succeeds."""
        with self._lock:
            if self._indexes.get(name) is not corpus:
                return  # already replaced by a newer version
            known = self._down.get(name)
            self._down[name] = reason
        if known != reason:
            log.error("corpus %s (version %s) is unavailable: %s", name, corpus.version, reason)

    def _mark_used(self, name: str) -> None:
        """Stamp ``name`` as used, at most once per ``gc.STAMP_EVERY_S``: ``zh-rag gc`` keeps what is used. Loading
        alone does not count (a service restart would make every corpus look used)."""
        now = time.monotonic()
        if now - self._stamped.get(name, -gc.STAMP_EVERY_S) >= gc.STAMP_EVERY_S:
            self._stamped[name] = now
            gc.mark_used(self.index_dir, name)

    def get(self, name: str) -> LoadedCorpus:
        if not self.eager and layout.valid_name(name):
            self.refresh([name])  # loads it on first use, and picks up a newly published version
        with self._lock:
            index = self._indexes.get(name)
            failure = self._failures.get(name)
            down = self._down.get(name)
        if index is not None and down is not None:
            raise CorpusUnavailable(f"corpus {name!r} is unavailable: {down}")
        if index is not None:
            self._mark_used(name)
            return index
        if failure is not None:
            raise CorpusUnavailable(f"corpus {name!r} is unavailable: {failure.reason}")
        if layout.valid_name(name) and name in layout.list_corpora(self.index_dir):
            raise CorpusLoading(f"corpus {name!r} is still loading; retry in a moment")
        known = ", ".join(self.names()) or "none yet: build one with `zh-rag build CORPUS`"
        raise UnknownCorpus(f"unknown corpus {name!r}; served corpora: {known}")

    def names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._indexes) - set(self._down))

    def failures(self) -> dict[str, str]:
        """Corpora that cannot be served at all, with why."""
        with self._lock:
            return {**{name: f.reason for name, f in self._failures.items() if name not in self._indexes},
                    **self._down}

    def warnings(self) -> dict[str, str]:
        """Corpora serving an older version because the published one failed, with why."""
        with self._lock:
            return {name: f.reason for name, f in self._failures.items() if name in self._indexes}

    def load_counts(self) -> LoadCounts:
        """Loads and load failures per corpus since start (corpora removed since keep their counts)."""
        with self._lock:
            return LoadCounts(dict(self._loads), dict(self._load_failures))

    def loaded(self) -> list[LoadedCorpus]:
        with self._lock:
            return [c for name, c in self._indexes.items() if name not in self._down]
