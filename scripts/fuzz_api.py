#!/usr/bin/env python
"""Fuzz the REST service with schemathesis against its own OpenAPI schema; exit 1 on any failure.

Builds a small index from the bundled sample (BM25-only by default: dense mode then
answers 409, a documented response), starts uvicorn on 127.0.0.1, runs
`schemathesis run --checks all` (every operation, positive and negative data,
schema conformance of every response), and counts the requests and 5xx answers
the server itself logged.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings as Settings  # noqa: E402
from app.serving.devserver import start_server  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--max-examples", type=int, default=300, help="examples per API operation (8 operations)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--dense", action="store_true", help="index with the bundled embedder too (slower)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = Path(tmp)
        build_index(ROOT / "data" / "cmrc2018_sample.json",
                    BuildOptions.from_settings(Settings(index_dir=index_dir), "sample", dense=args.dense),
                    progress=False)
        server = start_server(index_dir, {"sample"})
        try:
            run = subprocess.run(
                [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json", "--checks", "all",
                 "--max-examples", str(args.max_examples), "--seed", str(args.seed), "--no-color"],
                cwd=ROOT, capture_output=True, text=True,
            )
        finally:
            server.stop()
        log = server.log()
    requests = len(re.findall(r'" \d{3}', log))
    server_errors = len(re.findall(r'" 5\d\d', log))
    # the failures' reproductions (curl lines) come before the summary: print them too
    start = run.stdout.find("FAILURES") if run.returncode else run.stdout.rfind("SUMMARY")
    summary = run.stdout[start:] if start >= 0 else run.stdout[-3000:]
    print(summary.strip())
    print(f"\nserver log: {requests} requests, {server_errors} answered 5xx; schemathesis exit code {run.returncode}")
    return 0 if run.returncode == 0 and server_errors == 0 and requests > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
