"""MCP server that drops into an agent's tool config in place of the old ``tool-rag``.

    zh-rag mcp                      # stdio (what agent tool configs spawn); also: python -m app.serving.mcp_server
    zh-rag mcp --http --port 8766   # streamable HTTP

Tools: rag_search, rag_get_context, rag_document_stats with the old argument
names and defaults, plus rag_verify_citations to check a report before handing
it in and rag_read to read on from a citation. ``json_path`` may name a JSON corpus,
a single document (PDF, DOCX, PPTX, XLSX, CSV, HTML, MD, TXT) or a whole task folder. Indexes are loaded in-process from RAG_INDEX_DIR, or, with
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

from app.agent import textfmt
from app.backend.factory import create_backend
from app.deadline import Deadline
from app.errors import BackendError
from app.serving.mcp_stdin import MARK, install
from app.serving.ondemand import CorpusResolver, Resolved
from app.schemas import ContextRequest, ReadRequest, ResolveRequest, SearchRequest, explain_errors
from app.settings import Settings, get_settings
from indexing.corpus import CorpusError

log = logging.getLogger("app.mcp")


def _tool_errors(fn):
    """Every expected failure reaches the model as one readable line, never a traceback or a bare error."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for key, value in kwargs.items():
            if isinstance(value, str) and MARK in value:  # a lone surrogate (app/serving/mcp_stdin.py)
                raise ToolError(f"{key} holds invalid Unicode: a lone surrogate (such as \\ud800, half of an emoji "
                                "cut in two); send the text as valid Unicode")
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
    """rag_verify_citations' answer: one line per citation an LLM can act on; a failure is never called ok."""
    lines = ["=== Citation Check ===",
             f"Citations found: {resp.found}, ok: {resp.ok}, partial: {resp.partial}, FAILED: {resp.failed} "
             f"(resolved to a chunk: {resp.resolved})"]
    for i, c in enumerate(resp.citations, start=1):
        if not c.resolved:
            lines.append(f"{i}. FAILED, NOT RESOLVED {c.citation}: {c.reason}")
            continue
        where = f"{c.citation} -> " + (textfmt.place_of(c.source) if c.source
                                       else f"document {c.doc_index}, chunk {c.chunk_index}")
        best = f"; the chunk's closest sentence: «{c.best_sentence.text.strip()}»" if c.best_sentence else ""
        if c.claim_match == "none":
            why = f"QUOTED CLAIM NOT IN THE CITED CHUNK: fix the quote or the citation (support {c.support_score}){best}"
        elif c.support == "unsupported":
            why = (f"UNSUPPORTED (score {c.support_score}): the cited chunk does not say «{c.claim}»; cite the chunk "
                   f"that does, or drop the claim{best}")
        elif c.claim is None:
            why = "no claim before it"
        elif c.support is None:
            why = "support not checked: this corpus's engine cannot translate the claim into its language"
        else:
            quoted = {"exact": "quoted claim found verbatim in the chunk",
                      "normalized": "quoted claim found (ignoring punctuation/spacing)"}.get(c.claim_match)
            why = quoted or (f"{c.support} (score {c.support_score})"
                             + (": only part of the claim is in the chunk; check it" if c.support == "partial" else "")
                             + best)
        lines.append(f"{i}. {c.verdict.upper() if c.verdict != 'ok' else 'ok'} {where}; {why}")
    if not resp.citations:
        lines.append('No citations found: cite as [long_context: "Document Title", chunk N], or for a document '
                     "as [文档: file, page N].")
    return "\n".join(lines)


def create_server(settings: Settings | None = None) -> MCPServer:
    settings = settings or get_settings()
    backend = create_backend(settings)
    resolver = CorpusResolver(settings, backend)

    def _bounded(work, req):
        """The REST routes' time budget (app/deadline.py), started once the corpus is ready: past it the work stops
        and the model gets one line."""
        return Deadline(settings.search_timeout_s).run(work, req)

    incomplete_seen: set[str] = set()  # corpora this session was told were incomplete

    def completed(name: str, coverage) -> bool:
        """True once per corpus: the first answer after its semantic index, seen incomplete, became complete."""
        if textfmt.coverage_line(coverage) is not None:
            incomplete_seen.add(name)
            return False
        if name in incomplete_seen and coverage.summary == textfmt.COMPLETE:
            incomplete_seen.discard(name)
            return True
        return False

    mcp = MCPServer(
        "tool-rag",
        instructions="Search long Chinese document collections (long_context.json), single documents or a whole "
                     "task folder (PDF, slides, Word, spreadsheets, web pages and JSON corpora) and cite what you "
                     'use as the results show: [long_context: "Document Title", chunk N] or [文档: file, page N].',
    )

    @mcp.tool(description=(
        "Search a long document collection (json_path: absolute path of its long_context.json, of one document "
        "such as a PDF, or of a whole task folder: every PDF, DOCX, PPTX, XLSX, CSV, HTML, MD, TXT and JSON corpus "
        "under it is searched together) and list the best-matching passages with citations and their file and page. Use first, to find where a topic is discussed; works for Chinese "
        "and English questions. diverse=True spreads results over at least min_docs documents with at most "
        "max_per_doc passages each. Each result shows its best sentence first. Read the confidence line: weak "
        "matches mean the collection probably lacks the answer (then only the top few are listed, briefly)."
    ))
    @_tool_errors
    def rag_search(query: str, json_path: str, top_k: int = 10, diverse: bool = True, min_docs: int = 5,
                   max_per_doc: int = 2) -> str:
        resolved = resolver.resolve(json_path)
        resp = _bounded(backend.search, SearchRequest(corpus=resolved.name, query=query, top_k=top_k,
                                                      diverse=diverse, min_docs=min_docs, max_per_doc=max_per_doc))
        done = completed(resp.corpus, resp.dense_coverage)
        if resp.low_confidence and resp.results:
            text = textfmt.weak_search_text(resp, json_path, completed=done)
        else:
            text = textfmt.search_text(resp, json_path, max_chars=settings.mcp_max_result_chars, completed=done)
        return _with_note(_note(resolved), text + "\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Get the evidence most relevant to a question in one context that fits max_tokens (Chinese characters "
        "count one token each): the best sentences first, each with a little context (gaps marked …), growing "
        "into whole passages as the budget allows. Use when you need the text to answer or quote; each part is "
        "headed by the citations to use. A small max_tokens (300-800) is often enough. context_mode='passages' "
        "gives whole passages best first instead. json_path: a corpus file, a document or a folder."
    ))
    @_tool_errors
    def rag_get_context(query: str, json_path: str, max_tokens: int = 4000, top_k: int = 10, diverse: bool = True,
                        min_docs: int = 5, max_per_doc: int = 2,
                        context_mode: Literal["evidence", "passages"] = "evidence") -> str:
        resolved = resolver.resolve(json_path)
        resp = _bounded(backend.context, ContextRequest(corpus=resolved.name, query=query, max_tokens=max_tokens,
                                                        top_k=top_k, diverse=diverse, min_docs=min_docs,
                                                        max_per_doc=max_per_doc, context_mode=context_mode))
        text = textfmt.context_text(resp, json_path, completed=completed(resp.corpus, resp.dense_coverage))
        return _with_note(_note(resolved), text + "\n\n" + textfmt.CITATION_GUIDANCE)

    @mcp.tool(description=(
        "Describe a document collection: how many documents, chunks and characters, how far its semantic index "
        "is, and sample titles; for a folder, every file with its format, pages, characters, language and "
        "whether it was indexed (or skipped/failed, and why). Use once to decide how to search a new collection."
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
            *[line for line in [textfmt.COMPLETE if completed(s.name, s.dense_coverage)
                                else textfmt.coverage_line(s.dense_coverage)] if line],
            *(textfmt.file_lines(s.files) if s.files else ["Sample titles:", *[f"  - {t}" for t in s.sample_titles]]),
        ]
        return _with_note(_note(resolved), "\n".join(lines))

    @mcp.tool(description=(
        "Check a report before handing it in: every [long_context: \"Title\", chunk N] and [文档: file, page N] "
        "citation in text is resolved against the collection (json_path: corpus file, document or folder), and "
        "the claim it backs (a quoted claim right before it, “...” or \"...\", else the sentence before it) is "
        "checked against the cited chunk or page ([文档: file] without a page: the whole document): supported, "
        "partial or unsupported, with the closest sentence. Lists every failure: not resolved, quote not found, "
        "claim unsupported."
    ))
    @_tool_errors
    def rag_verify_citations(text: str, json_path: str) -> str:
        resolved = resolver.resolve(json_path)
        return verify_text(_bounded(backend.resolve, ResolveRequest(corpus=resolved.name, text=text)))

    @mcp.tool(description=(
        "Read on from a citation: the cited page (slide, spreadsheet rows, part; or chunk of a JSON corpus) with "
        "`before` places before it and `after` places after it, in reading order, each with the citation to "
        "use, within max_tokens. Use after a search found the right section, to read the pages that follow; the "
        "answer ends with the citation to pass next to keep reading."
    ))
    @_tool_errors
    def rag_read(json_path: str, citation: str, before: int = 0, after: int = 1, max_tokens: int = 4000) -> str:
        resolved = resolver.resolve(json_path)
        resp = backend.read(ReadRequest(corpus=resolved.name, citation=citation, before=before, after=after,
                                        max_tokens=max_tokens))
        return _with_note(_note(resolved), textfmt.read_text(resp, json_path))

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
        install()  # a lone surrogate in a request gets an answer (the SDK would drop the request)
        server.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
