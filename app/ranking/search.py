"""The engine-neutral search: query terms and vector in, an engine's candidates fused, diversified and judged.

Every engine ranks through this one path, so the measured fusion, near-duplicate
diversity and confidence (docs/quality.md) hold whatever stores the index.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np

from app import deadline
from app.ranking.confidence import (Concept, Confidence, asks, assess, concepts_of, dense_evidence, held_in_translation,
                            lexical_evidence)
from app.ranking.diversity import diverse_top_k, group_representatives
from app.engines.protocol import Candidates, ChunkRecord, Engine, EngineQuery, Mode
from app.errors import DenseUnavailable
from app.ranking.fusion import FusionParams, english_side, fuse
from app.ranking.query_encoder import QueryEncoder
from app.ranking.translation import EnglishTerms, Translation, english_terms, needs_translation, translate
from indexing import layout
from indexing.tokenizer import script_of, tokenize


class SearchableCorpus(Protocol):
    """What the search needs of a served index version (``app.backend.loaded.LoadedCorpus``)."""

    name: str
    manifest: layout.Manifest
    engine: Engine
    encoder: QueryEncoder | None  # None for an index without vectors

    @property
    def has_dense(self) -> bool: ...


@dataclass(frozen=True)
class SearchParams:
    query: str
    mode: Mode = "hybrid"
    top_k: int = 10
    diverse: bool = True
    min_docs: int = 5
    max_per_doc: int = 2
    more_per_doc: int = 0  # candidates of the chosen documents beyond max_per_doc to return in ``more``


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRecord
    score: float
    bm25: float | None
    dense: float | None


@dataclass(frozen=True)
class SearchOutcome:
    hits: list[Hit]
    mode: Mode
    confidence: Confidence
    terms: list[str]  # the lexical terms searched
    took_ms: float
    translation: Translation | None = None  # the question translated for BM25 (another script than the corpus)
    concepts: list[Concept] = field(default_factory=list)  # what the question asks about (app/ranking/confidence.py)
    # further candidates of the hits' documents (best first, ``more_per_doc`` each) that diversity left out, as
    # (chunk id, fused, bm25, dense), fetched by ``more_hits`` only when the context needs them: it chooses a
    # document's evidence by its sentences, not by which chunks made the diverse top-k
    more: list[tuple[int, float, float, float | None]] = field(default_factory=list)
    lacking: float = 0.0  # the weight of the question's concepts the corpus lacks (with ``concepts``)


def idf_weights(corpus: SearchableCorpus, terms: list[str]) -> tuple[dict[str, float], float]:
    """IDF of the query terms the corpus knows, and the weight of an unknown term (the rarest possible).

    Without term statistics every term weighs the same, so coverage is the plain share of terms present.
    """
    if not corpus.engine.capabilities.term_statistics:
        return {}, 1.0
    n = max(corpus.manifest.chunks, 1)
    df = corpus.engine.term_stats.doc_freq(terms)
    idf = {t: math.log1p((n - f + 0.5) / (f + 0.5)) for t, f in df.items() if f > 0}
    return idf, math.log1p(n + 0.5)


def _text_of(corpus: SearchableCorpus, chunk_id: int | None) -> str:
    if chunk_id is None:
        return ""
    chunk = corpus.engine.chunks([chunk_id]).get(chunk_id)
    return layout.passage_text(chunk.title, chunk.content) if chunk else ""


def search(corpus: SearchableCorpus, params: SearchParams, fusion: FusionParams, depth: int) -> SearchOutcome:
    t0 = time.perf_counter()
    mode = params.mode
    if not corpus.has_dense:
        if mode == "dense":
            raise DenseUnavailable(f"corpus {corpus.name!r} has no dense vectors; use mode 'bm25' or 'hybrid', "
                                   "or rebuild without --no-dense")
        mode = "bm25"
    caps = corpus.engine.capabilities
    translation = None
    if caps.term_statistics and needs_translation(params.query, corpus.manifest.dominant_script):
        translation = translate(params.query, corpus.engine.term_stats)  # corpus statistics choose the words
    bridge = _english_of(corpus, params.query) if translation is None else None
    english = list(bridge.terms) if bridge is not None else []
    english_corpus = corpus.manifest.dominant_script == "latin"
    terms = translation.terms if translation is not None else (english if english_corpus else []) + tokenize(
        params.query)
    deadline.check()  # each stage may take long on a busy machine: past the request's budget, stop (app/deadline.py)
    qvec = corpus.encoder.vector(params.query, fusion.query_centering) if mode != "bm25" else None
    deadline.check()
    cands = corpus.engine.candidates(EngineQuery(
        text=params.query, terms=terms, vector=qvec, mode=mode, depth=depth,
        script_centering=fusion.script_centering, titles=fusion.title_weight > 0 and caps.title_vectors))
    deadline.check()
    idf, max_idf = idf_weights(corpus, terms)
    concepts, lacking = _concepts(corpus, terms, idf, max_idf, translation, bridge)
    if english and not english_corpus:
        cands = _with_english(corpus, cands, params.query, english, depth, fusion.english_trust, concepts, lacking)
    trust = fusion.translated_trust if translation is not None or (english and english_corpus) else None
    fused = _fuse(corpus, cands, mode, terms, idf, max_idf, fusion, trust)
    picked, ids = _select(cands, fused, params)
    deadline.check()
    rows = corpus.engine.chunks([int(ids[i]) for i in picked])
    hits = [Hit(rows[int(ids[i])], float(fused[i]), float(cands.bm25[i]),
                None if cands.dense is None else float(cands.dense[i])) for i in picked]
    more = [(int(ids[i]), float(fused[i]), float(cands.bm25[i]), None if cands.dense is None else float(cands.dense[i]))
            for i in _more(cands, fused, picked, params.more_per_doc)]
    confidence = _confidence(corpus, cands, hits, concepts, lacking)
    if not caps.term_statistics:  # no IDF: every term the question names weighs the same for sentence evidence
        concepts = _uniform_concepts(terms)
    searched = terms + english if english and not english_corpus else terms
    return SearchOutcome(hits, mode, confidence, searched, (time.perf_counter() - t0) * 1000, translation, concepts,
                         more, lacking)


def _english_of(corpus: SearchableCorpus, query: str) -> EnglishTerms | None:
    """A Chinese question's words in English (CC-CEDICT, chosen by the corpus's statistics:
    app/ranking/translation.english_terms), for BM25 over the corpus's English text: an English corpus, or a paper
    among Chinese articles. Empty when the corpus has no English words for them."""
    if not corpus.engine.capabilities.term_statistics or script_of(query) != "cjk":
        return None
    found = english_terms(query, corpus.engine.term_stats)
    return found if found.terms else None


def _with_english(corpus: SearchableCorpus, cands: Candidates, query: str, english: list[str], depth: int,
                  trust: float, concepts: list[Concept], lacking: float) -> Candidates:
    """The candidates with BM25 of the question's English words searched on their own, on the Chinese scale as
    far as each passage holds the question in English (app/ranking/fusion.english_side), a candidate keeping the better
    of its two scores.

    Over a mostly Chinese corpus the English words cannot join the Chinese ones in one BM25 query: they are rare
    there, so the corpus's stray English pages outranked its Chinese articles (26 Chinese paraphrases over miro,
    20 English pages among 1,173 articles: BM25 MRR@10 0.817 -> 0.701). A BM25-only search gets the English
    matches as candidates too."""
    en = corpus.engine.candidates(EngineQuery(query, english, None, "bm25", depth))
    if not len(en.ids) or float(en.bm25.max()) <= 0:
        return cands
    top = float(cands.bm25.max()) if len(cands.bm25) and float(cands.bm25.max()) > 0 else float(en.bm25.max())
    chinese = dict(zip(cands.ids.tolist(), cands.bm25.tolist()))
    # a passage's text is read only where its English score, held in full, could count: above its Chinese score,
    # and among the candidates when dense chose them
    bound = english_side(en.bm25, np.ones(len(en.ids)), top, trust)
    rows = corpus.engine.chunks([i for i, b in zip(en.ids.tolist(), bound.tolist())
                                 if b > chinese.get(i, 0.0) and (cands.dense is None or i in chinese)])
    held = np.array([held_in_translation(concepts, lacking, layout.passage_text(rows[i].title, rows[i].content))
                     if i in rows else 0.0 for i in en.ids.tolist()])
    scaled = english_side(en.bm25, held, top, trust)
    by_id = dict(zip(en.ids.tolist(), scaled.tolist()))
    bm25 = np.maximum(cands.bm25, np.array([by_id.get(i, 0.0) for i in cands.ids.tolist()]))
    if cands.dense is not None:
        return replace(cands, bm25=bm25)
    new = ~np.isin(en.ids, cands.ids) & (scaled > 0)
    return replace(cands, ids=np.concatenate([cands.ids, en.ids[new]]), docs=np.concatenate([cands.docs, en.docs[new]]),
                   groups=np.concatenate([cands.groups, en.groups[new]]), bm25=np.concatenate([bm25, scaled[new]]))


def more_hits(corpus: SearchableCorpus, outcome: SearchOutcome) -> list[Hit]:
    """The outcome's further candidates (``more``) as hits."""
    rows = corpus.engine.chunks([m[0] for m in outcome.more])
    return [Hit(rows[i], fused, bm25, dense) for i, fused, bm25, dense in outcome.more if i in rows]


def _more(cands: Candidates, fused: np.ndarray, picked: list[int], per_doc: int) -> list[int]:
    """Up to ``per_doc`` further candidates of each picked document, best first."""
    if per_doc <= 0:
        return []
    left = {int(cands.docs[i]): per_doc for i in picked}
    taken = set(picked)
    out = []
    for i in np.argsort(-fused, kind="stable"):
        d = int(cands.docs[i])
        if left.get(d, 0) > 0 and int(i) not in taken:
            out.append(int(i))
            left[d] -= 1
    return out


def _confidence(corpus: SearchableCorpus, cands: Candidates, hits: list[Hit], concepts: list[Concept],
                lacking: float) -> Confidence:
    """The evidence that the hits answer the question (app/ranking/confidence.py); it never changes the ranking."""
    texts = [layout.passage_text(h.chunk.title, h.chunk.content) for h in hits[:3]]
    dense_top = None if cands.dense_top is None or not len(cands.dense_top) else float(cands.dense_top[0])
    dense = dense_evidence(dense_top, cands.dense_reference, corpus.manifest.chunks)
    return assess(concepts, lacking, texts, dense)


def _concepts(corpus: SearchableCorpus, terms: list[str], idf: dict[str, float], max_idf: float,
              translation: Translation | None, bridge: EnglishTerms | None = None) -> tuple[list[Concept], float]:
    """A question's (or claim's) concepts. A Chinese text with English words (``bridge``): each of its terms is
    one concept, held by an English passage that has one of the term's English words."""
    if bridge is not None:
        own = [t for t in terms if t not in set(bridge.terms)]
        words = dict(bridge.pairs)
        idf, max_idf = idf_weights(corpus, [*own, *bridge.terms])
        groups = [((t,), *((w,) for w in words.get(t, ()))) for t in own]
        return concepts_of(own, idf, max_idf, groups)
    if translation is None:
        return concepts_of(terms, idf, max_idf)
    return concepts_of(terms, idf, max_idf, translation.groups, len(translation.unmatched))


def _uniform_concepts(terms: list[str]) -> list[Concept]:
    """Each term the text names, once, at the same weight: for an engine without term statistics."""
    return [Concept(((t,),), 1.0) for t in dict.fromkeys(terms) if not asks(t)]


def claim_concepts(corpus: SearchableCorpus, text: str) -> tuple[list[Concept], float] | None:
    """The concepts of a claim over this corpus, as the confidence reads a question's (translated when written in
    another script), and the weight of those the corpus lacks; None when the claim needs a translation the engine
    cannot give (no term statistics, e.g. Milvus): unjudged rather than falsely unsupported. English words the
    dictionary cannot translate are left out rather than lacking: mostly names (Matsudaira, Jaime Reyes), which the
    Chinese text writes in characters; counted as lacking, they made 23% of English claims of the cited chunk
    unsupported (scripts/eval_citations.py)."""
    translation = None
    foreign = needs_translation(text, corpus.manifest.dominant_script)
    if not corpus.engine.capabilities.term_statistics:  # every term weighs the same; none is known to be lacking
        return None if foreign else (_uniform_concepts(tokenize(text)), 0.0)
    if foreign:
        translation = replace(translate(text, corpus.engine.term_stats), unmatched=())
    terms = translation.terms if translation is not None else tokenize(text)
    idf, max_idf = idf_weights(corpus, terms)
    bridge = _english_of(corpus, text) if translation is None else None  # a Chinese claim citing an English paper
    return _concepts(corpus, terms, idf, max_idf, translation, bridge)


def _fuse(corpus: SearchableCorpus, cands: Candidates, mode: Mode, terms: list[str], idf: dict[str, float],
          max_idf: float, fusion: FusionParams, trust: float | None) -> np.ndarray:
    if mode == "dense":
        return cands.dense.astype(np.float64)
    if cands.dense is None:
        return cands.bm25.astype(np.float64)
    # a translated question's BM25 weight is given (``trust``): no need to fetch the best chunk for its coverage
    coverage = lexical_evidence(terms, idf, _text_of(corpus, cands.best_lexical), max_idf) if trust is None else 0.0
    return fuse(cands.bm25, cands.dense, coverage, fusion, cands.title, trust, cands.docs)


def _select(cands: Candidates, fused: np.ndarray, params: SearchParams) -> tuple[list[int], np.ndarray]:
    """Positions of the chosen candidates (best first) and the candidate ids they index."""
    if not params.diverse:
        return list(np.argsort(-fused, kind="stable")[: params.top_k]), cands.ids
    keep = np.asarray(group_representatives(fused.tolist(), cands.docs.tolist(), cands.groups.tolist()),
                      dtype=np.int64)
    picked = diverse_top_k(fused[keep].tolist(), cands.groups[keep].tolist(), params.top_k, params.min_docs,
                           params.max_per_doc)
    return [int(keep[i]) for i in picked], cands.ids
