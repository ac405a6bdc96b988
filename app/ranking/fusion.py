"""Fuse BM25 and dense scores of a candidate set into one ranking score.

Two methods:
- ``rrf``: weighted reciprocal-rank fusion, ``w / (k + rank)`` with 1-based ranks.
- ``adaptive``: weighted sum of per-query normalised scores, where the BM25
  weight ramps with how much of the query (IDF-weighted) its best chunk holds.
  Chinese questions over Chinese text: 0.53-0.90 (5th-90th percentile, CMRC);
  English questions over the same text: 0.12-0.41. Below the ramp BM25 is noise
  and is ignored, so it cannot drag the dense ranking down (plain RRF halves
  dense MRR there); above it BM25 counts fully. Measured in docs/quality.md.

Coverage is not discrimination: a short search-box question ("模型 部署") over a
corpus on one theme is held whole by dozens of documents, and BM25 then ranks
them by length and term frequency. So the coverage trust is further scaled by
``discrimination``: how far BM25's best documents stand out (``spread``: one
minus the mean normalised BM25 score of documents 2-10 behind the best), unless
the two retrievers agree on the top (BM25's best document among dense's best
three), which is strong evidence whatever the spread. Spread of the keyword sets
(eval/miro005_keyword_queries.jsonl, eval/task010_keyword_queries.jsonl, 76 short
questions over two 60-article corpora): 0.17-0.48 where many documents hold the
question's words, 0.6-1.0 where one does. Chosen on the even-numbered half of
both sets among ramps 0.2-0.5, 0.25-0.45 and 0.3-0.6, each with the spread alone,
with agreement on the top 3, or with the overlap of the two top-10 lists; the odd
half, held out, moved hybrid nDCG@10 0.904 -> 0.921 (miro005) and 0.968 -> 0.968
(task010). The spread alone (an earlier attempt, ramp 0.3-0.6) lost 0.03 on
miro005's tuning half and 0.015 on task010's held half. CMRC (1,000 questions)
unchanged at 0.995. All sets: docs/quality.md, "Fusion: BM25 as far as it
discriminates".

Mixed scripts: ``english_side`` puts the BM25 of a Chinese question's English words
(an English paper among Chinese articles) on the scale of its Chinese BM25, as far as
each passage holds the question in English.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


LEXICAL_RAMP = (0.35, 0.65)
DISCRIMINATION_RAMP = (0.25, 0.45)  # spread of BM25's top documents: no trust below, full above (unless agreeing)
SPREAD_DOCS = 10  # BM25's best documents whose normalised scores make the spread
AGREE_TOP = 3  # BM25's best document among this many of dense's best: the retrievers agree
ENGLISH_FULL_AT = 0.5  # share of a Chinese question's concepts an English passage holds in English for full weight


@dataclass(frozen=True)
class FusionParams:
    method: str = "adaptive"
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    rrf_k: int = 60
    query_centering: float = 0.5  # see app.ranking.centering; 0 disables
    script_centering: float = 1.0  # see LocalEngine._script_shift; 0 disables
    title_weight: float = 0.5  # see fuse(); 0 disables
    # BM25 weight for a translated question, in place of the ramp (None: the ramp). English over miro, 76 questions
    # (34 written after the rule): hybrid MRR@10 0.820 with the ramp, 0.870 at 0.5, 0.876 at 1 (docs/quality.md)
    translated_trust: float | None = 0.5
    # weight of a Chinese question's English words over a mostly Chinese corpus, before ``english_side``'s
    # scaling by what each passage holds in English (docs/quality.md, "Mixed scripts in one corpus")
    english_trust: float = 1.0


def ranks(scores: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """1-based rank of each score (best = 1); candidates not ``present`` get rank 0 = absent."""
    order = np.argsort(-scores, kind="stable")
    out = np.empty(len(scores), dtype=np.int64)
    out[order] = np.arange(1, len(scores) + 1)
    if present is not None:
        out[~present] = 0
    return out


def rrf(rank_lists: list[np.ndarray], weights: list[float], k: int) -> np.ndarray:
    total = np.zeros(len(rank_lists[0]), dtype=np.float64)
    for r, w in zip(rank_lists, weights):
        total += np.where(r > 0, w / (k + np.maximum(r, 1)), 0.0)
    return total


def minmax(scores: np.ndarray) -> np.ndarray:
    lo, hi = float(scores.min()), float(scores.max())
    return np.zeros_like(scores, dtype=np.float64) if hi <= lo else (scores - lo) / (hi - lo)


def _ramp(x: float, bounds: tuple[float, float]) -> float:
    """0 below ``bounds``, 1 above, linear between."""
    lo, hi = bounds
    return min(1.0, max(0.0, (x - lo) / (hi - lo)))


def lexical_trust(coverage: float) -> float:
    """0..1 weight of BM25 from how much of the query its best chunk holds (ramp between LEXICAL_RAMP)."""
    return _ramp(coverage, LEXICAL_RAMP)


def best_per_doc(scores: np.ndarray, docs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document once, at its best candidate's score, best first: (documents, scores)."""
    order = np.argsort(-scores, kind="stable")
    _, first = np.unique(docs[order], return_index=True)
    at = order[np.sort(first)]
    return docs[at], scores[at]


def spread(bm25: np.ndarray, docs: np.ndarray) -> float:
    """1 - mean BM25 score (normalised by the best) of the documents ranked 2..SPREAD_DOCS: 0 when they all
    score like the best (BM25 cannot tell them apart), 1 when only the best matches at all."""
    _, best = best_per_doc(bm25, docs)
    if len(best) < 2 or best[0] <= 0:
        return 1.0
    runners = np.zeros(SPREAD_DOCS - 1)
    tail = best[1:SPREAD_DOCS] / best[0]
    runners[:len(tail)] = tail
    return float(1.0 - runners.mean())


def agree(bm25: np.ndarray, dense: np.ndarray, docs: np.ndarray) -> bool:
    """BM25's best document is among dense's AGREE_TOP best."""
    lexical, _ = best_per_doc(bm25, docs)
    semantic, _ = best_per_doc(dense, docs)
    return len(lexical) > 0 and bool(np.isin(lexical[0], semantic[:AGREE_TOP]))


def discrimination(bm25: np.ndarray, dense: np.ndarray, docs: np.ndarray) -> float:
    """0..1 factor on BM25's trust: 1 when the retrievers agree on the top, else the ramp of ``spread``."""
    return 1.0 if agree(bm25, dense, docs) else _ramp(spread(bm25, docs), DISCRIMINATION_RAMP)


def fuse(bm25: np.ndarray, dense: np.ndarray | None, coverage: float, params: FusionParams,
         title: np.ndarray | None = None, trust: float | None = None, docs: np.ndarray | None = None
         ) -> np.ndarray:
    """Fused score per candidate. ``coverage`` (0..1): how much of the query the best BM25 chunk contains.
    ``docs``: each candidate's document; with it the coverage trust is scaled by ``discrimination``.

    ``title``: dense similarity of each candidate's document title. For a query in the corpus's language
    BM25 already matches titles (they lead every chunk's text); when BM25 cannot match (another language),
    the title vector stands in for it, so it is added to the dense score as BM25 trust falls. English
    questions over miro: hybrid MRR@10 0.812 -> 0.855; CMRC (trust ~1) unchanged (docs/quality.md).
    """
    if dense is None:
        return bm25.astype(np.float64)
    if trust is None:
        trust = lexical_trust(coverage) * (1.0 if docs is None else discrimination(bm25, dense, docs))
    # (given: a translated question, app/ranking/translation)
    if title is not None:
        dense = dense + params.title_weight * (1.0 - trust) * title
    bm25_weight = params.bm25_weight * trust
    if params.method == "rrf":
        return rrf([ranks(bm25, bm25 > 0), ranks(dense)], [bm25_weight, params.dense_weight], params.rrf_k)
    top = float(bm25.max())
    lexical = bm25 / top if top > 0 else np.zeros_like(bm25, dtype=np.float64)
    return bm25_weight * lexical + params.dense_weight * minmax(dense)


def english_side(bm25: np.ndarray, held: np.ndarray, top: float, trust: float) -> np.ndarray:
    """BM25 of a Chinese question's English words over a mostly Chinese corpus, on the scale of its Chinese BM25
    (``top``, the best Chinese score): each candidate's score over the best English one, times ``trust``, times
    how much of the question it holds in English (``held``: app/ranking/confidence.held_in_translation), full from
    ENGLISH_FULL_AT. app/ranking/search._with_english keeps the better of a candidate's two scores.

    The best English match is often no English passage on the question: a stray English page with one generic
    word ("model"), a Chinese article's English words. One weight for all English matches: 1 lifted miro005 + 8
    English paragraphs (14 questions in both languages) to hybrid nDCG@10 0.918 (dense 0.885) but let miro's 20
    stray English pages outrank its Chinese articles (26 paraphrases, BM25 MRR@10 0.817 -> 0.793) and cost
    miro005's keyword questions (hybrid 0.915 -> 0.876); 0.5 cost nothing and left the mixed set below dense
    (0.868). Scaled by the concepts the passage holds in English and not in Chinese (where it holds them in
    Chinese its Chinese score has them): mixed hybrid 0.905, paraphrases 0.817, keyword hybrid 0.926 (miro005)
    and 0.971 (task010). Full at 0.3 / 0.4 / 0.5 / 0.7 / 1: mixed hybrid 0.915 / 0.905 / 0.905 / 0.879 / 0.879,
    paraphrase MRR 0.815 / 0.817 / 0.817 / 0.817 / 0.817. Counting concepts held in Chinese too, miro005
    keyword BM25 0.897 -> 0.886; held in either script, its hybrid 0.886-0.896; trust 0.75, mixed hybrid 0.879.
    The cost: task010 (finance articles with code: ``fit_intercept`` for 拟合) BM25 alone 0.961 -> 0.956.
    docs/quality.md, "Mixed scripts in one corpus"."""
    best = float(bm25.max()) if len(bm25) else 0.0
    if best <= 0:
        return np.zeros(len(bm25), dtype=np.float64)
    return trust * top * np.minimum(1.0, held / ENGLISH_FULL_AT) * bm25 / best
