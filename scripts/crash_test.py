#!/usr/bin/env python
"""Kill index builds with SIGKILL at random moments and check that nothing published is ever harmed.

Two index names, each first published as a BM25-only index of the bundled sample:
- "lexical": rebuilt (BM25-only) from a larger corpus, killed during reading, tokenizing, BM25 or publishing;
- "dense":   rebuilt with the bundled embedder, killed while embedding.
After every kill the published index must still load (checksums verified) and answer
exactly as before. Then each build is re-run to completion and must give the same
answers as an uninterrupted build in a fresh directory (the dense one resumes from its
cached vectors instead of re-embedding them).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.ranking.fusion import FusionParams  # noqa: E402
from app.backend.loaded import LoadedCorpus  # noqa: E402
from app.ranking.search import SearchParams, search  # noqa: E402
from indexing import layout  # noqa: E402
from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings as Settings  # noqa: E402

SAMPLE = ROOT / "data" / "cmrc2018_sample.json"
QUERIES = ["泡泡战士是哪个公司开发的", "冰雪皇后的总部在哪里", "Which company runs Dairy Queen?", "游戏模式"]


def answers(index_dir: Path, name: str, modes: tuple[str, ...]) -> list:
    index = LoadedCorpus.open(layout.published_version(index_dir, name))  # verifies every checksum
    out = []
    for mode in modes:
        for q in QUERIES:
            hits = search(index, SearchParams(q, mode, top_k=10), FusionParams(), 100).hits
            out.append([(h.chunk.doc_index, h.chunk.chunk_index, round(h.score, 5)) for h in hits])
    return out


def options(index_dir: Path, name: str, dense: bool) -> BuildOptions:
    return BuildOptions.from_settings(Settings(index_dir=index_dir), name, dense=dense)


def larger_corpus(path: Path, copies: int) -> Path:
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    big = [{**d, "title": f"{d['title']} ({i})", "page_body": d["page_body"] + f" 第{i}版。"}
           for i in range(copies) for d in docs]
    path.write_text(json.dumps(big, ensure_ascii=False), encoding="utf-8")
    return path


def kill_run(corpus: Path, index_dir: Path, name: str, dense: bool, delay: float) -> bool:
    """Start a build, SIGKILL it after ``delay`` s; True if it was killed (False: it finished first)."""
    cmd = [sys.executable, "-m", "indexing.cli", str(corpus), "--name", name, "--index-dir", str(index_dir),
           "--quiet"] + ([] if dense else ["--no-dense"])
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "RAG_EMBED_BATCH_SIZE": "2"})
    try:
        proc.wait(timeout=delay)
        return False
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return True


def campaign(label: str, corpus: Path, dense: bool, kills: int, max_delay: float, work: Path, rng) -> dict:
    index_dir = work / "indexes"
    build_index(SAMPLE, options(index_dir, label, dense=False), progress=False)
    published = layout.published_version(index_dir, label)
    baseline = answers(index_dir, label, ("bm25",))
    killed = finished_early = after_publish = 0
    while killed < kills and finished_early < 5 * kills:
        if not kill_run(corpus, index_dir, label, dense, rng.uniform(0.3, max_delay)):
            finished_early += 1  # too late: the build completed; start over from the baseline and a cold cache
            shutil.rmtree(index_dir / layout.EMBED_CACHE_DIR, ignore_errors=True)
            build_index(SAMPLE, options(index_dir, label, dense=False), progress=False)
            published = layout.published_version(index_dir, label)
            continue
        killed += 1
        if layout.published_version(index_dir, label) != published:
            # killed after the atomic swap: the new version must be complete, then go back to the baseline
            LoadedCorpus.open(layout.published_version(index_dir, label))
            after_publish += 1
            build_index(SAMPLE, options(index_dir, label, dense=False), progress=False)
            published = layout.published_version(index_dir, label)
        assert answers(index_dir, label, ("bm25",)) == baseline, "answers changed after a kill"
    modes = ("bm25", "dense", "hybrid") if dense else ("bm25",)
    report = build_index(corpus, options(index_dir, label, dense=dense), progress=False)
    fresh_dir = work / f"fresh-{label}"
    build_index(corpus, options(fresh_dir, label, dense=dense), progress=False)
    identical = answers(index_dir, label, modes) == answers(fresh_dir, label, modes)
    return dict(stage=label, kills=killed, killed_after_publish=after_publish, finished_before_kill=finished_early,
                published_intact_after_each=True,
                resumed_vectors=report.reused, embedded_on_resume=report.embedded, identical_to_uninterrupted=identical)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kills", type=int, default=12, help="kills per stage (lexical and dense)")
    p.add_argument("--copies", type=int, default=100, help="sample copies in the lexical-stage corpus")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big = larger_corpus(work / "larger.json", args.copies)
        started = time.perf_counter()
        kill_run(big, work / "timing", "lexical", dense=False, delay=600)  # how long a whole run takes
        lexical_run = time.perf_counter() - started
        results = [
            campaign("lexical", big, dense=False, kills=args.kills, max_delay=lexical_run, work=work, rng=rng),
            campaign("dense", SAMPLE, dense=True, kills=args.kills, max_delay=3.5, work=work, rng=rng),
        ]
    for r in results:
        print(json.dumps(r, ensure_ascii=False))
    total = sum(r["kills"] for r in results)
    ok = all(r["identical_to_uninterrupted"] for r in results)
    print(f"{total} kills survived, published index intact after each; re-runs identical to uninterrupted "
          f"builds: {ok}; {time.perf_counter() - t0:.0f}s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
