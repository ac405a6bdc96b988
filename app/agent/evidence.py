"""Sentence-level evidence: which sentences of the retrieved chunks answer the question.

A sentence is one of ``indexing.chunking.sentence_spans`` (the project's one splitter), located by its
offsets in the document body, as a chunk's ``start_char`` is. Its score is

- the IDF-weighted share of the question's concepts it holds (``app.ranking.confidence.Concept``: a query term, or for
  a question translated for BM25 one English phrase, present when any of its chosen translations is), plus
- ``PASSAGE_WEIGHT`` x the passage prior: the chunk's fused score relative to the best hit's, so that between
  two sentences covering as much the one in the better-ranked passage wins.

Terms are matched as substrings of the lower-cased sentence (a Chinese term is found whatever the segmenter
does with its context; Latin terms at a word start). No dense sentence similarity: the top-10 chunks of a CMRC
question hold a median 81 sentences, which the index's embedder (onnx e5-small) took a median 8.2 s to embed on the
loaded 2-core machine (docs/quality.md, "Evidence-first context"): orders of magnitude over the 5 ms that
``/v1/context`` may grow by. Its weights and the priority order are measured there too.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Sequence

from app.ranking.confidence import Concept
from indexing.chunking import sentence_spans

# Measured on CMRC trial, 1,000 questions (docs/quality.md): weights 0.3, 1 and 3, and a rank-based prior, are
# within 0.01 of each other at every budget; partial character credit 0 -> 0.5 gains 0.005 at 60 and 100 tokens.
PASSAGE_WEIGHT = 0.3  # a passage prior of 1 (the best hit) is worth 0.3 of full concept coverage
MAX_HIGHLIGHTS = 3
HIGHLIGHT_SHARE = 0.5  # a further highlight covers at least half of what the best sentence covers

PARTIAL = 0.5  # credit for a Chinese term whose characters are all present but not together
_LATIN_TERM = re.compile(r"[a-z0-9]")


def _chars_held(text: str, choice: Sequence[str]) -> float:
    chars = [ch for t in choice if not _LATIN_TERM.match(t) and len(t) > 1 for ch in t]
    return sum(ch in text for ch in chars) / len(chars) if chars else 0.0


@dataclass(frozen=True)
class Sentence:
    """One sentence of a document, by its offsets in the body (``text == body[start:end]``, trimmed)."""

    start: int
    end: int
    text: str


def sentences_of(content: str, start_char: int) -> list[Sentence]:
    """The sentences of a chunk (``content == body[start_char:...]``) in document offsets, blank ones dropped and
    each trimmed of surrounding white space."""
    out = []
    for span in sentence_spans(content):
        a, b = span.start, span.end
        while a < b and content[a].isspace():
            a += 1
        while b > a and content[b - 1].isspace():
            b -= 1
        if b > a:
            out.append(Sentence(start_char + a, start_char + b, content[a:b]))
    return out


class Matcher:
    """Concept coverage of short texts, by substring (see the module docstring)."""

    def __init__(self, concepts: Sequence[Concept]):
        self.concepts = [c for c in concepts if c.weight > 0]
        self.total = sum(c.weight for c in self.concepts)
        self._latin = {t: re.compile(r"(?<![a-z0-9])" + re.escape(t)) for c in self.concepts for choice in c.choices
                       for t in choice if _LATIN_TERM.match(t)}

    def _holds(self, text: str, term: str) -> bool:
        pattern = self._latin.get(term)
        return bool(pattern.search(text)) if pattern is not None else term in text

    def coverage(self, text: str) -> float:
        """Weighted share (0..1) of the concepts ``text`` holds; a Chinese term not held whole counts
        ``PARTIAL`` x the share of its characters that are (体重 -> 重, 大约 -> 约 in 约只有8公斤重)."""
        if self.total <= 0 or not text:
            return 0.0
        low = text.lower()
        held = 0.0
        for c in self.concepts:
            if any(all(self._holds(low, t) for t in choice) for choice in c.choices):
                held += c.weight
            elif PARTIAL > 0:
                held += c.weight * PARTIAL * max(_chars_held(low, choice) for choice in c.choices)
        return held / self.total


# A clause ends at a comma or colon: full-width, or ASCII before white space (6,476 and 10:30 stay whole).
_CLAUSE_END = re.compile(r"[，：]|[,:](?=\s)")


def clauses_of(sentence: Sentence) -> list[Sentence]:
    """The clauses of a sentence, consecutive and covering it exactly (in document offsets); ``[sentence]`` when
    it has no comma or colon inside."""
    out, a = [], 0
    for m in _CLAUSE_END.finditer(sentence.text):
        if m.end() < len(sentence.text):
            out.append(Sentence(sentence.start + a, sentence.start + m.end(), sentence.text[a:m.end()]))
            a = m.end()
    out.append(Sentence(sentence.start + a, sentence.end, sentence.text[a:]))
    return out


def best_window(matcher: Matcher, title: str, sentence: Sentence, fits: Callable[[Sentence], bool]) \
        -> Sentence | None:
    """The part of a sentence too long to show whole that holds its evidence: its best clause (scored under the
    document's title, like a sentence), grown by the next clause, then the previous one, while ``fits``. None when
    the sentence has a single clause or not even its best clause fits. The window keeps the clause's own
    punctuation; the reader sees gap marks around it."""
    parts = clauses_of(sentence)
    if len(parts) < 2:
        return None
    scores = [matcher.coverage(title + "\n" + c.text) for c in parts]
    lo = hi = max(range(len(parts)), key=lambda i: (scores[i], -i))
    if not fits(parts[lo]):
        return None
    grown = True
    while grown:
        grown = False
        for a, b in ((lo, hi + 1), (lo - 1, hi)):
            if 0 <= a and b < len(parts) and fits(_span(sentence, parts[a], parts[b])):
                lo, hi, grown = a, b, True
                break
    return _span(sentence, parts[lo], parts[hi])


def _span(sentence: Sentence, first: Sentence, last: Sentence) -> Sentence:
    a, b = first.start - sentence.start, last.end - sentence.start
    while a < b and sentence.text[a].isspace():
        a += 1
    return Sentence(sentence.start + a, sentence.start + b, sentence.text[a:b])


def sentence_score(coverage: float, prior: float) -> float:
    """A sentence's evidence score: its concept coverage plus its passage's prior (0..1)."""
    return coverage + PASSAGE_WEIGHT * prior


def highlights(matcher: Matcher, content: str, start_char: int) -> list[Sentence]:
    """The best one to three sentences of a chunk, best first: those holding any concept, the second and third
    only if they hold at least half of what the best holds. Empty when no sentence holds a concept."""
    scored = [(matcher.coverage(s.text), i, s) for i, s in enumerate(sentences_of(content, start_char))]
    scored = sorted((x for x in scored if x[0] > 0), key=lambda x: (-x[0], x[1]))
    if not scored:
        return []
    best = scored[0][0]
    return [s for cov, _, s in scored[:MAX_HIGHLIGHTS] if cov >= HIGHLIGHT_SHARE * best]
