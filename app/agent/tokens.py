"""A conservative LLM token count for budgeting context without a model-specific tokenizer.

Each CJK character (and full-width punctuation mark) counts as one token: BPE
tokenizers of current LLMs spend 0.6-1.5 tokens per Chinese character, so 1 is
near the middle; the 4-chars-per-token guess of the old tool undercounted
Chinese by ~4x. Everything else counts one token per 3 characters (English
averages ~4), rounded up per run, plus one per line break.
"""
from __future__ import annotations

import re

_WIDE = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f\U00020000-\U0003ffff]")
_OTHER_RUN = re.compile(r"[^\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\u3000-\u303f\U00020000-\U0003ffff\n]+")


def count_tokens(text: str) -> int:
    wide = len(_WIDE.findall(text))
    other = sum(-(-len(run.strip()) // 3) for run in _OTHER_RUN.findall(text))
    return wide + other + text.count("\n")


def truncate_to_tokens(text: str, budget: int) -> str:
    """Longest prefix of ``text`` whose count is within ``budget`` (binary search on the prefix length)."""
    if count_tokens(text) <= budget:
        return text
    lo, hi = 0, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count_tokens(text[:mid]) <= budget:
            lo = mid
        else:
            hi = mid - 1
    return text[:lo]
