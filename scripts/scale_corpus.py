#!/usr/bin/env python
"""Make a >= 10,000-document corpus from the evaluation data (docs/quality.md, Data), for the scale measurements.

The laws of $EVAL_DATA/lawrefbook_corpus.json.gz are split at their chapter
headings (第X章: one document per chapter, titled "<law> <chapter>"; a law
without chapters stays whole), and the agent's 1,173 web articles are appended.
About 17,000 documents and 23M characters; written where --out says (not into
the project: the articles may not be shipped).

    python scripts/scale_corpus.py --laws $EVAL_DATA/lawrefbook_corpus.json.gz \
        --articles $EVAL_DATA/miro_all_corpus.json --out /tmp/scale.json
    zh-rag build /tmp/scale.json --name scale --dense leads
"""
from __future__ import annotations

import argparse
import gzip
import json
import re
import sys
from pathlib import Path

CHAPTER = re.compile(r"(?m)^[ \t\u3000]*(第[一二三四五六七八九十百零〇]+章[^\n]*)")


def split_law(doc: dict) -> list[dict]:
    body = doc.get("page_body") or ""
    parts = CHAPTER.split(body)
    if len(parts) < 3:
        return [doc]
    preamble, out = parts[0].strip(), []
    for heading, text in zip(parts[1::2], parts[2::2]):
        out.append({"title": f"{doc['title']} {heading.strip()}", "page_body": f"{heading.strip()}\n{text.strip()}",
                    "url": doc.get("url")})
    if preamble:
        out.insert(0, {"title": doc["title"], "page_body": preamble, "url": doc.get("url")})
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--laws", type=Path, required=True, help="lawrefbook_corpus.json.gz (docs/quality.md, Data)")
    p.add_argument("--articles", type=Path, required=True, help="miro_all_corpus.json (docs/quality.md, Data)")
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    with gzip.open(args.laws, "rt", encoding="utf-8") as fh:
        laws = json.load(fh)
    docs = [part for law in laws for part in split_law(law)]
    docs += json.loads(args.articles.read_text(encoding="utf-8"))
    args.out.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    chars = sum(len(d.get("page_body") or d.get("content") or "") for d in docs)
    print(f"{len(docs)} documents, {chars:,} characters -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
