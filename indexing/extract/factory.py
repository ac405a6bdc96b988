"""``extractor_for(path)``: the extractor of a file's format, by its lower-case suffix.

Format modules are imported on first use, so a folder of Markdown never loads PDFium. Run extractions
through ``indexing.extract.sandbox`` (a bounded worker process), not by calling ``extract`` in the caller.
"""
from __future__ import annotations

import importlib
from functools import cache
from pathlib import Path

from indexing.extract.protocol import Extractor

# Bump when any extractor's output for the same bytes changes: the folder indexer keys its cache of
# extraction results by (content hash, EXTRACTION_VERSION).
EXTRACTION_VERSION = 11

# suffix -> (format, module, class); the format is known here so that a caller can name it without
# importing the format's library (the sandbox reports a worker's timeout with it).
_REGISTRY: dict[str, tuple[str, str, str]] = {
    ".txt": ("txt", "indexing.extract.text", "TextExtractor"),
    ".text": ("txt", "indexing.extract.text", "TextExtractor"),
    ".log": ("txt", "indexing.extract.text", "TextExtractor"),
    ".pdf": ("pdf", "indexing.extract.pdf", "PdfExtractor"),
    ".pptx": ("pptx", "indexing.extract.pptx", "PptxExtractor"),
    ".docx": ("docx", "indexing.extract.docx", "DocxExtractor"),
    ".xlsx": ("xlsx", "indexing.extract.sheets", "XlsxExtractor"),
    ".xlsm": ("xlsx", "indexing.extract.sheets", "XlsxExtractor"),
    ".csv": ("csv", "indexing.extract.sheets", "CsvExtractor"),
    ".tsv": ("csv", "indexing.extract.sheets", "CsvExtractor"),
    ".html": ("html", "indexing.extract.html", "HtmlExtractor"),
    ".htm": ("html", "indexing.extract.html", "HtmlExtractor"),
    ".xhtml": ("html", "indexing.extract.html", "HtmlExtractor"),
    ".md": ("md", "indexing.extract.text", "MarkdownExtractor"),
    ".markdown": ("md", "indexing.extract.text", "MarkdownExtractor"),
}

SUPPORTED_SUFFIXES: frozenset[str] = frozenset(_REGISTRY)


def extractor_for(path: Path) -> Extractor | None:
    """The extractor for ``path``'s format, or None when it is not a document format this package reads."""
    entry = _REGISTRY.get(Path(path).suffix.lower())
    return None if entry is None else _load(entry[1], entry[2])


def format_of(path: Path) -> str:
    """The format name an extraction of ``path`` reports (``"pdf"``, ``"md"``...); the bare suffix for files
    no extractor reads."""
    suffix = Path(path).suffix.lower()
    entry = _REGISTRY.get(suffix)
    return entry[0] if entry else suffix.lstrip(".")


@cache
def _load(module: str, name: str) -> Extractor:
    return getattr(importlib.import_module(module), name)()
