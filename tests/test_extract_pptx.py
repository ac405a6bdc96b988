"""PPTX: one block per slide with its title as heading, shapes in reading order, tables and speaker notes."""
from __future__ import annotations

from pathlib import Path

from pptx import Presentation
from pptx.util import Inches

from indexing.extract.pptx import PptxExtractor
from indexing.extract.protocol import Limits, Place
from tests.extract_files import task_file


def test_title_text_table_and_notes_per_slide(tmp_path: Path):
    deck = Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
    slide.shapes.title.text = "避风港原则"
    # added lower box first: reading order is by position, not by drawing order
    slide.shapes.add_textbox(Inches(1), Inches(4), Inches(6), Inches(1)).text_frame.text = "第二段：通知与移除。"
    slide.shapes.add_textbox(Inches(1), Inches(2), Inches(6), Inches(1)).text_frame.text = "第一段：起源于美国。"
    table = slide.shapes.add_table(2, 2, Inches(1), Inches(5), Inches(6), Inches(1)).table
    for r, row in enumerate([("法规", "年份"), ("DMCA", "1998")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    slide.notes_slide.notes_text_frame.text = "讲到这里停一下。"
    deck.slides.add_slide(deck.slide_layouts[6])  # blank: no block, still counted
    path = tmp_path / "deck.pptx"
    deck.save(path)

    got = PptxExtractor().extract(path, Limits())
    assert got.status == "indexed" and got.pages == 2 and got.title == "避风港原则"
    (block,) = got.blocks
    assert block.place == Place("slide", 1) and block.heading == ("避风港原则",)
    assert block.text == "避风港原则\n第一段：起源于美国。\n第二段：通知与移除。\n法规 | 年份\nDMCA | 1998\nNotes: 讲到这里停一下。"


def test_the_real_23_slide_deck():
    got = PptxExtractor().extract(task_file("002/006law.pptx"), Limits())
    assert got.status == "indexed" and got.pages == 23
    slide5 = next(b for b in got.blocks if b.place == Place("slide", 5))
    assert slide5.heading == ("起源与发展历程",)
    assert "中国于2006年7月实施《信息网络传播权保护条例》" in slide5.text  # text inside grouped shapes
    agenda = next(b for b in got.blocks if b.place == Place("slide", 2))
    items = ["原则概述", "法律体系", "司法实践", "适用限制", "国际趋势"]  # set alternately above and below a line
    assert [agenda.text.index(item) for item in items] == sorted(agenda.text.index(item) for item in items)
    slide4 = next(b for b in got.blocks if b.place == Place("slide", 4)).text
    # a number badge, level with the first line of its text box, comes before it
    assert "\n1\n避风港原则指网络服务提供者" in slide4
