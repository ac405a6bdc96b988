"""Request -> response, independent of transport: the REST routes and the in-process MCP tools both call these."""
from __future__ import annotations

import functools

from app.citations import CitationRef, claim_match, find_citations, format_citation, title_key
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
    fusion = FusionParams(settings.fusion, settings.bm25_weight, settings.dense_weight, settings.rrf_k,
                          settings.query_centering, settings.script_centering, settings.title_weight,
                          settings.translated_bm25_trust)
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
                          low_confidence=_low(outcome, settings), confidence=outcome.confidence.value,
                          translated_terms=outcome.translation.translated if outcome.translation else None,
                          results=results)


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
        name=m.name, version=index.version_dir.name, documents=m.documents, empty_documents=m.empty_documents, chunks=m.chunks,
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
    return ResolveResponse.of(index.name, [_resolve_one(index, ref, by_key) for ref in find_citations(text)])


def _resolve_one(index: CorpusIndex, ref: CitationRef, by_key: dict[str, list[int]]) -> ResolvedCitation:
    unresolved = functools.partial(ResolvedCitation, citation=ref.text, resolved=False, claim=ref.claim)
    docs = by_key.get(title_key(ref.title), [])
    if not docs:
        return unresolved(reason=f"no document titled {ref.title!r} in corpus {index.name!r}")
    chunks = [c for c in (index.chunk_at(d, ref.chunk_index) for d in docs) if c is not None]
    if not chunks:
        n = index.documents[docs[0]]["n_chunks"]
        return unresolved(doc_index=docs[0] if len(docs) == 1 else None,
                          reason=f"chunk {ref.chunk_index} out of range: the document has {n} chunks")
    if len({c.content for c in chunks}) > 1 and ref.claim:  # a quoted claim can tell same-titled documents apart
        chunks = [c for c in chunks if claim_match(ref.claim, c.content) != "none"] or chunks
    if len({c.content for c in chunks}) > 1:
        return unresolved(reason=f"title prefix shared by documents {[c.doc_index for c in chunks]}; "
                                 "quote the claim before the citation or cite by a more specific title")
    c = chunks[0]
    return ResolvedCitation(citation=ref.text, resolved=True, doc_index=c.doc_index, chunk_index=c.chunk_index,
                            title=c.title, content=c.content, claim=ref.claim,
                            claim_match=claim_match(ref.claim, c.content) if ref.claim else None)
