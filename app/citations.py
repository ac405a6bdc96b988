"""Citation strings agents paste into reports, and parsing them back.

The format is the one existing agent prompts and checkers use:
``[long_context: "<first 50 chars of title>", chunk <chunk_index>]``.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

TITLE_CHARS = 50
CITATION = re.compile(r'\[long_context:\s*"(?P<title>.*?)",\s*chunk\s+(?P<chunk>\d+)\s*\]')
# A quoted claim right before a citation: “…”, "…", 「…」 or 『…』.
_CLAIM = re.compile(r'(?:“([^”]+)”|"([^"]+)"|「([^」]+)」|『([^』]+)』)\s*[，,:：]?\s*$')
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
    refs = []
    for match in CITATION.finditer(text):
        claim_match = _CLAIM.search(text[max(0, match.start() - 2000) : match.start()])
        claim = next((g for g in claim_match.groups() if g), None) if claim_match else None
        refs.append(CitationRef(match.group(0), match.group("title"), int(match.group("chunk")), claim, match.start()))
    return refs


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
