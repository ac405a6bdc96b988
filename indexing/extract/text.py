"""Plain text and Markdown: decoded with encoding detection, cut into parts of whole paragraphs.

Markdown headings (``#`` ... ``######``) start a new part and give the heading path of the parts under them;
text before the first heading and plain-text files are parts of about ``PART_CHARS`` characters.
"""
from __future__ import annotations

import re
from pathlib import Path

from indexing.extract.common import decode_text, group_paragraphs, split_paragraphs
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

_ATX = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(=|-)\1{2,}[ \t]*$")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|<>~])")


class TextExtractor:
    format = "txt"
    suffixes = (".txt", ".text", ".log")
    capabilities = Capabilities(places="part", encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        text, _ = decode_text(path.read_bytes())  # binary bytes: NotText, skipped by the sandbox
        blocks = _parts([(None, split_paragraphs(text))])
        return Extracted(format=self.format, status="indexed", blocks=blocks, pages=len(blocks))


class MarkdownExtractor:
    format = "md"
    suffixes = (".md", ".markdown")
    capabilities = Capabilities(places="part", headings=True, encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        text, _ = decode_text(path.read_bytes())  # binary bytes: NotText, skipped by the sandbox
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

    def open_section(level: int, title: str) -> None:
        nonlocal path, heading, lines
        close()
        path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
        heading = tuple(t for _, t in path)
        lines = [title, ""]

    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        atx = None if fenced else _ATX.match(line)
        setext = None if fenced or not lines or not lines[-1].strip() else _SETEXT.match(line)
        if atx:
            open_section(len(atx.group(1)), _unescape(atx.group(2).strip()))
        elif setext:  # the line before, underlined with === (level 1) or --- (level 2)
            title = _unescape(lines.pop().strip())
            open_section(1 if setext.group(1) == "=" else 2, title)
        else:
            lines.append(line if fenced else _unescape(line))
    close()
    return sections


def _unescape(line: str) -> str:
    """Markdown's backslash escapes (``\\*``, ``\\-``) as the characters they stand for."""
    return _ESCAPE.sub(r"\1", line)


def _parts(sections: list[tuple[tuple[str, ...] | None, list[str]]]) -> tuple[Block, ...]:
    blocks: list[Block] = []
    for heading, paragraphs in sections:
        for text in group_paragraphs(paragraphs):
            blocks.append(Block(text=text, place=Place("part", len(blocks) + 1), heading=heading or ()))
    return tuple(blocks)
