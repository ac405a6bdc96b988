"""``zh-rag``: one command for building, serving, the agent tool, quality and speed.

    zh-rag build CORPUS [--name N] [--dense titles|leads|full] [--no-dense] ...   index a corpus file
    zh-rag serve [--host H] [--port P] [--workers N] [--index-dir D]            REST API + playground
    zh-rag mcp [--http] [--port P]                                              the agent tool (stdio by default)
    zh-rag gc [--dry-run] [--max-idle-days D] [--max-bytes B]                   free disk (retention policy)
    zh-rag eval --corpus C --queries Q ...                                      Recall@k / MRR / nDCG
    zh-rag bench [--quick]                                                      speed and memory

``zh-rag <command> --help`` explains each with examples. Settings come from RAG_*
environment variables (README, "Configuration"). An error is one line; ``--debug``
anywhere on the line adds its traceback.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from pathlib import Path

COMMANDS = {
    "build": ("indexing.cli", "index a corpus file (BM25 in seconds, dense vectors in stages)"),
    "serve": (None, "serve the REST API, its docs and the playground"),
    "mcp": ("app.serving.mcp_server", "run the MCP server agents call (rag_search, rag_get_context, ...)"),
    "gc": ("indexing.gc", "free disk: unused or superseded on-demand corpora, leftovers of builds"),
    "eval": ("app.quality.eval_cli", "measure retrieval quality on labelled queries"),
    "bench": ("app.quality.bench", "measure build speed, query latency, HTTP throughput and memory"),
}

SERVE_EXAMPLES = """examples:
  zh-rag serve                                   # http://127.0.0.1:8000 : playground at /, API docs at /docs
  zh-rag serve --index-dir indexes --port 8080     # the indexes zh-rag build wrote to ./indexes
  zh-rag serve --host 0.0.0.0 --workers 2        # one worker per core; set RAG_API_KEYS before exposing it
"""


def serve(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="zh-rag serve", description="Serve every index under the index directory "
                                     "over HTTP (hot-reloads rebuilt indexes).", epilog=SERVE_EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port to listen on (default: 8000)")
    parser.add_argument("--workers", type=int, default=1, help="processes; one per core serves most requests/s")
    parser.add_argument("--index-dir", type=Path, help="where indexes live (default: RAG_INDEX_DIR or ./indexes)")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    args = parser.parse_args(argv)
    if args.index_dir is not None:
        if not args.index_dir.is_dir():
            raise SystemExit(f"error: index directory {args.index_dir} does not exist; build an index first "
                             "(zh-rag build CORPUS --index-dir ...)")
        os.environ["RAG_INDEX_DIR"] = str(args.index_dir.resolve())  # read by every worker's settings
    import uvicorn

    uvicorn.run("app.serving.main:create_app", factory=True, host=args.host, port=args.port, workers=args.workers,
                log_level=args.log_level)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(__doc__.strip())
        print("\ncommands:")
        for name, (_, text) in COMMANDS.items():
            print(f"  {name:<6} {text}")
        return 0 if argv else 2
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"error: unknown command {command!r}; use one of {', '.join(COMMANDS)} (zh-rag --help)",
              file=sys.stderr)
        return 2
    try:
        if command == "serve":
            return serve(rest)
        module = __import__(COMMANDS[command][0], fromlist=["main"])
        return int(module.main(rest) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # one clear line; the traceback only when asked for
        if debug:
            traceback.print_exc()
        print(f"error: {one_line(exc)}" + ("" if debug else " (--debug shows the traceback)"), file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """The error as one line: its message (or its type when it has none), line breaks folded."""
    text = " ".join(str(exc).split())
    kind = type(exc).__name__
    if isinstance(exc, (OSError, ValueError, RuntimeError)) and text:
        return text
    return f"{kind}: {text}" if text else kind


if __name__ == "__main__":
    sys.exit(main())
