"""DOCX: paragraphs under their headings and tables, in document order; one part per section (a heading
starts one), long sections cut into parts of about ``PART_CHARS`` characters of whole paragraphs.

Headings are paragraphs in Word's built-in heading styles ("Heading 1".."Heading 9", "Title", and the
localised "标题 1".. names Chinese Word gives them) or with an outline level; tables become `` | ``-joined
rows, one paragraph per row, so a long table is cut between rows.
"""
from __future__ import annotations

import re
from pathlib import Path

from indexing.extract.common import check_zip, group_paragraphs, table_row
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

_HEADING_STYLE = re.compile(r"^(?:heading|标题)\s*([1-9])$", re.IGNORECASE)


class DocxExtractor:
    format = "docx"
    suffixes = (".docx",)
    capabilities = Capabilities(places="part", headings=True, tables=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        from docx import Document

        check_zip(path)
        document = Document(str(path))
        sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
        path_: list[tuple[int, str]] = []
        title = ""
        for item in document.iter_inner_content():
            if hasattr(item, "rows"):  # a table
                rows = [table_row(_cell_text(cell) for cell in _unique_cells(row)) for row in item.rows]
                sections[-1][1].extend(r for r in rows if r)
                continue
            text = " ".join(item.text.split())
            if not text:
                continue
            level = _heading_level(item)
            if level is None:
                sections[-1][1].append(text)
                continue
            title = title or text
            path_ = [(lvl, t) for lvl, t in path_ if lvl < level] + [(level, text)]
            sections.append((tuple(t for _, t in path_), [text]))
        blocks: list[Block] = []
        for heading, paragraphs in sections:
            for text in group_paragraphs(paragraphs):
                blocks.append(Block(text, Place("part", len(blocks) + 1), heading))
        if not blocks:
            return Extracted(format=self.format, status="skipped", reason="no text in the document")
        core_title = (document.core_properties.title or "").strip()
        return Extracted(format=self.format, status="indexed", blocks=tuple(blocks), pages=len(blocks),
                         title=core_title or title)


def _heading_level(paragraph) -> int | None:
    style = paragraph.style
    for _ in range(4):  # a custom style based on a heading style is a heading (common in Chinese templates)
        if style is None:
            break
        name = (style.name or "").strip()
        if name.lower() == "title":
            return 0
        match = _HEADING_STYLE.match(name)
        if match:
            return int(match.group(1))
        style = style.base_style
    outline = paragraph._p.xpath("./w:pPr/w:outlineLvl/@w:val")
    return int(outline[0]) + 1 if outline and outline[0].isdigit() and int(outline[0]) < 9 else None


def _unique_cells(row):
    """A row's cells, merged cells once (python-docx repeats a cell that spans columns)."""
    seen = set()
    for cell in row.cells:
        if id(cell._tc) not in seen:
            seen.add(id(cell._tc))
            yield cell


def _cell_text(cell) -> str:
    return " ".join(cell.text.split())
