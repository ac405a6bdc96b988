"""Citation strings agents paste into reports, and parsing them back.

The format is the one existing agent prompts and checkers use:
``[long_context: "<first 50 chars of title>", chunk <chunk_index>]``.

Each citation backs a claim: the quoted text right before it, else the sentence (or clause) before it, cut with
the project's sentence splitter (``indexing.chunking.sentence_spans``) and never reaching back past the previous
citation; a citation right after another ("... [A][B]") backs the same claim. app/agent/support.py scores it.

Parsing is linear in the text: every quantifier is bounded, and the claim before a citation is found by a
backward scan of at most ``CLAIM_CHARS``. (A lazy
unbounded title and a ``$``-anchored claim search took 6.4 s of CPU, holding the
GIL, on 100k characters of unclosed ``[long_context: "`` prefixes.)
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from indexing.chunking import sentence_spans

TITLE_CHARS = 50
MAX_CITED_TITLE = 300  # agents sometimes paste a whole title; longer is not a citation
CLAIM_CHARS = 2000  # a quoted claim longer than this is not read as one
MIN_CLAIM_CHARS = 4  # word characters an unquoted claim needs (fewer: a label such as 据报道 or 另见)
CITATION = re.compile(r'\[long_context:[ \t]{0,8}"(?P<title>[^\n]{0,%d}?)",[ \t]{0,8}chunk[ \t]{1,8}(?P<chunk>\d{1,9})'
                      r'[ \t]{0,8}\]' % MAX_CITED_TITLE)
# A quoted claim right before a citation: “…”, "…", 「…」 or 『…』 (closing mark -> opening mark).
_QUOTES = {"”": "“", '"': '"', "」": "「", "』": "『"}
_SEPARATORS = "，,:："
_NOT_WORD = re.compile(r"[\W_]+")


# What a title must not carry into a citation: a quote or bracket would end the title early and forge another
# citation (a document titled `目标文章", chunk 1] 另一篇` once cited as document "目标文章", chunk 1), and a line
# break would stop it parsing. Each becomes its full-width twin or a space: one character for one, so the key
# keeps its 50 characters, and applying it again changes nothing.
_FORGERY = str.maketrans({'"': "＂", "[": "［", "]": "］", "\n": " ", "\r": " "})


def title_key(title: str) -> str:
    """A title as citations carry it, and as a cited title is looked up: its first 50 characters, quotes and
    brackets replaced (``_FORGERY``), so a citation pasted with the raw title still finds its document."""
    return title[:TITLE_CHARS].translate(_FORGERY)


def format_citation(title: str, chunk_index: int) -> str:
    return f'[long_context: "{title_key(title)}", chunk {chunk_index}]'


@dataclass(frozen=True)
class CitationRef:
    text: str
    title: str
    chunk_index: int
    claim: str | None  # what the citation backs: the quoted claim before it, else the sentence or clause before it
    start: int
    quoted: bool = False  # the claim was quoted: it must be in the chunk as it is


def find_citations(text: str) -> list[CitationRef]:
    """Every citation in ``text``, each with the claim it backs (see the module docstring)."""
    found = list(CITATION.finditer(text))
    return [CitationRef(m.group(0), m.group("title"), int(m.group("chunk")), claim, m.start(), quoted)
            for m, (claim, quoted) in zip(found, backed_claims(text, [(m.start(), m.end()) for m in found]))]


def backed_claims(text: str, spans: list[tuple[int, int]]) -> list[tuple[str | None, bool]]:
    """For the citations at ``spans`` (start, end; in order): the claim each backs and whether it was quoted.
    The quoted text right before a citation, else the sentence or clause before it, never reaching back past
    the previous citation; ``[A][B]`` back the same claim."""
    claims: list[tuple[str | None, bool]] = []
    previous_end = 0
    for start, end in spans:
        claim = claim_before(text, start)
        quoted = claim is not None
        if not quoted and claims and not _NOT_WORD.sub("", text[previous_end:start]):
            claim, quoted = claims[-1]
        elif not quoted:
            claim = sentence_before(text, start, previous_end)
        claims.append((claim, quoted))
        previous_end = end
    return claims


def sentence_before(text: str, end: int, floor: int = 0) -> str | None:
    """The last sentence (or clause after ``floor``) that ends before ``end`` and holds a word, stripped; None
    when that is a label rather than a claim: it ends with a colon (参考：, Sources:) or holds fewer than
    ``MIN_CLAIM_CHARS`` word characters (据报道，[...]; 另见[...])."""
    lo = max(floor, end - CLAIM_CHARS)
    window = text[lo:end]
    for span in reversed(sentence_spans(window)):
        piece = window[span.start:span.end].strip()
        if _NOT_WORD.sub("", piece):
            label = piece.endswith((":", "：")) or len(_NOT_WORD.sub("", piece)) < MIN_CLAIM_CHARS
            return None if label else piece.lstrip(_SEPARATORS + "、;；-*•>#").strip()
    return None


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
