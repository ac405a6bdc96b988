"""Split a document body into sentence-aligned chunks with exact character offsets.

Every chunk is ``body[start:end]``; chunk boundaries fall on sentence ends
(``。！？；`` and line breaks, ``.!?`` followed by a space for Latin text) unless a
single sentence is longer than the target size, which is then cut hard.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends after CJK/Latin terminators (plus closing quotes/brackets), or at a line break. A Latin full
# stop ends one only before white space or the end (3.14, e.g.x, GPT-4.5 stay whole), its closing quotes with it.
_SENTENCE_END = re.compile(r"(?:[。！？；!?;…]+[”’」』）》)\"']*|\.[”’」』）)\"']*(?=\s|$))\n*|\n+")


@dataclass(frozen=True)
class Span:
    start: int
    end: int


def sentence_spans(text: str) -> list[Span]:
    """Consecutive spans covering ``text`` exactly, each ending at a sentence boundary.

    The project's one sentence splitter: chunking, evidence-first context, highlights and citation support
    (app/agent/evidence.py) all cut at these spans. Trailing line breaks belong to the sentence they end.
    """
    spans, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        spans.append(Span(start, match.end()))
        start = match.end()
    if start < len(text):
        spans.append(Span(start, len(text)))
    return spans


def _bounded(spans: list[Span], size: int) -> list[Span]:
    """Cut sentences longer than ``size`` into ``size``-long pieces."""
    out = []
    for span in spans:
        for start in range(span.start, span.end, size):
            out.append(Span(start, min(start + size, span.end)))
    return out


def _trim(text: str, start: int, end: int) -> Span | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return Span(start, end) if end > start else None


def chunk_spans(text: str, size: int, overlap: int) -> list[Span]:
    """Greedy packing of sentences into chunks of at most ``size`` chars.

    The next chunk restarts at the earliest sentence start that lies within
    ``overlap`` characters of the previous chunk's end, so consecutive chunks
    share whole sentences rather than cut words.
    """
    if size <= 0 or not 0 <= overlap < size:
        raise ValueError(f"need size > 0 and 0 <= overlap < size, got size={size}, overlap={overlap}")
    pieces = _bounded(sentence_spans(text), size)
    chunks: list[Span] = []
    first = 0
    while first < len(pieces):
        last = first
        while last + 1 < len(pieces) and pieces[last + 1].end - pieces[first].start <= size:
            last += 1
        trimmed = _trim(text, pieces[first].start, pieces[last].end)
        if trimmed and chunks and trimmed.start <= chunks[-1].start:
            chunks[-1] = trimmed  # the previous chunk began with blank pieces only: this one holds it whole
        elif trimmed:
            chunks.append(trimmed)
        if last + 1 >= len(pieces):
            break
        next_first = last + 1
        while next_first - 1 > first and pieces[last].end - pieces[next_first - 1].start <= overlap:
            next_first -= 1
        first = next_first
    return chunks
