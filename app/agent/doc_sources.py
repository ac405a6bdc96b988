"""Where a chunk of a folder (or single-document) index comes from: its file, its place, its heading.

Loaded once per served version from the ``files`` and ``blocks`` tables (indexing/layout.py,
``FOLDER_SCHEMA``). A chunk lies inside one block (the indexer never lets a chunk span two), so its place is
the block holding its first character. Also: the citation of a chunk (by file and place for a document,
``[long_context: ...]`` for a JSON document) and the blocks of a file in reading order, for ``rag_read``.
"""
from __future__ import annotations

import bisect
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from app.agent.citations import format_citation
from app.agent.doc_citations import format_doc_citation
from app.engines.protocol import ChunkRecord
from indexing import layout
from indexing.extract.protocol import Place


@dataclass(frozen=True)
class ChunkSource:
    """A chunk's origin: ``place`` is None for a JSON document (it cites by title and chunk)."""

    file: str
    format: str
    place: Place | None
    heading: tuple[str, ...] = ()


def place_of(block: layout.BlockRow) -> Place:
    return Place(block.kind, block.number, block.sheet, block.first_row, block.last_row)


class FolderMap:
    """Files, document rows and blocks of one folder index version."""

    def __init__(self, files: list[layout.FileRow], blocks: list[layout.BlockRow]):
        self.files = files
        self.file_of_doc: dict[int, layout.FileRow] = {}
        for f in files:
            for d in range(f.first_doc, f.first_doc + f.n_docs):
                self.file_of_doc[d] = f
        self.blocks: dict[int, list[layout.BlockRow]] = {}
        for b in blocks:
            self.blocks.setdefault(b.doc_index, []).append(b)
        self._starts = {d: [b.start_char for b in bs] for d, bs in self.blocks.items()}
        self.by_path = {f.path: f for f in files}

    @classmethod
    def load(cls, version_dir: Path) -> "FolderMap":
        db = sqlite3.connect(f"file:{Path(version_dir) / layout.CHUNKS_DB}?mode=ro&immutable=1", uri=True)
        try:
            return cls(layout.read_files(db), layout.read_blocks(db))
        finally:
            db.close()

    def block_of(self, doc_index: int, start_char: int) -> layout.BlockRow | None:
        starts = self._starts.get(doc_index)
        if not starts:
            return None
        return self.blocks[doc_index][max(0, bisect.bisect_right(starts, start_char) - 1)]

    def source(self, chunk: ChunkRecord) -> ChunkSource | None:
        f = self.file_of_doc.get(chunk.doc_index)
        if f is None:
            return None
        block = self.block_of(chunk.doc_index, chunk.start_char)
        if block is None:
            return ChunkSource(f.path, f.format, None)
        return ChunkSource(f.path, f.format, place_of(block), block.heading)

    def citation(self, chunk: ChunkRecord) -> str:
        src = self.source(chunk)
        if src is None or src.place is None:
            return format_citation(chunk.title, chunk.chunk_index)
        return format_doc_citation(src.file, src.place)

    def find_file(self, name: str) -> list[layout.FileRow]:
        """Files a citation names: by path relative to the folder, else by file name (``pdf.pdf`` for
        ``papers/pdf.pdf``) when that is unambiguous to the caller (all matches are returned)."""
        name = name.strip().lstrip("./")
        if name in self.by_path:
            return [self.by_path[name]]
        return [f for f in self.files if Path(f.path).name == name and f.status == "indexed"]

    def file_blocks(self, f: layout.FileRow) -> list[layout.BlockRow]:
        """The blocks of a file in reading order."""
        return [b for d in range(f.first_doc, f.first_doc + f.n_docs) for b in self.blocks.get(d, [])]


def same_place(block: Place, place: Place) -> bool:
    """Whether a block's place is the cited place; a sheet cited without rows matches all its row groups, and
    cited rows match the row groups they overlap."""
    if block.kind != place.kind:
        return False
    if place.kind != "sheet":
        return (block.number or 0) == place.number
    if (block.sheet or "").casefold() != (place.sheet or "").casefold():
        return False
    if place.first_row is None or block.first_row is None:
        return True
    return block.first_row <= (place.last_row or place.first_row) and place.first_row <= (block.last_row or 0)
