"""MCP server that drops into an agent's tool config in place of the old ``tool-rag``.

    zh-rag mcp                      # stdio (what agent tool configs spawn); also: python -m app.mcp_server
    zh-rag mcp --http --port 8766   # streamable HTTP

Tools: rag_search, rag_get_context, rag_document_stats with the old argument
names and defaults, plus rag_verify_citations to check a report before handing
it in. Indexes are loaded in-process from RAG_INDEX_DIR, or, with
RAG_SERVICE_URL set, every call is forwarded to a shared REST service.
"""
from __future__ import annotations

import argparse
import functools
import logging
import sys
from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import ValidationError

from app import textfmt
from app.backend.factory import create_backend
from app.errors import BackendError
from app.ondemand import CorpusResolver, Resolved
from app.schemas import ContextRequest, ResolveRequest, SearchRequest, explain_errors
from app.settings import Settings, get_settings
from indexing.corpus import CorpusError

log = logging.getLogger("app.mcp")


def _tool_errors(fn):
    """Every expected failure reaches the model as one readable line, never a traceback or a bare error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as exc:
            raise ToolError(explain_errors(exc.errors())) from None
        except (BackendError, CorpusError, PermissionError, FileNotFoundError, ValueError, RuntimeError) as exc:
            raise ToolError(str(exc)) from None
        except OSError as exc:  # a full disk, a name too long...: say what failed; the old index keeps serving
            raise ToolError(f"the corpus could not be indexed: {exc.strerror or exc} "
                            f"({getattr(exc, 'filename', None) or 'index directory'}); ask the operator") from None

    return wrapper


def _note(resolved: Resolved) -> str | None:
    if resolved.new:
        return ("Note: this corpus was just indexed for keyword (BM25) search; semantic vectors are being built in "
                "the background and are used as they land.")
    return None


def _with_note(note: str | None, text: str) -> str:
    return f"{note}\n\n{text}" if note else text


def verify_text(resp) -> str:
    """rag_verify_citations' answer: one line per citation an LLM can act on."""
    lines = ["=== Citation Check ===", f"Citations found: {resp.found}, resolved: {resp.resolved}"]
    for i, c in enumerate(resp.citations, start=1):
        if not c.resolved:
            lines.append(f"{i}. NOT RESOLVED {c.citation}: {c.reason}")
            continue
        claim = {"exact": "quoted claim found verbatim in the chunk",
                 "normalized": "quoted claim found (ignoring punctuation/spacing)",
                 "none": "QUOTED CLAIM NOT IN THE CITED CHUNK: fix the quote or the citation",
                 None: "no quoted claim before it"}[c.claim_match]
        lines.append(f"{i}. ok {c.citation} -> document {c.doc_index}, chunk {c.chunk_index}; {claim}")
    if not resp.citations:
        lines.append('No citations found: cite as [long_context: "Document Title", chunk N].')
    return "\n".join(lines)


def create_server(settings: Settings | None = None) -> MCPServer:
    settings = settings or get_settings()
    backend = create_backend(settings)
    resolver = CorpusResolver(settings, backend)
    mcp = MCPServer(
        "tool-rag",
        instructions="Search long Chinese document collections (long_context.json) and cite what you use as "
                     '[long_context: "Document Title", chunk N].',
    )

    @mcp.tool(description=(
        "Search a long document collection (json_path: absolute path of its long_context.json) and list the "
        "best-matching passages with citations. Use first, to find where a topic is discussed; works for Chinese "
        "and English questions. diverse=True spreads results over at least min_docs documents with at most "
        "max_per_doc passages each. Each result shows its best sentence first. Read the confidence line: weak "
        "matches mean the collection probably lacks the answer (then only the top few are listed, briefly)."
    ))
    @_tool_errors
    def rag_search(query: str, json_path: str, top_k: int = 10, diverse: bool = True, min_docs: int = 5,
                   max_per_doc: int = 2) -> str:
        resolved = resolver.resolve(json_path)
        resp = backend.search(SearchRequest(corpus=resolved.name, query=query, top_k=top_k, diverse=diverse,
                                            min_docs=min_docs, max_per_doc=max_per_doc))
        if resp.low_confidence and resp.results:
            text = textfmt.weak_search_text(resp, json_path)
        else:
            text = textfmt.search_text(resp, json_path, max_chars=settings.mcp_max_result_chars)
        return _with_note(_note(resolved), text + "\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Get the evidence most relevant to a question in one context that fits max_tokens (Chinese characters "
        "count one token each): the best sentences first, each with a little context (gaps marked …), growing "
        "into whole passages as the budget allows. Use when you need the text to answer or quote; each part is "
        "headed by the citations to use. A small max_tokens (300-800) is often enough. context_mode='passages' "
        "gives whole passages best first instead."
    ))
    @_tool_errors
    def rag_get_context(query: str, json_path: str, max_tokens: int = 4000, top_k: int = 10, diverse: bool = True,
                        min_docs: int = 5, max_per_doc: int = 2,
                        context_mode: Literal["evidence", "passages"] = "evidence") -> str:
        resolved = resolver.resolve(json_path)
        resp = backend.context(ContextRequest(corpus=resolved.name, query=query, max_tokens=max_tokens, top_k=top_k,
                                              diverse=diverse, min_docs=min_docs, max_per_doc=max_per_doc,
                                              context_mode=context_mode))
        return _with_note(_note(resolved), textfmt.context_text(resp, json_path) + "\n\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Describe a document collection: how many documents, chunks and characters, how far its semantic index "
        "is, and sample titles. Use once to decide how to search a new collection."
    ))
    @_tool_errors
    def rag_document_stats(json_path: str) -> str:
        resolved = resolver.resolve(json_path)
        s = backend.stats(resolved.name)
        lines = [
            "=== RAG Document Stats ===",
            f"Source File: {json_path}",
            f"Language: {textfmt.LANGUAGE[s.dominant_script]}",
            f"Documents: {s.documents} ({s.empty_documents} title-only)",
            f"Chunks: {s.chunks} (avg {s.avg_chunk_chars} chars; size {s.chunk_size}, overlap {s.chunk_overlap})",
            f"Characters: {s.characters}",
            f"Near-duplicate groups: {s.duplicate_groups}",
            f"Search: keyword (BM25){' + semantic (' + s.embedder + ')' if s.dense else ' only, for now'}",
            *[line for line in [textfmt.coverage_line(s.dense_coverage)] if line],
            "Sample titles:",
            *[f"  - {t}" for t in s.sample_titles],
        ]
        return _with_note(_note(resolved), "\n".join(lines))

    @mcp.tool(description=(
        "Check a report before handing it in: every [long_context: \"Title\", chunk N] citation in text is "
        "resolved against the collection (json_path), and a quoted claim right before a citation (“...” or "
        "\"...\") is checked against the cited chunk. Lists what does not resolve or does not match."
    ))
    @_tool_errors
    def rag_verify_citations(text: str, json_path: str) -> str:
        resolved = resolver.resolve(json_path)
        return verify_text(backend.resolve(ResolveRequest(corpus=resolved.name, text=text)))

    return mcp


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="zh-rag mcp", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--http", action="store_true", help="serve streamable HTTP instead of stdio")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr)  # stdout belongs to the MCP protocol
    # faiss's loader reports each CPU-specific library it tries at INFO, failures included ("Could not load
    # library with AVX512 support ... ModuleNotFoundError"): alarming lines in an agent's log for a normal start
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)
    server = create_server()
    if args.http:
        server.run("streamable-http", host=args.host, port=args.port)
    else:
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
