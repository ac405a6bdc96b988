"""One served index version: its manifest, its engine, the encoder of its queries and its folder map.

The registry keeps them; the search (``app.ranking.search.SearchableCorpus``) and reading
(``app.agent.reading.ReadableCorpus``) take one through a protocol of their own layer.
"""
from __future__ import annotations

import threading
import time
from functools import cached_property
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.engines.factory import EngineOptions, open_engine
from app.ranking import cedict
from app.agent.citations import title_key
from app.agent.doc_sources import FolderMap
from app.engines.protocol import Engine
from app.ranking.query_encoder import QueryEncoder
from indexing import layout
from indexing.embedders import load_embedder
from indexing.embedders.factory import same_vector_space
from indexing.tokenizer import TOKENIZER_ID


@dataclass(frozen=True)
class ServeOptions:
    """How a loaded index serves: query-time knobs that do not change what is on disk."""

    engine: EngineOptions = field(default_factory=EngineOptions)
    device: str | None = None
    query_cache: int = 4096
    # Compute threads per query embedding: one, since concurrency comes from parallel requests (a busy machine
    # made multi-threaded query embedding collapse: 40 short queries took up to 53 s instead of 1).
    embed_threads: int = 1
    query_embedder: str | None = None  # embeds questions for indexes built in its vector space (RAG_QUERY_EMBEDDER)


@dataclass
class LoadedCorpus:
    name: str
    version: str
    manifest: layout.Manifest
    engine: Engine
    encoder: QueryEncoder | None  # None for an index without vectors
    load_seconds: float
    folder: FolderMap | None = None  # files and places of a folder or single-document index (app/agent/doc_sources.py)

    @cached_property
    def title_keys(self) -> dict[str, list[int]]:
        """Documents by the title prefix citations quote: built once per served version, not per citation check."""
        by_key: dict[str, list[int]] = {}
        for doc in self.engine.documents():
            by_key.setdefault(title_key(doc.title), []).append(doc.doc_index)
        return by_key

    @classmethod
    def open(cls, version_dir: Path, options: ServeOptions = ServeOptions(), verify: bool = True) -> "LoadedCorpus":
        t0 = time.perf_counter()
        manifest = layout.read_manifest(version_dir, verify=verify)
        if manifest.tokenizer != TOKENIZER_ID:  # queries must be cut exactly like the indexed text
            raise layout.IndexFormatError(f"{version_dir.name} was built with tokenizer {manifest.tokenizer}, "
                                          f"queries here use {TOKENIZER_ID}; rebuild the index")
        engine = open_engine(version_dir, manifest, options.engine)
        encoder = None
        info = manifest.embedder
        partial = manifest.dense_stage not in ("none", "full")
        if info and engine.capabilities.dense and (engine.capabilities.partial_dense or not partial):
            spec = info.spec
            if options.query_embedder and same_vector_space(options.query_embedder, spec):
                spec = options.query_embedder
            embedder = load_embedder(spec, info.query_prefix, info.passage_prefix, options.device,
                                     threads=options.embed_threads)
            means_file = version_dir / layout.PROBE_MEANS
            means = np.load(means_file) if means_file.is_file() else None
            encoder = QueryEncoder(embedder, means, options.query_cache)
        if manifest.dominant_script == "cjk" and engine.capabilities.term_statistics:
            # English questions get translated: read the dictionary now, off the request path (0.1 s from its
            # cache; the first run on a machine builds the cache in a few seconds)
            # and its Chinese -> English side for Chinese questions over English text (1-2 s, derived in memory)
            threading.Thread(target=lambda: cedict.english_index().glosses(""), name="dictionary",
                             daemon=True).start()
        folder = FolderMap.load(version_dir) if manifest.source_kind != "json" else None
        return cls(manifest.name, version_dir.name, manifest, engine, encoder, time.perf_counter() - t0, folder)

    @property
    def has_dense(self) -> bool:
        return self.encoder is not None

    def close(self) -> None:
        self.engine.close()
