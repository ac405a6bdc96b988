"""The backend over indexes loaded in this process: the REST service and the in-process MCP server use it."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

from app import search as searching
from app.backend.protocol import CorpusRef, pick_corpus
from app.citations import CitationRef, claim_match, find_citations, format_citation, title_key
from app.context import assemble, assemble_evidence
from app.evidence import Matcher, highlights
from app.engines.factory import EngineOptions, MilvusOptions
from app.engines.local import LocalOptions
from app.engines.protocol import EngineUnavailable
from app.errors import CorpusUnavailable, InvalidRequest, NotFound
from app.fusion import FusionParams
from app.loaded import LoadedCorpus, ServeOptions
from app.registry import Registry
from app.schemas import (
    BuildsResponse,
    BuildState,
    ChunkCoords,
    ChunkResponse,
    ContextRequest,
    DenseCoverage,
    ContextResponse,
    CorporaResponse,
    CorpusStats,
    ReadyResponse,
    ResolvedCitation,
    ResolveRequest,
    ResolveResponse,
    Scores,
    SearchRequest,
    SearchResponse,
    SearchResult,
    Source,
    TextSpan,
)
from app.settings import Settings
from app.textfmt import guidance_for
from indexing import layout
from indexing.queue import BuildQueue


# Further chunks per document that evidence-first context reads sentences from (app/search.py, ``more``): the
# chunk that answers is not always among the max_per_doc the diverse ranking kept (issue 21, point 7).
MORE_PER_DOC = 3


def serve_options(settings: Settings) -> ServeOptions:
    local = LocalOptions(ef_search=settings.hnsw_ef_search, threads=settings.search_threads)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    milvus = MilvusOptions(settings.milvus_uri, token, settings.milvus_timeout_s, settings.hnsw_ef_search)
    return ServeOptions(engine=EngineOptions(local=local, milvus=milvus), device=settings.device,
                        query_cache=settings.query_cache, embed_threads=settings.search_threads,
                        query_embedder=settings.query_embedder)


class LocalBackend:
    """``eager``: load every index under RAG_INDEX_DIR in a watcher thread (REST); else load on first use (MCP)."""

    def __init__(self, settings: Settings, eager: bool = True):
        self.settings = settings
        self.registry = Registry(settings.index_dir, serve_options(settings), settings.reload_interval_s, eager)
        self.queue = BuildQueue(settings.index_dir)
        self._refs: dict[str, tuple[int, CorpusRef]] = {}

    def start(self) -> None:
        self.registry.start()

    def stop(self) -> None:
        self.registry.stop()

    # --- corpora -------------------------------------------------------------------------------

    def ready(self) -> ReadyResponse:
        return ReadyResponse(status="ready", corpora=self.registry.names(), unavailable=self.registry.failures(),
                             warnings=self.registry.warnings())

    def corpora(self) -> CorporaResponse:
        return CorporaResponse(corpora=[self._stats(c) for c in self.registry.loaded()],
                               unavailable=self.registry.failures())

    def find(self, sha256: str, path: str | None = None) -> str | None:
        return pick_corpus(self._published_refs(), sha256, path)

    def _published_refs(self) -> list[CorpusRef]:
        """Every published index's source, from manifests alone (nothing is loaded to look a corpus up)."""
        refs = []
        for name in layout.list_corpora(self.settings.index_dir):
            try:
                version = layout.published_version(self.settings.index_dir, name)
                if version is None:
                    continue
                stamp = (version / layout.MANIFEST).stat().st_mtime_ns
                if self._refs.get(name, (None,))[0] != stamp:
                    m = layout.read_manifest(version, verify=False)
                    self._refs[name] = (stamp, CorpusRef(name, m.source_sha256, m.source_path, m.built_at))
                refs.append(self._refs[name][1])
            except (OSError, layout.IndexFormatError):
                continue  # an unreadable index is reported when it is used, not while looking another up
        return refs

    def stats(self, name: str) -> CorpusStats:
        return self._stats(self.registry.get(name))

    def _stats(self, corpus: LoadedCorpus) -> CorpusStats:
        return stats_of(corpus, self.coverage(corpus))

    def builds(self) -> BuildsResponse:
        return BuildsResponse(builds=[BuildState(name=b.name, state=b.state, target=b.target, stage=b.stage,
                                                 done_chars=b.done_chars, total_chars=b.total_chars, eta_s=b.eta_s,
                                                 message=b.message) for b in self.queue.statuses()])

    def coverage(self, corpus: LoadedCorpus) -> DenseCoverage:
        m = corpus.manifest
        build = self.queue.status(corpus.name) if m.dense_stage != "full" else None
        return DenseCoverage(stage=m.dense_stage, target=m.dense_target if build is None else build.target,
                             chunks_with_vectors=m.dense_coverage, building=build.state if build else None,
                             eta_s=build.eta_s if build else None)

    # --- retrieval -----------------------------------------------------------------------------

    def _run(self, req: SearchRequest | ContextRequest) -> tuple[LoadedCorpus, searching.SearchOutcome]:
        s = self.settings
        if len(req.query) > s.max_query_chars:
            raise InvalidRequest(f"query is {len(req.query)} characters; send at most {s.max_query_chars}")
        corpus = self.registry.get(req.corpus)
        more = MORE_PER_DOC if isinstance(req, ContextRequest) and req.context_mode == "evidence" else 0
        params = searching.SearchParams(req.query, req.mode, req.top_k, req.diverse, req.min_docs, req.max_per_doc,
                                        more)
        fusion = FusionParams(s.fusion, s.bm25_weight, s.dense_weight, s.rrf_k, s.query_centering,
                              s.script_centering, s.title_weight, s.translated_bm25_trust)
        depth = max(req.top_k * s.candidate_multiplier, s.min_candidates)
        with self._engine_of(corpus):
            return corpus, searching.search(corpus, params, fusion, depth)

    @contextmanager
    def _engine_of(self, corpus: LoadedCorpus) -> Iterator[None]:
        """Engine calls for one request: storage lost mid-serving makes the corpus unavailable (503) until the
        registry's next check finds it back."""
        try:
            yield
        except EngineUnavailable as exc:
            self.registry.mark_down(corpus.name, corpus, str(exc))
            raise CorpusUnavailable(f"corpus {corpus.name!r} is unavailable: {exc}") from None

    def _low(self, outcome: searching.SearchOutcome) -> bool:
        return not outcome.hits or outcome.confidence.value < self.settings.low_confidence_threshold

    def search(self, req: SearchRequest) -> SearchResponse:
        corpus, outcome = self._run(req)
        coverage = self.coverage(corpus)
        groups = corpus.engine.documents()
        matcher = Matcher(outcome.concepts)
        results = [
            SearchResult(
                rank=rank, citation=format_citation(h.chunk.title, h.chunk.chunk_index), score=h.score,
                scores=Scores(bm25=h.bm25, dense=h.dense, fused=h.score), doc_index=h.chunk.doc_index,
                chunk_index=h.chunk.chunk_index, dup_group=groups[h.chunk.doc_index].dup_group, title=h.chunk.title,
                url=h.chunk.url, content=h.chunk.content, start_char=h.chunk.start_char, end_char=h.chunk.end_char,
                highlights=[TextSpan(start_char=s.start, end_char=s.end)
                            for s in highlights(matcher, h.chunk.content, h.chunk.start_char)],
            )
            for rank, h in enumerate(outcome.hits, start=1)
        ]
        return SearchResponse(query=req.query, corpus=corpus.name, mode=outcome.mode, query_terms=outcome.terms,
                              took_ms=round(outcome.took_ms, 2), low_confidence=self._low(outcome),
                              confidence=outcome.confidence.value, dense_coverage=coverage,
                              translated_terms=translated(outcome),
                              guidance=guidance_for(req.query, corpus.manifest.dominant_script, coverage,
                                                    translated(outcome)),
                              results=results)

    def context(self, req: ContextRequest) -> ContextResponse:
        corpus, outcome = self._run(req)
        coverage = self.coverage(corpus)
        if req.context_mode == "evidence":
            with self._engine_of(corpus):
                assembled = assemble_evidence(outcome.hits, lambda: searching.more_hits(corpus, outcome),
                                              outcome.concepts, req.max_tokens)
        else:
            assembled = assemble(outcome.hits, req.max_tokens)
        sources = [
            Source(citations=p.citations, doc_index=p.doc_index, chunk_indices=p.chunk_indices, title=p.title,
                   url=p.url, truncated=p.cut, spans=[TextSpan(start_char=a, end_char=b) for a, b in p.spans])
            for p in assembled.parts
        ]
        return ContextResponse(query=req.query, corpus=corpus.name, context=assembled.text, tokens=assembled.tokens,
                               max_tokens=req.max_tokens, low_confidence=self._low(outcome),
                               confidence=outcome.confidence.value, dense_coverage=coverage,
                               translated_terms=translated(outcome),
                               guidance=guidance_for(req.query, corpus.manifest.dominant_script, coverage,
                                                     translated(outcome)),
                               sources=sources)

    # --- chunks and citations ------------------------------------------------------------------

    def chunk(self, name: str, doc_index: int, chunk_index: int) -> ChunkResponse:
        corpus = self.registry.get(name)
        with self._engine_of(corpus):
            found = chunk_at(corpus, doc_index, chunk_index)
        if found is None:
            raise NotFound(f"no chunk {chunk_index} in document {doc_index} of corpus {name!r}")
        doc = corpus.engine.documents()[doc_index]
        return ChunkResponse(
            corpus=corpus.name, citation=format_citation(found.title, found.chunk_index), doc_index=found.doc_index,
            chunk_index=found.chunk_index, title=found.title, url=found.url, content=found.content,
            start_char=found.start_char, end_char=found.end_char, chunks_in_document=doc.n_chunks,
            metadata=doc.metadata, previous=_coords(corpus, doc_index, chunk_index - 1),
            next=_coords(corpus, doc_index, chunk_index + 1),
        )

    def resolve(self, req: ResolveRequest) -> ResolveResponse:
        corpus = self.registry.get(req.corpus)
        by_key: dict[str, list[int]] = {}
        for doc in corpus.engine.documents():
            by_key.setdefault(title_key(doc.title), []).append(doc.doc_index)
        with self._engine_of(corpus):
            resolved = [_resolve_one(corpus, ref, by_key) for ref in find_citations(req.text)]
        return ResolveResponse.of(corpus.name, resolved)


def translated(outcome: searching.SearchOutcome) -> list[str] | None:
    return outcome.translation.translated if outcome.translation is not None else None


def stats_of(corpus: LoadedCorpus, coverage: DenseCoverage) -> CorpusStats:
    m = corpus.manifest
    return CorpusStats(dense_coverage=coverage, dominant_script=m.dominant_script,
        name=m.name, version=corpus.version, documents=m.documents, empty_documents=m.empty_documents,
        chunks=m.chunks, characters=m.characters, avg_chunk_chars=m.avg_chunk_chars, chunk_size=m.chunk_size,
        chunk_overlap=m.chunk_overlap, tokenizer=m.tokenizer, embedder=m.embedder.id if m.embedder else None,
        dense=corpus.has_dense, ann=m.ann, duplicate_groups=m.duplicate_groups, built_at=m.built_at,
        build_seconds=m.build_seconds, source_path=m.source_path, source_sha256=m.source_sha256,
        sample_titles=[d.title for d in corpus.engine.documents()[:5]],
    )


def chunk_at(corpus: LoadedCorpus, doc_index: int, chunk_index: int):
    documents = corpus.engine.documents()
    if not 0 <= doc_index < len(documents) or not 0 <= chunk_index < documents[doc_index].n_chunks:
        return None
    chunk_id = documents[doc_index].first_chunk + chunk_index
    return corpus.engine.chunks([chunk_id]).get(chunk_id)


def _coords(corpus: LoadedCorpus, doc_index: int, chunk_index: int) -> ChunkCoords | None:
    doc = corpus.engine.documents()[doc_index]
    if not 0 <= chunk_index < doc.n_chunks:
        return None
    return ChunkCoords(doc_index=doc_index, chunk_index=chunk_index, citation=format_citation(doc.title, chunk_index))


def _resolve_one(corpus: LoadedCorpus, ref: CitationRef, by_key: dict[str, list[int]]) -> ResolvedCitation:
    unresolved = functools.partial(ResolvedCitation, citation=ref.text, resolved=False, claim=ref.claim)
    docs = by_key.get(title_key(ref.title), [])
    if not docs:
        return unresolved(reason=f"no document titled {ref.title!r} in corpus {corpus.name!r}")
    chunks = [c for c in (chunk_at(corpus, d, ref.chunk_index) for d in docs) if c is not None]
    if not chunks:
        n = corpus.engine.documents()[docs[0]].n_chunks
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
