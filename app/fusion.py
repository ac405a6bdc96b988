"""Fuse BM25 and dense scores of a candidate set into one ranking score.

Two methods:
- ``rrf``: weighted reciprocal-rank fusion, ``w / (k + rank)`` with 1-based ranks.
- ``adaptive``: weighted sum of per-query normalised scores, where the BM25
  weight ramps with how much of the query (IDF-weighted) its best chunk holds.
  Chinese questions over Chinese text: 0.53-0.90 (5th-90th percentile, CMRC);
  English questions over the same text: 0.12-0.41. Below the ramp BM25 is noise
  and is ignored, so it cannot drag the dense ranking down (plain RRF halves
  dense MRR there); above it BM25 counts fully. Measured in docs/quality.md.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


LEXICAL_RAMP = (0.35, 0.65)


@dataclass(frozen=True)
class FusionParams:
    method: str = "adaptive"
    bm25_weight: float = 1.0
    dense_weight: float = 1.0
    rrf_k: int = 60
    query_centering: float = 0.5  # see app.centering; 0 disables
    script_centering: float = 1.0  # see LocalEngine._script_shift; 0 disables
    title_weight: float = 0.5  # see fuse(); 0 disables
    # BM25 weight for a translated question, in place of the ramp (None: the ramp). English over miro, 76 questions
    # (34 written after the rule): hybrid MRR@10 0.820 with the ramp, 0.870 at 0.5, 0.876 at 1 (docs/quality.md)
    translated_trust: float | None = 0.5


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


def lexical_trust(coverage: float) -> float:
    """0..1 weight of BM25 from how much of the query its best chunk holds (ramp between LEXICAL_RAMP)."""
    lo, hi = LEXICAL_RAMP
    return min(1.0, max(0.0, (coverage - lo) / (hi - lo)))


def fuse(bm25: np.ndarray, dense: np.ndarray | None, coverage: float, params: FusionParams,
         title: np.ndarray | None = None, trust: float | None = None) -> np.ndarray:
    """Fused score per candidate. ``coverage`` (0..1): how much of the query the best BM25 chunk contains.

    ``title``: dense similarity of each candidate's document title. For a query in the corpus's language
    BM25 already matches titles (they lead every chunk's text); when BM25 cannot match (another language),
    the title vector stands in for it, so it is added to the dense score as BM25 trust falls. English
    questions over miro: hybrid MRR@10 0.812 -> 0.855; CMRC (trust ~1) unchanged (docs/quality.md).
    """
    if dense is None:
        return bm25.astype(np.float64)
    trust = lexical_trust(coverage) if trust is None else trust  # given: a translated question (app/translation)
    if title is not None:
        dense = dense + params.title_weight * (1.0 - trust) * title
    bm25_weight = params.bm25_weight * trust
    if params.method == "rrf":
        return rrf([ranks(bm25, bm25 > 0), ranks(dense)], [bm25_weight, params.dense_weight], params.rrf_k)
    top = float(bm25.max())
    lexical = bm25 / top if top > 0 else np.zeros_like(bm25, dtype=np.float64)
    return bm25_weight * lexical + params.dense_weight * minmax(dense)
