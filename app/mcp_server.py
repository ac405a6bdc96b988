"""MCP server that drops into an agent's tool config in place of the old ``tool-rag``.

    python -m app.mcp_server                      # stdio (what agent tool configs spawn)
    python -m app.mcp_server --http --port 8766   # streamable HTTP

Tools: rag_search, rag_get_context, rag_document_stats, with the old argument
names and defaults. Indexes are loaded in-process from RAG_INDEX_DIR, or, with
RAG_SERVICE_URL set, every call is forwarded to a shared REST service.
"""
from __future__ import annotations

import argparse
import functools
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from app import textfmt
from app.access import resolve_corpus_path
from app.backend.factory import create_backend
from app.backend.protocol import Backend, BackendError
from app.schemas import ContextRequest, SearchRequest, explain_errors
from app.settings import Settings, get_settings
from indexing.layout import file_sha256

log = logging.getLogger("app.mcp")


class CorpusResolver:
    """json_path -> served index name, indexing an allowed corpus on first use (BM25 now, dense in background)."""

    def __init__(self, settings: Settings, backend: Backend):
        self.settings = settings
        self.backend = backend
        self._sha: dict[tuple, str] = {}
        self._dense_builds: dict[str, subprocess.Popen] = {}

    def _sha256(self, path: Path) -> str:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        if key not in self._sha:
            self._sha[key] = file_sha256(path)
        return self._sha[key]

    def resolve(self, json_path: str) -> tuple[str, str | None]:
        """(index name, a note for the agent or None)."""
        path = resolve_corpus_path(json_path, self.settings.roots())
        sha = self._sha256(path)
        name = self.backend.find(sha, str(path))
        if name is None:
            name = self._index_now(path, sha)
        building = self._dense_builds.get(name)
        if building is not None and building.poll() is None:
            return name, "Note: this corpus was just indexed for keyword (BM25) search; dense (semantic) search " \
                         "will follow when its vectors are built in the background."
        return name, None

    def _index_now(self, path: Path, sha: str) -> str:
        from indexing.build import BuildOptions, build_index  # build code only when a corpus is new

        stem = re.sub(r"[^A-Za-z0-9_.-]", "_", path.stem)[:40]
        name = f"auto-{stem}-{sha[:10]}"
        build_index(path, BuildOptions.from_settings(self.settings, name, dense=False), progress=False)
        self._dense_builds[name] = subprocess.Popen(
            [sys.executable, "-m", "indexing.cli", str(path), "--name", name,
             "--index-dir", str(self.settings.index_dir), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent,
            start_new_session=True,  # the embedding outlives this server if the agent stops it
        )
        deadline = time.monotonic() + 30
        while self.backend.find(sha, str(path)) is None:  # a remote service picks the new index up by polling
            if time.monotonic() > deadline:
                raise ValueError(f"indexed {path} as {name!r} but the retrieval service does not serve it yet")
            time.sleep(0.5)
        return name


def _tool_errors(fn):
    """Expected failures reach the model as a readable tool error instead of a generic one."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            raise ToolError(explain_errors(exc.errors())) from None
        except (BackendError, PermissionError, FileNotFoundError, ValueError, RuntimeError) as exc:
            raise ToolError(str(exc)) from None

    return wrapper


def create_server(settings: Settings | None = None) -> MCPServer:
    settings = settings or get_settings()
    backend = create_backend(settings)
    resolver = CorpusResolver(settings, backend)
    mcp = MCPServer(
        "tool-rag",
        instructions="Search long Chinese document collections (long_context.json) and cite what you use as "
                     '[long_context: "Document Title", chunk N].',
    )

    def _with_note(note: str | None, text: str) -> str:
        return f"{note}\n\n{text}" if note else text

    @mcp.tool(description=(
        "Search a long document collection (json_path: its long_context.json) and list the best-matching "
        "passages with citations. Use first, to find where a topic is discussed; works for Chinese and English "
        "questions. diverse=True spreads results over at least min_docs documents with at most max_per_doc "
        "passages each. Read the confidence line: weak matches mean the collection probably lacks the answer."
    ))
    @_tool_errors
    def rag_search(query: str, json_path: str, top_k: int = 10, diverse: bool = True, min_docs: int = 5,
                   max_per_doc: int = 2) -> str:
        name, note = resolver.resolve(json_path)
        resp = backend.search(SearchRequest(corpus=name, query=query, top_k=top_k, diverse=diverse,
                                            min_docs=min_docs, max_per_doc=max_per_doc))
        text = textfmt.search_text(resp, json_path, max_chars=settings.mcp_max_result_chars)
        return _with_note(note, text + "\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Get the passages most relevant to a question, merged and assembled into one context that fits "
        "max_tokens (Chinese characters count one token each). Use when you need the full text to answer or "
        "quote; each passage is headed by the citations to use."
    ))
    @_tool_errors
    def rag_get_context(query: str, json_path: str, max_tokens: int = 4000, top_k: int = 10, diverse: bool = True,
                        min_docs: int = 5, max_per_doc: int = 2) -> str:
        name, note = resolver.resolve(json_path)
        resp = backend.context(ContextRequest(corpus=name, query=query, max_tokens=max_tokens, top_k=top_k,
                                              diverse=diverse, min_docs=min_docs, max_per_doc=max_per_doc))
        return _with_note(note, textfmt.context_text(resp, json_path) + "\n\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Describe a document collection: how many documents, chunks and characters, whether semantic search "
        "is available, and sample titles. Use once to decide how to search a new collection."
    ))
    @_tool_errors
    def rag_document_stats(json_path: str) -> str:
        name, note = resolver.resolve(json_path)
        s = backend.stats(name)
        lines = [
            "=== RAG Document Stats ===",
            f"Source File: {json_path}",
            f"Documents: {s.documents} ({s.empty_documents} title-only)",
            f"Chunks: {s.chunks} (avg {s.avg_chunk_chars} chars; size {s.chunk_size}, overlap {s.chunk_overlap})",
            f"Characters: {s.characters}",
            f"Near-duplicate groups: {s.duplicate_groups}",
            f"Search: keyword (BM25){' + semantic (' + s.embedder + ')' if s.dense else ' only, for now'}",
            "Sample titles:",
            *[f"  - {t}" for t in s.sample_titles],
        ]
        return _with_note(note, "\n".join(lines))

    return mcp


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # stdout belongs to the MCP protocol
    server = create_server()
    if args.http:
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run()


if __name__ == "__main__":
    main()
