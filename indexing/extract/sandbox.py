"""Extraction in a bounded worker process: one hostile file costs a ``failed`` line, never the caller.

The worker (``python -m indexing.extract.worker``) runs with an address-space limit (``RLIMIT_AS``) and is
given a wall-clock budget per file; past it, or when it dies (a C library crash, the memory limit), it is
killed and the next file gets a fresh one (a file whose worker died is tried once more in a fresh one: the
death may have come from outside). Requests and results cross a socket pair as pickled protocol
records, so the worker's stdout and stderr (library chatter) stay out of the way.

    with ExtractionPool(Limits(seconds=60)) as pool:
        for path in paths:
            result = pool.extract(path)   # Extracted; status "indexed", "skipped" or "failed"

``run_extraction`` is the in-process part the worker runs, also the place where the rules every format
shares live: unsupported, vanished, empty and too-large files, and the character bound.
"""
from __future__ import annotations

import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

from indexing.extract.common import NotText, one_line
from indexing.extract.factory import extractor_for, format_of
from indexing.extract.protocol import Block, Extracted, Limits

# Time a fresh worker may take to start (interpreter and imports) on top of the first file's budget.
STARTUP_SECONDS = 30.0
_HEADER = struct.Struct("!Q")


def run_extraction(path: Path, limits: Limits) -> Extracted:
    """Extract ``path`` in this process, turning every problem with the file into a one-line status."""
    path = Path(path)
    fmt = format_of(path)
    extractor = extractor_for(path)
    if extractor is None:
        return Extracted(format=fmt, status="skipped", reason=f"unsupported format {path.suffix or '(no suffix)'}")
    try:
        info = path.stat()
    except FileNotFoundError:
        return Extracted(format=fmt, status="failed", reason="file not found (removed before extraction)")
    except OSError as exc:
        return Extracted(format=fmt, status="failed", reason=one_line(f"cannot read: {exc.strerror or exc}"))
    if not stat.S_ISREG(info.st_mode):  # a FIFO or a device would block the reader
        return Extracted(format=fmt, status="skipped", reason="not a regular file")
    size = info.st_size
    if size == 0:
        return Extracted(format=fmt, status="failed", reason="empty file (0 bytes)")
    if size > limits.max_bytes:
        return Extracted(format=fmt, status="skipped",
                         reason=f"too large ({size / 2**20:.0f} MiB, limit {limits.max_bytes / 2**20:.0f} MiB)")
    try:
        result = extractor.extract(path, limits)
    except FileNotFoundError:
        return Extracted(format=fmt, status="failed", reason="file vanished during extraction")
    except NotText as exc:  # binary bytes under a text suffix: a file without text, like an image
        return Extracted(format=fmt, status="skipped", reason=str(exc))
    except MemoryError:
        return Extracted(format=fmt, status="failed",
                         reason=f"out of memory (worker limit {limits.memory_bytes / 2**20:.0f} MiB)")
    except Exception as exc:  # noqa: BLE001 - any library error on a bad file is that file's failure
        return Extracted(format=fmt, status="failed", reason=one_line(f"{type(exc).__name__}: {exc}"))
    return _bounded(result, limits)


def _bounded(result: Extracted, limits: Limits) -> Extracted:
    """Keep at most ``limits.max_chars`` characters, saying what was cut."""
    if result.chars <= limits.max_chars:
        return result
    kept: list[Block] = []
    room = limits.max_chars
    for block in result.blocks:
        if room <= 0:
            break
        kept.append(block if len(block.text) <= room else replace(block, text=block.text[:room]))
        room -= len(block.text)
    note = (f"cut at {limits.max_chars:,} characters of {result.chars:,}"
            f" (from {kept[-1].place.label()} on)")
    return replace(result, blocks=tuple(kept), reason="; ".join(r for r in (result.reason, note) if r))


class ExtractionPool:
    """One reusable worker process; ``extract`` never raises for anything about the file.

    Thread-safe (calls are serialised). Use as a context manager, or call ``close()``.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._fresh = False
        self._death = ""

    def __enter__(self) -> ExtractionPool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def worker_pid(self) -> int | None:
        """The current worker's process id (None before the first file and after ``close``)."""
        return None if self._proc is None else self._proc.pid

    def extract(self, path: Path, limits: Limits | None = None) -> Extracted:
        limits = limits or self.limits
        path = Path(path)
        with self._lock:
            # A worker that dies is replaced and the file tried once more: the death may have come from
            # outside between files (the kernel's OOM killer); a file that kills two workers failed.
            result = self._attempt(path, limits) or self._attempt(path, limits)
            if result is None:
                return Extracted(format=format_of(path), status="failed",
                                 reason=f"extraction worker died twice ({self._death}; memory limit "
                                        f"{limits.memory_bytes / 2**20:.0f} MiB?)")
            return result

    def _attempt(self, path: Path, limits: Limits) -> Extracted | None:
        """The file's result, or None when the worker died (``self._death`` says how)."""
        if self._proc is None:
            self._start()
        budget = limits.seconds + (STARTUP_SECONDS if self._fresh else 0.0)
        self._fresh = False
        try:
            assert self._sock is not None
            _send(self._sock, (str(path), limits))
            return _recv(self._sock, time.monotonic() + budget)
        except TimeoutError:
            self._stop(kill=True)
            return Extracted(format=format_of(path), status="failed",
                             reason=f"timed out after {limits.seconds:g} s (worker restarted)")
        except (EOFError, OSError, pickle.UnpicklingError):
            self._death = self._stop(kill=True)
            return None

    def close(self) -> None:
        with self._lock:
            self._stop(kill=False)

    def _start(self) -> None:
        parent, child = socket.socketpair()
        root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p))
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "indexing.extract.worker", str(child.fileno())],
            pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, env=env,
        )
        child.close()
        self._sock = parent
        self._fresh = True

    def _stop(self, kill: bool) -> str:
        """End the worker; returns how it ended ("exit code 1", "signal SIGKILL")."""
        proc, sock = self._proc, self._sock
        self._proc = self._sock = None
        if sock is not None:
            sock.close()  # the worker reads EOF and exits
        if proc is None:
            return "not running"
        if kill and proc.poll() is None:
            proc.kill()
        try:
            code = proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        return f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def extract_file(path: Path, limits: Limits = Limits()) -> Extracted:
    """One file in a one-shot worker (use ``ExtractionPool`` for many files)."""
    with ExtractionPool(limits) as pool:
        return pool.extract(path)


def _send(sock: socket.socket, obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    sock.settimeout(None)
    sock.sendall(_HEADER.pack(len(data)) + data)


def _recv(sock: socket.socket, deadline: float | None = None) -> object:
    (size,) = _HEADER.unpack(_read(sock, _HEADER.size, deadline))
    return pickle.loads(_read(sock, size, deadline))


def _read(sock: socket.socket, size: int, deadline: float | None) -> bytes:
    buf = bytearray()
    while len(buf) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError
            sock.settimeout(remaining)
        try:
            chunk = sock.recv(min(size - len(buf), 1 << 20))
        except socket.timeout as exc:
            raise TimeoutError from exc
        if not chunk:
            raise EOFError
        buf += chunk
    return bytes(buf)
