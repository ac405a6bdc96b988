"""Private snapshots of corpus files: every build stage reads one of these, never the caller's path again.

A snapshot is made from an already opened (and checked) file descriptor, hashed
while it is copied, and stored under ``<index_dir>/.sources/<sha256><suffix>``
(``layout.SOURCES_DIR``). It stays until a build of its content reaches its
target stage, so a killed background build can resume from it.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from indexing import layout

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Snapshot:
    path: Path
    sha256: str
    size: int


def sha256_of(fd: int) -> str:
    """Content hash of an open file, read from its start without moving anyone else's offset."""
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, _BLOCK, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def snapshot(fd: int, index_dir: Path, suffix: str) -> Snapshot:
    """Copy the open file into the index directory's private sources, named by its content hash."""
    directory = Path(index_dir) / layout.SOURCES_DIR
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".tmp-{os.getpid()}-{os.urandom(4).hex()}"
    digest, offset = hashlib.sha256(), 0
    try:
        with open(tmp, "wb") as out:
            while block := os.pread(fd, _BLOCK, offset):
                digest.update(block)
                out.write(block)
                offset += len(block)
            out.flush()
            os.fsync(out.fileno())
        final = directory / f"{digest.hexdigest()}{suffix.lower()[:16]}"
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Snapshot(final, digest.hexdigest(), offset)


def discard(path: Path, index_dir: Path) -> None:
    """Remove a snapshot once nothing needs it (only files inside the private sources directory)."""
    path = Path(path)
    if path.parent.resolve() == (Path(index_dir) / layout.SOURCES_DIR).resolve():
        path.unlink(missing_ok=True)
