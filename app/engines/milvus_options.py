"""Serve-time options of the ``milvus`` engine, apart from the engine so the factory can name them without
importing pymilvus (an optional dependency) and the engine needs nothing of the factory."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MilvusOptions:
    """Serve-time connection of the ``milvus`` engine: overrides the URI the index was built with; the token
    only ever comes from here (never from a manifest)."""

    uri: str | None = None  # RAG_MILVUS_URI
    token: str = ""  # RAG_MILVUS_TOKEN
    timeout_s: float = 5.0  # per call, below the search budget: a hung server fails requests with its own reason
    ef_search: int = 128  # HNSW search breadth (raised to the candidate depth if lower)
    max_calls: int = 8  # calls in flight per engine; one more fails at once (EngineBusy) instead of waiting
