"""The one tokenizer used both to build the BM25 index and to parse queries.

rjieba (jieba-rs) gives jieba's segmentation with HMM off at ~20x jieba's speed.
Full-width letters and digits are folded to ASCII and text lower-cased first; terms are jieba's alphanumeric
tokens plus whole Latin compounds (``GPT-4`` gives ``gpt``, ``4`` and ``gpt-4``).
"""
from __future__ import annotations

import re

import rjieba

TOKENIZER_ID = "rjieba-nohmm+compounds-v2"

# Full-width letters and digits (ＧＰＴ４) fold to ASCII; full NFKC of every chunk cost more than segmenting it.
_FULL_WIDTH = re.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")
_TO_ASCII = {cp: cp - 0xFEE0 for r in ((0xFF10, 0xFF19), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A)) for cp in range(r[0], r[1] + 1)}

# Latin/digit runs joined by - . _ + / ' (GPT-4, 3.14, covid-19): kept whole beside jieba's pieces.
_COMPOUND = re.compile(r"[a-z0-9]+(?:[-_.+/'][a-z0-9]+)+")

# Function words so frequent that they only add latency (not swept; see docs/quality.md).
STOP_WORDS = frozenset(
    "的 了 是 在 和 与 及 或 也 都 就 而 被 把 之 其 这 那 个 着 过 对 为 以 于 中 上 下 将 从 等 吗 呢 吧 啊 "
    "a an the of to in on at by for and or is are was were be been it its this that with as from".split()
)


_LETTER = re.compile(r"[^\W\d_]")
_CJK = re.compile(r"[\u3400-\u9fff]")


def script_of(text: str) -> str:
    """'cjk' when at least 30% of the letters are CJK ideographs, else 'latin': the language side a
    multilingual embedder puts a text on."""
    letters = len(_LETTER.findall(text))
    return "cjk" if letters and len(_CJK.findall(text)) / letters >= 0.3 else "latin"


def tokenize(text: str, drop_stop_words: bool = True) -> list[str]:
    """Terms of ``text``: words, lower-cased Latin words and numbers; no punctuation or spaces."""
    if _FULL_WIDTH.search(text):
        text = text.translate(_TO_ASCII)
    text = text.lower()
    terms = [t for t in rjieba.cut(text, False) if t.isalnum()]
    terms += _COMPOUND.findall(text)
    if drop_stop_words:
        return [t for t in terms if t not in STOP_WORDS]
    return terms
