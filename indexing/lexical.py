"""Build the BM25 index (bm25s: sparse-matrix BM25, ~200x faster queries than rank-bm25)."""
from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from pathlib import Path

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

logging.getLogger("bm25s").setLevel(logging.WARNING)  # it logs every build at DEBUG


class Vocabulary:
    """Maps terms to ids as chunks stream in, so token lists are kept as compact int32 arrays."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = defaultdict(itertools.count().__next__)  # new term -> next id, all in C

    def encode(self, terms: list[str]) -> np.ndarray:
        ids = self.ids
        return np.array([ids[t] for t in terms], dtype=np.int32)


def build_bm25(token_ids: list[np.ndarray], vocab: Vocabulary, k1: float, b: float, method: str, out_dir: Path) -> None:
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(Tokenized(ids=token_ids, vocab=dict(vocab.ids)), show_progress=False)
    retriever.save(str(out_dir), show_progress=False)
