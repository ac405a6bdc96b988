"""The backend interface every front end calls: REST routes, MCP tools and the eval all go through it.

Two implementations: ``LocalBackend`` (indexes loaded in this process) and
``RemoteBackend`` (a thin client of a shared REST service). Requests and answers
are the models of ``app.schemas``; failures are the typed errors of
``app.errors``, which each front end translates once.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol

from app import schemas


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
    def ready(self) -> schemas.ReadyResponse: ...

    def corpora(self) -> schemas.CorporaResponse: ...

    def find(self, sha256: str, path: str | None = None) -> str | None:
        """Name of the served index of the corpus file with this content, or None."""
        ...

    def stats(self, name: str) -> schemas.CorpusStats: ...

    def builds(self) -> schemas.BuildsResponse:
        """Background builds queued, running, interrupted or failed in the index directory."""
        ...

    def search(self, req: schemas.SearchRequest) -> schemas.SearchResponse: ...

    def context(self, req: schemas.ContextRequest) -> schemas.ContextResponse: ...

    def chunk(self, name: str, doc_index: int, chunk_index: int) -> schemas.ChunkResponse: ...

    def resolve(self, req: schemas.ResolveRequest) -> schemas.ResolveResponse: ...

    def read(self, req: schemas.ReadRequest) -> schemas.ReadResponse:
        """A cited place (or chunk) with its neighbours in reading order, each cited."""
        ...
