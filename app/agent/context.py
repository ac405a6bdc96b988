"""Assemble retrieved chunks into one prompt-ready context that never exceeds a token budget.

Two modes. ``passages``: the merged passages best first, the last one cut to fit. ``evidence`` (the default of
the API): when the passages do not all fit whole, the budget is filled with the best sentences first
(app/agent/evidence.py), each with a little context and its citation, never cut at a character count: a sentence too
long for what is left is shown as its best clauses between gap marks; what budget is left grows the windows back
into whole passages. Measured in docs/quality.md, "Evidence-first context".
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field, replace
from typing import Callable, Literal, Sequence

from app.agent.citations import format_citation
from app.ranking.confidence import Concept
from app.engines.protocol import ChunkRecord
from app.agent.evidence import Matcher, Sentence, best_window, sentence_score, sentences_of
from app.ranking.search import Hit
from app.agent.tokens import count_tokens, truncate_to_tokens

ContextMode = Literal["evidence", "passages"]
GAP = "…"  # marks text of the document left out before, between or after the sentences shown

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
    start_char: int = 0
    end_char: int = 0
    citations: list[str] = field(default_factory=list)  # its chunks' citations, each once
    first: ChunkRecord | None = None


Cite = Callable[[ChunkRecord], str]  # a chunk's citation (by file and place for a document: FolderMap.citation)


def by_title(chunk: ChunkRecord) -> str:
    """A JSON document's chunk citation, the default ``Cite``."""
    return format_citation(chunk.title, chunk.chunk_index)


def merge_passages(hits: list[Hit], cite: Cite = by_title) -> list[Passage]:
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


def _join(run: list[Hit], cite: Cite) -> Passage:
    text, end = run[0].chunk.content, run[0].chunk.end_char
    for hit in run[1:]:
        c = hit.chunk
        # overlapping or touching: append the new part; a gap is only trimmed whitespace
        text += c.content[end - c.start_char:] if c.start_char <= end else "\n" + c.content
        end = max(end, c.end_char)
    first = run[0].chunk
    return Passage(first.doc_index, first.title, first.url, [h.chunk.chunk_index for h in run], text,
                   max(h.score for h in run), first.start_char, end, list(dict.fromkeys(cite(h.chunk) for h in run)),
                   first)


@dataclass(frozen=True)
class Part:
    """What one block of the context holds: a document's chunks and the exact body spans shown."""

    doc_index: int
    title: str
    url: str | None
    chunk_indices: list[int]
    spans: list[tuple[int, int]]
    cut: bool  # less than its whole passage(s): cut to fit, or evidence windows with gaps
    citations: list[str] = field(default_factory=list)  # its chunks' citations, each once
    first: ChunkRecord | None = None  # its first chunk, for the source it names


@dataclass(frozen=True)
class AssembledContext:
    text: str
    tokens: int
    parts: list[Part] = field(default_factory=list)


SEPARATOR = "\n\n"


def assemble(hits: list[Hit], max_tokens: int, cite: Cite = by_title) -> AssembledContext:
    """Best passages first; one that does not fit is cut (and marked) if enough room is left to be useful."""
    separator = SEPARATOR
    parts: list[str] = []
    used = 0
    included: list[Part] = []
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
        kept = len(block) - len(header) - (len(TRUNCATION_MARK) if cut else 0)
        end = min(passage.end_char, passage.start_char + kept) if cut else passage.end_char
        included.append(Part(passage.doc_index, passage.title, passage.url, passage.chunk_indices,
                             [(passage.start_char, end)], cut, passage.citations, passage.first))
    text = separator.join(parts)
    return AssembledContext(text, count_tokens(text), included)


@dataclass
class _Unit:
    """A sentence of the pool: where it is, how good it is, what joins it to the previous one of its document."""

    sentence: Sentence
    chunk_index: int
    score: float
    tokens: int
    gap_before: str | None  # white space between it and the previous unit, None when text is missing between
    ends_chunk: bool  # nothing but white space follows it in its chunk
    at_doc_start: bool  # the first sentence of the document
    narrowed: bool = False  # shown as its best clauses only (app/agent/evidence.best_window): it did not fit whole
    cut_after: bool = False  # narrowed, and text of its sentence is left out after it


class _Doc:
    def __init__(self, hit: Hit, cite: Cite):
        self.doc_index, self.title, self.url = hit.chunk.doc_index, hit.chunk.title, hit.chunk.url
        self.cite = cite
        self.chunks: dict[int, ChunkRecord] = {}  # chunk index -> its record, for citations by file and place
        self.units: list[_Unit] = []
        self.chosen: set[int] = set()
        self.header_tokens: dict[int, int] = {}  # chunk index -> tokens of its citation and a space
        self.cited: int | None = None  # a chunk cited with no sentence: the best one did not fit the budget

    def citation(self, chunk_index: int) -> str:
        return self.cite(self.chunks[chunk_index])

    def part(self, chunks: list[int], spans: list[tuple[int, int]], cut: bool) -> Part:
        cites = list(dict.fromkeys(self.citation(c) for c in chunks))
        return Part(self.doc_index, self.title, self.url, chunks, spans, cut, cites, self.chunks.get(chunks[0]))

    def runs(self) -> list[list[int]]:
        """The chosen units as runs of consecutive sentences."""
        runs: list[list[int]] = []
        for i in sorted(self.chosen):
            if runs and runs[-1][-1] == i - 1 and self.units[i].gap_before is not None \
                    and not self.units[i - 1].cut_after:
                runs[-1].append(i)
            else:
                runs.append([i])
        return runs

    def render(self) -> tuple[str, Part]:
        if not self.chosen:  # only cited (``cited``): the document is named, its best sentence did not fit
            return self.citation(self.cited), self.part([self.cited], [], True)
        runs = self.runs()
        chunks = sorted({self.units[i].chunk_index for i in self.chosen})
        pieces = []
        for n, run in enumerate(runs):
            first, last = self.units[run[0]], self.units[run[-1]]
            text = first.sentence.text + "".join(self.units[i].gap_before + self.units[i].sentence.text
                                                 for i in run[1:])
            lead = "" if n == 0 and first.at_doc_start else GAP
            trail = GAP if n == len(runs) - 1 and not last.ends_chunk else ""
            pieces.append(lead + text + trail)
        header = " ".join(dict.fromkeys(self.citation(c) for c in chunks))
        part = self.part(chunks, [(self.units[r[0]].sentence.start, self.units[r[-1]].sentence.end) for r in runs],
                         len(self.chosen) < len(self.units) or len(runs) > 1
                         or any(self.units[i].narrowed for i in self.chosen))
        return header + "\n" + " ".join(pieces), part

    def narrow(self, i: int, matcher: Matcher, room: int) -> bool:
        """Choose unit ``i`` as its best clauses (app/agent/evidence.best_window) if they fit in ``room`` more tokens."""
        whole, before = self.units[i], self.cost()

        def as_unit(w: Sentence) -> _Unit:
            starts, ends = w.start == whole.sentence.start, w.end == whole.sentence.end
            return replace(whole, sentence=w, tokens=count_tokens(w.text), narrowed=True,
                           gap_before=whole.gap_before if starts else None, at_doc_start=whole.at_doc_start and starts,
                           ends_chunk=whole.ends_chunk and ends, cut_after=not ends)

        def fits(w: Sentence) -> bool:
            self.units[i] = as_unit(w)
            self.chosen.add(i)
            ok = self.cost() - before <= room
            self.units[i] = whole
            self.chosen.discard(i)
            return ok

        window = best_window(matcher, self.title, whole.sentence, fits)
        if window is None:
            return False
        self.units[i] = as_unit(window)
        self.chosen.add(i)
        return True

    def cost(self) -> int:
        """Tokens of the rendered block, counted by parts (within a few tokens of the exact count)."""
        if not self.chosen:
            return 0 if self.cited is None else self.header_tokens[self.cited] - 1  # the citation alone
        chunks = {self.units[i].chunk_index for i in self.chosen}
        total = sum(self.header_tokens[c] for c in chunks) + 1
        for run in self.runs():
            total += sum(self.units[i].tokens for i in run) + 2  # the sentences and their gap marks
            total += sum(self.units[i].gap_before.count("\n") for i in run[1:])
        return total


def _pool(hits: list[Hit], more: list[Hit], matcher: Matcher, cite: Cite = by_title) -> list[_Doc]:
    """Each document's sentences from its retrieved chunks (and ``more`` of its chunks), in document order."""
    top = max((h.score for h in hits), default=0.0)
    docs: dict[int, _Doc] = {}
    by_doc: dict[int, list[Hit]] = {}
    for hit in hits:
        docs.setdefault(hit.chunk.doc_index, _Doc(hit, cite))
        by_doc.setdefault(hit.chunk.doc_index, []).append(hit)
    for hit in more:
        if hit.chunk.doc_index in by_doc:
            by_doc[hit.chunk.doc_index].append(hit)
    for d, doc_hits in by_doc.items():
        found: dict[tuple[int, int], tuple[Sentence, Hit, str | None, bool, bool]] = {}
        for hit in sorted(doc_hits, key=lambda h: -h.score):  # a shared sentence belongs to the better chunk
            c = hit.chunk
            sentences = sentences_of(c.content, c.start_char)
            for k, s in enumerate(sentences):
                gap = c.content[sentences[k - 1].end - c.start_char:s.start - c.start_char] if k else None
                ends, opens = k == len(sentences) - 1, k == 0 and c.chunk_index == 0
                key = (s.start, s.end)
                if key not in found:
                    found[key] = (s, hit, gap, ends, opens)
                else:
                    old = found[key]
                    found[key] = (s, old[1], old[2] if old[2] is not None else gap, old[3] and ends, old[4] or opens)
        doc = docs[d]
        doc.chunks.update((h.chunk.chunk_index, h.chunk) for h in doc_hits)
        last_end = -1
        for (start, end), (s, hit, gap, ends, opens) in sorted(found.items()):
            if start < last_end:
                continue  # a hard-cut sentence seen differently by two chunks: keep the first reading
            cov = matcher.coverage(doc.title + "\n" + s.text)  # under its title: see below
            prior = hit.score / top if top > 0 else 0.0
            if doc.units and gap is not None and doc.units[-1].sentence.end + len(gap) != start:
                gap = None
            doc.units.append(_Unit(s, hit.chunk.chunk_index, sentence_score(cov, max(0.0, min(1.0, prior))),
                                   count_tokens(s.text), gap, ends, opens))
            last_end = end
    return [d for d in docs.values() if d.units]


# Measured on CMRC trial (1,000 questions, hybrid) and the English miro questions (docs/quality.md, "Evidence-first
# context"): one priority order over all sentences beat filling in phases (each document's best sentence first,
# then context): CMRC at 100/400 tokens 0.60/0.69 -> 0.66/0.95. Decay 0.3-0.7, neighbour share 0.5-0.95 and floor
# 0.05-1.0 move no budget by more than 0.015.
# A sentence is scored with its document's title before it, as the reader sees it under the
# citation that names the document: a concept the title holds (the question's subject, in every sentence of its
# article or none) no longer ranks the sentences that repeat the name above the one that answers ("长谷川町子从师于
# 哪位漫画家？": "…后从师于漫画家田河水泡。"). CMRC trial, 1,000 q, hybrid, at 60/100/200/400/800 tokens: 0.341/
# 0.666/0.846/0.953/0.992 -> 0.417/0.752/0.920/0.974/0.992 (baseline 0.252/0.410/0.671/0.960/0.980). Half the title's
# credit: 0.387/0.710/0.893/0.961/0.993. Showing first the best passage (when it fits in 0.5 or 0.75 of the budget)
# or the best chunk (0.75, 1.0) whole, instead: at most +0.009 at 400 tokens, -0.004 at 200; with the title, the
# best chunk whole at 1.0 lowered 400 to 0.959.
# A sentence that does not fit whole is shown as its best clauses (app/agent/evidence.best_window) between gap marks
# instead of being skipped: the answer of a CMRC question is usually one clause of a sentence longer than 100
# tokens. 0.417/0.752/0.920/0.974/0.992 -> 0.627/0.819/0.926/0.975/0.992.
# No decay by document rank (it halved a sentence's priority per better-ranked document): the passage prior
# (app/agent/evidence.PASSAGE_WEIGHT) already carries the ranking, and the decay spent a 400-token budget on the first
# document's second-best sentences before the second document's answer. Decay 0.5/0.8/0.9/1.0 (none), neighbour
# share 0.9: CMRC 400 tokens 0.975/0.981/0.981/0.983, 800 0.992/0.993/0.993/0.996; English over miro (76 q, BM25,
# the relevant document cited) 200/400/800: 0.776/0.789/0.842 at 0.8 -> 0.855/0.882/0.908 with none (top-10 chunks
# cut: 0.776/0.803/0.829); zh-Hant 300 q: within 0.003 of each other. Neighbour share 0.8/0.85/0.9 at decay 0.8:
# CMRC 400 0.978/0.981/0.981.
NEIGHBOUR = 0.9  # the sentences around a chosen one, at this share of its priority
FLOOR = 0.05  # the priority of a sentence holding no concept: context, not evidence


def _priority(unit: _Unit) -> float:
    return unit.score + FLOOR


def assemble_evidence(hits: list[Hit], more: Callable[[], list[Hit]], concepts: Sequence[Concept],
                      max_tokens: int, cite: Cite = by_title) -> AssembledContext:
    """The passages when they all fit whole (today's output); else sentences by priority (their evidence score,
    with their passage's fused score as a prior), the ones around a chosen sentence next, while they fit; a sentence that
    does not fit whole is shown as its best clauses if they fit, else skipped, never cut at a character count.
    If the very best sentence does not fit, its citation alone names the best document.
    ``more``: gives further chunks of the hits' documents to read sentences from (called only if needed);
    ``concepts``: what the question asks about (app/ranking/confidence.py); ``cite``: citations by file and place."""
    whole = assemble(hits, max_tokens, cite)
    if len(whole.parts) == len(merge_passages(hits)) and not any(p.cut for p in whole.parts):
        return whole
    matcher = Matcher(concepts)
    docs = _pool(hits, more(), matcher, cite)
    for d in docs:
        for u in d.units:
            if u.chunk_index not in d.header_tokens:
                d.header_tokens[u.chunk_index] = count_tokens(d.citation(u.chunk_index)) + 1
    shown: list[int] = []  # documents in the order their first sentence was added
    used = 0
    heap = [(-_priority(u), n, i) for n, d in enumerate(docs) for i, u in enumerate(d.units)]
    heapq.heapify(heap)
    smallest = min((u.tokens for d in docs for u in d.units), default=0)
    first = True
    while heap and max_tokens - used > smallest:  # else not even the shortest sentence fits any more
        p, n, i = heapq.heappop(heap)
        doc = docs[n]
        if i in doc.chosen:
            continue
        before = doc.cost()
        joint = count_tokens(SEPARATOR) if not before and shown else 0
        doc.chosen.add(i)
        extra = doc.cost() - before + joint
        if used + extra > max_tokens:
            doc.chosen.discard(i)
            if not doc.narrow(i, matcher, max_tokens - used - joint):
                if first:  # not even its best clauses fit: the citation still names the best document
                    doc.cited = doc.units[i].chunk_index
                    if doc.cost() <= max_tokens:
                        used, shown = doc.cost(), [n]
                    else:
                        doc.cited = None
                first = False
                continue
            extra = doc.cost() - before + joint
        first = False
        used += extra
        if not before and n not in shown:
            shown.append(n)
        for j in (i + 1, i - 1):
            if 0 <= j < len(doc.units) and j not in doc.chosen:
                heapq.heappush(heap, (p * NEIGHBOUR, n, j))
    while True:
        rendered = [docs[n].render() for n in shown if docs[n].chosen or docs[n].cited is not None]
        text = SEPARATOR.join(r[0] for r in rendered)
        tokens = count_tokens(text)
        if tokens <= max_tokens or not rendered:
            return AssembledContext(text, tokens, [r[1] for r in rendered])
        with_text = [n for n in shown if docs[n].chosen]
        if not with_text:
            return AssembledContext("", 0, [])
        last = docs[with_text[-1]]  # the estimate was short: drop the last sentence
        last.chosen.discard(max(last.chosen))
