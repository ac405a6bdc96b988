"""How sure are we that the best result answers the query? One number in [0, 1] plus its parts.

- lexical: the IDF-weighted share of query terms that occur in the best chunk
  (terms the corpus never saw weigh as the rarest term), so a query whose
  distinctive words are absent scores low however high its BM25 score looks;
- dense: how far the best (centered) cosine stands above the median of the 100
  nearest chunks; a real match stands out, noise is flat whatever its level
  (the raw top cosine says little: e5 gives 0.78-0.87 to top hits of answerable
  and unanswerable queries alike).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from indexing.tokenizer import tokenize

# Calibrated on answerable (42 English questions over miro, 200 CMRC) and 40 no-answer queries
# (docs/quality.md): a query is flagged when the dense standout is below STANDOUT_AT_HALF *and* the best
# chunk holds less than LEXICAL_AT_HALF of the query; both map to confidence 0.5 at those points.
STANDOUT_AT_HALF = 0.026  # top-1 minus median of the top-100 centered cosines
STANDOUT_SPAN = 0.04  # standout 0.066 -> confidence 1
LEXICAL_AT_HALF = 0.6
STANDOUT_DEPTH = 100

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


def dense_evidence(dense_top: np.ndarray | None) -> float | None:
    """From the dense scores of the nearest chunks, best first."""
    if dense_top is None or len(dense_top) < 2:
        return None
    top = np.asarray(dense_top[:STANDOUT_DEPTH])
    standout = float(top[0] - np.median(top))
    return float(np.clip(0.5 + (standout - STANDOUT_AT_HALF) / STANDOUT_SPAN, 0.0, 1.0))


def assess(
    terms: list[str], idf: dict[str, float], top_text: str, dense_top: np.ndarray | None, max_idf: float
) -> Confidence:
    lexical = lexical_evidence(terms, idf, top_text, max_idf)
    dense = dense_evidence(dense_top)
    lexical_conf = min(1.0, 0.5 * lexical / LEXICAL_AT_HALF)
    value = lexical_conf if dense is None else max(lexical_conf, dense)
    return Confidence(round(value, 4), round(lexical, 4), None if dense is None else round(dense, 4))
