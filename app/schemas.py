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
        "with a little context and its citation (gaps marked …; a sentence too long for the budget left shows its "
        "best clauses, never a cut inside a clause), growing back into whole passages as the budget allows. 'passages': whole passages best first, the last one cut to fit.")


class ErrorResponse(BaseModel):
    detail: str = Field(..., description="What went wrong and what to send instead.")
    error: str | None = Field(None, description="The error's type (UnknownCorpus, CorpusLoading, ...), for clients.")


class Scores(BaseModel):
    """The evidence behind a rank, each on its own scale (README, "Reading the scores")."""

    bm25: float | None = Field(None, description="Raw BM25 score of the chunk: 0 = none of the searched terms; "
                               "unbounded, comparable only within one search.")
    dense: float | None = Field(None, description="Semantic similarity of question and chunk, centred: the inner "
                                "product of their unit vectors after removing the generic-question direction from "
                                "the question and the question's similarity to passages of the chunk's script, so "
                                "0 = no closer than a typical passage and a few hundredths above it is a clear match "
                                "(docs/quality.md); null without vectors.")
    fused: float = Field(..., description="The score results are ranked by: in hybrid mode each side scaled to "
                         "0..1 within the search's candidates and summed with BM25's weight (0..1) (app/ranking/fusion.py); "
                         "in bm25 mode the BM25 score, in dense mode the dense one.")


class DenseCoverage(BaseModel):
    """How far the semantic (dense) index of a corpus is; search uses whatever is ready."""

    stage: Literal["none", "titles", "leads", "full"] = Field(..., description="Vectors so far: titles = one per "
                                                              "document title, leads = + each document's first chunk.")
    target: Literal["none", "titles", "leads", "full"] = Field(..., description="The stage the build stops at.")
    chunks_with_vectors: float = Field(..., description="Share of chunks scored by their own vector (0..1); the "
                                       "others are scored by their document's lead chunk or title.")
    building: Literal["queued", "running", "interrupted", "failed"] | None = Field(
        None, description="State of the background build that adds vectors, if one is under way.")
    eta_s: float | None = Field(None, description="Seconds until the build reaches its target, from its measured "
                                "embedding rate; null while it is still measuring.")
    build_stage: str | None = Field(None, description="The dense stage the build is embedding now.")
    build_done: float | None = Field(None, description="Share (0..1) of the build's embedding done.")
    summary: str = Field("", description="All of the above as one line for a person: stage, share and ETA while a "
                         "build runs, 'Semantic index complete.' once it reached its target.")


class SourceRef(BaseModel):
    """Where a passage comes from: its file and its place in it (one of page, slide, sheet + rows, part)."""

    file: str = Field(..., description="Path relative to the folder (the corpus file's name for a JSON corpus).")
    format: str = Field(..., description="pdf, docx, pptx, xlsx, csv, html, md, txt or json.")
    page: int | None = None
    slide: int | None = None
    sheet: str | None = None
    rows: str | None = Field(None, description="Spreadsheet rows as the file numbers them, e.g. '2-41'.")
    part: int | None = Field(None, description="Part number, for formats without pages (DOCX, HTML, MD, TXT).")
    heading: list[str] = Field(default_factory=list, description="Section titles the passage sits under.")


class TextSpan(BaseModel):
    start_char: int = Field(..., description="Offset in the document body, as a result's start_char.")
    end_char: int


class SearchResult(BaseModel):
    rank: int
    citation: str = Field(..., description='Paste as is: [long_context: "<title[:50]>", chunk N] for a JSON corpus, '
                          "[文档: <file>, page N] (slide N, sheet S, rows A-B, part N) for a document.")
    score: float = Field(..., description="Same as scores.fused.")
    relevance: float = Field(0.0, description="The fused score as a share of this search's best result (1 = the "
                             "best; 0 for a fused score at or below 0): one 0..1 scale whatever the mode and the "
                             "stage of the semantic index. Not evidence of an answer: read confidence for that.")
    scores: Scores
    doc_index: int
    chunk_index: int
    dup_group: int = Field(..., description="Near-duplicate group of the document (copies share it).")
    title: str
    url: str | None
    content: str
    start_char: int = Field(..., description="Offset of the chunk in the document body (content == body[start:end]).")
    end_char: int
    source: SourceRef | None = Field(None, description="The file and place the chunk comes from.")
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
    source: SourceRef | None = Field(None, description="The file and place the passage starts at.")


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


class FileInfo(BaseModel):
    """One file of a folder index and what became of it."""

    path: str = Field(..., description="Relative to the folder.")
    format: str
    status: Literal["indexed", "skipped", "failed", "listed"] = Field(
        ..., description="skipped/failed carry the reason; listed = holds no text (image, video...) or not a "
        "document format, kept out of the index.")
    reason: str = Field("", description="Why skipped, failed or listed; or what was left out or deduplicated.")
    pages: int | None = Field(None, description="Pages, slides or sheets (documents, for a JSON corpus).")
    chars: int = Field(..., description="Characters indexed.")
    language: Literal["cjk", "latin"] | None = None


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
    source_kind: Literal["json", "document", "folder"] = Field("json", description="What was indexed.")
    files: list[FileInfo] = Field(default_factory=list, description="A folder's (or document's) files.")


class BuildState(BaseModel):
    """A background build of the index directory's build queue (indexing/queue.py)."""

    name: str
    state: Literal["queued", "running", "interrupted", "failed"]
    target: str = Field(..., description="The dense stage the build stops at.")
    stage: str | None = Field(None, description="The dense stage being embedded now.")
    done_chars: int = 0
    total_chars: int = Field(0, description="Characters to embed in all, from where the build started.")
    eta_s: float | None = Field(None, description="Seconds to the target from the measured embedding rate; null "
                                "while measuring.")
    message: str | None = Field(None, description="Why it failed, or what will resume it.")
    summary: str = Field("", description="One line for a person: state, stage, share done and ETA (the words of "
                         "the MCP answers and of python -m indexing.queue).")


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


class BestSentence(BaseModel):
    start_char: int = Field(..., description="Offset into the document, as a chunk's start_char.")
    end_char: int
    text: str


class ResolvedCitation(BaseModel):
    citation: str
    resolved: bool
    reason: str | None = Field(None, description="Why it could not be resolved; an ambiguous citation names the "
                               "first 5 documents it may mean.")
    candidates: int | None = Field(None, description="Documents an ambiguous citation may mean.")
    doc_index: int | None = None
    chunk_index: int | None = None
    title: str | None = None
    content: str | None = None
    claim: str | None = Field(None, description="What the citation backs: the quoted text right before it, else "
                              "the sentence (or clause) before it.")
    claim_quoted: bool = False
    claim_match: Literal["exact", "normalized", "none"] | None = Field(
        None, description="For a quoted claim: found in the chunk as it is, up to punctuation/spacing, or not at all.")
    support: Literal["supported", "partial", "unsupported"] | None = Field(
        None, description="How well the chunk supports the claim (app/agent/support.py): the share of the claim's "
        "concepts, translated for another language, held by its best-matching sentences. None: no claim, or a "
        "claim in another language on an engine that cannot translate it (Milvus).")
    support_score: float | None = Field(None, description="0..1; supported from 0.6, partial from 0.4.")
    best_sentence: BestSentence | None = Field(None, description="The chunk's sentence that best matches the claim "
                                               "(offsets into the document; for a document citation, into the "
                                               "cited place's text).")
    source: SourceRef | None = Field(None, description="The file and place a document citation resolved to (for "
                                     "[文档: file] without a place: the place holding the quoted claim, or the one "
                                     "that supports the claim best).")
    verdict: Literal["ok", "partial", "failed"] = Field(
        ..., description="failed: not resolved, a quoted claim not in the chunk, or an unsupported claim; partial: "
        "the chunk supports part of the claim; ok: otherwise.")


class ResolveResponse(BaseModel):
    corpus: str
    found: int
    resolved: int = Field(..., description="Citations that point to a chunk, whether or not it supports the claim.")
    ok: int = Field(..., description="Citations whose verdict is ok.")
    partial: int
    failed: int = Field(..., description="Not resolved, quoted claim not in the chunk, or claim unsupported.")
    citations: list[ResolvedCitation]

    @classmethod
    def of(cls, corpus: str, citations: list[ResolvedCitation]) -> "ResolveResponse":
        verdicts = [c.verdict for c in citations]
        return cls(corpus=corpus, found=len(citations), resolved=sum(c.resolved for c in citations),
                   ok=verdicts.count("ok"), partial=verdicts.count("partial"), failed=verdicts.count("failed"),
                   citations=citations)


class ReadRequest(_Strict):
    corpus: str = Field(..., min_length=1, max_length=64)
    citation: str = Field(..., min_length=1, max_length=1000, description="A citation as search results give it: "
                          '[文档: file, page N] (slide, sheet + rows, part) or [long_context: "Title", chunk N].')
    before: int = Field(0, ge=0, le=20, description="Places (pages, slides...; chunks for a JSON corpus) to "
                        "include before the cited one.")
    after: int = Field(1, ge=0, le=20, description="Places to include after the cited one.")
    max_tokens: int = Field(4000, ge=50, le=32000, description="Size cap of all passages together.")


class ReadPassage(BaseModel):
    citation: str = Field(..., description="Cite this passage as it is.")
    source: SourceRef | None = None
    text: str
    truncated: bool = Field(False, description="Cut to fit max_tokens.")


class ReadResponse(BaseModel):
    corpus: str
    citation: str = Field(..., description="The citation asked for.")
    passages: list[ReadPassage] = Field(..., description="The cited place first-in-order with its neighbours, "
                                        "in reading order.")
    tokens: int
    next: str | None = Field(None, description="Citation of the place after the last one returned: read on with it.")
    previous: str | None = Field(None, description="Citation of the place before the first one returned.")
