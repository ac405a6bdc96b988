"""Stream documents out of a user's corpus file, naming the record at fault when one is bad.

Accepted shapes: a JSON list of objects, an object ``{"documents": [...]}``, or JSONL
(one object per line; a single line is read as JSONL only from a ``.jsonl``/``.ndjson``
file, since a lone object in a ``.json`` file is far more often a mistake).
JSON is parsed incrementally (ijson), so a 100+ MB corpus is never held whole in memory.
A single document over ``MAX_DOCUMENT_CHARS`` is refused: chunking and tokenizing
a 200 MB record took 2.1 GB of memory.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Iterator

import ijson

BODY_FIELDS = ("page_body", "content", "text")
MAX_DOCUMENT_CHARS = 20_000_000  # the largest real document seen is 107k characters (a law); 20M is a book shelf
SHAPES = ('a JSON list of documents [{"title": ..., "page_body": ...}, ...], an object {"documents": [...]}, '
          "or JSONL (one document object per line, file name ending .jsonl)")
KNOWN_FIELDS = {"title", "url", *BODY_FIELDS}
_BOM = b"\xef\xbb\xbf"
# yajl re-joins a string token on every read, so a huge body costs O(size^2 / buffer): 16 MiB keeps a
# 10 MB document at ~1 s (64 KiB took minutes) and is still small beside the data.
_READ_BUFFER = 16 << 20
# Line breaks, control and zero-width characters would break a one-line citation.
_TITLE_JUNK = re.compile(r"[\x00-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]+")


class CorpusError(ValueError):
    """A corpus file that cannot be read; the message names the record and field."""

    def __init__(self, path: Path, message: str, record: int | None = None, field_name: str | None = None):
        where = f"record {record}" if record is not None else "file"
        if field_name:
            where += f", field '{field_name}'"
        super().__init__(f"{path}: {where}: {message}")
        self.record = record
        self.field = field_name


@dataclass(frozen=True)
class Document:
    index: int
    title: str
    body: str
    url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def clean_title(raw: str, index: int) -> str:
    title = " ".join(_TITLE_JUNK.sub(" ", raw).split())
    return title or f"untitled document {index}"


def to_document(record: Any, index: int, path: Path, max_document_chars: int = MAX_DOCUMENT_CHARS) -> Document:
    if not isinstance(record, dict):
        raise CorpusError(path, f"expected an object with 'title' and 'page_body', got {type(record).__name__}", index)
    for name in ("title", "url", *BODY_FIELDS):
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            raise CorpusError(path, f"must be a string or null, got {type(value).__name__}", index, name)
    if not KNOWN_FIELDS & record.keys():
        raise CorpusError(path, "has none of the fields title, page_body, content, text, url", index)
    body = next((record[name] for name in BODY_FIELDS if record.get(name)), "")
    if len(body) > max_document_chars:
        body_field = next(name for name in BODY_FIELDS if record.get(name))
        raise CorpusError(path, f"has {len(body):,} characters; documents over {max_document_chars:,} are refused: "
                                "split it into several documents", index, body_field)
    metadata = {k: v for k, v in record.items() if k not in KNOWN_FIELDS}
    return Document(index, clean_title(record.get("title") or "", index), body, record.get("url") or None, metadata)


def _detect_shape(fh: BinaryIO, path: Path) -> str:
    head = fh.read(1 << 16)
    fh.seek(0)
    start = len(_BOM) if head.startswith(_BOM) else 0
    stripped = head[start:].lstrip()
    if not stripped:
        raise CorpusError(path, "the file is empty; expected a JSON list of documents or JSONL")
    if stripped[:1] == b"[":
        return "list"
    if stripped[:1] != b"{":
        raise CorpusError(path, f"the top-level value is not a corpus; expected {SHAPES}")
    first_line, _, rest = stripped.partition(b"\n")
    try:
        first = json.loads(first_line)
    except ValueError:
        return "wrapped"  # a pretty-printed object
    if isinstance(first, dict) and "documents" in first:
        return "wrapped"
    if not rest.strip() and path.suffix.lower() not in (".jsonl", ".ndjson"):
        raise CorpusError(path, f"holds a single JSON object, which is not a corpus; expected {SHAPES}")
    return "jsonl"


def _json_records(fh: BinaryIO, prefix: str, path: Path) -> Iterator[Any]:
    count = 0
    try:
        for count, record in enumerate(ijson.items(fh, prefix, use_float=True, buf_size=_READ_BUFFER), start=1):
            yield record
    except ijson.JSONError as exc:
        detail = exc.args[0].decode("utf-8", "replace") if isinstance(exc.args[0], bytes) else str(exc)
        detail = detail.strip().splitlines()[0]
        raise CorpusError(path, f"invalid JSON ({detail}); fix or re-export the file", count) from None
    if count == 0 and prefix == "documents.item" and not _has_top_level_key(fh, "documents"):
        raise CorpusError(path, "an object corpus must hold its records in a 'documents' list")


def _has_top_level_key(fh: BinaryIO, key: str) -> bool:
    fh.seek(0)
    return any(p == "" and ev == "map_key" and v == key for p, ev, v in ijson.parse(fh))


def _jsonl_records(fh: BinaryIO, path: Path) -> Iterator[Any]:
    index = 0
    for line_no, raw in enumerate(fh, start=1):
        if line_no == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM):]
        if not raw.strip():
            continue
        try:
            yield json.loads(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise CorpusError(path, f"line {line_no} is not valid UTF-8 (byte {exc.start})", index) from None
        except ValueError as exc:
            raise CorpusError(path, f"line {line_no} is not valid JSON ({exc.msg})", index) from None
        index += 1


def iter_documents(path: Path, max_document_chars: int = MAX_DOCUMENT_CHARS) -> Iterator[Document]:
    """Yield documents in file order; document index == position in the user's file."""
    path = Path(path)
    with open(path, "rb") as fh:
        shape = _detect_shape(fh, path)
        if fh.read(len(_BOM)) != _BOM:
            fh.seek(0)
        if shape == "jsonl":
            records = _jsonl_records(fh, path)
        else:
            records = _json_records(fh, "item" if shape == "list" else "documents.item", path)
        for index, record in enumerate(records):
            yield to_document(record, index, path, max_document_chars)
