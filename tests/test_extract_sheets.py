"""XLSX and CSV: a table card first, then row groups whose every row keeps its column names; wide and long
tables stay bounded and say so; CSV encodings (GBK is common in Chinese data) are detected."""
from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

from indexing.extract.protocol import Limits, Place
from indexing.extract.sandbox import extract_file
from indexing.extract.sheets import CsvExtractor, XlsxExtractor
from tests.extract_files import task_file


def test_card_then_row_groups_with_file_row_numbers(tmp_path: Path):
    book = Workbook()
    sheet = book.active
    sheet.title = "行情"
    sheet.append(["日期", "收盘", "板块"])
    for day in range(1, 101):
        sheet.append([datetime(2023, 4, day % 28 + 1), 3000 + day, "科技" if day % 3 else "金融"])
    path = tmp_path / "prices.xlsx"
    book.save(path)

    got = XlsxExtractor().extract(path, Limits())
    card, *groups = got.blocks
    assert card.place == Place("sheet", 1, "行情", 1, 101) and card.heading == ("行情",)
    assert card.text.split("\n") == [
        "Table 行情: 3 columns, 100 data rows (header row 1, data rows 2-101)",
        "Columns: 日期, 收盘, 板块",
        "日期: date; 100 values; range 2023-04-01 to 2023-04-28",
        "收盘: number; 100 values; range 3001 to 3100",
        '板块: text; 100 values; 2 distinct, e.g. "科技", "金融"',
    ]
    assert groups[0].text.split("\n")[0] == "row 2: 日期: 2023-04-02; 收盘: 3001; 板块: 科技"
    # consecutive row ranges covering every data row, each row line naming its columns
    assert [(g.place.first_row, g.place.last_row) for g in groups][0][0] == 2
    assert all(a.place.last_row + 1 == b.place.first_row for a, b in zip(groups, groups[1:]))
    assert groups[-1].place.last_row == 101
    assert sum(len(g.text.split("\n")) for g in groups) == 100


def test_gbk_csv_is_decoded(tmp_path: Path):
    path = tmp_path / "学生.csv"
    path.write_bytes("姓名,城市,分数\n张三,北京,90\n李四,上海,85\n".encode("gbk"))
    got = CsvExtractor().extract(path, Limits())
    assert got.blocks[1].text == "row 2: 姓名: 张三; 城市: 北京; 分数: 90\nrow 3: 姓名: 李四; 城市: 上海; 分数: 85"
    assert got.blocks[1].place.label() == "sheet 学生, rows 2-3"


def test_a_wide_table_shows_label_columns_and_a_spread_of_the_rest(tmp_path: Path):
    days = [f"day{d}" for d in range(1, 1001)]
    path = tmp_path / "wide.csv"
    path.write_text("Country," + ",".join(days) + "\n" + "".join(
        f"{country}," + ",".join(str(i * d) for d in range(1, 1001)) + "\n"
        for i, country in enumerate(["China", "France", "Chile"], 1)), encoding="utf-8")
    got = CsvExtractor().extract(path, Limits(max_columns=11))
    assert got.reason == "sheet wide: 11 of 1,001 columns shown in rows (column limit 11)"
    first = got.blocks[1].text.split("\n")[0]
    assert first.startswith("row 2: Country: China; day1: 1; day112: 112;") and first.endswith("; day1000: 1000")
    assert len(first.split("; ")) == 11


def _raw_xlsx(path: Path, rows: int) -> None:
    """A workbook written as raw XML, as a big export would be: one sheet, ``rows`` data rows."""
    sheet = ['<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><dimension ref="A1:B{rows + 1}"/><sheetData>'
             '<row r="1"><c r="A1" t="inlineStr"><is><t>id</t></is></c>'
             '<c r="B1" t="inlineStr"><is><t>value</t></is></c></row>']
    sheet += [f'<row r="{r}"><c r="A{r}"><v>{r - 1}</v></c><c r="B{r}"><v>{(r * 7) % 1000}</v></c></row>'
              for r in range(2, rows + 2)]
    sheet.append("</sheetData></worksheet>")
    main = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxml'
                   'formats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>'
                   '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                   'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" '
                   'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                   '</Types>')
        z.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   f'package/2006/relationships"><Relationship Id="rId1" Type="{main}/officeDocument" '
                   'Target="xl/workbook.xml"/></Relationships>')
        z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/'
                   f'spreadsheetml/2006/main" xmlns:r="{main}"><sheets><sheet name="big" sheetId="1" '
                   'r:id="rId1"/></sheets></workbook>')
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0"?><Relationships xmlns="http://schemas.'
                   f'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="{main}/worksheet" '
                   'Target="worksheets/sheet1.xml"/></Relationships>')
        z.writestr("xl/worksheets/sheet1.xml", "".join(sheet))


def test_a_million_row_workbook_is_read_up_to_the_row_limit_in_the_worker(tmp_path: Path):
    path = tmp_path / "big.xlsx"
    _raw_xlsx(path, 1_000_000)
    got = extract_file(path)
    assert got.status == "indexed"
    assert got.reason == "sheet big: read 20,000 of 1,000,000 data rows (row limit 20,000)"
    assert got.blocks[0].text.startswith("Table big: 2 columns, 1,000,000 data rows (header row 1, data rows 2-20001 read)")
    assert got.blocks[-1].place.last_row == 20_001


def test_the_real_workbook_and_csvs():
    book = XlsxExtractor().extract(task_file("010/yahoo_data.xlsx"), Limits())
    assert book.blocks[0].text.startswith("Table Sheet1: 7 columns, 1,258 data rows")
    assert "Volume: number" in book.blocks[0].text
    survey = CsvExtractor().extract(task_file("009/Student Stress Factors.csv"), Limits())
    assert survey.blocks[1].text.startswith("row 2: Kindly Rate your Sleep Quality 😴: 3;")
    wide = CsvExtractor().extract(task_file("008/time_series_covid19_confirmed_global.csv"), Limits())
    assert "60 of 1,147 columns shown" in wide.reason and "3/9/23" in wide.blocks[1].text


def test_a_million_row_csv_is_bounded_too(tmp_path: Path):
    path = tmp_path / "events.csv"
    path.write_text("id,kind\n" + "".join(f"{i},{'ab'[i % 2]}\n" for i in range(1_000_000)), encoding="utf-8")
    got = extract_file(path)
    assert got.reason == "sheet events: read 20,000 of 1,000,000 data rows (row limit 20,000)"
    assert got.blocks[-1].place.last_row == 20_001  # header row 1, then the 20,000 rows read


def test_a_very_wide_sheet_stops_at_the_cell_limit(tmp_path: Path):
    path = tmp_path / "wide.csv"
    width = 5_000
    path.write_text("\n".join(",".join(str(r * c) for c in range(width)) for r in range(1, 600)), encoding="utf-8")
    got = CsvExtractor().extract(path, Limits())
    assert got.status == "indexed"
    assert "read 400 of 598 data rows (cell limit 2,000,000)" in got.reason  # 400 x 5,000 cells
