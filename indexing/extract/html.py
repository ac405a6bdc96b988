"""HTML: the main text, without navigation, scripts or styles; ``h1``-``h6`` give heading paths and start
parts (as Markdown headings do); table rows become `` | ``-joined lines.

The main text is ``<main>``, else the longest ``<article>``, else ``<body>``, with ``nav``, ``header``,
``footer``, ``aside``, ``form``, non-text elements and page furniture named by role or class (``CHROME``:
``class="navbar"``, ``id="sidebar"``...) removed. Parsed with selectolax (MIT, the Lexbor
engine: a browser's HTML5 parsing, tolerant of broken markup); bytes are decoded as text files are.
"""
from __future__ import annotations

from pathlib import Path

from indexing.extract.common import decode_text, group_paragraphs
from indexing.extract.protocol import Block, Capabilities, Extracted, Limits, Place

DROP = ("script", "style", "noscript", "template", "svg", "canvas", "iframe", "object", "nav", "header",
        "footer", "aside", "form", "button", "select")
# navigation and page furniture marked by role or by the usual class and id names (sites without <nav>)
CHROME = ", ".join(
    ["[role=navigation]", "[role=banner]", "[role=contentinfo]", "[role=complementary]"]
    + [f"[{attr}*={name}]" for attr in ("class", "id")
       for name in ("navbar", "-nav", "nav-", "menu", "sidebar", "breadcrumb", "footer", "toolbar",
                    "cookie", "advert", "share")]
    + ["[class=nav]", "[id=nav]"]
)
BLOCKS = frozenset({"p", "div", "section", "article", "main", "li", "ul", "ol", "dl", "dt", "dd", "pre",
                    "blockquote", "figure", "figcaption", "table", "thead", "tbody", "tr", "br", "hr",
                    "h1", "h2", "h3", "h4", "h5", "h6", "address", "details", "summary", "caption"})
HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}


class HtmlExtractor:
    format = "html"
    suffixes = (".html", ".htm", ".xhtml")
    capabilities = Capabilities(places="part", headings=True, tables=True, encoding_detection=True)

    def extract(self, path: Path, limits: Limits) -> Extracted:
        from selectolax.lexbor import LexborHTMLParser

        text, _ = decode_text(path.read_bytes())  # binary bytes: NotText, skipped by the sandbox
        tree = LexborHTMLParser(text)
        title_node = tree.css_first("title")
        title = " ".join(title_node.text().split()) if title_node is not None else ""
        tree.strip_tags(list(DROP))
        for node in reversed(tree.css(CHROME)):  # inner matches first: no node is freed twice
            if node.tag not in ("html", "body", "main", "article"):  # <body class="has-sidebar"> stays
                node.decompose()
        root = tree.css_first("main") or max(tree.css("article"), key=lambda n: len(n.text()), default=None) \
            or tree.body
        sections = _sections(root) if root is not None else []
        blocks: list[Block] = []
        for heading, paragraphs in sections:
            for part in group_paragraphs(paragraphs):
                blocks.append(Block(part, Place("part", len(blocks) + 1), heading))
        if not blocks:
            return Extracted(format=self.format, status="skipped", reason="no text in the page", title=title)
        first_heading = next((b.heading[0] for b in blocks if b.heading), "")
        return Extracted(format=self.format, status="indexed", blocks=tuple(blocks), pages=len(blocks),
                         title=title or first_heading)


def _sections(root) -> list[tuple[tuple[str, ...], list[str]]]:
    """``(heading path, paragraphs)`` in document order; walks the tree without recursion (deep markup)."""
    sections: list[tuple[tuple[str, ...], list[str]]] = [((), [])]
    path: list[tuple[int, str]] = []
    words: list[str] = []

    def flush() -> None:
        paragraph = " ".join("".join(words).split())
        words.clear()
        if paragraph:
            sections[-1][1].append(paragraph)

    stack = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        tag = node.tag
        if leaving:
            flush()
            continue
        if tag == "-text":
            words.append(node.text(deep=False))
            continue
        if tag in HEADINGS:
            flush()
            title = " ".join(node.text(separator=" ").split())
            if title:
                level = HEADINGS[tag]
                path = [(lvl, t) for lvl, t in path if lvl < level] + [(level, title)]
                sections.append((tuple(t for _, t in path), [title]))
            continue
        if tag == "tr":
            flush()
            cells = [" ".join(c.text(separator=" ").split()) for c in node.iter() if c.tag in ("td", "th")]
            if any(cells):
                sections[-1][1].append(" | ".join(cells))
            continue
        if tag == "pre":  # code and poems keep their lines
            flush()
            kept = "\n".join(line.rstrip() for line in node.text().strip("\n").split("\n"))
            if kept.strip():
                sections[-1][1].append(kept)
            continue
        if tag in BLOCKS:
            flush()
            stack.append((node, True))
        children = []
        child = node.child
        while child is not None:
            children.append(child)
            child = child.next
        stack.extend((c, False) for c in reversed(children))
    flush()
    return [(heading, paragraphs) for heading, paragraphs in sections if paragraphs]
