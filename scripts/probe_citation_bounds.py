#!/usr/bin/env python
"""Reproduce issue 22.4 against a real server and print what citation checks cost it.

    python scripts/probe_citation_bounds.py

3,000 documents whose titles share their first 50 characters (BM25-only index), then through POST
/v1/citations/resolve: 100 KB of text with 1,282 citations of that prefix (alone, and three at once), 27 KB with
150 citations, 300 citations (the RAG_MAX_CITATIONS cap), and 300 behind quoted claims that no document holds (each
searched in every candidate: work the deadline has to stop). For each: status, wall seconds, the server's CPU
seconds (user + system, read from /proc until it stops burning), how much of it came after the answer (work
that went on for nobody), and the answer's size. On a machine shared with other work the CPU a request can get in
its 10 s is bounded by the load: compare the after-the-answer column.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402

from app.serving.devserver import start_server  # noqa: E402
from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402

PREFIX = ("城市公共交通优先发展的若干意见与实施细则" * 3)[:50]  # exactly the 50 characters a citation keeps


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children that ended, from /proc (clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def settled_cpu(pid: int, quiet: float = 1.0, limit: float = 120.0) -> float:
    """The process's CPU once it has stopped burning (no growth for ``quiet`` seconds)."""
    t0, last = time.monotonic(), cpu_seconds(pid)
    while time.monotonic() - t0 < limit:
        time.sleep(quiet)
        now = cpu_seconds(pid)
        if now - last < 0.05:
            return now
        last = now
    return last


def report_text(citations: int, chars: int, quoted: bool = False) -> str:
    """``citations`` citations of the shared prefix spread over at most ``chars`` characters of report; ``quoted``:
    each behind a quoted claim no document holds (every candidate's text is searched for it)."""
    piece = f'[long_context: "{PREFIX}", chunk 0]'
    if quoted:
        return "".join(f"“没有哪份文件说过的第{i}句话” {piece}" for i in range(citations))
    filler = ("据报道，该市公共交通发展迅速。" * 100)[: max(chars // citations - len(piece), 0)]
    return (filler + piece) * citations


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=3000)
    ap.add_argument("--timeout", type=float, default=10.0, help="the server's RAG_SEARCH_TIMEOUT_S (a longer one "
                    "lets a slow check finish, to see its answer's size)")
    ap.add_argument("--rows", default="0,1,2,3,4", help="which requests of the table to send (0-based)")
    args = ap.parse_args(argv)
    rows = {int(r) for r in args.rows.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        docs = [{"title": f"{PREFIX}（第{i}号）", "page_body": f"第{i}号文件的正文。公交优先，线路编号{i}。"}
                for i in range(args.docs)]
        (root / "c.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
        build_index(root / "c.json", BuildOptions.from_settings(IndexSettings(index_dir=root / "idx"), "c",
                                                                dense=False), progress=False)
        server = start_server(root / "idx", {"c"}, RAG_SEARCH_TIMEOUT_S=str(args.timeout))
        pid = server.proc.pid
        try:
            client = httpx.Client(base_url=server.url, timeout=300)
            print("| request | citations | text (k chars) | status | wall s | server CPU s | of which after the answer "
                  "| answer KB |")
            print("|---|---|---|---|---|---|---|---|")
            for row, (label, n, size, parallel) in enumerate([("100 KB, 1,282 citations", 1282, 100_000, 1),
                                                              ("same, three at once", 1282, 100_000, 3),
                                                              ("27 KB, 150 citations", 150, 27_000, 1),
                                                              ("at the cap: 300 citations", 300, 60_000, 1),
                                                              ("300 quoted claims", 300, 0, 1)]):
                if row not in rows:
                    continue
                text = report_text(n, size, quoted=not size)
                before = settled_cpu(pid)
                t0 = time.monotonic()
                with ThreadPoolExecutor(parallel) as pool:
                    answers = list(pool.map(lambda _: client.post("/v1/citations/resolve",
                                                                  json={"corpus": "c", "text": text}),
                                            range(parallel)))
                wall = time.monotonic() - t0
                answered = cpu_seconds(pid)
                burned = settled_cpu(pid) - before
                r = answers[0]
                print(f"| {label} | {n} | {len(text) / 1000:.0f} | {r.status_code} | {wall:.1f} | "
                      f"{burned:.1f} | {burned - (answered - before):.1f} | {len(r.content) / 1000:.0f} |")
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
