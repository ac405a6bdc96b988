"""Which corpus files a caller may name, opened once and safely: only regular files under the configured roots.

A path is checked, then opened without following a final symlink and without
blocking (a FIFO swapped in cannot hang the call), and the *opened* file is
checked again: it must be a regular file whose real path lies under a root. The
open file is then copied into a private snapshot (``indexing/sources.py``) that
every later stage reads, so swapping the path after the check changes nothing.
A hard link to an outside file is indistinguishable from a file under the root:
that is the limit of path-based roots (README, "Operating it safely").
"""
from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

CHUNKS_DB_SUFFIX = ".chunks.db"


class AccessDenied(PermissionError):
    pass


@dataclass(frozen=True)
class OpenedCorpus:
    """An open, checked corpus file. ``identity`` changes whenever the file's content may have: a rewrite in
    place that restores the mtime (``cp -p``) still moves the ctime, which no caller can set."""

    fd: int
    real_path: Path
    size: int
    identity: tuple[int, int, int, int, int]  # device, inode, size, mtime_ns, ctime_ns

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> "OpenedCorpus":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _roots_text(roots: list[Path]) -> str:
    return ", ".join(str(r) for r in roots)


def _under(path: Path, roots: list[Path]) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def _absolute(json_path: str, roots: list[Path]) -> Path:
    """The path a caller names, refused unless it is a non-empty absolute path and roots are configured."""
    if not json_path or "\x00" in json_path:
        raise AccessDenied("json_path is empty or malformed; pass the absolute path of the corpus file, document "
                           "or folder")
    if not roots:
        raise AccessDenied("no corpus roots are configured; set RAG_ALLOWED_ROOTS to the folders agents may search")
    path = Path(json_path).expanduser()
    if not path.is_absolute():
        raise AccessDenied(f"json_path must be an absolute path, got {json_path!r}; corpus files are read under "
                           f"{_roots_text(roots)}")
    return path


def _outside(json_path: str, roots: list[Path]) -> AccessDenied:
    return AccessDenied(f"{json_path} is outside the allowed corpus roots ({_roots_text(roots)}); ask the "
                        "operator to add its folder to RAG_ALLOWED_ROOTS")


def open_corpus(json_path: str, roots: list[Path]) -> OpenedCorpus:
    """Open the corpus file ``json_path`` names, or raise AccessDenied / FileNotFoundError with what to do."""
    path = _absolute(json_path, roots)
    if path.name.endswith(CHUNKS_DB_SUFFIX):  # the old tool's cache beside the corpus names the same corpus
        path = path.with_name(path.name[: -len(CHUNKS_DB_SUFFIX)])
    outside = _outside(json_path, roots)
    real = path.resolve()
    if not _under(real, roots):
        raise outside
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileNotFoundError(f"{json_path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last component became a symlink after it was resolved
            raise outside from None
        raise AccessDenied(f"{json_path} cannot be opened: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise AccessDenied(f"{json_path} is not a regular file; pass the corpus JSON file itself")
        opened = Path(os.readlink(f"/proc/self/fd/{fd}")) if os.path.exists("/proc/self/fd") else real
        if not _under(opened, roots):  # a directory on the way was swapped after the check
            raise outside
        os.set_blocking(fd, True)
        return OpenedCorpus(fd, opened, info.st_size, (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                                                        info.st_ctime_ns))
    except BaseException:
        os.close(fd)
        raise


def check_folder(json_path: str, roots: list[Path]) -> Path:
    """The real path of a folder a caller names, if it lies under a root (its files are then checked one by one
    as they are read: indexing/folder.py skips symlinks that leave it)."""
    real = _absolute(json_path, roots).resolve()
    if not _under(real, roots):
        raise _outside(json_path, roots)
    if not real.is_dir():
        raise FileNotFoundError(f"{json_path} does not exist")
    return real
