"""Find near-duplicate documents (reposts under other titles) with MinHash + LSH over character shingles.

All numpy: datasketch's per-object MinHash + LSH took 0.76 s for the 1,173 miro documents, this 0.016 s.
"""
from __future__ import annotations

import re

import numpy as np

NUM_PERM = 64
SHINGLE = 5
MIN_CHARS = 100  # stubs (a date line, a title) are not evidence of copying
_rng = np.random.default_rng(20240601)
_A = (_rng.integers(0, 1 << 31, NUM_PERM, dtype=np.uint32) * 2 + 1).astype(np.uint32)  # odd: a bijection mod 2^32
_B = _rng.integers(0, 1 << 32, NUM_PERM, dtype=np.uint32)
_SPACE = re.compile(r"\s+")


def _mix(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finaliser, so that affine permutations of it behave like random ones."""
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def signature(text: str, max_chars: int = 8000) -> np.ndarray | None:
    """MinHash signature of the whitespace-free text (uint32 arithmetic wraps mod 2^32), or None if too short."""
    compact = _SPACE.sub("", text)[:max_chars]
    if len(compact) < MIN_CHARS:
        return None
    codes = np.frombuffer(compact.encode("utf-32-le"), dtype=np.uint32)
    with np.errstate(over="ignore"):
        shingles = np.zeros(len(codes) - SHINGLE + 1, dtype=np.uint32)
        for j in range(SHINGLE):
            shingles = shingles * np.uint32(1_000_003) + codes[j : len(codes) - SHINGLE + 1 + j]
        shingles = _mix(shingles)  # repeated shingles cannot change a minimum; no need to dedupe
        return (_A[:, None] * shingles[None, :] + _B[:, None]).min(axis=1)


def group_near_duplicates(signatures: list[np.ndarray | None], threshold: float, bands: int = 16) -> np.ndarray:
    """Group id per document: the smallest document index among its near-duplicates (itself if none).

    LSH banding: documents agreeing on all rows of any band are candidates; a
    candidate pair joins a group when its estimated Jaccard reaches ``threshold``.
    """
    parent = np.arange(len(signatures))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    ids = np.array([i for i, sig in enumerate(signatures) if sig is not None], dtype=np.int64)
    if len(ids) > 1:
        matrix = np.stack([signatures[i] for i in ids])
        rows = NUM_PERM // bands
        for band in range(bands):
            _, bucket = np.unique(matrix[:, band * rows : (band + 1) * rows], axis=0, return_inverse=True)
            order = np.argsort(bucket.ravel(), kind="stable")
            sorted_buckets = bucket.ravel()[order]
            for k in np.flatnonzero(sorted_buckets[1:] == sorted_buckets[:-1]):
                a, b = order[k], order[k + 1]  # neighbours in a bucket; union-find closes the group
                if np.mean(matrix[a] == matrix[b]) >= threshold:
                    ra, rb = find(ids[a]), find(ids[b])
                    parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(len(signatures))], dtype=np.int32)
