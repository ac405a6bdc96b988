"""Helpers shared by the format modules: decoding bytes of unknown encoding, grouping paragraphs into parts,
joining lines that the layout broke, and the one-line reasons a file is skipped or failed."""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

# A "part" (the place of formats without pages: TXT, MD, DOCX, HTML) is a section, or a run of whole
# paragraphs of about this many characters: roughly one printed page of Chinese, so that `rag_read` of
# ``part N`` returns a page-sized neighbourhood and a citation points into a findable span.
PART_CHARS = 3_000

# Encodings tried in order before asking charset-normalizer. UTF-8 decodes strictly or not at all; GB18030
# is a superset of GBK and GB2312 and decodes almost any byte string, so it is only accepted when the text
# it gives looks like Chinese (see ``_looks_like_text``).
_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


class NotText(ValueError):
    """Bytes that decode to no plausible text (a binary file with a text suffix)."""


def decode_text(data: bytes) -> tuple[str, str]:
    """``(text, encoding)`` for bytes of unknown encoding; raises ``NotText`` for binary content.

    Order: a BOM; strict UTF-8; GB18030 when it yields mostly CJK; charset-normalizer's best guess.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding, errors="replace"), encoding
    if _binary(data):
        raise NotText("binary content (NUL or control bytes), not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        text = data.decode("gb18030")
        if _looks_like_text(text):
            return text, "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data[:1_000_000]).best()
    if best is None or best.encoding is None:
        raise NotText("no text encoding decodes it")
    text = data.decode(best.encoding, errors="replace")
    if not _looks_like_text(text):
        raise NotText(f"decodes as {best.encoding} only to unreadable characters")
    return text, best.encoding


def _binary(data: bytes) -> bool:
    """NUL bytes, or more than 5% C0 control bytes other than tab/CR/LF/FF in the first 64 KiB."""
    head = data[:65_536]
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return controls > len(head) * 0.05


def _looks_like_text(text: str) -> bool:
    """Mostly letters, CJK, digits, punctuation and spaces: under 2% private-use, replacement or rare
    unassigned-looking characters in the first 20,000."""
    sample = text[:20_000]
    if not sample:
        return True
    odd = sum(1 for c in sample if c == "\ufffd" or "\ue000" <= c <= "\uf8ff" or ord(c) > 0x2FFFF)
    return odd <= len(sample) * 0.02


def group_paragraphs(paragraphs: Iterable[str], max_chars: int = PART_CHARS) -> Iterator[str]:
    """Runs of whole paragraphs of about ``max_chars``, joined by blank lines. A longer paragraph is cut at
    line breaks, then at sentence ends (a TXT file often has no blank lines at all), so a part stays a
    citable span."""
    run: list[str] = []
    size = 0
    for para in paragraphs:
        for piece in _pieces(para, max_chars):
            if run and size + len(piece) > max_chars:
                yield "\n\n".join(run)
                run, size = [], 0
            run.append(piece)
            size += len(piece) + 2
    if run:
        yield "\n\n".join(run)


_SENTENCE_END = re.compile(r"[。！？!?；;]|\.(?=\s)")


def _pieces(text: str, max_chars: int) -> Iterator[str]:
    """``text`` in pieces of at most ``max_chars``: cut at the last line break, else the last sentence end,
    else hard."""
    while len(text) > max_chars:
        window = text[:max_chars]
        cut = window.rfind("\n") + 1
        if cut <= 0:
            ends = [m.end() for m in _SENTENCE_END.finditer(window)]
            cut = ends[-1] if ends else max_chars
        piece, text = text[:cut].strip("\n"), text[cut:].lstrip("\n")
        if piece:
            yield piece
    if text:
        yield text


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: separated by blank lines; inner line breaks kept; empty ones dropped."""
    return [p.strip("\n") for p in re.split(r"\n[ \t\u3000]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
            if p.strip()]


_CJK = (
    r"\u2e80-\u2fdf\u3000-\u303f\u3040-\u30ff\u3100-\u312f\u3190-\u31ff\u3400-\u4dbf\u4e00-\u9fff"
    r"\uf900-\ufaff\ufe30-\ufe4f\uff00-\uffef"
)
_CJK_CHAR = re.compile(f"[{_CJK}]")
_HYPHENATED = re.compile(r"([A-Za-z])-$")


def join_lines(lines: list[str]) -> str:
    """One paragraph from the lines a layout broke it into.

    A CJK character on either side of the break joins without a space (``惩罚`` + ``最小二乘`` ->
    ``惩罚最小二乘``); an English word hyphenated at the line end loses the hyphen (``re-`` + ``sult``
    -> ``result``); other lines join with one space.
    """
    out = ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if not out:
            out = line
        elif _HYPHENATED.search(out) and line[0].islower():
            out = out[:-1] + line
        elif _CJK_CHAR.match(out[-1]) or _CJK_CHAR.match(line[0]):
            out += line
        else:
            out += " " + line
    return out


def one_line(message: object, limit: int = 300) -> str:
    """An exception or message as a single line of at most ``limit`` characters."""
    text = " ".join(str(message).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# Office files are ZIP archives of XML. A ZIP bomb is refused before any XML is parsed: too many bytes once
# unpacked in total, or a member packed tighter than any real document (XML compresses 5-20x; a bomb 1000x).
ZIP_MAX_UNPACKED = 1 << 30
ZIP_MAX_RATIO = 200
ZIP_RATIO_FROM = 16 << 20  # members smaller than this unpacked may have any ratio (repeated XML)


class ZipBomb(ValueError):
    """An archive that would unpack to far more than it holds."""


def check_zip(path) -> None:
    """Raise ``ZipBomb`` (or zipfile.BadZipFile for a file that is not a ZIP) before a parser opens ``path``."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    total = sum(m.file_size for m in members)
    if total > ZIP_MAX_UNPACKED:
        raise ZipBomb(f"ZIP bomb? unpacks to {total / 2**30:.1f} GiB (limit {ZIP_MAX_UNPACKED / 2**30:.0f} GiB)")
    for m in members:
        if m.file_size > ZIP_RATIO_FROM and m.file_size > ZIP_MAX_RATIO * max(m.compress_size, 1):
            raise ZipBomb(f"ZIP bomb? {m.filename} unpacks {m.file_size / max(m.compress_size, 1):.0f}x "
                          f"to {m.file_size / 2**20:.0f} MiB")


def table_row(cells: Iterable[object]) -> str:
    """A table row as one line: cell texts joined by `` | ``, inner whitespace folded, empty rows empty."""
    texts = [" ".join(str(c).split()) if c is not None else "" for c in cells]
    return " | ".join(texts) if any(texts) else ""
