"""What a document extractor declares and returns: blocks of text, each with its place in the file.

One module per format implements ``Extractor`` (``pdf.py``, ``pptx.py``, ``docx.py``, ``sheets.py``,
``html.py``, ``text.py``); ``factory.py`` maps a file to its extractor by suffix, and ``sandbox.py``
runs an extraction in a bounded worker process, so one hostile file costs a "failed" status, never the
caller. The indexer (``indexing/folder.py``) turns blocks into chunks; a chunk never spans two blocks,
so every chunk has one place to cite.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

PlaceKind = Literal["page", "slide", "sheet", "part"]
Status = Literal["indexed", "skipped", "failed"]


@dataclass(frozen=True)
class Place:
    """Where a block sits: ``page 12``, ``slide 5``, ``sheet Sheet1, rows 2-41`` or ``part 3`` (1-based)."""

    kind: PlaceKind
    number: int  # page, slide or part number; for a sheet, its 1-based position in the workbook
    sheet: str | None = None
    first_row: int | None = None  # spreadsheet rows as the file numbers them (header row included)
    last_row: int | None = None

    def label(self) -> str:
        if self.kind == "sheet":
            rows = f", rows {self.first_row}-{self.last_row}" if self.first_row is not None else ""
            return f"sheet {self.sheet}{rows}"
        return f"{self.kind} {self.number}"


@dataclass(frozen=True)
class Block:
    """A run of text from one place, with the heading path (section titles) it sits under."""

    text: str
    place: Place
    heading: tuple[str, ...] = ()


@dataclass(frozen=True)
class Limits:
    """Bounds on one file's extraction; past them the file is failed or cut, and says so."""

    max_bytes: int = 256 << 20
    max_pages: int = 2_000  # PDF pages / slides read; the rest are reported as left out
    max_chars: int = 20_000_000  # characters kept per file (same bound as a JSON document)
    max_rows: int = 20_000  # spreadsheet rows read per sheet
    max_columns: int = 60  # spreadsheet columns shown per row group
    seconds: float = 120.0  # wall time per file in the worker
    memory_bytes: int = 2 << 30  # address space of the worker


@dataclass(frozen=True)
class Extracted:
    """One file's result. ``status`` is never an exception: failures carry their reason in one line."""

    format: str  # "pdf", "docx", "pptx", "xlsx", "csv", "html", "md", "txt"
    status: Status
    blocks: tuple[Block, ...] = ()
    reason: str = ""  # why skipped or failed, or what was left out of an indexed file
    pages: int | None = None  # pages, slides or sheets in the file
    title: str = ""  # the document's own title where it has one (PDF metadata, first heading)
    warnings: tuple[str, ...] = field(default=())

    @property
    def chars(self) -> int:
        return sum(len(b.text) for b in self.blocks)


@dataclass(frozen=True)
class Capabilities:
    """What a format's extractor provides, declared rather than probed."""

    places: PlaceKind
    headings: bool = False
    tables: bool = False
    encoding_detection: bool = False


class Extractor(Protocol):
    format: str
    suffixes: tuple[str, ...]
    capabilities: Capabilities

    def extract(self, path: Path, limits: Limits) -> Extracted:
        """Read ``path``; may raise on a bad file (the sandbox turns that into ``failed`` with the reason)."""
        ...
