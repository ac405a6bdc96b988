"""The plain-text layout agents already parse (the old tool-rag output), shared by REST format=text and MCP."""
from __future__ import annotations

from app.schemas import (ContextResponse, DenseCoverage, FileInfo, ReadResponse, SearchResponse, SearchResult,
                         SourceRef)
from indexing.queue import eta_text, progress_text, share_text
from indexing.tokenizer import script_of

LANGUAGE = {"cjk": "Chinese", "latin": "English"}

CITATION_GUIDANCE = (
    "=== CITATION GUIDANCE ===\n"
    'Cite every claim taken from these results as [long_context: "Document Title", chunk N] (or, for a document, '
    "[文档: file, page N]), copying the Citation line of the result it came from. Do not cite results you did "
    "not use."
)


def confidence_line(low: bool, confidence: float) -> str:
    if low:
        return (f"WARNING: weak matches (confidence {confidence:.2f}): the corpus probably does not answer this "
                "query; treat these results as unrelated unless their content says otherwise.")
    return f"Match confidence: {confidence:.2f}"


COMPLETE = "Semantic index complete."
MODES = {"hybrid": "hybrid: keyword (BM25) + semantic", "bm25": "keyword (BM25) only", "dense": "semantic only"}


def share_of_best(scores: list[float]) -> list[float]:
    """Each ranking score as a share of the best one (0..1, 4 decimals): BM25's raw score (15.89 at the
    keyword-only stage) and the hybrid sum (1.46) read alike; a score at or below zero is 0."""
    best = max(scores, default=0.0)
    return [round(max(s, 0.0) / best, 4) if best > 0 else 0.0 for s in scores]


def coverage_summary(cov: DenseCoverage) -> str:
    """The semantic index in one line: what is served and, while a build runs, its stage, share and ETA
    (``indexing.queue.progress_text``: the same words as ``GET /v1/builds``' clients and the queue listing)."""
    if cov.stage == cov.target and cov.building is None and cov.stage in ("none", "full"):
        return COMPLETE if cov.stage == "full" else "No semantic index: keyword search only (built with --no-dense)."
    done = {"none": "none yet (keyword search only)", "titles": "document titles only",
            "leads": "titles and each document's first passage"}.get(cov.stage, "complete")
    share = f"{cov.chunks_with_vectors:.0%} of passages"
    progress = progress_text(cov.build_stage, cov.build_done or 0.0, cov.eta_s)
    if cov.building == "running":
        state = f"building towards {cov.target}: {progress}"
    elif cov.building == "queued":
        state = f"build towards {cov.target} queued: {progress}"
    elif cov.building == "interrupted":
        state = f"build interrupted at {share_text(cov.build_stage, cov.build_done or 0.0)}; it resumes on the next use"
    elif cov.building == "failed":
        state = "build failed; ask the operator"
    else:
        state = f"stopped at {cov.stage} on purpose"
    return f"Semantic index: {done} ({share}); {state}."


def coverage_line(cov: DenseCoverage) -> str | None:
    """The agent's line on the semantic index while it is incomplete; None once it is complete (an MCP session
    says "Semantic index complete." once, see app/serving/mcp_server.py)."""
    return None if cov.stage == cov.target and cov.building is None else coverage_summary(cov)


def guidance_for(query: str, corpus_script: str, cov: DenseCoverage, translated: list[str] | None = None) -> str | None:
    """What an agent can do for a better answer: only for a question in another language than the corpus
    while the semantic index (which carries such questions) is incomplete."""
    if script_of(query) == corpus_script or cov.stage == "full":
        return None
    searched = f"Keyword search used the translated terms {' '.join(translated)}. " if translated else ""
    ready = f"the semantic index covers {cov.chunks_with_vectors:.0%} of passages ({cov.stage} stage)"
    if cov.building in ("queued", "running"):
        ready += " and is being built" if cov.eta_s is None else f" and will be complete in {eta_text(cov.eta_s)}"
    language = LANGUAGE[corpus_script]
    return (f"{searched}This corpus is {language} and {ready}: a {language} rewording of the question will "
            "match best until then.")


def _status_lines(resp: SearchResponse | ContextResponse, completed: bool) -> list[str]:
    translated = f"Keyword search terms (translated): {' '.join(resp.translated_terms)}" \
        if resp.translated_terms and not resp.guidance else None
    coverage = COMPLETE if completed else coverage_line(resp.dense_coverage)
    return [line for line in (translated, coverage, resp.guidance) if line]


def place_of(src: SourceRef) -> str:
    """``lshort-zh-cn.pdf, page 12`` / ``006law.pptx, slide 5`` / ``data.xlsx, sheet S, rows 2-41``."""
    parts = [src.file]
    for kind in ("page", "slide", "part"):
        if getattr(src, kind) is not None:
            parts.append(f"{kind} {getattr(src, kind)}")
    if src.sheet is not None:
        parts.append(f"sheet {src.sheet}" + (f", rows {src.rows}" if src.rows else ""))
    return ", ".join(parts)


def _source_lines(src: SourceRef | None) -> list[str]:
    if src is None or src.format == "json":
        return []
    lines = [f"Source: {place_of(src)}"]
    if src.heading:
        lines.append(f"Section: {' > '.join(src.heading)}")
    return lines


_UNITS = {"pdf": "pages", "pptx": "slides", "xlsx": "sheets", "csv": "sheets", "json": "documents"}


def file_lines(files: list[FileInfo]) -> list[str]:
    """A folder's files, one line each: what was indexed, and why anything was not."""
    lines = [f"Files: {len(files)} ({sum(f.status == 'indexed' for f in files)} indexed)"]
    for f in files:
        size = ", ".join(x for x in (
            f"{f.pages} {_UNITS.get(f.format, 'parts')}" if f.pages is not None else "",
            f"{f.chars:,} chars" if f.status == "indexed" else "",
            LANGUAGE.get(f.language or "", "")) if x)
        why = f" — {f.reason}" if f.reason else ""
        lines.append(f"  - {f.path} [{f.format}] {f.status}" + (f" ({size})" if size else "") + why)
    return lines


def read_text(resp: ReadResponse, source_file: str) -> str:
    lines = ["=== RAG Read ===", f"Citation: {resp.citation}", f"Source File: {source_file}",
             f"Passages: {len(resp.passages)} ({resp.tokens} tokens)", ""]
    for p in resp.passages:
        lines += [f"--- {p.citation} ---", *_source_lines(p.source)[1:], p.text, ""]
    if resp.next:
        lines.append(f"Read on: rag_read with citation {resp.next}")
    else:
        lines.append("End of the document.")
    return "\n".join(lines)


WEAK_SHOWN = 3  # results a weak-match answer shows (title, citation, best sentence)


def best_sentence(r: SearchResult) -> str:
    """The result's best sentence for the query (its first highlight), else its opening sentence's worth."""
    if r.highlights:
        h = r.highlights[0]
        return r.content[h.start_char - r.start_char:h.end_char - r.start_char]
    return r.content[:80] + ("…" if len(r.content) > 80 else "")


def _highlight_lines(r: SearchResult) -> list[str]:
    if not r.highlights:
        return []
    spans = " ".join(f"[{h.start_char}:{h.end_char}]" for h in r.highlights)
    return [f"Highlights: {spans} (document offsets, best first)", f"Best sentence: {best_sentence(r)}"]


def _search_head(resp: SearchResponse, source_file: str, found_note: str, ranking: str | None,
                 completed: bool) -> list[str]:
    found = f"Results Found: {len(resp.results)}" + (f" {found_note}" if found_note else "")
    return ["=== RAG Search Results ===", f"Query: {resp.query}", f"Source File: {source_file}", found,
            confidence_line(resp.low_confidence, resp.confidence), *([ranking] if ranking else []),
            *_status_lines(resp, completed), ""]


def weak_search_text(resp: SearchResponse, source_file: str, completed: bool = False) -> str:
    """A weak-match answer kept short: the corpus probably does not answer, so only the top few results, each
    as title, citation and best sentence, and how to see more (issue 21: ten full passages invited citing them)."""
    shown = resp.results[:WEAK_SHOWN]
    lines = _search_head(resp, source_file, f"(showing the top {len(shown)} briefly: the matches are weak)",
                         None, completed)
    for r in shown:
        lines += [f"Result {r.rank}: {r.title}", f"Citation: {r.citation}", *_source_lines(r.source),
                  f"Best sentence: {best_sentence(r)}", ""]
    lines.append("To see more: repeat the search with a rewording, or with top_k for more results; rag_get_context "
                 "gives full passages (REST: POST /v1/search?format=text lists every result in full).")
    return "\n".join(lines)


def search_text(resp: SearchResponse, source_file: str, max_chars: int | None = None, completed: bool = False) -> str:
    """``completed``: the caller saw the index incomplete before and now complete; say so (once, its choice)."""
    lines = _search_head(resp, source_file, "", f"Ranking: {MODES.get(resp.mode, resp.mode)}; Relevance Score = "
                         "share of the best result's score (1 = best)", completed)
    for r in resp.results:
        content = r.content
        if max_chars is not None and len(content) > max_chars:
            content = content[:max_chars] + f" …[cut: {len(r.content) - max_chars} more chars; rag_get_context " \
                                            "or the chunk endpoint returns it whole]"
        lines += [
            f"Result {r.rank}",
            f"Citation: {r.citation}",
            f"Relevance Score: {r.relevance:.4f}",
            f"Document Index: {r.doc_index}",
            f"Chunk Index: {r.chunk_index}",
            f"Title: {r.title}",
            *_source_lines(r.source),
            *_highlight_lines(r),
            "--- Content ---",
            f"(Cite as: {r.citation})",
            content,
            "",
        ]
    return "\n".join(lines)


def context_text(resp: ContextResponse, source_file: str, completed: bool = False) -> str:
    return "\n".join([
        "=== RAG Context ===",
        f"Query: {resp.query}",
        f"Source File: {source_file}",
        f"Passages: {len(resp.sources)} ({resp.tokens} of {resp.max_tokens} tokens)",
        confidence_line(resp.low_confidence, resp.confidence),
        *_status_lines(resp, completed),
        "",
        resp.context,
    ])
