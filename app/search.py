"""The engine-neutral search: query terms and vector in, an engine's candidates fused, diversified and judged.

Every engine ranks through this one path, so the measured fusion, near-duplicate
diversity and confidence (docs/quality.md) hold whatever stores the index.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from app.confidence import Concept, Confidence, asks, assess, concepts_of, dense_evidence, lexical_evidence
from app.diversity import diverse_top_k, group_representatives
from app.engines.protocol import Candidates, ChunkRecord, EngineQuery, Mode
from app.errors import DenseUnavailable
from app.fusion import FusionParams, fuse
from app.loaded import LoadedCorpus
from app.translation import Translation, needs_translation, translate
from indexing import layout
from indexing.tokenizer import tokenize


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
    concepts: list[Concept] = field(default_factory=list)  # what the question asks about (app/confidence.py)
    # further candidates of the hits' documents (best first, ``more_per_doc`` each) that diversity left out, as
    # (chunk id, fused, bm25, dense), fetched by ``more_hits`` only when the context needs them: it chooses a
    # document's evidence by its sentences, not by which chunks made the diverse top-k
    more: list[tuple[int, float, float, float | None]] = field(default_factory=list)


def idf_weights(corpus: LoadedCorpus, terms: list[str]) -> tuple[dict[str, float], float]:
    """IDF of the query terms the corpus knows, and the weight of an unknown term (the rarest possible).

    Without term statistics every term weighs the same, so coverage is the plain share of terms present.
    """
    if not corpus.engine.capabilities.term_statistics:
        return {}, 1.0
    n = max(corpus.manifest.chunks, 1)
    df = corpus.engine.term_stats.doc_freq(terms)
    idf = {t: math.log1p((n - f + 0.5) / (f + 0.5)) for t, f in df.items() if f > 0}
    return idf, math.log1p(n + 0.5)


def _text_of(corpus: LoadedCorpus, chunk_id: int | None) -> str:
    if chunk_id is None:
        return ""
    chunk = corpus.engine.chunks([chunk_id]).get(chunk_id)
    return layout.passage_text(chunk.title, chunk.content) if chunk else ""


def search(corpus: LoadedCorpus, params: SearchParams, fusion: FusionParams, depth: int) -> SearchOutcome:
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
    terms = translation.terms if translation is not None else tokenize(params.query)
    qvec = corpus.encoder.vector(params.query, fusion.query_centering) if mode != "bm25" else None
    cands = corpus.engine.candidates(EngineQuery(
        text=params.query, terms=terms, vector=qvec, mode=mode, depth=depth,
        script_centering=fusion.script_centering, titles=fusion.title_weight > 0 and caps.title_vectors))
    idf, max_idf = idf_weights(corpus, terms)
    trust = fusion.translated_trust if translation is not None else None
    fused = _fuse(corpus, cands, mode, terms, idf, max_idf, fusion, trust)
    picked, ids = _select(cands, fused, params)
    rows = corpus.engine.chunks([int(ids[i]) for i in picked])
    hits = [Hit(rows[int(ids[i])], float(fused[i]), float(cands.bm25[i]),
                None if cands.dense is None else float(cands.dense[i])) for i in picked]
    more = [(int(ids[i]), float(fused[i]), float(cands.bm25[i]), None if cands.dense is None else float(cands.dense[i]))
            for i in _more(cands, fused, picked, params.more_per_doc)]
    if translation is None:
        concepts, lacking = concepts_of(terms, idf, max_idf)
    else:
        concepts, lacking = concepts_of(terms, idf, max_idf, translation.groups, len(translation.unmatched))
    confidence = _confidence(corpus, cands, hits, concepts, lacking)
    if not caps.term_statistics:  # no IDF: every term the question names weighs the same for sentence evidence
        concepts = [Concept(((t,),), 1.0) for t in dict.fromkeys(terms) if not asks(t)]
    return SearchOutcome(hits, mode, confidence, terms, (time.perf_counter() - t0) * 1000, translation, concepts,
                         more)


def more_hits(corpus: LoadedCorpus, outcome: SearchOutcome) -> list[Hit]:
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


def _confidence(corpus: LoadedCorpus, cands: Candidates, hits: list[Hit], concepts: list[Concept],
                lacking: float) -> Confidence:
    """The evidence that the hits answer the question (app/confidence.py); it never changes the ranking."""
    texts = [layout.passage_text(h.chunk.title, h.chunk.content) for h in hits[:3]]
    dense_top = None if cands.dense_top is None or not len(cands.dense_top) else float(cands.dense_top[0])
    dense = dense_evidence(dense_top, cands.dense_reference, corpus.manifest.chunks)
    return assess(concepts, lacking, texts, dense)


def _fuse(corpus: LoadedCorpus, cands: Candidates, mode: Mode, terms: list[str], idf: dict[str, float],
          max_idf: float, fusion: FusionParams, trust: float | None) -> np.ndarray:
    if mode == "dense":
        return cands.dense.astype(np.float64)
    if cands.dense is None:
        return cands.bm25.astype(np.float64)
    # a translated question's BM25 weight is given (``trust``): no need to fetch the best chunk for its coverage
    coverage = lexical_evidence(terms, idf, _text_of(corpus, cands.best_lexical), max_idf) if trust is None else 0.0
    return fuse(cands.bm25, cands.dense, coverage, fusion, cands.title, trust)


def _select(cands: Candidates, fused: np.ndarray, params: SearchParams) -> tuple[list[int], np.ndarray]:
    """Positions of the chosen candidates (best first) and the candidate ids they index."""
    if not params.diverse:
        return list(np.argsort(-fused, kind="stable")[: params.top_k]), cands.ids
    keep = np.asarray(group_representatives(fused.tolist(), cands.docs.tolist(), cands.groups.tolist()),
                      dtype=np.int64)
    picked = diverse_top_k(fused[keep].tolist(), cands.groups[keep].tolist(), params.top_k, params.min_docs,
                           params.max_per_doc)
    return [int(keep[i]) for i in picked], cands.ids
