"""Measure retrieval quality on labelled queries, through the same code the service runs.

Queries are JSONL: {"qid", "query", "relevant_doc_indices": [...], "answers": [...]?}.
A line with an empty relevant_doc_indices is a no-answer query: it only counts
towards how often low_confidence is set. Metrics are at document level (a chunk
of a relevant document is a hit): Recall@1/5/10/100, MRR@10, nDCG@10, and answer
recall (answer string in the top chunks / in the context under --max-tokens).

The corpus and any --distractors are indexed together (corpus first, so its
document indices stay those of the query file) under --index-dir; vectors are
cached there by content, so re-runs and other combinations embed only new text.
--dense stops the index at a dense stage (titles, leads), to measure what a
corpus answers while its vectors are still being built. With --engine milvus
the same index is exported into Milvus (--milvus-uri) and searched through the
Milvus engine, so both engines are measured by one path.
"""
from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path

from app.backend.local import LocalBackend
from app.quality.evaluation import BUDGETS, RECALL_AT, evaluate, load_queries, recall_curve
from app.settings import Settings
from indexing import layout
from indexing.build import BuildOptions, build_index
from indexing.corpus import iter_documents
from indexing.tokenizer import TOKENIZER_ID


EXAMPLES = """examples:
  # from the project folder; the first two read only bundled files
  zh-rag eval --corpus data/cmrc2018_sample.json \\
      --queries data/cmrc2018_sample_queries.jsonl data/cmrc2018_sample_no_answer.jsonl
  zh-rag eval --corpus data/cmrc2018_sample.json --queries data/cmrc2018_sample_queries.jsonl \\
      --modes bm25,hybrid --out eval-sample.json                                        # + eval-sample.png
  # docs/quality.md's sets: the corpora are not shipped (licences); its "Data" section says where each comes from
  zh-rag eval --corpus $EVAL_DATA/miro_all_corpus.json \\
      --queries eval/miro_english_queries.jsonl eval/miro_no_answer_queries.jsonl
"""


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="zh-rag eval", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True)
    p.add_argument("--queries", type=Path, required=True, nargs="+", help="one or more query files (JSONL)")
    p.add_argument("--distractors", type=Path, nargs="*", default=[], help="corpora indexed with --corpus")
    p.add_argument("--modes", default="bm25,dense,hybrid")
    p.add_argument("--k", type=int, default=100, help="results retrieved per query (max of Recall@k)")
    p.add_argument("--answer-k", type=int, default=10, help="chunks searched for the answer string")
    p.add_argument("--max-tokens", type=int, default=2000, help="context budget for answer recall")
    p.add_argument("--budgets", default=",".join(map(str, BUDGETS)),
                   help="token budgets at which answer-in-context is measured against the baseline (top --answer-k "
                   "chunks concatenated and cut); an answer is a gold answer string, or for a question without one "
                   "a citation of a relevant document; '' skips it")
    p.add_argument("--no-diverse", action="store_true", help="plain top-k instead of the default diverse=true")
    p.add_argument("--index-dir", type=Path, default=Path(".eval-indexes"))
    p.add_argument("--chunk-size", type=int)
    p.add_argument("--chunk-overlap", type=int)
    p.add_argument("--dense", choices=["titles", "leads", "full"], default="full",
                   help="the dense stage of the index evaluated (default full)")
    p.add_argument("--embedder", help="embedder spec for the index (default: RAG_EMBEDDER)")
    p.add_argument("--max-queries", type=int, help="only the first N queries (of all query files together)")
    p.add_argument("--engine", choices=["local", "milvus"], default="local", help="which engine serves the index")
    p.add_argument("--milvus-uri", default=os.environ.get("RAG_MILVUS_URI"),
                   help="with --engine milvus: http://host:port or a Milvus Lite .db path (token: RAG_MILVUS_TOKEN)")
    p.add_argument("--out", type=Path, help="write the full report (with per-query rows) here as JSON, and the "
                   "Recall@k curves beside it as PNG (report.json -> report.png)")
    p.add_argument("--plot", type=Path, help="write the Recall@k curves (k = 1..--k, one line per mode) here as PNG")
    return p.parse_args(argv)


def combined_index(args, settings: Settings, dense: bool) -> layout.Manifest:
    """The manifest of the index of --corpus plus --distractors, built unless an up-to-date one exists."""
    sources = [args.corpus, *args.distractors]
    stage = args.dense if dense else "none"
    opts = BuildOptions.from_settings(settings, "x", dense=dense, dense_stage=args.dense, index_dir=args.index_dir,
                                      chunk_size=args.chunk_size, chunk_overlap=args.chunk_overlap,
                                      embedder=args.embedder, stage_min_chars=10**12)
    key = json.dumps([[str(s.resolve()) for s in sources], opts.chunk_size, opts.chunk_overlap])
    name = "eval-" + hashlib.sha256(key.encode()).hexdigest()[:12] + ("" if stage in ("full", "none") else
                                                                      f"-{stage}")
    name += "-milvus" if args.engine == "milvus" else ""
    name += "" if not args.embedder else "-" + hashlib.sha256(args.embedder.encode()).hexdigest()[:6]
    opts.name = name
    version = layout.published_version(args.index_dir, name)
    if version is not None:
        manifest = layout.read_manifest(version, verify=False)
        if (manifest.dense_stage == stage or not dense) and manifest.tokenizer == TOKENIZER_ID \
                and manifest.engine == args.engine:
            return manifest
    args.index_dir.mkdir(parents=True, exist_ok=True)
    merged = args.index_dir / f"{name}.json"
    docs = [{"title": d.title, "page_body": d.body, "url": d.url} for s in sources for d in iter_documents(s)]
    merged.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    print(f"indexing {len(docs)} documents from {len(sources)} corpora as {name} ...", file=sys.stderr)
    if args.engine == "milvus":
        from indexing.milvus_export import build_milvus_index
        from indexing.milvus_layout import MilvusConnection

        uri = args.milvus_uri if "://" in args.milvus_uri else str(Path(args.milvus_uri).resolve())
        return build_milvus_index(merged, opts, MilvusConnection(uri, os.environ.get("RAG_MILVUS_TOKEN", ""))).manifest
    opts.force = True  # an eval index is ours to replace
    return build_index(merged, opts).manifest


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.engine == "milvus" and not args.milvus_uri:
        print("error: --engine milvus needs --milvus-uri", file=sys.stderr)
        return 2
    settings = Settings(index_dir=args.index_dir)
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    budgets = tuple(int(b) for b in args.budgets.split(",") if b.strip())
    manifest = combined_index(args, settings, dense=any(m != "bm25" for m in modes))
    backend = LocalBackend(settings, eager=False)
    queries = [q for path in args.queries for q in load_queries(path)][: args.max_queries]
    report = {"corpus": str(args.corpus), "distractors": [str(d) for d in args.distractors],
              "queries": [str(q) for q in args.queries], "documents": manifest.documents,
              "chunks": manifest.chunks, "chunk_size": manifest.chunk_size,
              "chunk_overlap": manifest.chunk_overlap, "fusion": settings.fusion, "engine": manifest.engine,
              "dense_stage": manifest.dense_stage, "dense_coverage": manifest.dense_coverage, "modes": {}}
    cols = [f"R@{k}" for k in RECALL_AT] + ["MRR@10", "nDCG@10", "ans@k", "ans@ctx", "flag+", "flag-", "copies"]
    print(f"{len(queries)} queries, {manifest.documents} documents, {manifest.chunks} chunks, engine "
          f"{manifest.engine}, dense stage {manifest.dense_stage}")
    print(f"{'mode':<8}" + "".join(f"{c:>9}" for c in cols))
    for mode in modes:
        t0 = time.perf_counter()
        r = evaluate(backend, manifest.name, queries, mode, top_k=args.k, answer_k=args.answer_k,
                     max_tokens=args.max_tokens, diverse=not args.no_diverse, budgets=budgets)
        values = [r.metrics[f"recall@{k}"] for k in RECALL_AT] + [r.metrics["mrr@10"], r.metrics["ndcg@10"],
                  r.answer_recall.get("top_k_chunks"), r.answer_recall.get("context"), r.flagged_answerable,
                  r.flagged_unanswerable, r.metrics["copy_slots@10"]]
        took = sorted(row["took_ms"] for row in r.per_query)
        p95 = took[min(len(took) - 1, int(0.95 * len(took)))] if took else 0.0
        print(f"{mode:<8}" + "".join(f"{'-' if v is None else f'{v:.3f}':>9}" for v in values)
              + f"   ({time.perf_counter() - t0:.1f}s; search {statistics.median(took or [0]):.1f} ms median, "
                f"{p95:.1f} ms p95)")
        print(" " * 8 + "flagged by language: " + "; ".join(
            f"{lang} {kind} {n}/{total}" for lang, kinds in sorted(r.flags_by_language.items())
            for kind, (n, total) in sorted(kinds.items())))
        if r.budgets:
            print(" " * 8 + f"answer in context by budget ({r.budget_queries} queries): " + "; ".join(
                f"{b}: {r.budgets['evidence'][b]:.3f} vs {r.budgets['baseline'][b]:.3f}" for b in budgets)
                + f" (/v1/context vs top-{args.answer_k} chunks cut)")
        report["modes"][mode] = dataclasses.asdict(r) | {"recall_curve": recall_curve(r.per_query, args.k)}
    print("search ms = one search through the backend (query embedding included, cached for repeats)")
    print(f"ans@k = answerable queries whose answer string is in the top {args.answer_k} chunks (--answer-k); "
          f"ans@ctx = ... in the context assembled under {args.max_tokens} tokens (--max-tokens); "
          "- = the query files give no answer strings")
    print("flag+ = answerable queries flagged low_confidence; flag- = no-answer queries flagged; "
          "copies = top-10 documents per query that are near-duplicates of a higher-ranked one")
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        print(f"report written to {args.out}")
    plot = args.plot or (args.out.with_suffix(".png") if args.out else None)
    if plot:
        write_plot(report, plot)
        if budgets:
            write_budget_plot(report, plot.with_name(plot.stem + "-budgets.png"))
    return 0


def write_budget_plot(report: dict, path: Path) -> None:
    from app.quality.plots import HOW_TO_GET_PLOTS, budget_plot

    series = {mode: r["budgets"] for mode, r in report["modes"].items() if r["budgets"]}
    if not series:
        return
    title = f"{Path(report['corpus']).name}: answer in context by token budget"
    print(f"answer-in-context plot written to {path}" if budget_plot(series, path, title) else HOW_TO_GET_PLOTS)


def write_plot(report: dict, path: Path) -> None:
    from app.quality.plots import HOW_TO_GET_PLOTS, recall_plot

    curves = {mode: r["recall_curve"] for mode, r in report["modes"].items() if r["queries"]}
    if not curves:
        print("plot skipped: no answerable queries")
        return
    answerable = next(iter(report["modes"].values()))["queries"]
    corpus = Path(report["corpus"]).name + (" + distractors" if report["distractors"] else "")
    queries = ", ".join(Path(q).name for q in report["queries"])
    title = f"{corpus}: {answerable} answerable queries ({queries})"
    print(f"Recall@k curves written to {path}" if recall_plot(curves, path, title) else HOW_TO_GET_PLOTS)


if __name__ == "__main__":
    sys.exit(main())
