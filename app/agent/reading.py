"""Passages of documents by file and place: their ``source`` record, resolving ``[文档: ...]`` citations, and
reading on from a citation (``rag_read`` / ``POST /v1/read``).

A document's places (pages, slides, sheet row groups, parts) are read in file order from the ``blocks``
table (app/agent/doc_sources.py); a place's text is its blocks joined, exactly as extracted.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.agent.citations import claim_match
from app.agent.doc_citations import DocCitationRef, format_doc_citation
from app.agent.context import MIN_USEFUL_TOKENS, TRUNCATION_MARK
from app.agent.doc_sources import FolderMap, place_of, same_place
from app.engines.protocol import ChunkRecord
from app.errors import NotFound
from app.schemas import ReadPassage, ResolvedCitation, SourceRef
from app.agent.tokens import count_tokens, truncate_to_tokens
from indexing import layout
from indexing.extract.protocol import Place



class ReadableCorpus(Protocol):
    """What reading needs of a served index version (``app.backend.loaded.LoadedCorpus``)."""

    name: str
    manifest: layout.Manifest
    folder: FolderMap | None  # None for a JSON corpus


def source_ref(file: str, fmt: str, place: Place | None, heading: tuple[str, ...] = ()) -> SourceRef:
    p = place
    number = {p.kind: p.number} if p is not None and p.kind in ("page", "slide", "part") else {}
    rows = f"{p.first_row}-{p.last_row}" if p is not None and p.first_row is not None else None
    return SourceRef(file=file, format=fmt, sheet=p.sheet if p is not None else None, rows=rows,
                     heading=list(heading), **number)


def chunk_source(corpus: ReadableCorpus, chunk: ChunkRecord) -> SourceRef | None:
    """The ``source`` of a search or context result."""
    if corpus.folder is None:
        return SourceRef(file=Path(corpus.manifest.source_path).name, format="json")
    src = corpus.folder.source(chunk)
    return source_ref(src.file, src.format, src.place, src.heading) if src is not None else None


@dataclass(frozen=True)
class PlaceText:
    """One place of a file, in reading order: its blocks' text joined."""

    place: Place
    heading: tuple[str, ...]
    text: str


def places_of(corpus: ReadableCorpus, file: layout.FileRow) -> list[PlaceText]:
    grouped: list[tuple[Place, tuple[str, ...], list[str]]] = []
    for block in corpus.folder.file_blocks(file):
        place = place_of(block)
        if grouped and grouped[-1][0] == place:
            grouped[-1][2].append(block.text)
        else:
            grouped.append((place, block.heading, [block.text]))
    return [PlaceText(p, h, "\n\n".join(t)) for p, h, t in grouped]


@dataclass(frozen=True)
class DocTarget:
    """A document citation resolved: the file, its places, and the cited ones (all, for a whole document)."""

    file: layout.FileRow
    places: list[PlaceText]
    cited: list[int]  # positions in ``places``


def find_target(corpus: ReadableCorpus, ref: DocCitationRef) -> DocTarget | str:
    """The cited file and places, or why the citation does not resolve (one line)."""
    if corpus.folder is None:
        return (f"corpus {corpus.name!r} is a JSON corpus: cite its passages as [long_context: \"Title\", chunk N]; "
                "[文档: ...] citations name files of a folder or a document")
    files = corpus.folder.find_file(ref.file)
    if not files:
        indexed = [f.path for f in corpus.folder.files if f.status == "indexed"][:12]
        return f"no file {ref.file!r} in the indexed folder; its files: {', '.join(indexed)}"
    if len(files) > 1:
        return (f"several files are named {ref.file!r} ({', '.join(f.path for f in files)}); cite by the path "
                "relative to the folder")
    f = files[0]
    if f.status != "indexed":
        return f"{f.path} is not indexed ({f.status}: {f.reason})"
    if ref.place_text is not None:
        return (f"{ref.place_text!r} is not a place; write page N, slide N, part N or sheet NAME, rows A-B "
                f"after the file name")
    places = places_of(corpus, f)
    if not places:  # a JSON corpus in the folder: its passages cite by title and chunk
        return f"{f.path} is a JSON corpus: cite its passages as [long_context: \"Title\", chunk N]"
    if ref.place is None:
        return DocTarget(f, places, list(range(len(places))))
    cited = [i for i, p in enumerate(places) if same_place(p.place, ref.place)]
    if not cited:
        return (f"{f.path} has no {ref.place.label()} (it has {places[0].place.label()} to "
                f"{places[-1].place.label()})")
    return DocTarget(f, places, cited)


def resolve_doc(corpus: ReadableCorpus, ref: DocCitationRef,
                support_of: Callable[[str], float] | None = None) -> ResolvedCitation:
    """Resolve ``[文档: file, place]``; a quoted claim is checked on the cited place, or across the whole
    document when the citation names no place (the place holding it is then reported). Without a place, an
    unquoted claim resolves to the place ``support_of`` scores highest. The caller judges the verdict."""
    unresolved = functools.partial(ResolvedCitation, citation=ref.text, resolved=False, claim=ref.claim,
                                   verdict="failed")
    target = find_target(corpus, ref)
    if isinstance(target, str):
        return unresolved(reason=target)
    f, places = target.file, target.places
    if ref.place is not None:  # one place (or a sheet's row groups): its text as one passage
        chosen = [places[i] for i in target.cited]
        text = "\n\n".join(p.text for p in chosen)
        return ResolvedCitation(citation=ref.text, resolved=True, title=f.title, content=text, claim=ref.claim,
                                source=source_ref(f.path, f.format, ref.place, chosen[0].heading), verdict="ok")
    match, at = None, None
    if ref.claim and support_of is not None:
        at = max(places, key=lambda p: support_of(p.text), default=None)
    elif ref.claim:
        for kind in ("exact", "normalized"):
            at = next((p for p in places if claim_match(ref.claim, p.text) == kind), None)
            if at is not None:
                match = kind
                break
        match = match or "none"
    return ResolvedCitation(citation=ref.text, resolved=True, title=f.title, claim=ref.claim, claim_match=match,
                            content=at.text if at is not None else None, verdict="ok",
                            source=source_ref(f.path, f.format, at.place if at else None, at.heading if at else ()))


def read_places(target: DocTarget, before: int, after: int, max_tokens: int) -> tuple[list[ReadPassage], int, int]:
    """The cited place(s) with ``before`` places before and ``after`` after, each cited, within ``max_tokens``;
    returns (passages, index of the first place returned, index past the last)."""
    start = max(0, target.cited[0] - before)
    stop = min(len(target.places), target.cited[-1] + 1 + after)
    if len(target.cited) == len(target.places):  # a whole document: from its start, as far as fits
        start, stop = 0, len(target.places)
    passages, used, end = [], 0, start
    for p in target.places[start:stop]:
        cite = format_doc_citation(target.file.path, p.place)
        need = count_tokens(cite) + count_tokens(p.text)
        src = source_ref(target.file.path, target.file.format, p.place, p.heading)
        if used + need > max_tokens:
            room = max_tokens - used - count_tokens(cite + TRUNCATION_MARK)
            if room >= MIN_USEFUL_TOKENS or not passages:
                passages.append(ReadPassage(citation=cite, source=src, truncated=True,
                                            text=truncate_to_tokens(p.text, max(room, 0)) + TRUNCATION_MARK))
                end += 1
            break
        passages.append(ReadPassage(citation=cite, source=src, text=p.text))
        used += need
        end += 1
    return passages, start, end


def not_found(corpus: ReadableCorpus, reason: str) -> NotFound:
    return NotFound(f"{reason} (corpus {corpus.name!r})")
