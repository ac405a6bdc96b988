"""Citations of passages from documents (PDF, slides, Word, spreadsheets...), by file and place, and parsing them.

    [文档: lmer.pdf, page 12]
    [文档: 006law.pptx, slide 5]
    [文档: yahoo_data.xlsx, sheet Sheet1, rows 2-41]
    [文档: About_Dataset.docx, part 3]       formats without pages
    [文档: pdf.pdf]                          the whole document, as agents already write it

The file is named by its path relative to the folder. Passages of JSON corpora keep
``[long_context: "<title>", chunk N]`` (app/agent/citations.py). Parsing is linear like
app/agent/citations.py: every quantifier is bounded, and the quoted claim before a
citation is found by the same bounded backward scan.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from app.agent.citations import backed_claims
from indexing.extract.protocol import Place

SHEET_UNKNOWN = 0  # a cited sheet names itself, not its position in the workbook

MAX_FILE_CHARS = 300
DOC_CITATION = re.compile(
    r"\[文档[:：][ \t]{0,8}(?P<file>[^\],，\n]{1,%d}?)"
    r"(?:[ \t]{0,8}[,，][ \t]{0,8}(?P<place>[^\]\n]{1,200}?))?[ \t]{0,8}\]" % MAX_FILE_CHARS)
_NUMBERED = re.compile(r"(?P<kind>page|p\.|slide|part)[ \t]{0,8}(?P<number>\d{1,7})", re.IGNORECASE)
_SHEET = re.compile(r"sheet[ \t]{1,8}(?P<sheet>.{1,120}?)(?:[ \t]{0,8},[ \t]{0,8}rows?[ \t]{1,8}(?P<first>\d{1,9})"
                    r"(?:[ \t]{0,4}[-–][ \t]{0,4}(?P<last>\d{1,9}))?)?", re.IGNORECASE)


@dataclass(frozen=True)
class DocCitationRef:
    text: str
    file: str
    place: Place | None  # None: the whole document
    claim: str | None  # what the citation backs: the quoted claim before it, else the sentence or clause before it
    start: int
    place_text: str | None = None  # what stood after the file name, when it is not a place (reported as such)
    quoted: bool = False  # the claim was quoted: it must be in the cited place as it is


def format_doc_citation(file: str, place: Place | None) -> str:
    return f"[文档: {file}, {place.label()}]" if place is not None else f"[文档: {file}]"


def parse_place(text: str) -> Place | None:
    text = text.strip()
    if m := _NUMBERED.fullmatch(text):
        kind = m.group("kind").lower()
        return Place("page" if kind == "p." else kind, int(m.group("number")))
    if m := _SHEET.fullmatch(text):
        first = m.group("first")
        last = m.group("last") or first
        return Place("sheet", SHEET_UNKNOWN, m.group("sheet").strip(), int(first) if first else None,
                     int(last) if last else None)
    return None


def find_doc_citations(text: str) -> list[DocCitationRef]:
    """Every document citation in ``text``, with the claim it backs (as ``app/agent/citations.py`` finds it)."""
    found = list(DOC_CITATION.finditer(text))
    refs = []
    for m, (claim, quoted) in zip(found, backed_claims(text, [(m.start(), m.end()) for m in found])):
        raw_place = m.group("place")
        place = parse_place(raw_place) if raw_place else None
        refs.append(DocCitationRef(m.group(0), m.group("file").strip(), place, claim, m.start(),
                                   raw_place if raw_place and place is None else None, quoted))
    return refs
