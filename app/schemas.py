"""Request and response models of the REST API (they are its OpenAPI schema)."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_QUERY_CHARS = 2000


def explain_errors(errors: list[dict]) -> str:
    """Validation errors as one line, ``field: problem; ...`` — the same words in REST and MCP answers."""
    parts = []
    for err in errors:
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field; remove it (see the schema at /docs)"
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _RetrievalRequest(_Strict):
    corpus: str = Field(..., min_length=1, max_length=64, description="Index name, as listed by GET /v1/corpora.")
    query: str = Field(..., min_length=1, max_length=MAX_QUERY_CHARS, json_schema_extra={"pattern": r"\S"},
                       description="Question or keywords, any language (not blank).")
    top_k: int = Field(10, ge=1, le=100, description="Number of chunks to return (1..100).")
    mode: Literal["hybrid", "bm25", "dense"] = Field("hybrid", description="Retriever(s) to use.")
    diverse: bool = Field(True, description="Spread results over documents (see min_docs, max_per_doc).")
    min_docs: int = Field(5, ge=1, le=100, description="With diverse: at least this many documents, if matched.")
    max_per_doc: int = Field(2, ge=1, le=100, description="With diverse: at most this many chunks per document.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("query is empty; send the question or keywords to search for")
        return value


class SearchRequest(_RetrievalRequest):
    pass


class ContextRequest(_RetrievalRequest):
    max_tokens: int = Field(4000, ge=1, le=32000, description="Token budget of the assembled context (1..32000).")
    context_mode: Literal["evidence", "passages"] = Field(
        "evidence", description="'evidence': when the passages do not all fit whole, the best sentences first, each "
        "with a little context and its citation (gaps marked …, no sentence cut), growing back into whole passages "
        "as the budget allows. 'passages': whole passages best first, the last one cut to fit.")


class ErrorResponse(BaseModel):
    detail: str = Field(..., description="What went wrong and what to send instead.")
    error: str | None = Field(None, description="The error's type (UnknownCorpus, CorpusLoading, ...), for clients.")


class Scores(BaseModel):
    bm25: float | None = Field(None, description="Raw BM25 score of the chunk (0 = no query term).")
    dense: float | None = Field(None, description="Dense similarity of query and chunk: inner product after "
                                "removing the generic-question direction from the query and the query's "
                                "similarity to the chunk's script mean (docs/quality.md); null without vectors.")
    fused: float = Field(..., description="The score results are ranked by.")


class DenseCoverage(BaseModel):
    """How far the semantic (dense) index of a corpus is; search uses whatever is ready."""

    stage: Literal["none", "titles", "leads", "full"] = Field(..., description="Vectors so far: titles = one per "
                                                              "document title, leads = + each document's first chunk.")
    target: Literal["none", "titles", "leads", "full"] = Field(..., description="The stage the build stops at.")
    chunks_with_vectors: float = Field(..., description="Share of chunks scored by their own vector (0..1); the "
                                       "others are scored by their document's lead chunk or title.")
    building: Literal["queued", "running", "interrupted", "failed"] | None = Field(
        None, description="State of the background build that adds vectors, if one is under way.")
    eta_s: float | None = Field(None, description="Seconds until the build reaches its target, when known.")


class TextSpan(BaseModel):
    start_char: int = Field(..., description="Offset in the document body, as a result's start_char.")
    end_char: int


class SearchResult(BaseModel):
    rank: int
    citation: str = Field(..., description='Paste as is: [long_context: "<title[:50]>", chunk N].')
    score: float
    scores: Scores
    doc_index: int
    chunk_index: int
    dup_group: int = Field(..., description="Near-duplicate group of the document (copies share it).")
    title: str
    url: str | None
    content: str
    start_char: int = Field(..., description="Offset of the chunk in the document body (content == body[start:end]).")
    end_char: int
    highlights: list[TextSpan] = Field(default_factory=list, description="The chunk's best one to three sentences "
                                       "for the query, best first (document offsets; content[start_char - "
                                       "result.start_char:end_char - result.start_char]); empty when no sentence "
                                       "holds a query term.")


class SearchResponse(BaseModel):
    query: str
    corpus: str
    mode: str = Field(..., description="Mode actually used (hybrid falls back to bm25 without vectors).")
    query_terms: list[str] = Field(default_factory=list, description="Terms the keyword (BM25) side searched.")
    took_ms: float
    low_confidence: bool = Field(..., description="True when the best match is probably not an answer.")
    confidence: float = Field(..., description="0..1 evidence that the top result matches the query.")
    dense_coverage: DenseCoverage
    guidance: str | None = Field(None, description="What to do for a better answer, when there is something to do "
                                 "(e.g. a question in another language while the semantic index is incomplete).")
    translated_terms: list[str] | None = Field(
        None, description="Chinese words BM25 searched for a question in another script than the corpus "
        "(dictionary translation, chosen by corpus statistics); null when the question was not translated.")
    results: list[SearchResult]


class Source(BaseModel):
    citations: list[str]
    doc_index: int
    chunk_indices: list[int]
    title: str
    url: str | None
    truncated: bool = Field(..., description="Less than the whole passage: cut to fit the token budget, or "
                            "evidence sentences with gaps.")
    spans: list[TextSpan] = Field(default_factory=list, description="The exact parts of the document body in the "
                                  "context (document offsets).")


class ContextResponse(BaseModel):
    query: str
    corpus: str
    context: str = Field(..., description="Passages, each headed by its citations, within max_tokens.")
    tokens: int = Field(..., description="Token count of context (CJK char = 1, other text ~3 chars = 1).")
    max_tokens: int
    low_confidence: bool
    confidence: float
    dense_coverage: DenseCoverage
    translated_terms: list[str] | None = Field(None, description="As in search responses.")
    guidance: str | None = None
    sources: list[Source]


class CorpusStats(BaseModel):
    name: str
    version: str = Field(..., description="Published index version being served (changes on every rebuild).")
    documents: int
    empty_documents: int
    chunks: int
    characters: int
    avg_chunk_chars: float
    chunk_size: int
    chunk_overlap: int
    tokenizer: str
    embedder: str | None
    dense: bool
    dense_coverage: DenseCoverage
    dominant_script: Literal["cjk", "latin"] = Field(..., description="Script of most chunks: questions in the "
                                                     "other script are cross-language.")
    ann: str | None
    duplicate_groups: int
    built_at: str
    build_seconds: dict[str, float]
    source_path: str
    source_sha256: str
    sample_titles: list[str]


class BuildState(BaseModel):
    """A background build of the index directory's build queue (indexing/queue.py)."""

    name: str
    state: Literal["queued", "running", "interrupted", "failed"]
    target: str = Field(..., description="The dense stage the build stops at.")
    stage: str | None = Field(None, description="The dense stage being embedded now.")
    done_chars: int = 0
    total_chars: int = Field(0, description="Characters to embed in all, from where the build started.")
    eta_s: float | None = None
    message: str | None = Field(None, description="Why it failed, or what will resume it.")


class BuildsResponse(BaseModel):
    builds: list[BuildState]


class ReadyResponse(BaseModel):
    status: Literal["ready"]
    corpora: list[str] = Field(..., description="Corpora being served.")
    unavailable: dict[str, str] = Field(default_factory=dict, description="Corpora that cannot be served, with why.")
    warnings: dict[str, str] = Field(default_factory=dict, description="Corpora serving an older version because "
                                     "the published one cannot be loaded, with why.")


class CorporaResponse(BaseModel):
    corpora: list[CorpusStats]
    unavailable: dict[str, str] = Field(default_factory=dict, description="Corpora that failed to load, with why.")


class ChunkCoords(BaseModel):
    doc_index: int
    chunk_index: int
    citation: str


class ChunkResponse(BaseModel):
    corpus: str
    citation: str
    doc_index: int
    chunk_index: int
    title: str
    url: str | None
    content: str
    start_char: int
    end_char: int
    chunks_in_document: int
    metadata: dict = Field(default_factory=dict, description="The document's other fields in the corpus file.")
    previous: ChunkCoords | None
    next: ChunkCoords | None


class ResolveRequest(_Strict):
    corpus: str = Field(..., min_length=1, max_length=64)
    text: str = Field(..., max_length=100_000, description="Text holding citations, e.g. an agent's report.")


class ResolvedCitation(BaseModel):
    citation: str
    resolved: bool
    reason: str | None = Field(None, description="Why it could not be resolved.")
    doc_index: int | None = None
    chunk_index: int | None = None
    title: str | None = None
    content: str | None = None
    claim: str | None = Field(None, description="Quoted text right before the citation, if any.")
    claim_match: Literal["exact", "normalized", "none"] | None = None


class ResolveResponse(BaseModel):
    corpus: str
    found: int
    resolved: int
    citations: list[ResolvedCitation]

    @classmethod
    def of(cls, corpus: str, citations: list[ResolvedCitation]) -> "ResolveResponse":
        return cls(corpus=corpus, found=len(citations), resolved=sum(c.resolved for c in citations),
                   citations=citations)
