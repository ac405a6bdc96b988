"""DOCX: paragraphs under their heading paths, tables in document order, parts; ZIP bombs and corrupt files
fail with one line in the worker."""
from __future__ import annotations

import zipfile
from pathlib import Path

from docx import Document
from docx.enum.style import WD_STYLE_TYPE

from indexing.extract.docx import DocxExtractor
from indexing.extract.protocol import Limits, Place
from indexing.extract.sandbox import extract_file
from tests.extract_files import task_file


def test_headings_paths_and_tables_in_document_order(tmp_path: Path):
    doc = Document()
    doc.add_paragraph("数据说明的前言。")
    doc.add_heading("数据集", level=1)
    doc.add_paragraph("这是雅虎财经的日线数据。")
    doc.add_heading("字段", level=2)
    table = doc.add_table(rows=2, cols=2)
    for r, row in enumerate([("列", "含义"), ("Open", "开盘价")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    doc.add_paragraph("表后的说明。")
    custom = doc.styles.add_style("报告一级标题", WD_STYLE_TYPE.PARAGRAPH)
    custom.base_style = doc.styles["Heading 1"]
    doc.add_paragraph("用途", style=custom)
    doc.add_paragraph("预测与趋势分析。")
    path = tmp_path / "about.docx"
    doc.save(path)

    got = DocxExtractor().extract(path, Limits())
    assert got.title == "数据集"
    assert [(b.place, b.heading, b.text) for b in got.blocks] == [
        (Place("part", 1), (), "数据说明的前言。"),
        (Place("part", 2), ("数据集",), "数据集\n\n这是雅虎财经的日线数据。"),
        (Place("part", 3), ("数据集", "字段"), "字段\n\n列 | 含义\n\nOpen | 开盘价\n\n表后的说明。"),
        (Place("part", 4), ("用途",), "用途\n\n预测与趋势分析。"),
    ]


def test_a_zip_bomb_named_docx_fails_before_parsing(tmp_path: Path):
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as member:
            for _ in range(64):
                member.write(b"\0" * (1 << 20))  # 64 MiB of zeros packs to ~64 KiB
    got = extract_file(path)
    assert got.status == "failed" and got.format == "docx"
    assert got.reason.startswith("ZipBomb: ZIP bomb? word/document.xml unpacks")


def test_a_corrupt_docx_fails_with_one_line(tmp_path: Path):
    path = tmp_path / "corrupt.docx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 16)
    got = extract_file(path)
    assert got.status == "failed" and got.reason.startswith("BadZipFile:") and "\n" not in got.reason


def test_the_real_dataset_description():
    got = DocxExtractor().extract(task_file("010/About_Dataset.docx"), Limits())
    assert got.status == "indexed"
    text = "\n".join(b.text for b in got.blocks)
    assert "Open: The opening price of the asset on the given date." in text
