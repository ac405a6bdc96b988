#!/usr/bin/env python
"""What an agent sees in the first minutes of a new corpus: time to each dense stage, and quality at each.

Copies the corpus into a fresh agent folder and a fresh index directory (cold
vector cache unless --warm), starts the real MCP server over stdio with the
SDK's client, and makes the agent's first call (`rag_search`, an English
question). From that moment it watches the index directory: each time a new
version is published it records the time and, with --queries, evaluates the
labelled questions on it through the same backend the service uses (MRR@10,
R@10, flag rates). It stops when the --until stage is served, then times the
first call of three new MCP server processes on the now indexed corpus (process
start, initialize, one rag_search).

    python scripts/first_minutes.py --corpus $EVAL_DATA/miro_all_corpus.json \\
        --queries eval/miro_english_queries.jsonl --until leads

With several --corpus files (or a folder) the agent's task folder holds them all and the agent passes the
folder (issue 20's target: a sampled JSON corpus, a 139-page Chinese PDF, a 51-page English paper, a deck):

    python scripts/first_minutes.py --until full --question "什么是惩罚最小二乘？" --corpus \\
        $EVAL_DATA/task_folders/002/* tests/fixtures/extract/debian/{lshort-zh-cn,lmer}.pdf
"""
from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.backend.local import LocalBackend  # noqa: E402
from app.quality.evaluation import evaluate, load_queries  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import layout  # noqa: E402
from indexing.queue import BuildQueue  # noqa: E402

STAGES = layout.DENSE_STAGES


async def first_call(env: dict, json_path: str, question: str) -> str:
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=sys.executable, args=["-m", "app.serving.mcp_server"], env={**os.environ, **env},
                                   cwd=str(ROOT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("rag_search", {"query": question, "json_path": json_path, "top_k": 3})
            return result.content[0].text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, nargs="+", required=True,
                   help="a corpus file, e.g. $EVAL_DATA/miro_all_corpus.json (docs/quality.md, Data); or several "
                        "files / a folder, searched as one task folder")
    p.add_argument("--queries", type=Path, nargs="*", default=[], help="labelled questions evaluated at each stage")
    p.add_argument("--question", default="Which company developed the large language model described here?")
    p.add_argument("--until", choices=STAGES[1:], default="leads", help="stop once this stage is served")
    p.add_argument("--warm", type=Path, help="copy this index directory's vector cache first (a warm machine)")
    p.add_argument("--timeout", type=float, default=7200)
    p.add_argument("--out", type=Path, help="write the timeline as JSON")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="first-minutes-"))
    try:
        folder = work / "agent-tasks" / "task-001"
        folder.mkdir(parents=True)
        if len(args.corpus) == 1 and args.corpus[0].is_file():
            shutil.copy(args.corpus[0], folder / "long_context.json")
            json_path = str(folder / "long_context.json")
        else:  # a task folder: every file side by side
            for src in args.corpus:
                for f in (sorted(src.iterdir()) if src.is_dir() else [src]):
                    shutil.copy(f, folder / f.name)
            json_path = str(folder)
        index_dir = work / "indexes"
        index_dir.mkdir()
        if args.warm:
            shutil.copytree(args.warm / layout.EMBED_CACHE_DIR, index_dir / layout.EMBED_CACHE_DIR)
        env = {"RAG_INDEX_DIR": str(index_dir), "RAG_ALLOWED_ROOTS": str(work / "agent-tasks")}
        queries = [q for path in args.queries for q in load_queries(path)]
        t0 = time.monotonic()
        answer = asyncio.run(first_call(env, json_path, args.question))
        timeline = [{"event": "first answer (BM25 + translation)", "s": round(time.monotonic() - t0, 1),
                     "answer_head": answer.splitlines()[:6]}]
        print(f"{timeline[0]['s']:8.1f} s  first answer")
        backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
        seen, name = set(), None
        while time.monotonic() - t0 < args.timeout:
            names = layout.list_corpora(index_dir)
            if names:
                name = names[0]
                version = layout.published_version(index_dir, name)
                if version is not None and version.name not in seen:
                    seen.add(version.name)
                    m = layout.read_manifest(version, verify=False)
                    row = {"event": f"stage {m.dense_stage} served", "s": round(time.monotonic() - t0, 1),
                           "stage": m.dense_stage, "coverage": m.dense_coverage}
                    if queries:
                        report = evaluate(backend, name, queries, "hybrid", top_k=100)
                        row.update(mrr10=report.metrics["mrr@10"], recall10=report.metrics["recall@10"],
                                   flagged_answerable=report.flagged_answerable,
                                   flagged_no_answer=report.flagged_unanswerable)
                    timeline.append(row)
                    print(f"{row['s']:8.1f} s  {row['event']:<22} coverage {m.dense_coverage:.3f}"
                          + (f"  MRR@10 {row['mrr10']:.3f}  R@10 {row['recall10']:.3f}" if queries else ""))
                    if STAGES.index(m.dense_stage) >= STAGES.index(args.until):
                        break
            time.sleep(1)
        for k in range(3):  # a new agent process on the now indexed corpus: its first call, start to answer
            t1 = time.monotonic()
            asyncio.run(first_call(env, json_path, args.question))
            row = {"event": f"first call of a new MCP process, indexed corpus (#{k + 1})",
                   "s": round(time.monotonic() - t1, 2)}
            timeline.append(row)
            print(f"{row['s']:8.2f} s  {row['event']}")
        status = [dataclasses.asdict(s) for s in BuildQueue(index_dir).statuses()]
        result = {"corpus": [str(c) for c in args.corpus], "warm_cache": bool(args.warm), "timeline": timeline,
                  "queue_after": status, "cpu_count": os.cpu_count()}
        if args.out:
            args.out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    finally:
        _stop_workers(work)
        shutil.rmtree(work, ignore_errors=True)


def _stop_workers(work: Path) -> None:
    """The queue worker this run started outlives its MCP server by design; stop it here."""
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(work).encode() in (proc / "cmdline").read_bytes():
                os.kill(int(proc.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


if __name__ == "__main__":
    sys.exit(main())
