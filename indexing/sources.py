"""Private snapshots of corpus files: every build stage reads one of these, never the caller's path again.

A snapshot is made from an already opened (and checked) file descriptor, hashed
while it is copied, and stored under ``<index_dir>/.sources/<sha256><suffix>``
(``layout.SOURCES_DIR``). It stays until a build of its content reaches its
target stage, so a killed background build can resume from it, and is removed
when its build fails. A file over the size limit is refused before a byte is
copied (its size is read from the open descriptor), and the copy stops at the
limit if the file grows meanwhile. Snapshots are private whatever the umask:
the directory is 0700, each file 0600 (README, "Operating it safely").
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from indexing import layout

_BLOCK = 1 << 20
DIR_MODE, FILE_MODE = 0o700, 0o600


class SourceTooLarge(ValueError):
    """A corpus file over the configured size limit (RAG_MAX_SOURCE_BYTES)."""


def check_size(size: int, max_bytes: int, label: str) -> None:
    """Refuse a file of ``size`` bytes over ``max_bytes``, naming ``label`` (the caller's path)."""
    if size > max_bytes:
        raise SourceTooLarge(f"{label} is {size:,} bytes, over the {max_bytes:,}-byte limit for one corpus file "
                             "(RAG_MAX_SOURCE_BYTES); split it or ask the operator to raise the limit")


def private_dir(path: Path) -> Path:
    """``path`` created if missing and made 0700 (mkdir's mode is filtered by the umask, chmod's is not)."""
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


@dataclass(frozen=True)
class Snapshot:
    path: Path
    sha256: str
    size: int


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` whole or not at all (a temporary file renamed over it), readable by the owner only."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{os.urandom(4).hex()}.tmp")
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE), "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def sha256_of(fd: int) -> str:
    """Content hash of an open file, read from its start without moving anyone else's offset."""
    digest, offset = hashlib.sha256(), 0
    while block := os.pread(fd, _BLOCK, offset):
        digest.update(block)
        offset += len(block)
    return digest.hexdigest()


def snapshot(fd: int, index_dir: Path, suffix: str, max_bytes: int | None = None,
             label: str = "the file") -> Snapshot:
    """Copy the open file into the index directory's private sources, named by its content hash.

    ``max_bytes``: refuse the file (``SourceTooLarge`` naming ``label``) if it is, or grows, larger.
    """
    if max_bytes is not None:
        check_size(os.fstat(fd).st_size, max_bytes, label)
    directory = private_dir(Path(index_dir) / layout.SOURCES_DIR)
    tmp = directory / f".tmp-{os.getpid()}-{os.urandom(4).hex()}"
    digest, offset = hashlib.sha256(), 0
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE), "wb") as out:
            os.fchmod(out.fileno(), FILE_MODE)
            while block := os.pread(fd, _BLOCK, offset):
                digest.update(block)
                out.write(block)
                offset += len(block)
                if max_bytes is not None:
                    check_size(offset, max_bytes, label)
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
