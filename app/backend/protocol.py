"""The backend interface every front end calls: REST routes, MCP tools and the eval all go through it.

Two implementations: ``LocalBackend`` (indexes loaded in this process) and
``RemoteBackend`` (a thin client of a shared REST service). Failures are the
typed errors of ``app.errors``; each front end translates them once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from app.errors import (  # noqa: F401  (re-exported: front ends import errors from here)
    BackendError,
    CorpusLoading,
    CorpusUnavailable,
    DenseUnavailable,
    InvalidRequest,
    NotFound,
    Overloaded,
    UnknownCorpus,
)
from app.schemas import (
    BuildsResponse,
    ChunkResponse,
    ContextRequest,
    ContextResponse,
    CorporaResponse,
    CorpusStats,
    ReadyResponse,
    ResolveRequest,
    ResolveResponse,
    SearchRequest,
    SearchResponse,
)


@dataclass(frozen=True)
class CorpusRef:
    """What corpus lookup needs of a served index."""

    name: str
    source_sha256: str
    source_path: str
    built_at: str


def pick_corpus(refs: Iterable[CorpusRef], sha256: str, path: str | None = None) -> str | None:
    """The index built from a corpus file with this content: the same lookup rule for every backend.

    Content decides (a copied or moved file is the same corpus); among several indexes of the same
    content, one built from the same path wins, then the most recently built.
    """
    matches = [r for r in refs if r.source_sha256 == sha256]
    if not matches:
        return None
    return max(matches, key=lambda r: (r.source_path == path, r.built_at)).name


class Backend(Protocol):
    def ready(self) -> ReadyResponse: ...

    def corpora(self) -> CorporaResponse: ...

    def find(self, sha256: str, path: str | None = None) -> str | None:
        """Name of the served index of the corpus file with this content, or None."""
        ...

    def stats(self, name: str) -> CorpusStats: ...

    def builds(self) -> BuildsResponse:
        """Background builds queued, running, interrupted or failed in the index directory."""
        ...

    def search(self, req: SearchRequest) -> SearchResponse: ...

    def context(self, req: ContextRequest) -> ContextResponse: ...

    def chunk(self, name: str, doc_index: int, chunk_index: int) -> ChunkResponse: ...

    def resolve(self, req: ResolveRequest) -> ResolveResponse: ...
