"""PDF: one block per page, its text in reading order, running heads and page numbers dropped, layout line
breaks joined, the heading path from the document outline (bookmarks), or, for a PDF without one, from its
typography (``inferred_heads``: larger or bold numbered lines; zoo.pdf's 2.1-3.4 sections are found so).

Text and character boxes come from PDFium (pypdfium2: Apache-2.0/BSD; PyMuPDF would be AGPL), chosen by
measurement on Debian's Chinese and English PDFs (``scripts/bench_extract.py``, docs/performance.md): right
CJK text where pdftotext without poppler-data drops the Adobe-GB1 fonts of ctex-faq.pdf, at the same order
of pages per second. On top of PDFium's lines this module adds:

- **Segments.** A line is cut where two characters lie more than ``GAP_EMS`` character heights apart, so
  a two-column page whose columns share baselines still gives one segment per column.
- **Columns.** A page is two-column when a vertical strip near the middle is crossed by at most
  ``MAX_CROSSING`` of its segments and at least ``MIN_COLUMN_LINES`` lines of text (median width at least
  ``MIN_COLUMN_WIDTH`` of the page) lie on each side; it is then read in bands (a full-width line closes a
  band), each band left column first. Tables and code beside its output stay in PDFium's order.
- **Running heads.** Lines in the top or bottom ``MARGIN`` of a page are dropped when they are a page
  number, when their text (digits masked) repeats on ``MIN_REPEATS`` pages (2 in a document of under 6),
  or when they carry a number that follows the page index as often (a running head with its page number).
- **Paragraphs.** Lines join into one paragraph (``join_lines``: CJK without a space, hyphenation undone)
  unless the previous line ends short of the column's right edge, the next one is indented, a gap of
  more than ``PARA_GAP`` line heights separates them, or either is a row of separate cells (a table).
"""
from __future__ import annotations

import ctypes
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from statistics import median

from indexing.extract.common import join_lines
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

GAP_EMS = 1.2
MIN_EM = 4.0  # points
MAX_CROSSING = 0.12
MIN_COLUMN_LINES = 5
MIN_COLUMN_WIDTH = 0.25  # of the page width: the median line of each column, at least
MARGIN = 0.15
MIN_REPEATS = 3
PARA_GAP = 1.0
HEAD_CHARS = 80  # a heading inferred from typography (PDFs without an outline): at most this long
HEAD_SIZE = 1.12  # and set this much larger than the body text (or bold and numbered)
# Stop reading pages at this share of the file's time budget, so a very long PDF is indexed in part
# ("read 1,400 of 2,000 pages in the time limit") rather than failed by the worker's timeout.
TIME_SHARE = 0.7

_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
                            "\ufffe": "-", "\x02": "-", "\u00ad": "-"})
_HYPHEN_MARKS = "\ufffe\x02"  # PDFium's mark for a hyphen that ended a line (it joins the two lines)
_TOKEN = re.compile(r"\r\n|[\r\n]|[^\S\r\n]+|[^\s\ufffe\x02]*[\ufffe\x02]|[^\s\ufffe\x02]+")
_LEADER = re.compile(r"\s*(?:[.·．]\s*){4,}")  # dot leaders of a table of contents or an index
_PAGE_NUMBER = re.compile(
    r"^[-–—\s]*(?:第\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})(?:\s*页)?(?:\s*(?:/|of|共)\s*\d{1,4}\s*页?)?[-–—\s]*$"
    r"|^(?:page|p\.)\s*\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$",
    re.IGNORECASE,
)
_EDGE_NUMBER = re.compile(r"^\s*(\d{1,4})\s+\S|\S\s+(\d{1,4})\s*$")


@dataclass
class Line:
    """A run of text on one baseline, with its box in PDF points (y grows upwards)."""

    text: str
    left: float = 0.0
    right: float = 0.0
    bottom: float = 0.0
    top: float = 0.0
    cells: int = 1  # segments merged into this row: more than one is a table row or a tabbed line
    size: float = 0.0  # font size of its first character, and 700 when that font is bold (else 400):
    weight: int = 0  # headings stand out by them

    @property
    def height(self) -> float:
        return self.top - self.bottom


class PdfExtractor:
    format = "pdf"
    suffixes = (".pdf",)
    capabilities = Capabilities(places="page", headings=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        import pypdfium2 as pdfium

        started = time.monotonic()
        try:
            pdf = pdfium.PdfDocument(str(path))
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                return Extracted(format=self.format, status="skipped", reason="encrypted (needs a password)")
            raise ValueError(f"not a readable PDF ({exc})") from None
        try:
            total = len(pdf)
            heads = _outline_heads(pdf, total)
            title = " ".join((pdf.get_metadata_dict().get("Title") or "").split())
            title = "" if _JUNK_TITLE.match(title) else title
            pages: list[tuple[list[Line], float, float]] = []
            unreadable: list[str] = []
            note = ""
            for index in range(min(total, limits.max_pages)):
                if index and time.monotonic() - started > limits.seconds * TIME_SHARE:
                    note = f"read {index:,} of {total:,} pages in the time limit ({limits.seconds:g} s)"
                    break
                try:
                    pages.append(_read_page(pdf, index))
                except pdfium.PdfiumError as exc:  # one broken page loses that page, not the file
                    unreadable.append(f"page {index + 1}: {exc}")
                    pages.append(([], 0.0, 0.0))
            if not note and total > limits.max_pages:
                note = f"read {limits.max_pages:,} of {total:,} pages (page limit)"
        finally:
            pdf.close()
        if total == 0:
            raise ValueError("a PDF without pages")
        paragraphs = page_paragraphs(pages)
        texts = ["\n".join(p.text for p in page) for page in paragraphs]
        if not heads:
            heads, inferred_title = inferred_heads(paragraphs)
            title = title or inferred_title
        blocks = tuple(Block(text=text, place=Place("page", number), heading=heads.get(number, ()))
                       for number, text in enumerate(texts, 1) if text)
        if not blocks:
            return Extracted(format=self.format, status="skipped", pages=total,
                             reason=f"no text layer (scanned?) in {len(pages)} pages", title=title)
        empty = [str(n) for n, text in enumerate(texts, 1) if not text]
        warnings = tuple(unreadable[:20])
        if empty:
            warnings += (f"{len(empty)} pages without text (images?): {', '.join(empty[:20])}",)
        return Extracted(format=self.format, status="indexed", blocks=blocks, pages=total, title=title,
                         reason=note, warnings=warnings)


def _read_page(pdf, index: int) -> tuple[list[Line], float, float]:
    page = pdf[index]
    try:
        width, height = page.get_size()
        textpage = page.get_textpage()
        try:
            return page_lines(textpage), width, height
        finally:
            textpage.close()
    finally:
        page.close()


def page_lines(textpage) -> list[Line]:
    """The page's segments in PDFium's order: lines, cut at wide horizontal gaps and at baseline jumps.

    Boxes are asked for the first and last character of each word only (PDFium puts a space wherever
    characters stand apart, so gutters and cell gaps fall between words): a third of the calls on
    English, a few per line on Chinese, where a call per character would cost half the extraction time.
    """
    import pypdfium2.raw as pdfium_c

    text = textpage.get_text_range()
    if len(text) != textpage.count_chars():  # no per-character boxes to match: keep PDFium's lines
        return [Line(t.translate(_LIGATURES)) for t in text.splitlines() if t.strip()]
    lines: list[Line] = []
    font: list[float] = []  # size and weight of the current segment's first character
    name, flags = ctypes.create_string_buffer(256), ctypes.c_int()
    words: list[str] = []
    box: list[float] = []  # left, right, bottom, top of the current segment
    last_right = 0.0
    em = MIN_EM  # the tallest character of the current PDFium line: dots and commas make no gaps
    space = False

    def flush() -> None:
        segment = _LEADER.sub(" ", "".join(words)).strip()
        if segment:
            lines.append(Line(segment.translate(_LIGATURES), *box, size=font[0], weight=int(font[1])))
        words.clear()
        box.clear()

    for match in _TOKEN.finditer(text):
        token, first = match.group(), match.start()
        if token[0] in "\r\n":
            flush()
            em, space = MIN_EM, False
            continue
        if token.isspace():
            space = bool(words)
            continue
        last = match.end() - 1 - (token[-1] in _HYPHEN_MARKS and len(token) > 1)
        l1, b1, r1, t1 = textpage.get_charbox(first)
        l2, b2, r2, t2 = textpage.get_charbox(last) if last != first else (l1, b1, r1, t1)
        em = max(em, t1 - b1, t2 - b2)
        # a new segment: the word lies wholly above or below the segment (the next line, where PDFium
        # joined a hyphenated word), far to its right (a column gutter, a table cell) or back at its left
        if box and (t1 < box[2] or b1 > box[3] or l1 - last_right > GAP_EMS * em or l1 < box[0] - em):
            flush()
        elif space:
            words.append(" ")
        space = False
        left, right, bottom, top = min(l1, l2), max(r1, r2), min(b1, b2), max(t1, t2)
        if box:
            box[0], box[1] = min(box[0], left), max(box[1], right)
            box[2], box[3] = min(box[2], bottom), max(box[3], top)
        else:
            box.extend((left, right, bottom, top))
            pdfium_c.FPDFText_GetFontInfo(textpage.raw, first, name, len(name), ctypes.byref(flags))
            font[:] = (pdfium_c.FPDFText_GetFontSize(textpage.raw, first),
                       700 if _BOLD_FONT.search(name.value.decode("latin-1")) else 400)
        words.append(token)
        last_right = r2
    flush()
    return lines


@dataclass
class Paragraph:
    text: str
    rows: list[Line]


def page_paragraphs(pages: list[tuple[list[Line], float, float]]) -> list[list[Paragraph]]:
    """Each page's paragraphs: running heads dropped, read in column order, lines joined."""
    drop = _running_heads([_margin_rows(lines, height) for lines, _, height in pages])
    return [_paragraphs(_reading_order([line for line in lines if id(line) not in drop], width))
            for lines, width, _ in pages]


def _margin_rows(lines: list[Line], height: float) -> list[list[Line]]:
    """The page's top-most and bottom-most two rows of segments (a running head and its page number are
    one row), where they lie in the margin bands; without boxes, the first and last line."""
    if not lines:
        return []
    if not height or not any(line.top for line in lines):
        return [[lines[0]], [lines[-1]]] if len(lines) > 1 else [lines]
    rows = _rows(sorted(lines, key=lambda line: -line.top))
    top = [row for row in rows[:2] if row[0].bottom > height * (1 - MARGIN)]
    bottom = [row for row in rows[-2:] if row[0].top < height * MARGIN and row not in top]
    return top + bottom


def _rows(lines: list[Line]) -> list[list[Line]]:
    """Consecutive segments that share a baseline band, grouped; each row left to right."""
    rows: list[list[Line]] = []
    for line in lines:
        if rows and _same_row(rows[-1][-1], line):
            rows[-1].append(line)
        else:
            rows.append([line])
    return [sorted(row, key=lambda line: line.left) for row in rows]


def _same_row(a: Line, b: Line) -> bool:
    overlap = min(a.top, b.top) - max(a.bottom, b.bottom)
    return a.right > a.left and b.right > b.left and overlap > 0.5 * min(a.height, b.height)


def _row_text(row: list[Line]) -> str:
    return " ".join(line.text for line in row)


def _mask(text: str) -> str:
    """Digits, and roman page numbers at either end, masked; spaces removed."""
    text = re.sub(r"^[ivxlc]+\s|\s[ivxlc]+$", "#", text.strip())
    return re.sub(r"\d+", "#", re.sub(r"\s+", "", text))


def _edge_number(text: str) -> int | None:
    match = _EDGE_NUMBER.search(text)
    return int(match.group(1) or match.group(2)) if match else None


def _running_heads(margins: list[list[list[Line]]]) -> set[int]:
    """ids of the segments of margin rows that are running heads or page numbers (module docstring)."""
    texts: Counter[str] = Counter()
    offsets: Counter[int] = Counter()
    for index, rows in enumerate(margins):
        texts.update({_mask(_row_text(row)) for row in rows})
        offsets.update({n - index for row in rows if (n := _edge_number(_row_text(row))) is not None})
    repeats = MIN_REPEATS if len(margins) >= 2 * MIN_REPEATS else 2  # a short paper: twice is a pattern
    drop = set()
    for index, rows in enumerate(margins):
        for row in rows:
            text = _row_text(row)
            number = _edge_number(text)
            if _PAGE_NUMBER.match(text) or texts[_mask(text)] >= repeats \
                    or (number is not None and offsets[number - index] >= repeats):
                drop.update(id(line) for line in row)
    return drop


def _reading_order(lines: list[Line], width: float) -> list[list[Line]]:
    """Flows of lines to read one after the other: the whole page, or bands and columns of a two-column page."""
    gutter = _gutter(lines, width)
    if gutter is None:
        return [lines]
    flows: list[list[Line]] = []
    band_left: list[Line] = []
    band_right: list[Line] = []

    def close_band() -> None:
        for column in (band_left, band_right):
            if column:
                flows.append(sorted(column, key=lambda line: -line.top))
        band_left.clear()
        band_right.clear()

    for line in sorted(lines, key=lambda line: -line.top):
        if line.right <= gutter:
            band_left.append(line)
        elif line.left >= gutter:
            band_right.append(line)
        else:
            close_band()
            flows.append([line])
    close_band()
    return flows


def _gutter(lines: list[Line], width: float) -> float | None:
    """The x of a column gutter near the page middle, or None for a single-column page."""
    boxed = [line for line in lines if line.right > line.left]
    if len(boxed) < 2 * MIN_COLUMN_LINES or not width:
        return None
    lo, hi = width * 0.3, width * 0.7
    if sum(1 for line in boxed if line.left < lo and line.right > hi) > MAX_CROSSING * len(boxed):
        return None  # full-width lines cross every candidate gutter: one column (most pages stop here)
    best: tuple[int, float, float] | None = None
    for step in range(int(lo), int(hi), 2):
        x = float(step)
        crossing = sum(1 for line in boxed if line.left < x < line.right)
        key = (crossing, abs(x - width / 2), x)
        if best is None or key < best:
            best = key
    assert best is not None
    crossing, _, x = best
    left = [line for line in boxed if line.right <= x]
    right = [line for line in boxed if line.left >= x]
    if crossing > MAX_CROSSING * len(boxed) or len(left) < MIN_COLUMN_LINES or len(right) < MIN_COLUMN_LINES:
        return None
    if min(median(line.right - line.left for line in side) for side in (left, right)) < MIN_COLUMN_WIDTH * width:
        return None  # narrow pieces on either side: a table, code beside its output, a list of numbers
    overlap = min(max(line.top for line in left), max(line.top for line in right)) \
        - max(min(line.bottom for line in left), min(line.bottom for line in right))
    return x if overlap > 0 else None


def _paragraphs(flows: list[list[Line]]) -> list[Paragraph]:
    out: list[Paragraph] = []
    for flow in flows:
        flow = [_merged(row) for row in _rows(flow)]
        boxed = [line for line in flow if line.right > line.left]
        if not boxed:
            out.extend(Paragraph(line.text, [line]) for line in flow)
            continue
        col_left = min(line.left for line in boxed)
        col_right = max(line.right for line in boxed)
        em = median(line.height for line in boxed) or 1.0
        run: list[Line] = []
        for at, line in enumerate(flow):
            after = flow[at + 1] if at + 1 < len(flow) else None
            if run and _breaks(run[-1], line, after, col_left, col_right, em):
                out.append(Paragraph(join_lines([r.text for r in run]), run))
                run = []
            run.append(line)
        if run:
            out.append(Paragraph(join_lines([r.text for r in run]), run))
    return [p for p in out if p.text]


def _merged(row: list[Line]) -> Line:
    if len(row) == 1:
        return row[0]
    return Line(_row_text(row), min(line.left for line in row), max(line.right for line in row),
                min(line.bottom for line in row), max(line.top for line in row), len(row), row[0].size, row[0].weight)


def _breaks(prev: Line, line: Line, after: Line | None, col_left: float, col_right: float, em: float) -> bool:
    """Whether ``line`` starts a new paragraph after ``prev`` (same flow; ``after`` is the line after it)."""
    if prev.right <= prev.left or line.right <= line.left:
        return False  # no boxes: PDFium's own line breaks, joined
    if prev.cells > 1 or line.cells > 1:
        return True  # table rows stay rows
    if line.top > prev.bottom + em:  # back up the page: a new column or block
        return True
    if prev.bottom - line.top > PARA_GAP * em:
        return True
    if prev.right < col_right - 2 * em:
        return True
    indented = line.left > col_left + 0.8 * em and prev.left <= col_left + 0.8 * em
    # a first-line indent, not a hanging one (where the lines after stay indented too)
    return indented and not (after is not None and abs(after.left - line.left) < 0.5 * em)


_NUMBERED = re.compile(
    r"^(?:(?P<dots>\d{1,2}(?:\.\d{1,2}){0,3})\.?\s*(?=[^\d\s.])|(?P<zh>[一二三四五六七八九十]{1,3})[、.．]"
    r"|(?P<zh2>[（(][一二三四五六七八九十]{1,3}[)）])|第[一二三四五六七八九十百\d]+(?P<unit>[章节篇部])"
    r"|(?P<named>abstract|introduction|conclusions?|references|acknowledge?ments|appendix"
    r"|摘\s*要|引\s*言|前\s*言|结\s*论|结\s*语|参考文献|致\s*谢|附\s*录)\b)",
    re.IGNORECASE,
)
# PDFium's font weights are unreliable on Type 1 fonts (LMRoman10-Regular reports 744); the name is not
_BOLD_FONT = re.compile(r"bold|black|heavy|demi|[-,]bd|hei|黑", re.IGNORECASE)
# metadata titles that name a tool or a file rather than the document
_JUNK_TITLE = re.compile(r"^(?:untitled.*|microsoft (?:word|powerpoint) - .*|.*\.(?:docx?|pptx?|pdf|tex|dvi|indd))$",
                         re.IGNORECASE)
_CAPTION = re.compile(r"^(?:figure|fig\.|table|图|表)\s*[\d０-９]", re.IGNORECASE)
_LETTER = re.compile(r"[A-Za-z\u3400-\u9fff]")


def inferred_heads(pages: list[list[Paragraph]]) -> tuple[dict[int, tuple[str, ...]], str]:
    """Heading paths for a PDF without an outline, from its typography, and the title of its first page.

    A heading is a one- or two-line paragraph of at most ``HEAD_CHARS`` characters, not a sentence nor
    a caption, set ``HEAD_SIZE`` times larger than the body text, or in bold at body size when it is
    numbered (``2.1``, ``三、``, ``（二）``, ``第三章``) or a named part (Abstract, 摘要, 参考文献...). Its
    level is its numbering depth, else the rank of its size. The largest heading on page 1, alone at its
    size, is the document's title, not a section. A page's path is the section holding most of its text.
    """
    body_size, body_weight = _body_font(pages)
    if body_size <= 0:
        return {}, ""
    found = [[(at, para, _heading_depth(para, body_size, body_weight)) for at, para in enumerate(page)]
             for page in pages]
    heads_at = {(n, at): (para, depth) for n, page in enumerate(found) for at, para, depth in page
                if depth is not None}
    if not heads_at or len(heads_at) > 3 * len(pages) + 10:
        return {}, ""  # no typography to go by, or headings everywhere: not headings
    sizes = sorted({round(para.rows[0].size) for para, _ in heads_at.values()}, reverse=True)
    title = ""
    first = [(key, para) for key, (para, _) in heads_at.items() if key[0] == 0]
    if first:
        key, para = max(first, key=lambda kp: kp[1].rows[0].size)
        alone = sum(1 for p, _ in heads_at.values() if round(p.rows[0].size) == round(para.rows[0].size)) == 1
        if alone and round(para.rows[0].size) == sizes[0]:
            title = para.text
            del heads_at[key]
    out: dict[int, tuple[str, ...]] = {}
    path: list[tuple[int, str]] = []
    for n, page in enumerate(pages):
        held: dict[tuple[str, ...], int] = {}
        current = tuple(t for _, t in path)
        for at, para in enumerate(page):
            if (n, at) in heads_at:
                head, depth = heads_at[(n, at)]
                level = depth if depth else sizes.index(round(head.rows[0].size)) + 1
                path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, head.text)]
                current = tuple(t for _, t in path)
            held[current] = held.get(current, 0) + len(para.text)
        best = max(held.items(), key=lambda item: item[1])[0] if held else current
        if best:
            out[n + 1] = best
    return out, title


def _body_font(pages: list[list[Paragraph]]) -> tuple[float, int]:
    """The size and weight that most characters are set in."""
    sizes: Counter[float] = Counter()
    weights: Counter[int] = Counter()
    for page in pages:
        for para in page:
            for row in para.rows:
                sizes[round(row.size * 2) / 2] += len(row.text)
    if not sizes:
        return 0.0, 0
    body = sizes.most_common(1)[0][0]
    for page in pages:
        for para in page:
            for row in para.rows:
                if round(row.size * 2) / 2 == body:
                    weights[row.weight] += len(row.text)
    return body, weights.most_common(1)[0][0]


def _heading_depth(para: Paragraph, body_size: float, body_weight: int) -> int | None:
    """None when ``para`` is not a heading; else its numbering depth (0: unnumbered, level by size)."""
    text = para.text.strip()
    if len(para.rows) > 2 or not 2 <= len(text) <= HEAD_CHARS or not _LETTER.search(text):
        return None
    if text[-1] in "。．，,;；:：、" or _CAPTION.match(text) or (text[-1] == "." and len(text.split()) > 6):
        return None
    size = min(row.size for row in para.rows)
    numbered = _NUMBERED.match(text)
    larger = size >= body_size * HEAD_SIZE
    bold = para.rows[0].weight >= body_weight + 150 and size >= body_size * 0.95
    if not (larger or (bold and numbered)):
        return None
    if numbered is None:
        return 0
    if numbered.group("named"):
        return 1
    if numbered.group("dots"):
        return numbered.group("dots").count(".") + 1
    if numbered.group("zh"):
        return 1
    if numbered.group("zh2"):
        return 2
    return 1 if numbered.group("unit") in "章篇部" else 2


def _outline_heads(pdf, total: int) -> dict[int, tuple[str, ...]]:
    """Page number -> heading path from the PDF outline (bookmarks): the entries in force on that page."""
    entries: list[tuple[int, int, str]] = []
    try:
        for item in pdf.get_toc(max_depth=6):
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = " ".join((item.get_title() or "").split())
            if index is not None and 0 <= index < total and title:
                entries.append((index + 1, item.level, title))
    except Exception:  # noqa: BLE001 - a broken outline loses headings, never the text
        return {}
    entries.sort(key=lambda e: e[0])
    heads: dict[int, tuple[str, ...]] = {}
    path: list[tuple[int, str]] = []
    at = 0
    for page in range(1, total + 1):
        while at < len(entries) and entries[at][0] <= page:
            _, level, title = entries[at]
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            at += 1
        if path:
            heads[page] = tuple(t for _, t in path)
    return heads
