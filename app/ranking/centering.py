"""Query centering: remove the direction every question in a language shares before dense search.

Subtracting ``weight`` x the mean embedding of content-free questions in the query's
script (``indexing/probes.py``) keeps the topical part of the query. Measured in
docs/quality.md: English questions over the miro corpus, dense MRR@10 0.684 -> 0.794;
CMRC (Chinese) 0.949 -> 0.956.
"""
from __future__ import annotations

import numpy as np

from indexing import layout
from indexing.tokenizer import script_of


def centered(vector: np.ndarray, query: str, probe_means: np.ndarray, weight: float) -> np.ndarray:
    """``vector`` (the embedding of ``query``) minus ``weight`` x the probe mean of the query's script."""
    if weight <= 0:
        return vector
    return (vector - weight * probe_means[layout.SCRIPTS.index(script_of(query))]).astype(np.float32)
