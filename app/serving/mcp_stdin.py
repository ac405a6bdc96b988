"""A stdin filter for the stdio MCP server: a lone UTF-16 surrogate escape gets an answer instead of silence.

JSON allows ``"\\ud800"`` (JavaScript clients send it for half an emoji), but it is
not Unicode: the MCP SDK's stdio transport (mcp 2.3) fails to parse such a line,
cannot tell which request it was, and answers nothing, so the client waits for
its timeout. ``install()`` puts a pipe in front of fd 0 before the SDK claims
it; a thread copies the real stdin through ``repair_line``, which turns each
lone surrogate escape into ``\\uffff`` (a noncharacter, which Unicode reserves
for such internal use) and leaves pairs, other escapes and raw bytes as they
are. The tools then refuse an argument holding U+FFFF with one line
(``app/serving/mcp_server.py``), as REST answers 422.
"""
from __future__ import annotations

import os
import re
import threading

MARK = "\uffff"  # what a lone surrogate becomes: never text an agent means to send
# One JSON escape at a time, left to right, so an escaped backslash ("\\\\ud800") is never read as an escape:
# a surrogate pair, then a lone surrogate, then any other escape.
_ESCAPE = re.compile(rb"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})|\\u(d[89a-f][0-9a-f]{2})|\\.", re.IGNORECASE)


def repair_line(line: bytes) -> bytes:
    """``line`` with every lone surrogate escape replaced by ``\\uffff``; anything else byte for byte."""
    if b"\\u" not in line:
        return line
    return _ESCAPE.sub(lambda m: b"\\uffff" if m.group(3) else m.group(0), line)


def install() -> None:
    """Serve fd 0 through ``repair_line``: fd 0 becomes a pipe that a daemon thread feeds from the real stdin
    (end of input is passed on, so the server still exits when its client goes)."""
    source = os.fdopen(os.dup(0), "rb")
    read_end, write_end = os.pipe()
    os.dup2(read_end, 0)
    os.close(read_end)

    def pump() -> None:
        with source, os.fdopen(write_end, "wb") as sink:
            for line in source:
                sink.write(repair_line(line))
                sink.flush()

    threading.Thread(target=pump, name="mcp-stdin-filter", daemon=True).start()
