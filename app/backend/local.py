"""The backend over indexes loaded in this process: the REST service and the in-process MCP server use it."""
from __future__ import annotations

import functools
from contextlib import contextmanager
from typing import Iterator

from app import deadline
from app.agent import reading
from app.ranking import search as searching
from app.backend.protocol import CorpusRef, pick_corpus
from app.agent.citations import CitationRef, claim_match, find_citations, format_citation, title_key
from app.agent.context import assemble, assemble_evidence, by_title
from app.agent.doc_citations import DocCitationRef, find_doc_citations
from app.engines.factory import EngineOptions
from app.agent.evidence import Matcher, highlights
from app.engines.local import LocalOptions
from app.engines.milvus_options import MilvusOptions
from app.engines.protocol import EngineBusy, EngineUnavailable
from app.errors import CorpusUnavailable, InvalidRequest, NotFound, Overloaded
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus, ServeOptions
from app.agent.support import Support, assess_support, exact_quote
from app.backend.registry import Registry
from app.schemas import (
    BestSentence,
    BuildsResponse,
    BuildState,
    ChunkCoords,
    ChunkResponse,
    ContextRequest,
    DenseCoverage,
    ContextResponse,
    CorporaResponse,
    CorpusStats,
    FileInfo,
    ReadPassage,
    ReadRequest,
    ReadResponse,
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
from app.agent.textfmt import coverage_summary, guidance_for, share_of_best
from app.agent.tokens import count_tokens, truncate_to_tokens
from indexing import layout
from indexing.queue import BuildQueue, status_line


LISTED_CANDIDATES = 5  # documents named for an ambiguous citation (3,000 listed each made a 2.6 MB answer)


# Further chunks per document that evidence-first context reads sentences from (app/ranking/search.py, ``more``): the
# chunk that answers is not always among the max_per_doc the diverse ranking kept (issue 21, point 7).
MORE_PER_DOC = 3


def serve_options(settings: Settings) -> ServeOptions:
    local = LocalOptions(ef_search=settings.hnsw_ef_search, threads=settings.search_threads)
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    milvus = MilvusOptions(settings.milvus_uri, token, min(settings.milvus_timeout_s, settings.search_timeout_s / 2),
                           settings.hnsw_ef_search, settings.milvus_max_calls)
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
                                                 message=b.message, summary=status_line(b))
                                      for b in self.queue.statuses()])

    def coverage(self, corpus: LoadedCorpus) -> DenseCoverage:
        m = corpus.manifest
        build = self.queue.status(corpus.name) if m.dense_stage != "full" else None
        cov = DenseCoverage(stage=m.dense_stage, target=m.dense_target if build is None else build.target,
                            chunks_with_vectors=m.dense_coverage, building=build.state if build else None,
                            eta_s=build.eta_s if build else None, build_stage=build.stage if build else None,
                            build_done=round(build.share_done, 4) if build else None)
        return cov.model_copy(update={"summary": coverage_summary(cov)})

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
                              s.script_centering, s.title_weight, s.translated_bm25_trust, s.english_side_bm25_trust)
        depth = max(req.top_k * s.candidate_multiplier, s.min_candidates)
        with self._engine_of(corpus):
            return corpus, searching.search(corpus, params, fusion, depth)

    @contextmanager
    def _engine_of(self, corpus: LoadedCorpus) -> Iterator[None]:
        """Engine calls for one request: storage lost mid-serving makes the corpus unavailable (503) until the
        registry's next check finds it back."""
        try:
            yield
        except EngineBusy as exc:  # not down: a slow storage already holds as many calls as it may
            raise Overloaded(f"corpus {corpus.name!r} is busy: {exc}") from None
        except EngineUnavailable as exc:
            self.registry.mark_down(corpus.name, corpus, str(exc))
            raise CorpusUnavailable(f"corpus {corpus.name!r} is unavailable: {exc}") from None

    def _low(self, outcome: searching.SearchOutcome) -> bool:
        return not outcome.hits or outcome.confidence.value < self.settings.low_confidence_threshold

    def search(self, req: SearchRequest) -> SearchResponse:
        corpus, outcome = self._run(req)
        coverage = self.coverage(corpus)
        groups = corpus.engine.documents()
        shares = share_of_best([h.score for h in outcome.hits])
        matcher = Matcher(outcome.concepts)
        results = [
            SearchResult(
                rank=rank, citation=cite_chunk(corpus, h.chunk), score=h.score,
                relevance=share,
                scores=Scores(bm25=h.bm25, dense=h.dense, fused=h.score), doc_index=h.chunk.doc_index,
                chunk_index=h.chunk.chunk_index, dup_group=groups[h.chunk.doc_index].dup_group, title=h.chunk.title,
                url=h.chunk.url, content=h.chunk.content, start_char=h.chunk.start_char, end_char=h.chunk.end_char,
                source=reading.chunk_source(corpus, h.chunk),
                highlights=[TextSpan(start_char=s.start, end_char=s.end)
                            for s in highlights(matcher, h.chunk.content, h.chunk.start_char)],
            )
            for rank, (h, share) in enumerate(zip(outcome.hits, shares), start=1)
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
        deadline.check()
        cite = corpus.folder.citation if corpus.folder else by_title
        if req.context_mode == "evidence":
            with self._engine_of(corpus):
                assembled = assemble_evidence(outcome.hits, lambda: searching.more_hits(corpus, outcome),
                                              outcome.concepts, req.max_tokens, cite)
        else:
            assembled = assemble(outcome.hits, req.max_tokens, cite)
        sources = [
            Source(citations=p.citations, doc_index=p.doc_index, chunk_indices=p.chunk_indices, title=p.title,
                   url=p.url, truncated=p.cut, spans=[TextSpan(start_char=a, end_char=b) for a, b in p.spans],
                   source=reading.chunk_source(corpus, p.first) if p.first else None)
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
            previous, following = _coords(corpus, doc_index, chunk_index - 1), _coords(corpus, doc_index, chunk_index + 1)
        return ChunkResponse(
            corpus=corpus.name, citation=cite_chunk(corpus, found), doc_index=found.doc_index,
            chunk_index=found.chunk_index, title=found.title, url=found.url, content=found.content,
            start_char=found.start_char, end_char=found.end_char, chunks_in_document=doc.n_chunks,
            metadata=doc.metadata, previous=previous, next=following,
        )

    def resolve(self, req: ResolveRequest) -> ResolveResponse:
        corpus = self.registry.get(req.corpus)
        refs = sorted([*find_citations(req.text), *find_doc_citations(req.text)], key=lambda r: r.start)
        if len(refs) > self.settings.max_citations:
            raise InvalidRequest(f"the text holds {len(refs)} citations; check at most {self.settings.max_citations} "
                                 "per request (RAG_MAX_CITATIONS): split the report")
        candidates = _Candidates(corpus)
        resolved = []
        with self._engine_of(corpus):
            for ref in refs:
                deadline.check()
                resolved.append(_resolve_one(corpus, ref, candidates) if isinstance(ref, CitationRef)
                                else _resolve_doc(corpus, ref))
        return ResolveResponse.of(corpus.name, resolved)

    def read(self, req: ReadRequest) -> ReadResponse:
        """The cited place with its neighbours in reading order, each cited (rag_read, POST /v1/read)."""
        corpus = self.registry.get(req.corpus)
        with self._engine_of(corpus):
            if doc_refs := find_doc_citations(req.citation):
                target = reading.find_target(corpus, doc_refs[0])
                if isinstance(target, str):
                    raise reading.not_found(corpus, target)
                passages, start, end = reading.read_places(target, req.before, req.after, req.max_tokens)
                cite = functools.partial(reading.format_doc_citation, target.file.path)
                previous = cite(target.places[start - 1].place) if start > 0 else None
                following = cite(target.places[end].place) if end < len(target.places) else None
                return ReadResponse(corpus=corpus.name, citation=req.citation, passages=passages,
                                    tokens=sum(count_tokens(p.citation + p.text) for p in passages),
                                    next=following, previous=previous)
            return self._read_chunks(corpus, req)

    def _read_chunks(self, corpus: LoadedCorpus, req: ReadRequest) -> ReadResponse:
        refs = find_citations(req.citation)
        if not refs:
            # nothing in the text to read from: 404 like a citation that does not resolve (the request is well
            # formed; schemathesis's ST202 holds a 422 for a schema-valid body to be a rejection)
            raise reading.not_found(corpus, f"{req.citation[:120]!r} holds no citation; pass one as results give "
                                    'it: [文档: file, page N] or [long_context: "Title", chunk N]')
        found = _resolve_one(corpus, refs[0], _Candidates(corpus))
        if not found.resolved:
            raise reading.not_found(corpus, found.reason or "the citation does not resolve")
        doc = corpus.engine.documents()[found.doc_index]
        first = max(0, found.chunk_index - req.before)
        last = min(doc.n_chunks - 1, found.chunk_index + req.after)
        passages, used = [], 0
        for i in range(first, last + 1):
            chunk = chunk_at(corpus, doc.doc_index, i)
            cite = cite_chunk(corpus, chunk)
            cost = count_tokens(cite + chunk.content)
            if passages and used + cost > req.max_tokens:
                last = i - 1
                break
            text = chunk.content if used + cost <= req.max_tokens else \
                truncate_to_tokens(chunk.content, max(req.max_tokens - used - count_tokens(cite), 0))
            passages.append(ReadPassage(citation=cite, source=reading.chunk_source(corpus, chunk), text=text,
                                        truncated=text != chunk.content))
            used += count_tokens(cite + text)
        previous = _coords(corpus, doc.doc_index, first - 1)
        following = _coords(corpus, doc.doc_index, last + 1)
        return ReadResponse(corpus=corpus.name, citation=req.citation, passages=passages, tokens=used,
                            next=following.citation if following else None,
                            previous=previous.citation if previous else None)


def cite_chunk(corpus: LoadedCorpus, chunk) -> str:
    """A chunk's citation: by file and place for a document, by title and chunk for a JSON document."""
    return corpus.folder.citation(chunk) if corpus.folder else by_title(chunk)


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
        sample_titles=[d.title for d in corpus.engine.documents()[:5]], source_kind=m.source_kind,
        files=[FileInfo(path=f.path, format=f.format, status=f.status, reason=f.reason, pages=f.pages,
                        chars=f.chars, language=f.language) for f in corpus.folder.files] if corpus.folder else [],
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
    cite = cite_chunk(corpus, chunk_at(corpus, doc_index, chunk_index)) if corpus.folder else \
        format_citation(doc.title, chunk_index)  # a JSON document's citation needs no read
    return ChunkCoords(doc_index=doc_index, chunk_index=chunk_index, citation=cite)


class _Candidates:
    """The chunks a citation may mean, per (title key, chunk index), fetched once per request in batches: many
    citations of one title prefix shared by thousands of documents cost one look-up each, not thousands."""

    BATCH = 500

    def __init__(self, corpus: LoadedCorpus):
        self.corpus, self.by_key = corpus, corpus.title_keys
        self._seen: dict[tuple[str, int], list] = {}

    def docs(self, title: str) -> list[int]:
        return self.by_key.get(title_key(title), [])

    def chunks(self, title: str, chunk_index: int) -> list:
        key = (title_key(title), chunk_index)
        if key not in self._seen:
            documents = self.corpus.engine.documents()
            ids = [documents[d].first_chunk + chunk_index for d in self.docs(title)
                   if 0 <= chunk_index < documents[d].n_chunks]
            rows: dict = {}
            for i in range(0, len(ids), self.BATCH):
                deadline.check()
                rows.update(self.corpus.engine.chunks(ids[i:i + self.BATCH]))
            self._seen[key] = [rows[i] for i in ids if i in rows]
        return self._seen[key]


def _resolve_one(corpus: LoadedCorpus, ref: CitationRef, candidates: _Candidates) -> ResolvedCitation:
    unresolved = functools.partial(ResolvedCitation, citation=ref.text, resolved=False, claim=ref.claim,
                                   claim_quoted=ref.quoted, verdict="failed")
    docs = candidates.docs(ref.title)
    if not docs:
        return unresolved(reason=f"no document titled {ref.title!r} in corpus {corpus.name!r}")
    chunks = candidates.chunks(ref.title, ref.chunk_index)
    if not chunks:
        n = corpus.engine.documents()[docs[0]].n_chunks
        return unresolved(doc_index=docs[0] if len(docs) == 1 else None,
                          reason=f"chunk {ref.chunk_index} out of range: the document has {n} chunks")
    if len({c.content for c in chunks}) > 1 and ref.quoted:  # a quoted claim can tell same-titled documents apart
        chunks = _holding(ref.claim, chunks) or chunks
    if len({c.content for c in chunks}) > 1:
        shown = ", ".join(str(c.doc_index) for c in chunks[:LISTED_CANDIDATES])
        more = f" (the first {LISTED_CANDIDATES}: {shown})" if len(chunks) > LISTED_CANDIDATES else f" ({shown})"
        return unresolved(candidates=len(chunks),
                          reason=f"title prefix shared by {len(chunks)} documents{more}; "
                                 "quote the claim before the citation or cite by a more specific title")
    c = chunks[0]
    return ResolvedCitation(citation=ref.text, resolved=True, doc_index=c.doc_index, chunk_index=c.chunk_index,
                            title=c.title, content=c.content, claim=ref.claim,
                            **_judged(corpus, ref, c.content, c.title, c.start_char))


def _resolve_doc(corpus: LoadedCorpus, ref: DocCitationRef) -> ResolvedCitation:
    """A document citation, judged like a chunk citation on the place it resolves to; a bare ``[文档: f]``
    backing an unquoted claim resolves to the place that supports the claim best."""
    concepts = searching.claim_concepts(corpus, ref.claim) if ref.claim and not ref.quoted else None

    def support_of(text: str) -> float:
        deadline.check()
        return assess_support(*concepts, text, "").score

    found = reading.resolve_doc(corpus, ref, support_of if concepts is not None else None)
    if not found.resolved:
        return found.model_copy(update={"claim_quoted": ref.quoted, "verdict": "failed"})
    if found.content is None:  # a quoted claim the document does not hold
        return found.model_copy(update={"claim_quoted": ref.quoted, "verdict": "failed" if ref.claim else "ok"})
    return found.model_copy(update=_judged(corpus, ref, found.content, found.title or "", 0, concepts))


def _judged(corpus: LoadedCorpus, ref: CitationRef | DocCitationRef, content: str, title: str,
            offset: int, concepts: tuple | None = None) -> dict:
    """The verdict on a resolved citation: its quoted claim found as it is, and the support of its claim
    (``concepts``: the claim's, when the caller already has them)."""
    match = claim_match(ref.claim, content) if ref.quoted and ref.claim else None
    support = _support(corpus, ref, content, title, concepts) if ref.claim else None
    if match == "none" or (support is not None and support.label == "unsupported"):
        verdict = "failed"
    else:
        verdict = "partial" if support is not None and support.label == "partial" else "ok"
    best = None if support is None else BestSentence(
        start_char=offset + support.sentence.start, end_char=offset + support.sentence.end,
        text=content[support.sentence.start:support.sentence.end])
    return {"claim_quoted": ref.quoted, "claim_match": match, "support": support.label if support else None,
            "support_score": support.score if support else None, "best_sentence": best, "verdict": verdict}


def _holding(claim: str, chunks: list) -> list:
    """The chunks a quoted claim is in (thousands may share a title prefix: the deadline is checked as it goes)."""
    found = []
    for c in chunks:
        deadline.check()
        if claim_match(claim, c.content) != "none":
            found.append(c)
    return found


def _support(corpus: LoadedCorpus, ref: CitationRef | DocCitationRef, content: str, title: str,
             concepts: tuple | None = None) -> Support | None:
    """A quoted claim found as it is supports itself (its place is the sentence shown); otherwise its concepts
    are scored against the passage's sentences (None: the engine cannot translate the claim to judge it)."""
    if ref.quoted and (at := content.find(ref.claim)) >= 0:
        return exact_quote(at, at + len(ref.claim))
    concepts = concepts if concepts is not None else searching.claim_concepts(corpus, ref.claim)
    return None if concepts is None else assess_support(*concepts, content, title)
