#!/usr/bin/env python
"""Re-run issue 22's reproductions and print one figure line each (before/after a fix: run it on both checkouts).

    python scripts/hardening_probe.py snapshots      # 22.1: a 1 GB sparse file and invalid files
    python scripts/hardening_probe.py swap           # 22.5: a cp -p swap in place
    python scripts/hardening_probe.py modes          # 22.8: file modes of an on-demand index of a 0600 file
    python scripts/hardening_probe.py jobfile        # 22.9: an empty job file
    python scripts/hardening_probe.py appends        # 22.6: five appends to one file, no worker running
    python scripts/hardening_probe.py milvus         # 22.2, 22.3, 22.7: a Milvus Lite server stopped and hung
    python scripts/hardening_probe.py stages         # 22.6: a new corpus queued behind a long dense build

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
from app.serving.ondemand import CorpusResolver  # noqa: E402
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
    try:
        from indexing import gc
    except ImportError:
        print("no retention policy: nothing is ever removed")
        return
    for name in layout.list_corpora(tmp / "idx"):  # as if the last use was two hours ago
        stamp = tmp / "idx" / name / gc.LAST_USED
        stamp.touch()
        os.utime(stamp, (time.time() - 7200, time.time() - 7200))
    report = gc.collect(tmp / "idx")
    print(f"zh-rag gc two hours later: freed {report.freed_bytes / 1e6:.1f} MB in {len(report.freed)} items; "
          f"{len(layout.list_corpora(tmp / 'idx'))} index left")


def _lite(data: Path, port: int):
    proc = subprocess.Popen([sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(data), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    for _ in range(600):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.1)
    raise TimeoutError("milvus_lite did not listen")


def _search(client, corpus: str):
    t0 = time.monotonic()
    resp = client.post("/v1/search", json={"corpus": corpus, "query": "泡泡战士是哪个公司开发的", "top_k": 2})
    return time.monotonic() - t0, resp


def milvus(tmp: Path) -> None:
    import signal
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    from app.serving.devserver import Server, free_port, start_server
    from indexing.build import BuildOptions, build_index
    from indexing.milvus_export import build_milvus_index
    from indexing.milvus_layout import MilvusConnection
    from indexing.settings import IndexSettings

    corpus = tmp / "six.json"
    corpus.write_text(json.dumps(json.loads(SAMPLE.read_text(encoding="utf-8"))[:6], ensure_ascii=False))
    idx, port = tmp / "idx", free_port()
    uri = f"http://127.0.0.1:{port}"
    lite = _lite(tmp / "lite", port)
    opts = lambda name, dense: BuildOptions.from_settings(IndexSettings(index_dir=idx), name, dense=dense)  # noqa
    build_milvus_index(corpus, opts("six", True), MilvusConnection(uri), progress=False)
    build_index(corpus, opts("plain", False), progress=False)
    try:
        # 22.2 and 22.7: SIGSTOP, 45 searches to the Milvus corpus, then a local search and /healthz
        srv = start_server(idx, {"six", "plain"}, RAG_MILVUS_URI=uri.replace("http://", "http://root:S3cretPass@"))
        os.kill(lite.pid, signal.SIGSTOP)
        with ThreadPoolExecutor(46) as pool, httpx.Client(base_url=srv.url, timeout=120,
                                                          limits=httpx.Limits(max_connections=50)) as client:
            hung = [pool.submit(_search, client, "six") for _ in range(45)]
            time.sleep(1.0)
            local = pool.submit(_search, client, "plain")
            t0 = time.monotonic()
            srv.client.get("/healthz")
            health_s = time.monotonic() - t0
            local_s = local.result()[0]
            answers = [f.result() for f in hung]
        first = min(answers, key=lambda a: a[0] if "busy" not in a[1].text else 1e9)[1].json().get("detail", "")
        print(f"Milvus SIGSTOPped, 45 searches to it: local search {local_s:.2f} s, /healthz {health_s:.2f} s; "
              f"{sum('busy' in r.text for _, r in answers)} refused at once (max {max(t for t, _ in answers):.1f} s for "
              f"an answer); first 503 of a waiting one: {first!r}; "
              f"password in /readyz: {'S3cretPass' in srv.client.get('/readyz').text}")
        os.kill(lite.pid, signal.SIGCONT)
        srv.stop()
        # 22.2: the hot reload of a local corpus while Milvus hangs
        srv = start_server(idx, {"six", "plain"})
        before = srv.client.get("/v1/corpora/plain").json()["built_at"]
        os.kill(lite.pid, signal.SIGSTOP)
        time.sleep(1.0)
        build_index(corpus, opts("plain", False), progress=False)
        t0 = time.monotonic()
        while srv.client.get("/v1/corpora/plain").json()["built_at"] == before:
            time.sleep(0.05)
        print(f"Milvus SIGSTOPped: a rebuilt local corpus served after {time.monotonic() - t0:.1f} s")
        os.kill(lite.pid, signal.SIGCONT)
        srv.stop()
        # 22.3: Milvus down when the service starts, started again
        lite.kill()
        lite.wait()
        srv = Server({"RAG_INDEX_DIR": str(idx), "RAG_RELOAD_INTERVAL_S": "0.5"})
        srv.wait_ready({"plain"})
        time.sleep(2)
        lite = _lite(tmp / "lite", port)
        t0, back = time.monotonic(), None
        while time.monotonic() - t0 < 60 and back is None:
            if _search(srv.client, "six")[1].status_code == 200:
                back = time.monotonic() - t0
            time.sleep(0.5)
        print("Milvus down at start, then started: the corpus serves again "
              + (f"after {back:.1f} s" if back is not None else "NOT within 60 s"))
        srv.stop()
    finally:
        os.kill(lite.pid, signal.SIGCONT)
        lite.kill()


def stages(tmp: Path) -> None:
    import dataclasses
    import signal

    from indexing import sources
    from indexing.build import BuildOptions, build_index
    from indexing.queue import BuildJob, BuildQueue
    from indexing.settings import IndexSettings

    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    queue = BuildQueue(tmp)

    def job(name: str, documents: list, **extra) -> BuildJob:
        corpus = tmp / f"{name}.json"
        corpus.write_text(json.dumps(documents, ensure_ascii=False), encoding="utf-8")
        opts = BuildOptions.from_settings(IndexSettings(index_dir=tmp), name, dense=False)
        build_index(corpus, opts, progress=False)
        with open(corpus, "rb") as fh:
            snap = sources.snapshot(fh.fileno(), tmp, ".json")
        dense = dataclasses.asdict(dataclasses.replace(opts, embedder=IndexSettings().embedder, dense="full", **extra))
        return BuildJob(name, str(snap.path), str(corpus), {**dense, "index_dir": str(tmp)})

    queue.submit(job("big", [{**d, "page_body": f"{d['page_body']} 第{k}版。"} for k in range(4) for d in docs],
                     embed_batch_size=1))
    queue.ensure_worker()
    while (queue.status("big") or queue).__dict__.get("stage") not in ("leads", "full"):
        time.sleep(0.3)
    queue.submit(job("new", docs[:3]))
    t0 = time.monotonic()
    while queue.status("new") is not None:
        time.sleep(0.3)
    big = queue.status("big")
    print(f"a new 3-document corpus queued behind a long build in its leads/full stage: its vectors after "
          f"{time.monotonic() - t0:.0f} s; the long build {'still under way' if big else 'had finished first'}")
    if big is not None and big.pid:
        os.kill(big.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("probe", choices=["snapshots", "swap", "modes", "jobfile", "appends", "milvus", "stages"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        globals()[args.probe](Path(tmp))
    return 0


if __name__ == "__main__":
    sys.exit(main())
