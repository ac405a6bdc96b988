"""PDF: page text in reading order, running heads gone, layout line breaks joined, outline headings; and the
bad PDFs (encrypted, scanned, corrupt, empty, very long) as one status line each.

Generated PDFs are drawn with reportlab (STSong-Light, a CID font every PDF reader knows, for Chinese);
the real ones are Debian's (tests/fixtures/extract/get_debian_pdfs.sh).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from indexing.extract.pdf import PdfExtractor
from indexing.extract.protocol import Limits, Place
from indexing.extract.sandbox import ExtractionPool, run_extraction
from tests.extract_files import debian_pdf

SONG = "STSong-Light"
SIZE = 12


@pytest.fixture(scope="module", autouse=True)
def _cjk_font():
    pdfmetrics.registerFont(UnicodeCIDFont(SONG))


def _lines(text: str, per_line: int) -> list[str]:
    return [text[i:i + per_line] for i in range(0, len(text), per_line)]


def _extract(path: Path):
    return PdfExtractor().extract(path, Limits())


def test_two_columns_drawn_line_by_line_across_are_read_column_by_column(tmp_path: Path):
    """The drawing order interleaves the columns (left line 1, right line 1, ...); the reading order must not."""
    left = "".join(f"左栏第{i}句话讲的是甲方的事情。" for i in range(12))
    right = "".join(f"右栏第{i}句话讲的是乙方的事情。" for i in range(12))
    path = tmp_path / "two-column.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(SONG, 18)
    c.drawCentredString(297, 790, "一篇双栏论文的标题")
    c.setFont(SONG, SIZE)
    for i, (a, b) in enumerate(zip(_lines(left, 18), _lines(right, 18))):
        y = 740 - i * 16
        c.drawString(50, y, a)
        c.drawString(320, y, b)
    c.showPage()
    c.save()
    got = _extract(path)
    assert got.blocks[0].text == "\n".join(["一篇双栏论文的标题", left, right])


def test_a_table_of_short_cells_keeps_its_rows(tmp_path: Path):
    """Short cells left and right of the middle are a table, not two columns: rows stay rows."""
    path = tmp_path / "table.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(SONG, SIZE)
    rows = [(f"第{i}项", f"{i * 3}元") for i in range(1, 13)]
    for i, (name, price) in enumerate(rows):
        c.drawString(72, 700 - i * 16, name)
        c.drawString(400, 700 - i * 16, price)
    c.showPage()
    c.save()
    assert _extract(path).blocks[0].text.split("\n") == [f"{a} {b}" for a, b in rows]


def test_a_chinese_word_split_by_a_line_break_is_one_word_again(tmp_path: Path):
    # justified lines of one width, as a typesetter sets them
    lines = ["岭回归和套索都属于带约束的回归方法，它们也叫惩罚", "最小二乘估计，它在系数上加上一个惩罚项使估计更稳", "定。"]
    path = tmp_path / "zh.pdf"
    c = canvas.Canvas(str(path))
    c.setFont(SONG, SIZE)
    for i, line in enumerate(lines):
        c.drawString(72, 700 - i * 18, line)
    c.showPage()
    c.save()
    assert _extract(path).blocks[0].text == "".join(lines)  # 惩罚最小二乘, 稳定: no newline, no space


def test_english_lines_join_with_a_space_and_hyphenation_is_undone(tmp_path: Path):
    lines = ["The fitted values of a linear mixed model are the re-", "sult of two steps in turn."]
    path = tmp_path / "en.pdf"
    c = canvas.Canvas(str(path))
    c.setFont("Helvetica", SIZE)
    for i, line in enumerate(lines):
        c.drawString(72, 700 - i * 15, line)
    c.drawString(72, 640, "A second paragraph starts after a blank line.")
    c.showPage()
    c.save()
    assert _extract(path).blocks[0].text == (
        "The fitted values of a linear mixed model are the result of two steps in turn.\n"
        "A second paragraph starts after a blank line."
    )


def test_running_heads_and_page_numbers_are_dropped_and_the_outline_gives_heading_paths(tmp_path: Path):
    path = tmp_path / "paper.pdf"
    c = canvas.Canvas(str(path))
    sections = [("引言", 0), ("方法", 0), ("惩罚回归", 1), ("结果", 0)]
    for page, (title, level) in enumerate(sections, 1):
        c.setFont(SONG, 9)
        c.drawString(72, 800, "统计学报 第 12 卷" if page % 2 else f"{page} 张三：高维回归")
        c.drawCentredString(297, 40, str(page))
        c.setFont(SONG, SIZE)
        c.drawString(72, 700, f"第{page}页的正文。")
        c.bookmarkPage(f"p{page}")
        c.addOutlineEntry(title, f"p{page}", level=level)
        c.showPage()
    c.save()
    got = _extract(path)
    assert [b.text for b in got.blocks] == [f"第{n}页的正文。" for n in range(1, 5)]
    assert [b.place for b in got.blocks] == [Place("page", n) for n in range(1, 5)]
    assert [b.heading for b in got.blocks] == [("引言",), ("方法",), ("方法", "惩罚回归"), ("结果",)]


def test_without_an_outline_headings_come_from_type_sizes_and_numbering(tmp_path: Path):
    """Chinese papers rarely carry bookmarks: the title and section headings stand out by their size."""
    body = "惩罚最小二乘估计在高维回归中常用，它在系数上加一个惩罚项使估计更稳定。"[:30]
    pages = [
        [("高维回归中的惩罚方法", 18), ("摘要", 13), (body, 10), ("1 引言", 13)] + [(body, 10)] * 6,
        [(body, 10), ("2 方法", 13), (body, 10), ("2.1 岭回归", 12)] + [(body, 10)] * 6,
        [(body, 10)] * 6,
    ]
    path = tmp_path / "paper.pdf"
    c = canvas.Canvas(str(path))
    for rows in pages:
        y = 760
        for text, size in rows:
            c.setFont(SONG, size)
            c.drawString(72, y, text)
            y -= size * 2.2
        c.showPage()
    c.save()
    got = _extract(path)
    assert got.title == "高维回归中的惩罚方法"
    # each page under the section that holds most of its text
    assert [b.heading for b in got.blocks] == [("1 引言",), ("2 方法", "2.1 岭回归"), ("2 方法", "2.1 岭回归")]


def test_encrypted_scanned_and_partly_scanned_pdfs(tmp_path: Path):
    encrypted = tmp_path / "secret.pdf"
    c = canvas.Canvas(str(encrypted), encrypt=StandardEncryption("user-pw", "owner-pw"))
    c.drawString(72, 700, "hidden text")
    c.showPage()
    c.save()
    scanned = tmp_path / "scanned.pdf"
    c = canvas.Canvas(str(scanned))
    for _ in range(2):
        c.rect(72, 400, 300, 300, fill=1)  # a picture of a page: no text layer
        c.showPage()
    c.save()
    partly = tmp_path / "partly.pdf"
    c = canvas.Canvas(str(partly))
    c.drawString(72, 700, "Typed page.")
    c.showPage()
    c.rect(72, 400, 300, 300, fill=1)
    c.showPage()
    c.save()

    assert (_extract(encrypted).status, _extract(encrypted).reason) == ("skipped", "encrypted (needs a password)")
    got = _extract(scanned)
    assert (got.status, got.reason, got.pages) == ("skipped", "no text layer (scanned?) in 2 pages", 2)
    got = _extract(partly)
    assert got.status == "indexed" and [b.place.number for b in got.blocks] == [1]
    assert got.warnings == ("1 pages without text (images?): 2",)


def test_corrupt_and_empty_pdfs_fail_with_one_line(tmp_path: Path):
    corrupt = tmp_path / "corrupt.pdf"
    corrupt.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + bytes(range(256)) * 8)
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    got = run_extraction(corrupt, Limits())
    assert got.status == "failed" and got.reason.startswith("ValueError: not a readable PDF")
    assert "\n" not in got.reason
    assert (run_extraction(empty, Limits()).status, run_extraction(empty, Limits()).reason) == (
        "failed", "empty file (0 bytes)")


def test_a_2000_page_pdf_is_read_in_the_worker_and_bounded_by_max_pages(tmp_path: Path):
    path = tmp_path / "long.pdf"
    c = canvas.Canvas(str(path))
    for page in range(1, 2001):
        c.drawString(72, 700, f"Body of page {page} (of a very long report).")
        c.showPage()
    c.save()
    with ExtractionPool() as pool:
        whole = pool.extract(path)
        cut = pool.extract(path, Limits(max_pages=100))
    assert whole.status == "indexed" and whole.pages == 2000 and len(whole.blocks) == 2000
    assert whole.blocks[-1].text == "Body of page 2000 (of a very long report)."
    assert cut.status == "indexed" and len(cut.blocks) == 100
    assert cut.reason == "read 100 of 2,000 pages (page limit)"
    # with too little time for all pages, the pages read so far are indexed and the rest named
    hurried = PdfExtractor().extract(path, Limits(seconds=0.5))
    assert hurried.status == "indexed" and 0 < len(hurried.blocks) < 2000
    assert hurried.reason == f"read {len(hurried.blocks):,} of 2,000 pages in the time limit (0.5 s)"


# Real PDFs (Debian's packages)


def test_lshort_chinese_manual_pages_headings_and_no_running_heads():
    got = _extract(debian_pdf("lshort-zh-cn.pdf"))
    assert got.status == "indexed" and got.pages == 139
    assert got.title == "The Short Introduction to LaTeX2e (Chinese Simplified)"
    page = {b.place.number: b for b in got.blocks}
    assert page[21].heading == ("第一章 LaTeX 的基本概念", "1.7 LaTeX 和 TeX 相关的术语和概念")
    # the running head "§1.7 LATEX 和 TEX 相关的术语和概念 9" is gone; the table and the text stay
    assert page[21].text.startswith("表 1.2: TEX 引擎、格式及其对应的编译命令。\n")
    assert "lualatex 底层调用的引擎是 LuaTEX，这个引擎在 pdfTEX 引擎基础上发展而来，除了支持" in page[21].text


def test_ctex_faq_chinese_words_broken_across_lines_are_whole():
    """pdftotext gives 数百种计\\n算机系统 here; the page text has the word whole."""
    page6 = _extract(debian_pdf("ctex-faq.pdf")).blocks[5]
    assert page6.place == Place("page", 6)
    assert "目前已经在数百种计算机系统上得到实现" in page6.text
    assert "使用 TEX 系统向它的期刊投稿" in page6.text


def test_zoo_english_paper_has_no_running_heads_and_headings_without_an_outline():
    got = _extract(debian_pdf("zoo.pdf"))
    assert got.status == "indexed" and got.pages == 30
    page = {b.place.number: b for b in got.blocks}
    assert page[9].heading == ('2. The class "zoo" and its methods', "2.3. Plotting")  # zoo.pdf has no outline
    texts = [b.text for b in got.blocks]
    assert not any("Achim Zeileis, Gabor Grothendieck" in t.split("\n")[0] for t in texts[1:])
    assert texts[2].startswith("length as x for vectors or the same number of rows for matrices.")
