"""PPTX: one block per slide: the title, the text of every shape in reading order (top to bottom, then left
to right, in rows: ``reading_order``), tables as `` | ``-joined rows, and the speaker notes. Heading = the
slide title."""
from __future__ import annotations

from pathlib import Path

from indexing.extract.common import check_zip, table_row
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

NOTES_LABEL = "Notes: "


class PptxExtractor:
    format = "pptx"
    suffixes = (".pptx",)
    capabilities = Capabilities(places="slide", headings=True, tables=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        from pptx import Presentation

        check_zip(path)
        deck = Presentation(str(path))
        slides = list(deck.slides)
        blocks = []
        for number, slide in enumerate(slides[: limits.max_pages], 1):
            title_shape = slide.shapes.title
            title = " ".join(title_shape.text_frame.text.split()) if title_shape is not None else ""
            texts = [title] if title else []
            texts += [t for t in _shape_texts(slide.shapes, skip=title_shape) if t]
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    texts.append(NOTES_LABEL + notes)
            if texts:
                blocks.append(Block("\n".join(texts), Place("slide", number), (title,) if title else ()))
        note = f"read {limits.max_pages:,} of {len(slides):,} slides (page limit)" \
            if len(slides) > limits.max_pages else ""
        first = next((b.heading[0] for b in blocks if b.heading), "")
        if not blocks:
            return Extracted(format=self.format, status="skipped", pages=len(slides), reason="no text on any slide")
        return Extracted(format=self.format, status="indexed", blocks=tuple(blocks), pages=len(slides),
                         title=first, reason=note)


def _shape_texts(shapes, skip=None):
    """Texts of ``shapes`` in reading order, descending into groups; ``skip`` is the title, already taken."""
    from pptx.shapes.group import GroupShape

    for shape in reading_order(list(shapes)):
        if skip is not None and shape.shape_id == skip.shape_id:
            continue
        if isinstance(shape, GroupShape):
            yield from _shape_texts(shape.shapes)
        elif getattr(shape, "has_table", False) and shape.has_table:
            rows = [table_row(cell.text for cell in row.cells) for row in shape.table.rows]
            yield "\n".join(r for r in rows if r)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            yield "\n".join(p for p in (" ".join(par.text.split()) for par in shape.text_frame.paragraphs) if p)


ROW_OVERLAP = 0.3


def reading_order(shapes: list) -> list:
    """Sibling shapes in rows (vertical extents overlapping by ``ROW_OVERLAP`` of the smaller), rows top to
    bottom, each row left to right. Drawing order is often not reading order, and exact tops zigzag: the
    real deck's agenda sets its numbered items alternately a little above and below a line, and a
    number badge sits level with the first line of its text box but above the rest of it."""
    rows: list[tuple[int, int, list]] = []
    for shape in sorted(shapes, key=lambda s: (s.top or 0, s.left or 0)):
        top, bottom = shape.top or 0, (shape.top or 0) + (shape.height or 0)
        if rows:
            row_top, row_bottom, members = rows[-1]
            overlap = min(bottom, row_bottom) - max(top, row_top)
            if overlap >= ROW_OVERLAP * max(min(bottom - top, row_bottom - row_top), 1):
                rows[-1] = (row_top, max(row_bottom, bottom), members + [shape])
                continue
        rows.append((top, bottom, [shape]))
    return [shape for _, _, members in rows for shape in sorted(members, key=lambda s: s.left or 0)]
