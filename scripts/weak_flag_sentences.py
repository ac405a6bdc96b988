"""Issue 21 point 8: does the best sentence's concept coverage tell "answers it" from "same topic" better than the
chunk's coverage the weak-match flag uses (app/ranking/confidence.py)? Prints both AUCs and what a lifting rule changes.

    zh-rag eval --corpus $EVAL_DATA/miro_all_corpus.json --modes bm25 --queries eval/miro_english_queries.jsonl \\
        --index-dir .eval-indexes          # builds the index (name printed: eval-<hash>)
    python scripts/weak_flag_sentences.py --index-dir .eval-indexes --name eval-20d7c63606ba --mode bm25 \\
        --queries eval/miro_english_queries.jsonl eval/miro_english_check_queries.jsonl \\
        eval/miro_paraphrase_zh_queries.jsonl eval/miro_no_answer_queries.jsonl eval/miro_near_miss_queries.jsonl \\
        eval/miro_near_miss_check_queries.jsonl
"""
from __future__ import annotations

import argparse
from pathlib import Path

from app.backend.local import LocalBackend
from app.ranking.confidence import coverage
from app.quality.evaluation import load_queries
from app.agent.evidence import sentences_of
from app.schemas import SearchRequest
from app.settings import Settings


def auc(pos: list[float], neg: list[float]) -> float:
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / max(len(pos) * len(neg), 1)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--index-dir", type=Path, required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--mode", default="hybrid")
    p.add_argument("--queries", type=Path, nargs="+", required=True)
    args = p.parse_args(argv)
    backend = LocalBackend(Settings(index_dir=args.index_dir), eager=False)
    rows = []
    for path in args.queries:
        for q in load_queries(path):
            _, out = backend._run(SearchRequest(corpus=args.name, query=q.query, mode=args.mode, top_k=10))
            concepts, lacking = out.concepts, out.lacking  # the service's own (app/ranking/search._concepts)
            top = out.hits[:3]
            chunk = max((coverage(concepts, lacking, h.chunk.title + "\n" + h.chunk.content) for h in top), default=0)
            sentence = max((coverage(concepts, lacking, s.text) for h in top for s in sentences_of(h.chunk.content, 0)),
                           default=0)
            rows.append((q.answerable, out.confidence.value < backend.settings.low_confidence_threshold, chunk, sentence))
    pos, neg = [r for r in rows if r[0]], [r for r in rows if not r[0]]
    print(f"{len(pos)} answerable, {len(neg)} no-answer; flagged now: answerable {sum(r[1] for r in pos)}, "
          f"no-answer {sum(r[1] for r in neg)}")
    print(f"AUC: chunk coverage {auc([r[2] for r in pos], [r[2] for r in neg]):.3f}, best-sentence coverage "
          f"{auc([r[3] for r in pos], [r[3] for r in neg]):.3f}")
    for share in (1.0, 0.8):
        lifted = [r for r in rows if r[1] and r[2] > 0 and r[3] >= share * r[2] and r[3] >= 0.5]
        print(f"lift a flag when the best sentence holds >= {share} of the chunk's coverage and >= 0.5: answerable "
              f"unflagged {sum(r[0] for r in lifted)}, no-answer unflagged {sum(not r[0] for r in lifted)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
