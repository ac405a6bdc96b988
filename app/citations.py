"""Citation strings agents paste into reports, and parsing them back.

The format is the one existing agent prompts and checkers use:
``[long_context: "<first 50 chars of title>", chunk <chunk_index>]``.

Parsing is linear in the text: every quantifier is bounded, and the quoted claim
before a citation is found by a backward scan of at most ``CLAIM_CHARS``. (A lazy
unbounded title and a ``$``-anchored claim search took 6.4 s of CPU, holding the
GIL, on 100k characters of unclosed ``[long_context: "`` prefixes.)
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TITLE_CHARS = 50
MAX_CITED_TITLE = 300  # agents sometimes paste a whole title; longer is not a citation
CLAIM_CHARS = 2000  # a quoted claim longer than this is not read as one
CITATION = re.compile(r'\[long_context:[ \t]{0,8}"(?P<title>[^\n]{0,%d}?)",[ \t]{0,8}chunk[ \t]{1,8}(?P<chunk>\d{1,9})'
                      r'[ \t]{0,8}\]' % MAX_CITED_TITLE)
# A quoted claim right before a citation: “…”, "…", 「…」 or 『…』 (closing mark -> opening mark).
_QUOTES = {"”": "“", '"': '"', "」": "「", "』": "『"}
_SEPARATORS = "，,:："
_NOT_WORD = re.compile(r"[\W_]+")


def title_key(title: str) -> str:
    return title[:TITLE_CHARS]


def format_citation(title: str, chunk_index: int) -> str:
    return f'[long_context: "{title_key(title)}", chunk {chunk_index}]'


@dataclass(frozen=True)
class CitationRef:
    text: str
    title: str
    chunk_index: int
    claim: str | None
    start: int


def find_citations(text: str) -> list[CitationRef]:
    """Every citation in ``text``, each with the quoted claim that directly precedes it, if any."""
    return [CitationRef(m.group(0), m.group("title"), int(m.group("chunk")), claim_before(text, m.start()), m.start())
            for m in CITATION.finditer(text)]


def _skip_space_back(text: str, end: int, limit: int = 64) -> int:
    stop = max(0, end - limit)
    while end > stop and text[end - 1].isspace():
        end -= 1
    return end


def claim_before(text: str, end: int) -> str | None:
    """The quoted text that ends right before ``end`` (optionally followed by a comma or colon), if any."""
    j = _skip_space_back(text, end)
    if j and text[j - 1] in _SEPARATORS:
        j = _skip_space_back(text, j - 1)
    if not j or text[j - 1] not in _QUOTES:
        return None
    close, opening = text[j - 1], _QUOTES[text[j - 1]]
    k = text.rfind(opening, max(0, j - 1 - CLAIM_CHARS), j - 1)
    if k < 0:
        return None
    claim = text[k + 1 : j - 1]
    return claim if claim and close not in claim else None


def normalize_for_match(text: str) -> str:
    """NFKC, lower case, no whitespace or punctuation: a claim that differs only in those still matches."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", text).lower())


def claim_match(claim: str, content: str) -> str:
    """'exact', 'normalized' or 'none'."""
    if claim in content:
        return "exact"
    needle = normalize_for_match(claim)
    if needle and needle in normalize_for_match(content):
        return "normalized"
    return "none"
