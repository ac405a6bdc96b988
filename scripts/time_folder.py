#!/usr/bin/env python
"""Where the time to a folder's first answer goes, in process: imports, extraction (cold extraction cache),
BM25 build, index load and the first search; wall seconds per step, and CPU seconds of this process and of
the extraction workers (which a loaded machine leaves comparable when wall time is not).

    python scripts/time_folder.py /path/to/task-folder
"""
from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time

t_start = time.perf_counter()
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.backend.local import LocalBackend  # noqa: E402
from app.schemas import SearchRequest  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import folder  # noqa: E402
from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402


def cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("folder", type=Path, help="a task folder (or one document)")
    p.add_argument("--question", default="What is the squeezing effect?", help="the first search")
    args = p.parse_args(argv)
    root, question = args.folder, args.question
    index_dir = Path(tempfile.mkdtemp(prefix="time-folder-"))
    try:
        return _run(root, question, index_dir)
    finally:
        shutil.rmtree(index_dir, ignore_errors=True)


def _run(root: Path, question: str, index_dir: Path) -> int:
    t1 = time.perf_counter()
    prepared = folder.prepare(root, index_dir)
    t2 = time.perf_counter()
    snap = folder.write_prepared(prepared, index_dir)
    build_index(snap.path, BuildOptions.from_settings(IndexSettings(index_dir=index_dir), "t", dense=False),
                progress=False)
    t3 = time.perf_counter()
    LocalBackend(Settings(index_dir=index_dir), eager=False).search(SearchRequest(corpus="t", query=question))
    t4 = time.perf_counter()
    print(f"wall s: imports {t1 - t_start:.1f}, extraction {t2 - t1:.1f}, BM25 build {t3 - t2:.1f}, "
          f"load + first search {t4 - t3:.1f}; total {t4 - t_start:.1f}")
    print(f"CPU s: this process {cpu(resource.RUSAGE_SELF):.1f}, extraction workers "
          f"{cpu(resource.RUSAGE_CHILDREN):.1f}; load average {open('/proc/loadavg').read().split()[0]}")
    print(f"{len(prepared.files)} files, {len(prepared.sections)} sections, "
          f"{sum(len(s.body) for s in prepared.sections):,} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
