"""Request -> response, independent of transport: the REST routes and the in-process MCP tools both call these."""
from __future__ import annotations

from app.citations import claim_match, find_citations, format_citation, title_key
from app.context import assemble
from app.fusion import FusionParams
from app.retrieval import CorpusIndex, SearchOutcome, SearchParams
from app.schemas import (
    ChunkCoords,
    ChunkResponse,
    ContextRequest,
    ContextResponse,
    CorpusStats,
    ResolvedCitation,
    ResolveResponse,
    Scores,
    SearchRequest,
    SearchResponse,
    SearchResult,
    Source,
)
from indexing.settings import Settings


def _run(index: CorpusIndex, req: SearchRequest | ContextRequest, settings: Settings) -> SearchOutcome:
    params = SearchParams(req.query, req.mode, req.top_k, req.diverse, req.min_docs, req.max_per_doc)
    fusion = FusionParams(settings.fusion, settings.bm25_weight, settings.dense_weight, settings.rrf_k)
    depth = max(req.top_k * settings.candidate_multiplier, settings.min_candidates)
    return index.search(params, fusion, depth)


def _low(outcome: SearchOutcome, settings: Settings) -> bool:
    return not outcome.hits or outcome.confidence.value < settings.low_confidence_threshold


def search(index: CorpusIndex, req: SearchRequest, settings: Settings) -> SearchResponse:
    outcome = _run(index, req, settings)
    results = [
        SearchResult(
            rank=rank,
            citation=format_citation(h.chunk.title, h.chunk.chunk_index),
            score=h.score,
            scores=Scores(bm25=h.bm25, dense=h.dense, fused=h.score),
            doc_index=h.chunk.doc_index,
            chunk_index=h.chunk.chunk_index,
            title=h.chunk.title,
            url=h.chunk.url,
            content=h.chunk.content,
            start_char=h.chunk.start_char,
            end_char=h.chunk.end_char,
        )
        for rank, h in enumerate(outcome.hits, start=1)
    ]
    return SearchResponse(query=req.query, corpus=index.name, mode=outcome.mode, took_ms=round(outcome.took_ms, 2),
                          low_confidence=_low(outcome, settings), confidence=outcome.confidence.value, results=results)


def context(index: CorpusIndex, req: ContextRequest, settings: Settings) -> ContextResponse:
    outcome = _run(index, req, settings)
    assembled = assemble(outcome.hits, req.max_tokens)
    sources = [
        Source(citations=p.citations, doc_index=p.doc_index, chunk_indices=p.chunk_indices, title=p.title,
               url=p.url, truncated=cut)
        for p, cut in assembled.passages
    ]
    return ContextResponse(query=req.query, corpus=index.name, context=assembled.text, tokens=assembled.tokens,
                           max_tokens=req.max_tokens, low_confidence=_low(outcome, settings),
                           confidence=outcome.confidence.value, sources=sources)


def stats(index: CorpusIndex) -> CorpusStats:
    m = index.manifest
    return CorpusStats(
        name=m.name, documents=m.documents, empty_documents=m.empty_documents, chunks=m.chunks,
        characters=m.characters,
        avg_chunk_chars=index.avg_chunk_chars,
        chunk_size=m.chunk_size, chunk_overlap=m.chunk_overlap, tokenizer=m.tokenizer,
        embedder=m.embedder.id if m.embedder else None, dense=index.has_dense, ann=m.ann,
        duplicate_groups=m.duplicate_groups, built_at=m.built_at, build_seconds=m.build_seconds,
        source_path=m.source_path, source_sha256=m.source_sha256,
        sample_titles=[d["title"] for d in index.documents[:5]],
    )


def _coords(index: CorpusIndex, doc_index: int, chunk_index: int) -> ChunkCoords | None:
    doc = index.documents[doc_index]
    if not 0 <= chunk_index < doc["n_chunks"]:
        return None
    return ChunkCoords(doc_index=doc_index, chunk_index=chunk_index,
                       citation=format_citation(doc["title"], chunk_index))


def chunk(index: CorpusIndex, doc_index: int, chunk_index: int) -> ChunkResponse | None:
    c = index.chunk_at(doc_index, chunk_index)
    if c is None:
        return None
    return ChunkResponse(
        corpus=index.name, citation=format_citation(c.title, c.chunk_index), doc_index=c.doc_index,
        chunk_index=c.chunk_index, title=c.title, url=c.url, content=c.content, start_char=c.start_char,
        end_char=c.end_char, chunks_in_document=index.documents[doc_index]["n_chunks"],
        previous=_coords(index, doc_index, chunk_index - 1), next=_coords(index, doc_index, chunk_index + 1),
    )


def resolve(index: CorpusIndex, text: str) -> ResolveResponse:
    by_key: dict[str, list[int]] = {}
    for doc in index.documents:
        by_key.setdefault(title_key(doc["title"]), []).append(doc["doc_index"])
    out = []
    for ref in find_citations(text):
        candidates = by_key.get(title_key(ref.title), [])
        if not candidates:
            out.append(ResolvedCitation(citation=ref.text, resolved=False, claim=ref.claim,
                                        reason=f"no document titled {ref.title!r} in corpus {index.name!r}"))
            continue
        if len(candidates) > 1 and not _same_text(index, candidates, ref.chunk_index):
            out.append(ResolvedCitation(
                citation=ref.text, resolved=False, claim=ref.claim,
                reason=f"title prefix shared by documents {candidates}; cite by a more specific title",
            ))
            continue
        c = index.chunk_at(candidates[0], ref.chunk_index)
        if c is None:
            n = index.documents[candidates[0]]["n_chunks"]
            out.append(ResolvedCitation(citation=ref.text, resolved=False, claim=ref.claim, doc_index=candidates[0],
                                        reason=f"chunk {ref.chunk_index} out of range: the document has {n} chunks"))
            continue
        out.append(ResolvedCitation(
            citation=ref.text, resolved=True, doc_index=c.doc_index, chunk_index=c.chunk_index, title=c.title,
            content=c.content, claim=ref.claim, claim_match=claim_match(ref.claim, c.content) if ref.claim else None,
        ))
    return ResolveResponse(corpus=index.name, found=len(out), resolved=sum(r.resolved for r in out), citations=out)


def _same_text(index: CorpusIndex, doc_indices: list[int], chunk_index: int) -> bool:
    """Several documents share the title prefix; still unambiguous if they hold the same chunk text."""
    chunks = [index.chunk_at(d, chunk_index) for d in doc_indices]
    return all(c is not None for c in chunks) and len({c.content for c in chunks}) == 1
