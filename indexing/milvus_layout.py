"""The Milvus side of the index format: what the exporter writes and the ``milvus`` engine reads.

A version served by the ``milvus`` engine is still a version directory under
``<index_dir>/<name>/`` (manifest, ``probe_means.npy``, ``script_means.npy``);
its manifest says ``engine="milvus"`` and its ``engine_options`` name two
collections written for that build alone:

    <prefix>_chunks_<stamp>      one row per chunk (row id == chunk id == the local ``chunks`` table):
        id INT64 (primary), doc_index, chunk_index, title, content, url (nullable), start_char, end_char,
        content_hash, text (= layout.passage_text(title, content), jieba-analysed),
        sparse (BM25 function of text), vector FLOAT_VECTOR + script INT8 (with dense vectors only)
    <prefix>_docs_<stamp>        one row per document (the local ``documents`` table):
        doc_index INT64 (primary), title, url, body_chars, n_chunks, first_chunk, dup_group,
        metadata (JSON text), title_vector FLOAT_VECTOR (a 2-d zero placeholder without dense
        vectors: Milvus refuses a collection without a vector field)

The aliases ``<prefix>_chunks`` / ``<prefix>_docs`` point at the newest build's
collections for other tools; the engine reads the collections its manifest
pins, so a process still serving the previous version reads the previous
collections, consistently with that version's documents. No token is ever
written here: it comes from the environment at build and serve time.
"""
from __future__ import annotations

import hashlib
import re
import string
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from indexing import layout
from indexing.tokenizer import STOP_WORDS

SCHEMA_VERSION = 1
ENGINE = "milvus"

# Chunk fields, in the order of the local chunk store's columns, then what Milvus adds.
CHUNK_FIELDS = ("id", "doc_index", "chunk_index", "title", "content", "url", "start_char", "end_char")
TEXT, SPARSE, VECTOR, SCRIPT, CONTENT_HASH = "text", "sparse", "vector", "script", "content_hash"
DOC_FIELDS = ("doc_index", "title", "url", "body_chars", "n_chunks", "first_chunk", "dup_group", "metadata")
TITLE_VECTOR = "title_vector"
PLACEHOLDER_DIM = 2  # title_vector of an index without dense vectors
MAX_VARCHAR = 65535  # bytes, Milvus's limit for one VARCHAR value

# Punctuation as stop words: Milvus Lite ignores the "removepunct" filter and would otherwise match a
# question mark in the query against every question in the corpus.
PUNCTUATION = sorted(set(string.punctuation) | set("，。、？！：；“”‘’（）《》〈〉【】「」『』〔〕…—～·．﹏")
                     | {"……", "——", "--", "...", "•", "●", "■", "□", "◆", "★", "☆"})

# Segmentation as close as Milvus offers to the local tokenizer (rjieba, HMM off, stop words dropped):
# jieba in exact mode without HMM, lower-cased, punctuation and the same stop words removed.
ANALYZER: dict[str, Any] = {
    "tokenizer": {"type": "jieba", "mode": "exact", "hmm": False},
    "filter": ["lowercase", "removepunct", {"type": "stop", "stop_words": sorted(STOP_WORDS) + PUNCTUATION}],
}


@dataclass(frozen=True)
class MilvusConnection:
    """Where Milvus is: a ``.db`` path (embedded Milvus Lite) or an ``http(s)://host:port`` server."""

    uri: str
    token: str = ""  # "user:password" or an API key; from the environment, never written to disk
    db_name: str = ""
    timeout_s: float = 30.0

    def client(self):
        from pymilvus import MilvusClient  # optional dependency: pip install 'zh-rag[milvus]'

        return MilvusClient(uri=self.uri, token=self.token, db_name=self.db_name, timeout=self.timeout_s)


@dataclass(frozen=True)
class MilvusIndex:
    """A version's ``engine_options``: the collections of one build and how they were made."""

    uri: str
    chunks: str
    documents: str
    chunks_alias: str
    documents_alias: str
    dense_index: str | None  # "FLAT" or "HNSW"; None without dense vectors
    dim: int | None
    db_name: str = ""
    analyzer: dict[str, Any] = field(default_factory=lambda: ANALYZER)
    bm25: dict[str, Any] = field(default_factory=dict)  # k1, b
    schema_version: int = SCHEMA_VERSION

    def to_options(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def of(cls, manifest: layout.Manifest) -> "MilvusIndex":
        options = dict(manifest.engine_options)
        if manifest.engine != ENGINE or options.get("schema_version") != SCHEMA_VERSION:
            raise layout.IndexFormatError(
                f"index {manifest.name!r} is not a Milvus index of schema {SCHEMA_VERSION} "
                f"(engine {manifest.engine!r}, schema {options.get('schema_version')}); rebuild it")
        try:
            return cls(**options)
        except TypeError as exc:
            raise layout.IndexFormatError(f"index {manifest.name!r}: bad Milvus engine options ({exc}); rebuild it") \
                from None


def redact_uri(uri: str, mask: str = "***@") -> str:
    """``uri`` fit to show: ``http://user:password@host:19530`` -> ``http://***@host:19530`` (``mask=""``, to
    store: ``http://host:19530``); a URI without credentials (or a Milvus Lite ``.db`` path) is returned as is."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc=mask + parts.netloc.rpartition("@")[2]))


def collection_prefix(name: str) -> str:
    """Collection names allow letters, digits and '_': the corpus name made safe, plus a hash so 'a-b' and
    'a_b' stay apart."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", name)[:60]
    return f"zhrag_{safe}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def collection_names(name: str, stamp: str) -> tuple[str, str]:
    prefix = collection_prefix(name)
    return f"{prefix}_chunks_{stamp}", f"{prefix}_docs_{stamp}"


def alias_names(name: str) -> tuple[str, str]:
    prefix = collection_prefix(name)
    return f"{prefix}_chunks", f"{prefix}_docs"
