#!/usr/bin/env python
"""Page-level quality on a task folder: the right file and page in the top results, the answer in a
1,500-token context, and the weak-match flag on questions the folder does not answer.

Builds the folder (hybrid, to --dense) once per --section-chars value (the size of the sections that
diversity counts as documents, indexing/folder.py; a huge value = one document per file, the baseline),
then asks every question of --queries through the backend the service uses:

    hit@1, hit@3   result 1 (any of 1-3) is from the relevant file, on a relevant page or slide
                   (a JSON document: the relevant title)
    answer@ctx     the answer string is in rag_get_context's context at --max-tokens (punctuation and
                   spacing ignored)
    flag           low_confidence on no-answer questions (should be set) and on answerable ones (should not)

Question file (JSONL), one object per line: {"query", "lang": "zh"|"en", "relevant_file": path relative to
the folder, "relevant_pages": [pages or slides] or "relevant_title": a JSON document's title, "answer": a string
the passage holds}; a question the folder does not answer has {"query", "lang", "no_answer": true}.

    python scripts/eval_folder.py --folder /tmp/task-002 --queries eval/folder_queries.jsonl \\
        --section-chars 2500 1000000000
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.backend.local import LocalBackend  # noqa: E402
from app.agent.citations import normalize_for_match  # noqa: E402
from app.schemas import ContextRequest, SearchRequest, SearchResult  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import folder  # noqa: E402
from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402


@dataclass(frozen=True)
class Question:
    query: str
    lang: str
    relevant_file: str | None = None
    relevant_pages: tuple[int, ...] = ()
    relevant_title: str | None = None
    answer: str | None = None

    @property
    def no_answer(self) -> bool:
        return self.relevant_file is None


def load(path: Path) -> list[Question]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [Question(r["query"], r["lang"], r.get("relevant_file"), tuple(r.get("relevant_pages", ())),
                     r.get("relevant_title"), r.get("answer")) for r in rows]


def is_hit(q: Question, r: SearchResult) -> bool:
    src = r.source
    if src is None or src.file != q.relevant_file:
        return False
    if q.relevant_title is not None:
        return r.title == q.relevant_title
    return (src.page or src.slide or src.part) in q.relevant_pages


def evaluate(backend: LocalBackend, name: str, questions: list[Question], max_tokens: int) -> dict:
    language = {f.path: f.language for f in backend.stats(name).files}
    rows = []
    for q in questions:
        s = backend.search(SearchRequest(corpus=name, query=q.query, top_k=10))
        row = {"query": q.query, "lang": q.lang, "no_answer": q.no_answer, "flagged": s.low_confidence,
               "top": [r.citation for r in s.results[:3]]}
        if not q.no_answer:
            hits = [is_hit(q, r) for r in s.results]
            c = backend.context(ContextRequest(corpus=name, query=q.query, max_tokens=max_tokens, top_k=10))
            row.update(hit1=hits[:1] == [True], hit3=any(hits[:3]),
                       answer_in_context=normalize_for_match(q.answer) in normalize_for_match(c.context),
                       cross=(q.lang == "zh") != (language[q.relevant_file] == "cjk"))
        rows.append(row)
    answerable = [r for r in rows if not r["no_answer"]]

    def share(key, subset):
        return round(sum(r[key] for r in subset) / len(subset), 3) if subset else None

    groups = {"all": answerable, "zh": [r for r in answerable if r["lang"] == "zh"],
              "en": [r for r in answerable if r["lang"] == "en"], "cross-language": [r for r in answerable if r["cross"]]}
    return {
        "questions": len(rows),
        **{f"{g}: n / hit@1 / hit@3 / answer@ctx": [len(s), share("hit1", s), share("hit3", s),
                                                   share("answer_in_context", s)] for g, s in groups.items()},
        "flag on no-answer": share("flagged", [r for r in rows if r["no_answer"]]),
        "flag on answerable": share("flagged", answerable),
        "rows": rows,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--queries", type=Path, default=ROOT / "eval" / "folder_queries.jsonl")
    p.add_argument("--index-dir", type=Path, help="default: a fresh temporary directory")
    p.add_argument("--section-chars", type=int, nargs="+", default=[folder.SECTION_CHARS])
    p.add_argument("--dense", choices=["none", "titles", "leads", "full"], default="full")
    p.add_argument("--max-tokens", type=int, default=1500)
    p.add_argument("--out", type=Path, help="write every row as JSON")
    args = p.parse_args(argv)
    index_dir = args.index_dir or Path(tempfile.mkdtemp(prefix="eval-folder-"))
    questions = load(args.queries)
    results = {}
    for chars in args.section_chars:
        name = f"folder-s{chars}"
        t0 = time.perf_counter()
        prepared = folder.prepare(args.folder, index_dir, section_chars=chars)
        snap = folder.write_prepared(prepared, index_dir)
        opts = BuildOptions.from_settings(IndexSettings(index_dir=index_dir), name, dense=args.dense != "none",
                                          dense_stage="full" if args.dense == "none" else args.dense)
        report = build_index(snap.path, opts, progress=False, source_label=str(args.folder))
        built = time.perf_counter() - t0
        backend = LocalBackend(Settings(index_dir=index_dir), eager=False)
        result = evaluate(backend, name, questions, args.max_tokens)
        result.update(sections=len(prepared.sections), chunks=report.manifest.chunks, build_s=round(built, 1),
                      dense_stage=report.manifest.dense_stage)
        results[name] = result
        print(f"== section_chars {chars}: {len(prepared.sections)} sections, {report.manifest.chunks} chunks, "
              f"stage {report.manifest.dense_stage}, built in {built:.0f} s")
        for key, value in result.items():
            if key != "rows":
                print(f"  {key}: {value}")
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
