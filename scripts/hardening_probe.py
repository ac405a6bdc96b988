#!/usr/bin/env python
"""Re-run issue 22's reproductions and print one figure line each (before/after a fix: run it on both checkouts).

    python scripts/hardening_probe.py snapshots      # 22.1: a 1 GB sparse file and invalid files
    python scripts/hardening_probe.py swap           # 22.5: a cp -p swap in place
    python scripts/hardening_probe.py modes          # 22.8: file modes of an on-demand index of a 0600 file
    python scripts/hardening_probe.py jobfile        # 22.9: an empty job file
    python scripts/hardening_probe.py appends        # 22.6: five appends to one file, no worker running

Uses only the APIs the base commit already had, so the same script measures the code it runs from.
"""
from __future__ import annotations

import argparse
import json
import os
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.backend.factory import create_backend  # noqa: E402
from app.ondemand import CorpusResolver  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import layout  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "cmrc2018_sample.json"


def _resolver(tmp: Path, roots: Path) -> CorpusResolver:
    s = Settings(index_dir=tmp / "idx", allowed_roots=str(roots))
    return CorpusResolver(s, create_backend(s))


def _mb(path: Path) -> float:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) / 1e6 if path.is_dir() else 0.0


def snapshots(tmp: Path) -> None:
    roots = tmp / "roots"
    roots.mkdir()
    huge = roots / "huge.json"
    subprocess.run(["truncate", "-s", "1G", str(huge)], check=True)
    resolver = _resolver(tmp, roots)
    t0 = time.perf_counter()
    try:
        resolver.resolve(str(huge))
    except Exception as exc:  # noqa: BLE001 (a probe reports whatever happens)
        message = str(exc)
    print(f"1 GB sparse file: error after {time.perf_counter() - t0:.1f} s, .sources holds "
          f"{_mb(tmp / 'idx' / layout.SOURCES_DIR):.0f} MB, error names the caller's path: {str(huge) in message}")
    (tmp / "idx" / layout.SOURCES_DIR).exists() and subprocess.run(["rm", "-rf", str(tmp / "idx")])
    record = json.dumps({"title": "t", "content": "字" * 1000}, ensure_ascii=False)
    names = 0
    for i in range(3):
        bad = roots / f"bad{i}.json"
        bad.write_text("[" + ",".join([record] * (1700 * (i + 1))) + ",42]", encoding="utf-8")
        try:
            resolver.resolve(str(bad))
        except Exception as exc:  # noqa: BLE001
            names += str(bad) in str(exc)
    print(f"3 invalid files of 5-15 MB: .sources holds {_mb(tmp / 'idx' / layout.SOURCES_DIR):.0f} MB; "
          f"{names}/3 errors name the caller's path")


def swap(tmp: Path) -> None:
    roots = tmp / "roots"
    roots.mkdir()
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))[:4]
    corpus = roots / "c.json"
    corpus.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    resolver = _resolver(tmp, roots)
    first = resolver.resolve(str(corpus)).name
    docs[0]["title"] = "".join({1: "X", 3: "字"}.get(len(c.encode()), c) for c in docs[0]["title"])  # same bytes
    (tmp / "new.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    before = corpus.stat()
    os.utime(tmp / "new.json", ns=(before.st_atime_ns, before.st_mtime_ns))  # cp -p then keeps the mtime
    subprocess.run(["cp", "-p", str(tmp / "new.json"), str(corpus)], check=True)
    second = resolver.resolve(str(corpus)).name
    print(f"cp -p swap (same inode, size, mtime): the same process answers from the "
          f"{'OLD' if second == first else 'new'} content ({first} -> {second})")


def modes(tmp: Path) -> None:
    roots = tmp / "roots"
    (roots / "secret").mkdir(parents=True, mode=0o700)
    corpus = roots / "secret" / "c.json"
    corpus.write_text(json.dumps(json.loads(SAMPLE.read_text(encoding="utf-8"))[:3], ensure_ascii=False))
    corpus.chmod(0o600)
    os.umask(0o022)
    name = _resolver(tmp, roots).resolve(str(corpus)).name
    idx = tmp / "idx"
    paths = [*(idx / layout.SOURCES_DIR).rglob("*"), idx / layout.SOURCES_DIR, *(idx / name).rglob("*"), idx / name]
    loose = sorted({oct(stat.S_IMODE(p.stat().st_mode)) for p in paths if p.stat().st_mode & 0o077})
    print(f"0600 corpus: {sum(bool(p.stat().st_mode & 0o077) for p in paths)}/{len(paths)} snapshot/index paths "
          f"readable by group or others (modes {', '.join(loose) or '-'})")


def jobfile(tmp: Path) -> None:
    from indexing.queue import BuildQueue

    idx = tmp / "idx"
    queue = BuildQueue(idx)
    queue.dir.mkdir(parents=True)
    (queue.dir / "c-1234.job.json").write_bytes(b"")
    listed = [f"{s.name}: {s.state} ({s.message})" for s in queue.statuses()]
    print(f"empty job file: the queue lists {listed or 'nothing'}; status(c-1234) = "
          f"{getattr(queue.status('c-1234'), 'state', None)}")


def appends(tmp: Path) -> None:
    roots = tmp / "roots"
    roots.mkdir()
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    corpus = roots / "c.json"
    resolver = _resolver(tmp, roots)
    with resolver.queue.take_slot():  # no worker starts: what waits in the queue stays there
        for n in range(3, 9):
            corpus.write_text(json.dumps(docs[:n], ensure_ascii=False), encoding="utf-8")
            resolver.resolve(str(corpus))
        print(f"one file, 5 appends: {len(layout.list_corpora(tmp / 'idx'))} indexes, "
              f"{len(resolver.queue.jobs())} queued dense builds, "
              f"{len(list((tmp / 'idx' / layout.SOURCES_DIR).iterdir()))} snapshots")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["snapshots", "swap", "modes", "jobfile", "appends"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        globals()[args.probe](Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
