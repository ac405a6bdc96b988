"""Retention: what an index directory may drop, and ``zh-rag gc`` to drop it (README, "Operating it safely").

Agents index one new folder per task, and every content change of a file is a
new corpus: without a policy the index directory only grows. ``collect`` frees

- on-demand corpora (indexed by the MCP tool, marked ``.on-demand``) unused for
  ``max_idle_days``, or superseded by a newer content of the same file;
- beyond that, on-demand corpora least recently used first until the directory
  fits ``max_bytes``;
- snapshots no queued build reads, lock and status files of builds that are
  gone, and ``.partial`` versions of killed builds.

It never removes a corpus that is being built (its build lock is held or a build
of it is queued) or that was used within ``MIN_IDLE_S``: every process serving a
corpus stamps ``<corpus>/.last-used`` when it answers from it, at most once per
``STAMP_EVERY_S`` (loading alone does not count: a restart would make every
corpus look used). Hand-built corpora are only ever
touched for their killed builds' leftovers: removing them is the operator's call.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from indexing import layout
from indexing.queue import BuildQueue, lock_free

LAST_USED = ".last-used"
ON_DEMAND = ".on-demand"
MIN_IDLE_S = 3600.0  # a corpus used within the hour stays, whatever the limits
STAMP_EVERY_S = 600.0  # how often a serving process re-stamps a corpus it answers from
LEFTOVER_AGE_S = 3600.0  # snapshots and temporary files younger than this may belong to a build starting now


@dataclass(frozen=True)
class Freed:
    path: str  # relative to the index directory
    bytes: int
    reason: str


@dataclass
class GcReport:
    freed: list[Freed] = field(default_factory=list)
    kept_in_use: list[str] = field(default_factory=list)  # corpora over a limit kept because used or built
    total_bytes: int = 0  # the index directory's size after collection

    @property
    def freed_bytes(self) -> int:
        return sum(f.bytes for f in self.freed)


def _touch(path: Path) -> None:
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))  # private, like on-demand indexes
    os.utime(path)


def mark_used(index_dir: Path, name: str) -> None:
    """Stamp ``name`` as used now (a read-only index directory is not an error: it is then never collected)."""
    try:
        _touch(layout.corpus_root(index_dir, name) / LAST_USED)
    except (OSError, ValueError):
        pass


def mark_on_demand(index_dir: Path, name: str) -> None:
    _touch(layout.corpus_root(index_dir, name) / ON_DEMAND)


def size_of(path: Path) -> int:
    """Bytes on disk (hard links shared by versions count once)."""
    if path.is_file() or path.is_symlink():
        return path.lstat().st_blocks * 512
    seen, total = set(), 0
    for p in [path, *path.rglob("*")]:
        try:
            info = p.lstat()
        except OSError:
            continue
        if (info.st_dev, info.st_ino) not in seen:
            seen.add((info.st_dev, info.st_ino))
            total += info.st_blocks * 512
    return total


def last_used(root: Path) -> float:
    """When a corpus was last used: its stamp, else when its published version was last swapped in."""
    for candidate in (root / LAST_USED, root / layout.CURRENT, root):
        try:
            return candidate.stat().st_mtime
        except OSError:
            continue
    return 0.0


@dataclass(frozen=True)
class _Corpus:
    name: str
    root: Path
    used_at: float
    source: str | None
    built_at: str


def _on_demand(index_dir: Path) -> list[_Corpus]:
    found = []
    for name in layout.list_corpora(index_dir):
        root = layout.corpus_root(index_dir, name)
        if not (root / ON_DEMAND).exists():
            continue
        manifest = layout.published_manifest(index_dir, name)
        found.append(_Corpus(name, root, last_used(root), manifest.source_path if manifest else None,
                             manifest.built_at if manifest else ""))
    return found


def _busy(index_dir: Path, name: str, queued: set[str]) -> bool:
    return name in queued or not lock_free(layout.corpus_root(index_dir, name) / layout.BUILD_LOCK)


def collect(index_dir: Path, max_idle_days: float | None = None, max_bytes: int | None = None,
            dry_run: bool = False, now: float | None = None) -> GcReport:
    """Free what the policy allows (module docstring); with ``dry_run``, only say what would go."""
    index_dir = Path(index_dir)
    now = time.time() if now is None else now
    report = GcReport()
    queue = BuildQueue(index_dir)
    jobs = queue.jobs()
    queued = {j.name for j in jobs}

    def drop(path: Path, reason: str) -> None:
        size = size_of(path)
        report.freed.append(Freed(str(path.relative_to(index_dir)), size, reason))
        if dry_run:
            return
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    # leftovers: snapshots no job reads, temporary files, lock and status files of builds that are gone
    sources = index_dir / layout.SOURCES_DIR
    read = {Path(j.source).name for j in jobs}
    for snap in sorted(sources.iterdir()) if sources.is_dir() else []:
        if snap.name not in read and now - snap.stat().st_mtime > LEFTOVER_AGE_S:
            drop(snap, "snapshot no queued build reads")
    corpora = set(layout.list_corpora(index_dir))
    for path in sorted(queue.dir.iterdir()) if queue.dir.is_dir() else []:
        name = path.name.removesuffix(".lock").removesuffix(".status.json")
        if path.name.startswith("worker") or name == path.name or name in queued:
            continue
        if path.suffix == ".lock" and lock_free(path):  # a build takes its corpus's own lock too (build_lock)
            drop(path, "lock of a build that is over")
        elif path.name.endswith(".status.json") and name not in corpora:
            drop(path, "status of a build whose corpus is gone")
    for name in sorted(corpora):
        root = layout.corpus_root(index_dir, name)
        if lock_free(root / layout.BUILD_LOCK):
            for partial in sorted(root.glob("v-*.partial")):
                drop(partial, "version of a killed build")

    # on-demand corpora: idle too long, superseded, then least recently used over the size budget
    candidates = _on_demand(index_dir)
    newest: dict[str, _Corpus] = {}
    for c in candidates:
        if c.source and (c.source not in newest or c.built_at > newest[c.source].built_at):
            newest[c.source] = c
    removed: set[str] = set()

    def remove(c: _Corpus, reason: str) -> None:
        if _busy(index_dir, c.name, queued) or now - c.used_at < MIN_IDLE_S:
            report.kept_in_use.append(c.name)
            return
        drop(c.root, reason)
        removed.add(c.name)

    for c in sorted(candidates, key=lambda c: c.used_at):
        idle_days = (now - c.used_at) / 86400
        if max_idle_days is not None and idle_days > max_idle_days:
            remove(c, f"on-demand corpus unused for {idle_days:.1f} days (limit {max_idle_days:g})")
        elif c.source and newest[c.source] is not c:
            remove(c, f"on-demand corpus superseded by {newest[c.source].name} (a newer content of {c.source})")
    if max_bytes is not None:
        total = size_of(index_dir) - (report.freed_bytes if dry_run else 0)
        for c in sorted((c for c in candidates if c.name not in removed), key=lambda c: c.used_at):
            if total <= max_bytes:
                break
            before = len(report.freed)
            remove(c, f"least recently used on-demand corpus, over the {max_bytes:,}-byte budget")
            if len(report.freed) > before:
                total -= report.freed[-1].bytes  # measured as it was dropped
        report.total_bytes = total
    else:
        report.total_bytes = size_of(index_dir) - (report.freed_bytes if dry_run else 0)
    report.kept_in_use = sorted(set(report.kept_in_use) - removed)
    return report


def main(argv: list[str] | None = None) -> int:
    from indexing.settings import get_index_settings

    settings = get_index_settings()
    parser = argparse.ArgumentParser(
        prog="zh-rag gc", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Free disk in an index directory: on-demand corpora unused for a while or superseded by a newer "
        "content of their file, leftovers of finished or killed builds. Never a corpus being built, or used within "
        "the hour.",
        epilog="examples:\n  zh-rag gc --dry-run                      # what would go, and why\n"
               "  zh-rag gc --max-idle-days 7              # on-demand corpora unused for a week\n"
               "  zh-rag gc --max-bytes 20000000000        # least recently used first, down to 20 GB\n")
    parser.add_argument("--index-dir", type=Path, default=settings.index_dir, help="default: RAG_INDEX_DIR")
    parser.add_argument("--max-idle-days", type=float, default=settings.ondemand_max_idle_days,
                        help="remove on-demand corpora unused for longer (default: RAG_ONDEMAND_MAX_IDLE_DAYS)")
    parser.add_argument("--max-bytes", type=int, default=settings.index_max_bytes,
                        help="then remove on-demand corpora, least recently used first, until the directory fits "
                             "(default: RAG_INDEX_MAX_BYTES)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be freed; remove nothing")
    args = parser.parse_args(argv)
    if not args.index_dir.is_dir():
        raise FileNotFoundError(f"index directory {args.index_dir} does not exist")
    report = collect(args.index_dir, args.max_idle_days, args.max_bytes, args.dry_run)
    verb = "would free" if args.dry_run else "freed"
    for f in report.freed:
        print(f"{verb} {f.bytes / 1e6:9.1f} MB  {f.path}: {f.reason}")
    for name in report.kept_in_use:
        print(f"kept {name}: being built, queued, or used within the hour")
    print(f"{verb} {report.freed_bytes / 1e6:.1f} MB in {len(report.freed)} item(s); the index directory holds "
          f"{report.total_bytes / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
