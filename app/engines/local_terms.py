"""Corpus term statistics of the local engine's bm25s index (``app.engines.protocol.TermStats``).

bm25s keeps its scores as a CSC matrix (chunks x terms): ``indptr`` gives each term's number of chunks
(document frequency) and ``indices`` the chunks themselves, from which co-occurrence follows. Nothing is
precomputed: a query looks at the postings of its few dozen candidate terms only.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse



class BM25TermStats:
    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, indices: np.ndarray, n_chunks: int):
        self.vocab, self.indices, self.n_chunks = vocab, indices, n_chunks
        self.indptr = np.asarray(indptr, dtype=np.int64)  # one int per term, read once (not element by element)
        self.df = np.diff(self.indptr)

    @classmethod
    def of(cls, bm25, n_chunks: int) -> "BM25TermStats":
        """From a loaded ``bm25s.BM25`` (memory-mapped arrays are read lazily)."""
        return cls(bm25.vocab_dict, bm25.scores["indptr"], bm25.scores["indices"], n_chunks)

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]:
        vocab, df = self.vocab, self.df
        return {t: 0 if (i := vocab.get(t)) is None else int(df[i]) for t in terms}

    def postings(self, term: str) -> np.ndarray:
        i = self.vocab.get(term)
        if i is None:
            return np.zeros(0, dtype=np.int64)
        return np.asarray(self.indices[self.indptr[i]:self.indptr[i + 1]], dtype=np.int64)

    def _group_postings(self, group: str | Sequence[str]) -> np.ndarray:
        if isinstance(group, str):
            return self.postings(group)
        chunks = None
        for term in dict.fromkeys(group):
            p = self.postings(term)
            chunks = p if chunks is None else np.intersect1d(chunks, p, assume_unique=True)
            if not chunks.size:
                break
        return np.zeros(0, dtype=np.int64) if chunks is None else chunks

    def co_occurrence(self, groups: Sequence[str | Sequence[str]]) -> np.ndarray:
        """Chunks containing both, for every pair of groups; a group is a term or a list of terms that must all
        occur (a multi-word translation). The diagonal is each group's own chunk count."""
        rows = [self._group_postings(g) for g in groups]
        lengths = np.array([len(r) for r in rows], dtype=np.int64)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        cols = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
        m = sparse.csr_matrix((np.ones(len(cols), dtype=np.float32), cols, indptr),
                              shape=(len(groups), max(self.n_chunks, 1)))
        return np.asarray((m @ m.T).toarray(), dtype=np.int64)

