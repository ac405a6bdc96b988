"""What a search engine gives the engine-neutral search: candidates with their evidence, and typed records.

An engine stores one published index version (bm25s + FAISS files, a Milvus
collection...) and answers at the candidate level: for a query it returns chunk
ids with their BM25 and dense evidence, plus what the query-side logic needs
(the best lexical chunk, the nearest dense scores, title similarities). Fusion,
near-duplicate diversity, confidence, context assembly and citations live
outside the engines (``app/ranking/search.py`` and below), so every engine ranks the
same way. What an engine can provide is declared in its ``Capabilities``;
the search falls back where one is missing instead of probing attributes.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, Sequence, runtime_checkable

import numpy as np

from indexing.layout import Manifest

Mode = Literal["hybrid", "bm25", "dense"]


class EngineUnavailable(RuntimeError):
    """The engine's storage cannot be reached now (e.g. Milvus down); only its corpora are affected."""


class EngineBusy(RuntimeError):
    """The engine has as many storage calls in flight as it allows (a slow or hung server): this request fails
    at once instead of holding a thread the other corpora need. The corpus is not down; retry shortly."""


@dataclass(frozen=True)
class Capabilities:
    """What an engine can provide; the search uses only what is declared here."""

    dense: bool = False  # chunk vectors (dense and hybrid modes)
    term_statistics: bool = False  # ``term_stats``: document frequencies (IDF-weighted coverage, translation)
    script_centering: bool = False  # per-chunk script and per-script mean passage (applied inside candidates())
    title_vectors: bool = False  # a vector per document title (cross-language fusion)
    partial_dense: bool = False  # serves while dense vectors are still being built: a chunk without its own
    # vector is scored by its document's lead chunk or title (indexing/build.py stages); without it, an index
    # whose dense stage is titles or leads is served by BM25 alone (app/backend/loaded.py)


@dataclass(frozen=True)
class ChunkRecord:
    id: int
    doc_index: int
    chunk_index: int
    title: str
    content: str
    url: str | None
    start_char: int
    end_char: int


@dataclass(frozen=True)
class DocumentRecord:
    doc_index: int
    title: str
    url: str | None
    body_chars: int
    n_chunks: int
    first_chunk: int
    dup_group: int
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineQuery:
    """One retrieval request as the engine sees it."""

    text: str  # the question as asked (engines that analyse text server-side use it)
    terms: Sequence[str]  # lexical terms, processed exactly like the indexed text
    vector: np.ndarray | None  # the (centered) query vector; None in bm25 mode
    mode: Mode
    depth: int  # candidates wanted from each retriever
    script_centering: float = 1.0
    titles: bool = False  # compute title similarities of the candidates


REFERENCE_SAMPLE = 1024  # chunks scored per query as the confidence's background (~0.1 ms locally)


def reference_sample(chunks: int) -> np.ndarray | None:
    """Ids of the fixed chunks, spread evenly over the corpus, whose dense scores an engine returns as
    ``Candidates.dense_reference``: what an unrelated chunk scores for a query (app/ranking/confidence.py)."""
    return np.unique(np.linspace(0, chunks - 1, min(chunks, REFERENCE_SAMPLE)).astype(np.int64)) if chunks else None


@dataclass(frozen=True)
class Candidates:
    """Parallel arrays over the candidate chunks (order carries no meaning)."""

    ids: np.ndarray  # int64 chunk ids
    docs: np.ndarray  # document index of each candidate
    groups: np.ndarray  # near-duplicate group of each candidate's document
    bm25: np.ndarray  # float64 BM25 score (0 = no query term)
    dense: np.ndarray | None = None  # dense similarity (after script centering where supported)
    title: np.ndarray | None = None  # similarity of each candidate's document title to the query
    dense_top: np.ndarray | None = None  # dense scores of the nearest chunks, best first (for the confidence)
    best_lexical: int | None = None  # id of the best BM25 chunk over the whole corpus (for lexical coverage)
    dense_reference: np.ndarray | None = None  # dense scores, scored like ``dense``, of a fixed sample of chunks
    # spread over the corpus (up to ~1,000): what an unrelated chunk scores for this query (for the confidence)

    @classmethod
    def empty(cls) -> "Candidates":
        none = np.zeros(0, dtype=np.int64)
        return cls(none, none, none, np.zeros(0))


@runtime_checkable
class TermStats(Protocol):
    """An engine's corpus term statistics: what the query translation needs (app/ranking/translation.py)."""

    n_chunks: int

    def doc_freq(self, terms: Sequence[str]) -> dict[str, int]:
        """Number of chunks containing each term (0: the corpus never uses it)."""


@runtime_checkable
class CoOccurrenceStats(TermStats, Protocol):
    """Optional: with co-occurrence counts, translation prefers the senses that fit the rest of the question."""

    def co_occurrence(self, groups: Sequence[str | Sequence[str]]) -> np.ndarray:
        """Chunks containing both, for every pair of groups (a group: a term, or terms that must all occur); the
        diagonal is each group's own count."""


class Engine(Protocol):
    """One loaded index version. Implementations: ``local`` (bm25s + FAISS), ``milvus``."""

    manifest: Manifest
    capabilities: Capabilities
    term_stats: TermStats | None  # with capabilities.term_statistics

    def candidates(self, query: EngineQuery) -> Candidates: ...

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRecord]: ...

    def documents(self) -> Sequence[DocumentRecord]: ...

    def check(self) -> None:
        """Raise ``EngineUnavailable`` if the storage cannot be reached now; cheap, called each registry refresh."""
        ...

    def close(self) -> None: ...
