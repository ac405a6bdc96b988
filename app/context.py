"""Assemble retrieved chunks into one prompt-ready context that never exceeds a token budget."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from app.citations import format_citation
from app.engines.protocol import ChunkRecord
from app.search import Hit
from app.tokens import count_tokens, truncate_to_tokens

TRUNCATION_MARK = " …[truncated]"
MIN_USEFUL_TOKENS = 24  # a cut passage shorter than this is noise, not evidence


@dataclass(frozen=True)
class Passage:
    doc_index: int
    title: str
    url: str | None
    chunk_indices: list[int]
    text: str
    score: float
    cites: tuple[str, ...] = ()  # a document passage's citations by file and place (app/doc_sources.py)
    first: ChunkRecord | None = None

    @property
    def citations(self) -> list[str]:
        return list(self.cites) or [format_citation(self.title, i) for i in self.chunk_indices]


Cite = Callable[[ChunkRecord], str | None]  # a chunk's citation by file and place; None: by title and chunk


def merge_passages(hits: list[Hit], cite: Cite | None = None) -> list[Passage]:
    """Merge overlapping or adjacent chunks of one document, best passage first."""
    by_doc: dict[int, list[Hit]] = {}
    for hit in hits:
        by_doc.setdefault(hit.chunk.doc_index, []).append(hit)
    passages = []
    for doc_hits in by_doc.values():
        doc_hits.sort(key=lambda h: h.chunk.chunk_index)
        run = [doc_hits[0]]
        for hit in doc_hits[1:]:
            if hit.chunk.chunk_index == run[-1].chunk.chunk_index + 1:
                run.append(hit)
            else:
                passages.append(_join(run, cite))
                run = [hit]
        passages.append(_join(run, cite))
    return sorted(passages, key=lambda p: -p.score)


def _join(run: list[Hit], cite: Cite | None) -> Passage:
    text, end = run[0].chunk.content, run[0].chunk.end_char
    for hit in run[1:]:
        c = hit.chunk
        # overlapping or touching: append the new part; a gap is only trimmed whitespace
        text += c.content[end - c.start_char:] if c.start_char <= end else "\n" + c.content
        end = max(end, c.end_char)
    first = run[0].chunk
    cites = [c for c in (cite(h.chunk) for h in run) if c] if cite else []
    return Passage(first.doc_index, first.title, first.url, [h.chunk.chunk_index for h in run], text,
                   max(h.score for h in run), tuple(dict.fromkeys(cites)), first)


@dataclass(frozen=True)
class AssembledContext:
    text: str
    tokens: int
    passages: list[tuple[Passage, bool]]  # (passage, was it cut to fit)


def assemble(hits: list[Hit], max_tokens: int, cite: Cite | None = None) -> AssembledContext:
    """Best passages first; one that does not fit is cut (and marked) if enough room is left to be useful."""
    separator = "\n\n"
    parts: list[str] = []
    used = 0
    included: list[tuple[Passage, bool]] = []
    for passage in merge_passages(hits, cite):
        header = " ".join(passage.citations) + "\n"
        joint = count_tokens(separator) if parts else 0
        block = header + passage.text
        cut = False
        if used + joint + count_tokens(block) > max_tokens:
            room = max_tokens - used - joint - count_tokens(header + TRUNCATION_MARK)
            if room < MIN_USEFUL_TOKENS:
                continue
            block, cut = header + truncate_to_tokens(passage.text, room) + TRUNCATION_MARK, True
        parts.append(block)
        used += joint + count_tokens(block)
        included.append((passage, cut))
    text = separator.join(parts)
    return AssembledContext(text, count_tokens(text), included)
