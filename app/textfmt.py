"""The plain-text layout agents already parse (the old tool-rag output), shared by REST format=text and MCP."""
from __future__ import annotations

from app.schemas import ContextResponse, SearchResponse

CITATION_GUIDANCE = (
    "=== CITATION GUIDANCE ===\n"
    'Cite every claim taken from these results as [long_context: "Document Title", chunk N], '
    "copying the Citation line of the result it came from. Do not cite results you did not use."
)


def confidence_line(low: bool, confidence: float) -> str:
    if low:
        return (f"WARNING: weak matches (confidence {confidence:.2f}): the corpus probably does not answer this "
                "query; treat these results as unrelated unless their content says otherwise.")
    return f"Match confidence: {confidence:.2f}"


def search_text(resp: SearchResponse, source_file: str, max_chars: int | None = None) -> str:
    lines = [
        "=== RAG Search Results ===",
        f"Query: {resp.query}",
        f"Source File: {source_file}",
        f"Results Found: {len(resp.results)}",
        confidence_line(resp.low_confidence, resp.confidence),
        "",
    ]
    for r in resp.results:
        content = r.content
        if max_chars is not None and len(content) > max_chars:
            content = content[:max_chars] + f" …[cut: {len(r.content) - max_chars} more chars; rag_get_context " \
                                            "or the chunk endpoint returns it whole]"
        lines += [
            f"Result {r.rank}",
            f"Citation: {r.citation}",
            f"Relevance Score: {r.score:.4f}",
            f"Document Index: {r.doc_index}",
            f"Chunk Index: {r.chunk_index}",
            f"Title: {r.title}",
            "--- Content ---",
            f"(Cite as: {r.citation})",
            content,
            "",
        ]
    return "\n".join(lines)


def context_text(resp: ContextResponse, source_file: str) -> str:
    return "\n".join([
        "=== RAG Context ===",
        f"Query: {resp.query}",
        f"Source File: {source_file}",
        f"Passages: {len(resp.sources)} ({resp.tokens} of {resp.max_tokens} tokens)",
        confidence_line(resp.low_confidence, resp.confidence),
        "",
        resp.context,
    ])
