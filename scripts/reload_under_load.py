#!/usr/bin/env python
"""Publish rebuilt indexes while concurrent clients search; count failed requests and time the switch.

Starts the real service (uvicorn, 127.0.0.1), runs --clients threads that search
(and read corpus stats) without pause for --seconds, and meanwhile republishes
the corpus --reloads times, alternating two versions of it. A request fails if it
gets anything but 200 or a transport error. The switch time is from the moment a
build is published to the first response that reports the new version.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings as Settings  # noqa: E402
from app.serving.devserver import start_server  # noqa: E402

QUERIES = ["泡泡战士是哪个公司开发的", "冰雪皇后", "游戏模式", "Nexon", "公司 发行"]


def client_loop(url: str, stop: threading.Event, stats: dict, lock: threading.Lock, seen: dict) -> None:
    with httpx.Client(base_url=url, timeout=30) as http:
        i = 0
        while not stop.is_set():
            i += 1
            try:
                if i % 5 == 0:
                    resp = http.get("/v1/corpora/live")
                    if resp.status_code == 200:
                        version = resp.json()["version"]
                        with lock:
                            seen.setdefault(version, time.monotonic())
                else:
                    resp = http.post("/v1/search", json={"corpus": "live", "query": QUERIES[i % len(QUERIES)]})
                ok = resp.status_code == 200
            except httpx.HTTPError:
                ok = False
            with lock:
                stats["requests"] += 1
                stats["failures"] += not ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30)
    p.add_argument("--reloads", type=int, default=5)
    args = p.parse_args(argv)
    docs = json.loads((ROOT / "data" / "cmrc2018_sample.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        corpus = tmp / "live.json"
        opts = BuildOptions.from_settings(Settings(index_dir=tmp / "indexes"), "live", dense=False)
        corpus.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        build_index(corpus, opts, progress=False)
        server = start_server(tmp / "indexes", {"live"}, RAG_RELOAD_INTERVAL_S="0.5")
        stats, lock, seen, stop = {"requests": 0, "failures": 0}, threading.Lock(), {}, threading.Event()
        threads = [threading.Thread(target=client_loop, args=(server.url, stop, stats, lock, seen))
                   for _ in range(args.clients)]
        for t in threads:
            t.start()
        switches = []
        try:
            pause = args.seconds / (args.reloads + 1)
            for n in range(args.reloads):
                time.sleep(pause)
                subset = docs if n % 2 else docs[: len(docs) // 2]
                corpus.write_text(json.dumps(subset, ensure_ascii=False), encoding="utf-8")
                version = build_index(corpus, opts, progress=False).version_dir.name
                published_at = time.monotonic()
                while version not in seen and time.monotonic() - published_at < 30:
                    time.sleep(0.01)
                switches.append(seen.get(version, float("inf")) - published_at)
            time.sleep(pause)
        finally:
            stop.set()
            for t in threads:
                t.join()
            server.stop()
    print(f"{stats['requests']} requests from {args.clients} clients over {args.seconds:.0f}s, "
          f"{stats['failures']} failed; {len(switches)} reloads, new version served within "
          f"{max(switches):.2f}s at most (mean {sum(switches) / len(switches):.2f}s; poll interval 0.5s)")
    return 0 if stats["failures"] == 0 and max(switches) < 30 else 1


if __name__ == "__main__":
    sys.exit(main())
