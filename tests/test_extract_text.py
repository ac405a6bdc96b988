"""TXT and Markdown: encoding detection, parts of whole paragraphs, heading paths from Markdown headings."""
from __future__ import annotations

from pathlib import Path

from indexing.extract.common import PART_CHARS
from indexing.extract.protocol import Limits, Place
from indexing.extract.sandbox import run_extraction
from indexing.extract.text import MarkdownExtractor, TextExtractor
from tests.extract_files import task_file

ZH = "惩罚最小二乘估计在高维回归中常用。它在系数上加一个惩罚项，使估计稳定。"


def test_gbk_and_gb18030_text_decodes_to_the_same_chinese(tmp_path: Path):
    """Chinese text files are often GBK; the reader must not hand mojibake to the index."""
    for encoding in ("gbk", "gb18030", "utf-8", "utf-8-sig", "utf-16"):
        path = tmp_path / f"{encoding}.txt"
        path.write_bytes(ZH.encode(encoding))
        got = TextExtractor().extract(path, Limits())
        assert got.status == "indexed", encoding
        assert got.blocks[0].text == ZH, encoding


def test_binary_bytes_named_txt_are_skipped_with_a_reason(tmp_path: Path):
    path = tmp_path / "photo.txt"
    path.write_bytes(bytes(range(256)) * 64)
    got = run_extraction(path, Limits())
    assert got.status == "skipped" and "binary" in got.reason and not got.blocks


def test_long_text_is_cut_into_numbered_parts_of_whole_paragraphs(tmp_path: Path):
    paragraphs = [f"第{i}段。" + ZH * 3 for i in range(200)]
    path = tmp_path / "long.txt"
    path.write_text("\n\n".join(paragraphs), encoding="utf-8")
    got = TextExtractor().extract(path, Limits())
    assert [b.place for b in got.blocks] == [Place("part", n) for n in range(1, len(got.blocks) + 1)]
    assert len(got.blocks) > 1 and got.pages == len(got.blocks)
    assert all(len(b.text) <= PART_CHARS for b in got.blocks)
    # whole paragraphs, none lost or split
    assert [p for b in got.blocks for p in b.text.split("\n\n")] == paragraphs


def test_markdown_headings_give_heading_paths_and_start_parts(tmp_path: Path):
    path = tmp_path / "notes.md"
    path.write_text(
        "前言一段。\n\n# 方法\n\n总述。\n\n## 惩罚回归\n\n岭回归。\n\n```\n# not a heading\n```\n\n"
        "## 交叉验证\n\nK 折。\n\n# 结果\n\n见表。\n",
        encoding="utf-8",
    )
    got = MarkdownExtractor().extract(path, Limits())
    assert got.title == "方法"
    assert [(b.heading, b.text.split("\n\n")[0]) for b in got.blocks] == [
        ((), "前言一段。"),
        (("方法",), "方法"),
        (("方法", "惩罚回归"), "惩罚回归"),
        (("方法", "交叉验证"), "交叉验证"),
        (("结果",), "结果"),
    ]
    assert "# not a heading" in got.blocks[2].text  # fenced code is text, not structure


def test_the_real_task_readme():
    got = MarkdownExtractor().extract(task_file("009/readme.md"), Limits())
    assert got.status == "indexed"
    assert "- **File Name:**Student Stress Factors.csv" in got.blocks[0].text  # escapes read: no backslashes left


def test_a_text_without_blank_lines_is_still_cut_into_parts(tmp_path: Path):
    """Chinese TXT files often end paragraphs with a single newline; one line may also run for pages."""
    lines = [f"第{i}行。" + ZH * 2 for i in range(300)]
    path = tmp_path / "novel.txt"
    path.write_text("\n".join(lines) + "\n" + ZH * 200, encoding="utf-8")
    got = TextExtractor().extract(path, Limits())
    assert len(got.blocks) > 10 and all(len(b.text) <= PART_CHARS for b in got.blocks)
    assert "".join(b.text.replace("\n", "") for b in got.blocks) == "".join(lines) + ZH * 200
    assert all(b.text.endswith("。") for b in got.blocks)  # cut at line and sentence ends


def test_setext_headings_and_escapes(tmp_path: Path):
    path = tmp_path / "setext.md"
    path.write_text("数据说明\n========\n\n\\*注意\\*：共 53 行。\n\n字段\n----\n\n见下表。\n\n---\n\n分隔线之后。\n",
                    encoding="utf-8")
    got = MarkdownExtractor().extract(path, Limits())
    assert [(b.heading, b.text) for b in got.blocks] == [
        (("数据说明",), "数据说明\n\n*注意*：共 53 行。"),
        (("数据说明", "字段"), "字段\n\n见下表。\n\n---\n\n分隔线之后。"),  # --- after a blank line: a rule
    ]
