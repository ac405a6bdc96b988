"""Make a Traditional Chinese (zh-Hant) eval set from a Simplified one (CMRC 2018 trial) with OpenCC.

    python scripts/make_zh_hant_set.py $EVAL_DATA/cmrc2018_trial_corpus.json \\
        $EVAL_DATA/cmrc2018_trial_queries.jsonl --out-dir /tmp/zh-hant
    zh-rag eval --corpus /tmp/zh-hant/corpus.json --queries /tmp/zh-hant/queries.jsonl --modes hybrid

Corpus titles and bodies, questions and answer strings go through the same converter (``s2t``: characters and
OpenCC's phrase table, no regional vocabulary, so an answer converts as its passage does). A question whose
converted answers are all missing from its converted document is dropped and counted. The output stays out of
the repository (CMRC is CC-BY-SA-4.0; write it under /tmp or the eval index directory). Needs the dev extra
``opencc-purepy``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from indexing.corpus import iter_documents


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus", type=Path)
    p.add_argument("queries", type=Path)
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("--config", default="s2t", help="OpenCC conversion (default s2t)")
    args = p.parse_args(argv)
    try:
        from opencc_purepy import OpenCC
    except ImportError:
        print("error: needs opencc-purepy (pip install -e '.[dev]')", file=sys.stderr)
        return 2
    cc = OpenCC(args.config)
    docs = [{"title": cc.convert(d.title), "page_body": cc.convert(d.body), "url": d.url}
            for d in iter_documents(args.corpus)]
    kept = dropped = 0
    lines = []
    for line in args.queries.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        row["query"] = cc.convert(row["query"])
        if row.get("answers"):
            row["answers"] = [cc.convert(a) for a in row["answers"]]
            bodies = [docs[d]["page_body"] for d in row.get("relevant_doc_indices") or []]
            if not any(a in b for a in row["answers"] for b in bodies):
                dropped += 1
                continue
        lines.append(json.dumps(row, ensure_ascii=False))
        kept += 1
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "corpus.json").write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    (args.out_dir / "queries.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(docs)} documents, {kept} questions written to {args.out_dir} ({dropped} dropped: answer not in "
          f"the converted document)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
