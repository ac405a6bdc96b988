"""How sure are we that the best result answers the query? One number in [0, 1] plus its parts.

- lexical: the IDF-weighted share of query terms that occur in the best chunk
  (terms the corpus never saw weigh as the rarest term), so a query whose
  distinctive words are absent scores low however high its BM25 score looks;
- dense: how far the best cosine stands above the rest of the dense candidates,
  in units calibrated on labelled answerable / unanswerable queries (docs/quality.md).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexing.tokenizer import tokenize

# Calibration of the dense standout (top1 - median of candidates); see docs/quality.md.
DENSE_STANDOUT_FLOOR = 0.03
DENSE_STANDOUT_SPAN = 0.05


@dataclass(frozen=True)
class Confidence:
    value: float
    lexical: float
    dense: float | None


def lexical_evidence(terms: list[str], idf: dict[str, float], top_text: str, max_idf: float) -> float:
    if not terms or not top_text:
        return 0.0
    present = set(tokenize(top_text))
    weights = [idf.get(t, max_idf) for t in terms]
    matched = sum(w for t, w in zip(terms, weights) if t in present)
    return matched / sum(weights) if sum(weights) > 0 else 0.0


def dense_evidence(dense_scores: np.ndarray | None) -> float | None:
    if dense_scores is None or len(dense_scores) < 2:
        return None
    standout = float(np.max(dense_scores) - np.median(dense_scores))
    return float(np.clip((standout - DENSE_STANDOUT_FLOOR) / DENSE_STANDOUT_SPAN, 0.0, 1.0))


def assess(
    terms: list[str], idf: dict[str, float], top_text: str, dense_scores: np.ndarray | None, max_idf: float
) -> Confidence:
    lexical = lexical_evidence(terms, idf, top_text, max_idf)
    dense = dense_evidence(dense_scores)
    value = lexical if dense is None else max(lexical, dense)
    return Confidence(round(value, 4), round(lexical, 4), None if dense is None else round(dense, 4))
