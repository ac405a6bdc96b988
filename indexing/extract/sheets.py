"""XLSX and CSV: per sheet, a table card, then row groups whose every row carries its column names.

- **Table card** (place: the sheet, all its rows): the columns, the row count, and per column its type
  (number, date, text, yes/no) with the range of numbers and dates or the commonest texts, so "which
  years does the data cover" or "what columns are there" finds one block.
- **Row groups** (place: ``sheet S, rows a-b``, the file's own row numbers, header row = 1 in a sheet
  that starts at the top): one line per row, ``row 7: Date: 2023-04-28; Open: 33797.43; ...``. The
  column names are on every line, not in a header the chunker might cut away from the values.
- **Bounds.** At most ``Limits.max_rows`` data rows per sheet are read and ``Limits.max_columns`` columns
  shown (``shown_columns``: label columns, then evenly spread); the card and ``Extracted.reason`` say what
  was left out.
- **CSV** bytes are decoded like text files (``decode_text``: UTF-8, GB18030/GBK, charset-normalizer), the
  delimiter sniffed from the first lines; the sheet is named after the file.

openpyxl (MIT) in read-only mode streams rows, so a 1M-row workbook costs the rows read, not the file.
"""
from __future__ import annotations

import csv
import io
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time as dtime
from pathlib import Path

from indexing.extract.common import check_zip, decode_text
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

GROUP_CHARS = 1_500  # a row group: whole rows up to about this many characters (a few chunks)
GROUP_ROWS = 40
TEXT_EXAMPLES = 3
TIME_SHARE = 0.7  # as in pdf.py: stop reading rows at this share of the file's time budget
# Cells held per sheet: a 16,384-column sheet stops after ~120 rows instead of holding 20,000 rows of it
# (about 2 GiB of Python objects, the worker's memory limit); the 008 CSVs (289 x 1,147) hold 331k.
MAX_CELLS = 2_000_000


@dataclass
class Column:
    name: str
    numbers: int = 0
    dates: int = 0
    texts: Counter = field(default_factory=Counter)
    bools: int = 0
    low: float | datetime | None = None
    high: float | datetime | None = None

    def add(self, value: object) -> None:
        if value is None or value == "":
            return
        if isinstance(value, bool):
            self.bools += 1
            return
        if isinstance(value, (int, float, datetime, date)):
            if isinstance(value, (datetime, date)):
                self.dates += 1
                value = value if isinstance(value, datetime) else datetime(value.year, value.month, value.day)
            else:
                self.numbers += 1
            if self.low is None or _lt(value, self.low):
                self.low = value
            if self.high is None or _lt(self.high, value):
                self.high = value
            return
        if len(self.texts) < 10_000 or value in self.texts:
            self.texts[str(value)] += 1

    def describe(self) -> str:
        count = self.numbers + self.dates + sum(self.texts.values()) + self.bools
        if not count:
            return f"{self.name}: empty"
        kinds = {"number": self.numbers, "date": self.dates, "text": sum(self.texts.values()), "yes/no": self.bools}
        kind = max(kinds, key=kinds.get)
        parts = [f"{self.name}: {kind}", f"{count:,} values"]
        if kind in ("number", "date") and self.low is not None:
            parts.append(f"range {cell_text(self.low)} to {cell_text(self.high)}")
        elif kind == "text":
            common = ", ".join(f'"{t}"' for t, _ in self.texts.most_common(TEXT_EXAMPLES))
            parts.append(f"{len(self.texts):,}{'+' if len(self.texts) >= 10_000 else ''} distinct, e.g. {common}")
        return "; ".join(parts)


def _lt(a, b) -> bool:
    try:
        return a < b
    except TypeError:  # a date and a number in one column: keep the first kind's range
        return False


def cell_text(value: object) -> str:
    """A cell as text: integral floats without ``.0``, midnight datetimes as dates, whitespace folded."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == dtime() else value.isoformat(sep=" ")
    if isinstance(value, (date, dtime)):
        return value.isoformat()
    return " ".join(str(value).split())


def _csv_value(text: str) -> object:
    """A CSV field as a number where it is one (``3``, ``-0.5``, ``1e3``), else the text."""
    stripped = text.strip()
    if stripped and stripped[0] in "+-.0123456789":
        try:
            return float(stripped)
        except ValueError:
            pass
    return text


@dataclass
class Sheet:
    """One sheet as read: where it sits, its header and the rows read, and how much there was."""

    name: str
    number: int
    header_row: int
    header: list[str]
    rows: list[tuple[int, list[object]]]  # (file row number, values)
    total_rows: int | None  # data rows in the sheet (None: unknown, more than were read)
    total_columns: int
    stopped: str = ""  # why reading stopped early


class XlsxExtractor:
    format = "xlsx"
    suffixes = (".xlsx", ".xlsm")
    capabilities = Capabilities(places="sheet", tables=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        from openpyxl import load_workbook

        check_zip(path)
        started = time.monotonic()
        book = load_workbook(str(path), read_only=True, data_only=True)
        try:
            sheets = []
            for number, ws in enumerate(book.worksheets, 1):
                declared = ws.max_row if isinstance(ws.max_row, int) else None
                rows = ((i, list(values)) for i, values in enumerate(ws.iter_rows(values_only=True), 1))
                sheets.append(_read(ws.title, number, rows, declared, limits, started))
        finally:
            book.close()
        return _extracted(self.format, sheets, limits)


class CsvExtractor:
    format = "csv"
    suffixes = (".csv", ".tsv")
    capabilities = Capabilities(places="sheet", tables=True, encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        started = time.monotonic()
        text, _ = decode_text(path.read_bytes())  # binary bytes: NotText, skipped by the sandbox
        if path.suffix.lower() == ".tsv":
            dialect: type[csv.Dialect] | csv.Dialect = csv.excel_tab
        else:
            try:
                dialect = csv.Sniffer().sniff(text[:20_000], delimiters=",;\t|")
            except csv.Error:
                dialect = csv.excel
        lines = text.count("\n") + (not text.endswith("\n"))
        reader = csv.reader(io.StringIO(text, newline=""), dialect)
        rows = ((i, [_csv_value(v) for v in values]) for i, values in enumerate(reader, 1))
        return _extracted(self.format, [_read(path.stem, 1, rows, lines, limits, started)], limits)


def _read(name: str, number: int, rows: Iterator[tuple[int, list[object]]], declared_rows: int | None,
          limits: Limits, started: float) -> Sheet:
    """The header (first non-empty row) and up to ``limits.max_rows`` data rows of one sheet."""
    header_row, header = 0, []
    for i, values in rows:
        if any(cell_text(v) for v in values):
            header_row, header = i, [cell_text(v) for v in values]
            break
    while header and not header[-1]:
        header.pop()
    data: list[tuple[int, list[object]]] = []
    width = len(header)
    stopped = ""
    cells = 0
    for i, values in rows:
        if not any(v not in (None, "") for v in values):
            continue
        if len(data) >= limits.max_rows:
            stopped = f"row limit {limits.max_rows:,}"
            break
        cells += len(values)
        if cells > MAX_CELLS:
            stopped = f"cell limit {MAX_CELLS:,}"
            break
        if time.monotonic() - started > limits.seconds * TIME_SHARE:
            stopped = f"time limit {limits.seconds:g} s"
            break
        data.append((i, values))
        width = max(width, max((k + 1 for k, v in enumerate(values) if v not in (None, "")), default=0))
    header += [f"column {k + 1}" for k in range(len(header), width)]
    header = [h or f"column {k + 1}" for k, h in enumerate(header)]
    if stopped:
        total = max(declared_rows - header_row, len(data)) if declared_rows else None
    else:
        total = len(data)
    return Sheet(name, number, header_row, header, data, total, width, stopped)


def shown_columns(sheet: Sheet, limit: int) -> list[int]:
    """Which columns row groups show: all, or for a wide table the leading label columns (text, such as a
    country or a name: at most a quarter of the limit) and then columns evenly spaced over the rest, the
    last one included, so a wide time series keeps its whole span (first, ..., latest date)."""
    if sheet.total_columns <= limit:
        return list(range(sheet.total_columns))
    labels: list[int] = []
    for k in range(min(sheet.total_columns, limit // 4)):
        values = [v for _, row in sheet.rows[:200] if k < len(row) and (v := row[k]) not in (None, "")]
        if values and sum(isinstance(v, str) for v in values) * 2 < len(values):
            break
        labels.append(k)
    rest = list(range(len(labels), sheet.total_columns))
    room = limit - len(labels)
    step = (len(rest) - 1) / max(room - 1, 1)
    picked = sorted({rest[round(i * step)] for i in range(room)})
    return labels + picked


def _card(sheet: Sheet, shown: list[int]) -> str:
    columns = [Column(sheet.header[k]) for k in shown]
    for _, values in sheet.rows:
        for column, k in zip(columns, shown):
            if k < len(values):
                column.add(values[k])
    if sheet.total_rows is None:
        count = f"{len(sheet.rows):,}+ data rows"
    else:
        count = f"{sheet.total_rows:,} data rows"
    first = sheet.rows[0][0] if sheet.rows else sheet.header_row
    last = sheet.rows[-1][0] if sheet.rows else sheet.header_row
    names = ", ".join(sheet.header[k] for k in shown)
    lines = [
        f"Table {sheet.name}: {sheet.total_columns:,} columns, {count} (header row {sheet.header_row}, "
        f"data rows {first}-{last}{' read' if sheet.stopped else ''})",
        f"Columns: {names}" if len(shown) == sheet.total_columns else
        f"Columns ({len(shown)} of {sheet.total_columns:,} shown, spread from {sheet.header[shown[0]]} to "
        f"{sheet.header[-1]}): {names}",
    ]
    if sheet.stopped:
        lines.append(f"Column figures cover the {len(sheet.rows):,} rows read ({sheet.stopped}).")
    lines += [column.describe() for column in columns]
    return "\n".join(lines)


def _row_line(number: int, header: list[str], values: list[object], shown: list[int]) -> str:
    pairs = [f"{header[k]}: {text}" for k in shown if k < len(values) and (text := cell_text(values[k]))]
    return f"row {number}: " + "; ".join(pairs)


def _groups(lines: Iterable[tuple[int, str]]) -> Iterator[tuple[int, int, str]]:
    run: list[tuple[int, str]] = []
    size = 0
    for number, line in lines:
        if run and (size + len(line) > GROUP_CHARS or len(run) >= GROUP_ROWS):
            yield run[0][0], run[-1][0], "\n".join(t for _, t in run)
            run, size = [], 0
        run.append((number, line))
        size += len(line) + 1
    if run:
        yield run[0][0], run[-1][0], "\n".join(t for _, t in run)


def _extracted(fmt: str, sheets: list[Sheet], limits: Limits) -> Extracted:
    blocks: list[Block] = []
    notes: list[str] = []
    for sheet in sheets:
        if not sheet.header:
            continue
        shown = shown_columns(sheet, limits.max_columns)
        last = sheet.rows[-1][0] if sheet.rows else sheet.header_row
        blocks.append(Block(_card(sheet, shown), Place("sheet", sheet.number, sheet.name, sheet.header_row, last),
                            (sheet.name,)))
        lines = ((n, _row_line(n, sheet.header, values, shown)) for n, values in sheet.rows)
        for first, end, text in _groups(lines):
            blocks.append(Block(text, Place("sheet", sheet.number, sheet.name, first, end), (sheet.name,)))
        if sheet.total_columns > len(shown):
            notes.append(f"sheet {sheet.name}: {len(shown)} of {sheet.total_columns:,} columns shown in rows "
                         f"(column limit {limits.max_columns})")
        if sheet.stopped:
            more = f"of {sheet.total_rows:,} " if sheet.total_rows else ""
            notes.append(f"sheet {sheet.name}: read {len(sheet.rows):,} {more}data rows ({sheet.stopped})")
    if not blocks:
        return Extracted(format=fmt, status="skipped", pages=len(sheets), reason="no cells with values")
    return Extracted(format=fmt, status="indexed", blocks=tuple(blocks), pages=len(sheets), reason="; ".join(notes))
