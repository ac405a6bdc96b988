"""The plain-text layout agents already parse (the old tool-rag output), shared by REST format=text and MCP."""
from __future__ import annotations

from app.schemas import ContextResponse, DenseCoverage, SearchResponse, SearchResult
from indexing.tokenizer import script_of

LANGUAGE = {"cjk": "Chinese", "latin": "English"}

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


def _minutes(seconds: float) -> str:
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"


def coverage_line(cov: DenseCoverage) -> str | None:
    """One line on the semantic index while it is incomplete; None once it is complete."""
    if cov.stage == cov.target and cov.building is None:
        return None
    done = {"none": "none yet (keyword search only)", "titles": "document titles only",
            "leads": "titles and each document's first passage"}.get(cov.stage, "complete")
    share = f"{cov.chunks_with_vectors:.0%} of passages"
    if cov.building in ("queued", "running"):
        state = f"building towards {cov.target}, {_minutes(cov.eta_s)} left" if cov.eta_s is not None else \
            f"building towards {cov.target}"
    elif cov.building == "interrupted":
        state = "build interrupted; it resumes on the next use"
    elif cov.building == "failed":
        state = "build failed; ask the operator"
    else:
        state = f"stopped at {cov.stage} on purpose"
    return f"Semantic index: {done} ({share}); {state}."


def guidance_for(query: str, corpus_script: str, cov: DenseCoverage, translated: list[str] | None = None) -> str | None:
    """What an agent can do for a better answer: only for a question in another language than the corpus
    while the semantic index (which carries such questions) is incomplete."""
    if script_of(query) == corpus_script or cov.stage == "full":
        return None
    searched = f"Keyword search used the translated terms {' '.join(translated)}. " if translated else ""
    ready = f"the semantic index covers {cov.chunks_with_vectors:.0%} of passages ({cov.stage} stage)"
    if cov.building in ("queued", "running"):
        ready += " and is being built" if cov.eta_s is None else f" and will be complete in {_minutes(cov.eta_s)}"
    language = LANGUAGE[corpus_script]
    return (f"{searched}This corpus is {language} and {ready}: a {language} rewording of the question will "
            "match best until then.")


def _status_lines(resp: SearchResponse | ContextResponse) -> list[str]:
    translated = f"Keyword search terms (translated): {' '.join(resp.translated_terms)}" \
        if resp.translated_terms and not resp.guidance else None
    return [line for line in (translated, coverage_line(resp.dense_coverage), resp.guidance) if line]


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


def weak_search_text(resp: SearchResponse, source_file: str) -> str:
    """A weak-match answer kept short: the corpus probably does not answer, so only the top few results, each
    as title, citation and best sentence, and how to see more (issue 21: ten full passages invited citing them)."""
    shown = resp.results[:WEAK_SHOWN]
    lines = [
        "=== RAG Search Results ===",
        f"Query: {resp.query}",
        f"Source File: {source_file}",
        f"Results Found: {len(resp.results)} (showing the top {len(shown)} briefly: the matches are weak)",
        confidence_line(resp.low_confidence, resp.confidence),
        *_status_lines(resp),
        "",
    ]
    for r in shown:
        lines += [f"Result {r.rank}: {r.title}", f"Citation: {r.citation}", f"Best sentence: {best_sentence(r)}", ""]
    lines.append("To see more: repeat the search with a rewording, or with top_k for more results; rag_get_context "
                 "gives full passages (REST: POST /v1/search?format=text lists every result in full).")
    return "\n".join(lines)


def search_text(resp: SearchResponse, source_file: str, max_chars: int | None = None) -> str:
    lines = [
        "=== RAG Search Results ===",
        f"Query: {resp.query}",
        f"Source File: {source_file}",
        f"Results Found: {len(resp.results)}",
        confidence_line(resp.low_confidence, resp.confidence),
        *_status_lines(resp),
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
            *_highlight_lines(r),
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
        *_status_lines(resp),
        "",
        resp.context,
    ])
