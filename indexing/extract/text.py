"""Plain text and Markdown: decoded with encoding detection, cut into parts of whole paragraphs.

Markdown headings (``#`` ... ``######``) start a new part and give the heading path of the parts under them;
text before the first heading and plain-text files are parts of about ``PART_CHARS`` characters.
"""
from __future__ import annotations

import re
from pathlib import Path

from indexing.extract.common import NotText, decode_text, group_paragraphs, split_paragraphs
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


class TextExtractor:
    format = "txt"
    suffixes = (".txt", ".text", ".log")
    capabilities = Capabilities(places="part", encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        try:
            text, _ = decode_text(path.read_bytes())
        except NotText as exc:
            return Extracted(format=self.format, status="skipped", reason=str(exc))
        blocks = _parts([(None, split_paragraphs(text))])
        return Extracted(format=self.format, status="indexed", blocks=blocks, pages=len(blocks))


class MarkdownExtractor:
    format = "md"
    suffixes = (".md", ".markdown")
    capabilities = Capabilities(places="part", headings=True, encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        try:
            text, _ = decode_text(path.read_bytes())
        except NotText as exc:
            return Extracted(format=self.format, status="skipped", reason=str(exc))
        sections = _markdown_sections(text)
        blocks = _parts(sections)
        title = next((heading[0] for heading, _ in sections if heading), "")
        return Extracted(format=self.format, status="indexed", blocks=blocks, pages=len(blocks), title=title)


def _markdown_sections(text: str) -> list[tuple[tuple[str, ...] | None, list[str]]]:
    """``(heading path, paragraphs)`` per section; each section's text starts with its own heading line."""
    sections: list[tuple[tuple[str, ...] | None, list[str]]] = []
    path: list[tuple[int, str]] = []
    lines: list[str] = []
    heading: tuple[str, ...] | None = None
    fenced = False

    def close() -> None:
        paragraphs = split_paragraphs("\n".join(lines))
        if paragraphs:
            sections.append((heading, paragraphs))

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        match = None if fenced else _ATX.match(line)
        if match:
            close()
            level, title = len(match.group(1)), match.group(2).strip()
            path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
            heading = tuple(t for _, t in path)
            lines = [title, ""]
        else:
            lines.append(line)
    close()
    return sections


def _parts(sections: list[tuple[tuple[str, ...] | None, list[str]]]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    for heading, paragraphs in sections:
        for text in group_paragraphs(paragraphs):
            blocks.append(Block(text=text, place=Place("part", len(blocks) + 1), heading=heading or ()))
    return tuple(blocks)
