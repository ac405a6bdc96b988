"""One API contract, every engine: the same REST calls against a corpus served by the local engine, by embedded
Milvus Lite (a ``.db`` path) and by a Milvus Lite server; then a Milvus going down and coming back."""
from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from fastapi.testclient import TestClient  # noqa: E402

from app.ranking.fusion import FusionParams  # noqa: E402
from app.backend.loaded import LoadedCorpus  # noqa: E402
from app.serving.main import create_app  # noqa: E402
from app.serving.mcp_server import create_server  # noqa: E402
from app.ranking.search import SearchParams, search  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import cli, layout  # noqa: E402
from indexing.build import build_index  # noqa: E402
from indexing.milvus_export import build_milvus_index  # noqa: E402
from indexing.milvus_layout import MilvusConnection, MilvusIndex  # noqa: E402
from tests.conftest import Server, free_port, options, sample_docs, start_server, write_corpus  # noqa: E402

ENGINES = ["local", "milvus-lite-file", "milvus-lite-server"]
QUESTION = "泡泡战士是哪个公司开发的？"


class LiteServer:
    """``python -m milvus_lite server`` on a free loopback port, over one data directory (kept across restarts)."""

    def __init__(self, data_dir: Path, port: int | None = None):
        self.data_dir, self.port = data_dir, port or free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile()
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        if self.proc and self.proc.poll() is None:
            return  # already running
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "milvus_lite", "server", "--data-dir", str(self.data_dir), "--host", "127.0.0.1",
             "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                raise RuntimeError(f"milvus_lite server exited: {self.log.read().decode(errors='replace')}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("milvus_lite server did not listen")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@dataclass
class Served:
    engine: str
    client: TestClient
    settings: Settings
    corpus_file: Path


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory) -> Path:
    return write_corpus(tmp_path_factory.mktemp("engine-corpora") / "six.json", sample_docs(6))


@pytest.fixture(scope="module")
def embed_cache(tmp_path_factory) -> Path:
    """One embedding cache for every build here: the six documents are embedded once."""
    return tmp_path_factory.mktemp("embed-cache")


def build(engine: str, corpus: Path, index_dir: Path, embed_cache: Path, uri: str | None = None) -> None:
    opts = options(index_dir, "six", embed_cache_dir=embed_cache)
    if engine == "local":
        build_index(corpus, opts, progress=False)
    else:
        build_milvus_index(corpus, opts, MilvusConnection(uri or str(index_dir / "milvus.db")), progress=False)


def wait_for(predicate, timeout: float = 60, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"timed out waiting for {what}")


@pytest.fixture(scope="module", params=ENGINES)
def served(request, corpus_file, embed_cache, tmp_path_factory) -> Served:
    """The six-document corpus built for one engine and served by the REST app in this process."""
    index_dir = tmp_path_factory.mktemp(f"idx-{request.param}")
    lite = LiteServer(tmp_path_factory.mktemp("lite-data")) if request.param == "milvus-lite-server" else None
    try:
        build(request.param, corpus_file, index_dir, embed_cache, lite.uri if lite else None)
        settings = Settings(index_dir=index_dir, allowed_roots=str(corpus_file.parent), reload_interval_s=0.5)
        with TestClient(create_app(settings)) as client:
            wait_for(lambda: "six" in client.get("/readyz").json().get("corpora", []), what="the corpus to load")
            yield Served(request.param, client, settings, corpus_file)
    finally:
        if lite:
            lite.stop()


def hits(served: Served, query: str, mode: str = "hybrid", **extra) -> list[dict]:
    resp = served.client.post("/v1/search", json={"corpus": "six", "query": query, "mode": mode, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()["results"]


def test_every_mode_finds_the_document_that_answers(served):
    """BM25, dense and hybrid each put the answering document first, in Chinese and across languages."""
    for mode in ("hybrid", "bm25", "dense"):
        top = hits(served, QUESTION, mode, top_k=3)[0]
        assert top["title"] == "泡泡战士" and "Nexon" in top["content"]
        assert top["citation"] == f'[long_context: "泡泡战士", chunk {top["chunk_index"]}]'
        assert (top["scores"]["dense"] is None) == (mode == "bm25") and top["scores"]["bm25"] > 0
    english = "Which company developed the game Bubble Fighter?"
    for mode in ("dense", "hybrid"):
        assert hits(served, english, mode, top_k=3)[0]["title"] == "泡泡战士"
    assert hits(served, "尤金袋鼠生活在哪里", "bm25", top_k=1)[0]["title"] == "尤金袋鼠"
    assert hits(served, "zzqxj", "bm25") == []


def test_results_are_exact_slices_of_the_source(served):
    """Offsets and content come back byte-exact whatever stores the chunks."""
    docs = sample_docs(6)
    for r in hits(served, "比赛 运动员 公司", top_k=10, diverse=False):
        assert docs[r["doc_index"]]["page_body"][r["start_char"]:r["end_char"]] == r["content"]


def test_context_fits_the_budget_and_citations_resolve_with_quoted_claims(served):
    """The context stays under its token budget, and every citation it carries resolves with its quoted claim."""
    for budget in (60, 800):
        data = served.client.post("/v1/context", json={"corpus": "six", "query": "泡泡战士的游戏模式",
                                                       "max_tokens": budget}).json()
        assert 0 < data["tokens"] <= budget and data["sources"][0]["citations"][0] in data["context"]
    results = hits(served, "松平康忠 德川家康", top_k=4)
    report = "\n".join(f"“{r['content'][:12]}” {r['citation']}" for r in results)
    resolved = served.client.post("/v1/citations/resolve", json={"corpus": "six", "text": report}).json()
    assert resolved["found"] == resolved["resolved"] == len(results) >= 2
    for r, c in zip(results, resolved["citations"]):
        assert (c["doc_index"], c["chunk_index"], c["claim_match"]) == (r["doc_index"], r["chunk_index"], "exact")


def test_claim_support_on_every_engine(served):
    """A paraphrase is supported and an unrelated claim is not, whatever the engine; an English claim needs the
    engine's term statistics to be translated: without them (Milvus) it is left unjudged, never failed."""
    text = ('尤金袋鼠在袋鼠岛上每季都大量繁殖，因而被视为害虫[long_context: "尤金袋鼠", chunk 0]。'
            '德川家康出生于三河国冈崎城[long_context: "泡泡战士", chunk 0]。'
            'Bubble Fighter was developed and published by the Korean company Nexon [long_context: "泡泡战士", chunk 0].')
    got = served.client.post("/v1/citations/resolve", json={"corpus": "six", "text": text}).json()["citations"]
    assert [(c["support"], c["verdict"]) for c in got[:2]] == [("supported", "ok"), ("unsupported", "failed")]
    local = served.engine == "local"
    assert (got[2]["support"], got[2]["verdict"]) == (("supported", "ok") if local else (None, "ok"))


def test_stats_and_chunk_lookup_with_neighbours(served):
    """Corpus statistics and a chunk with its neighbours' coordinates come from whichever engine serves it."""
    stats = served.client.get("/v1/corpora/six").json()
    assert stats["documents"] == 6 and stats["dense"] is True and stats["sample_titles"][0] == "泡泡战士"
    chunk = served.client.get("/v1/corpora/six/chunks/2/1").json()
    assert chunk["title"] == "松平康忠" and chunk["chunks_in_document"] >= 2
    assert chunk["previous"]["chunk_index"] == 0
    assert chunk["content"] == sample_docs(6)[2]["page_body"][chunk["start_char"]:chunk["end_char"]]
    assert served.client.get("/v1/corpora/six/chunks/2/99").status_code == 404


def test_the_mcp_tool_answers_through_the_in_process_backend(served):
    """An agent's rag_search on the corpus file reaches the same engine through the MCP server's own backend."""
    server = create_server(served.settings)
    result = asyncio.run(server.call_tool("rag_search", {"query": QUESTION, "json_path": str(served.corpus_file),
                                                         "top_k": 2}))
    text = result.content[0].text
    assert not result.is_error and "=== RAG Search Results ===" in text
    # the full layout names the title, a weak match's short one heads the result with it: on Milvus (no term
    # statistics) this answerable question is flagged weak, as it was before evidence-first answers
    assert "Title: 泡泡战士" in text or "Result 1: 泡泡战士" in text


@pytest.fixture(scope="module")
def local_corpus(corpus_file, embed_cache, tmp_path_factory) -> LoadedCorpus:
    index_dir = tmp_path_factory.mktemp("idx-reference")
    build("local", corpus_file, index_dir, embed_cache)
    return LoadedCorpus.open(layout.published_version(index_dir, "six"))


def test_milvus_ranks_as_the_local_engine(served, local_corpus):
    """Same chunks in the same order as the local engine for each mode (scores may differ in scale), and the
    same dense evidence for the weak-match flag.

    Where the local engine translated an English question for BM25 (its term statistics choose the words), the
    Milvus engine, which declares none, searches the question as asked: those rankings differ by design."""
    if served.engine == "local":
        pytest.skip("the reference itself")
    corpus = LoadedCorpus.open(layout.published_version(served.settings.index_dir, "six"))
    try:
        for query in (QUESTION, "Which company developed the game Bubble Fighter?", "网球 运动员 排名"):
            for mode in ("bm25", "dense", "hybrid"):
                params = SearchParams(query, mode, top_k=5, diverse=False)
                want, got = (search(c, params, FusionParams(), 100) for c in (local_corpus, corpus))
                if want.translation is not None and mode == "bm25":
                    assert got.translation is None and not corpus.engine.capabilities.term_statistics
                    continue
                assert [h.chunk.id for h in got.hits] == [h.chunk.id for h in want.hits], (query, mode)
                if mode != "bm25":  # the weak-match flag reads the same dense evidence on both engines
                    assert got.confidence.dense == pytest.approx(want.confidence.dense, abs=1e-3), (query, mode)
    finally:
        corpus.close()


@pytest.fixture(scope="module")
def lite_served_dir(corpus_file, embed_cache, tmp_path_factory):
    """An index dir with the corpus in a Milvus Lite server ('six') and a local BM25 corpus ('plain')."""
    lite = LiteServer(tmp_path_factory.mktemp("lite-down-data"))
    index_dir = tmp_path_factory.mktemp("idx-down")
    try:
        build("milvus-lite-server", corpus_file, index_dir, embed_cache, lite.uri)
        build_index(corpus_file, options(index_dir, "plain", dense=False), progress=False)
        yield lite, index_dir
    finally:
        lite.stop()


def search_ok(client, corpus: str = "six") -> bool:
    resp = client.post("/v1/search", json={"corpus": corpus, "query": QUESTION, "top_k": 2})
    return resp.status_code == 200 and resp.json()["results"][0]["title"] == "泡泡战士"


def _restart_and_see_it_back(lite: LiteServer, srv) -> None:
    """Milvus started again on the same port: the corpus serves again without a service restart."""
    lite.start()
    wait_for(lambda: search_ok(srv.client), what="the corpus to come back")
    assert "six" in srv.client.get("/readyz").json()["corpora"]


def test_a_milvus_that_goes_down_takes_only_its_corpora_and_comes_back(lite_served_dir):
    """Kill the Milvus server: its corpus answers 503 naming the URI and /readyz says why, the local corpus
    keeps answering; restart Milvus on the same port: the corpus serves again without a service restart."""
    lite, index_dir = lite_served_dir
    lite.start()
    srv = start_server(index_dir, {"six", "plain"})
    try:
        assert search_ok(srv.client)
        lite.stop()
        down = srv.client.post("/v1/search", json={"corpus": "six", "query": QUESTION})
        assert down.status_code == 503 and lite.uri in down.json()["detail"]
        ready = srv.client.get("/readyz").json()
        assert "six" not in ready["corpora"] and lite.uri in ready["unavailable"]["six"]
        assert search_ok(srv.client, "plain")
        _restart_and_see_it_back(lite, srv)
    finally:
        srv.stop()
        lite.stop()


def test_a_milvus_down_when_the_service_starts_comes_back_by_itself(lite_served_dir):
    """A corpus whose Milvus is unreachable when the service loads it is retried, not given up. Issue 22.3: in a
    fresh service process the Milvus client's constructor raised outside the engine's error mapping, the registry
    recorded a permanent failure, and the corpus still answered 503 a minute after Milvus was back."""
    lite, index_dir = lite_served_dir
    lite.stop()
    srv = Server({"RAG_INDEX_DIR": str(index_dir), "RAG_RELOAD_INTERVAL_S": "0.5"})
    try:
        srv.wait_ready({"plain"})
        reason = wait_for(lambda: srv.client.get("/readyz").json()["unavailable"].get("six"), what="the failure")
        assert lite.uri in reason and "unreachable" in reason and search_ok(srv.client, "plain")
        _restart_and_see_it_back(lite, srv)
    finally:
        srv.stop()
        lite.stop()


def _timed_search(client: httpx.Client, corpus: str) -> tuple[float, httpx.Response]:
    resp = client.post("/v1/search", json={"corpus": corpus, "query": QUESTION, "top_k": 2})
    return time.monotonic(), resp


def test_a_hung_milvus_holds_neither_the_local_corpus_nor_healthz_nor_its_password(lite_served_dir):
    """Issue 22.2 and 22.7: Milvus gets SIGSTOP and 45 searches go to its corpus. A local search and /healthz
    once waited 9 s behind them (every route shared one thread pool); /readyz showed the URI's password, and the
    first 503s blamed the search budget instead of Milvus. Now at most RAG_MILVUS_MAX_CALLS calls wait on the
    hung server, the rest fail at once with Retry-After, and the local corpus answers before any of the
    waiting ones is given up."""
    lite, index_dir = lite_served_dir
    lite.start()
    secret = lite.uri.replace("http://", "http://root:S3cretPass@")
    srv = start_server(index_dir, {"six", "plain"}, RAG_MILVUS_URI=secret)
    try:
        assert search_ok(srv.client)
        os.kill(lite.proc.pid, signal.SIGSTOP)
        with ThreadPoolExecutor(46) as pool, httpx.Client(base_url=srv.url, timeout=60,
                                                          limits=httpx.Limits(max_connections=50)) as client:
            hung = [pool.submit(_timed_search, client, "six") for _ in range(45)]
            time.sleep(1.0)  # let them reach the server
            local = pool.submit(_timed_search, client, "plain")
            health = srv.client.get("/healthz")
            local_done, local_resp = local.result()
            answers = [f.result() for f in hung]
        assert health.status_code == 200 and local_resp.status_code == 200
        busy = [r for _, r in answers if r.json().get("error") == "Overloaded" and "busy" in r.json()["detail"]]
        waited = [(t, r) for t, r in answers if r not in busy]
        assert busy and all(r.status_code == 503 and r.headers["Retry-After"] for r in busy)
        assert waited and all(r.status_code == 503 for _, r in waited)
        assert local_done < min(t for t, _ in waited)  # the local corpus did not wait behind the hung calls
        assert any("did not answer within" in r.json()["detail"] for _, r in waited)  # Milvus's reason, first
        ready = srv.client.get("/readyz").text
        shown = ready + "".join(r.text for _, r in answers)
        assert "S3cretPass" not in shown and "S3cretPass" not in srv.log()
        assert "***@127.0.0.1" in shown
    finally:
        os.kill(lite.proc.pid, signal.SIGCONT)
        srv.stop()


def test_a_hung_milvus_does_not_delay_the_hot_reload_of_a_local_corpus(lite_served_dir, corpus_file):
    """Issue 22.2: the registry checked each corpus's storage in turn, so a hung Milvus delayed the reload of
    an unrelated local corpus from 0.7 s to 8 s; each check now runs on a thread of its own."""
    lite, index_dir = lite_served_dir
    lite.start()
    srv = start_server(index_dir, {"six", "plain"})
    try:
        before = srv.client.get("/v1/corpora/plain").json()["built_at"]
        os.kill(lite.proc.pid, signal.SIGSTOP)
        time.sleep(1.0)  # the watcher is now inside a check of the hung Milvus
        build_index(corpus_file, options(index_dir, "plain", dense=False), progress=False)
        wait_for(lambda: srv.client.get("/v1/corpora/plain").json()["built_at"] != before, what="the reload")
        assert "six" in srv.client.get("/readyz").json()["corpora"]  # reloaded while the Milvus check still hangs
    finally:
        os.kill(lite.proc.pid, signal.SIGCONT)
        srv.stop()


def test_rebuilds_write_new_collections_and_never_store_the_token(corpus_file, embed_cache, tmp_path):
    """The build command with --engine milvus, then two rebuilds: each writes new collections, the previous
    build's stay for processes still serving it, older ones are dropped; the token given is stored nowhere."""
    lite = LiteServer(tmp_path / "lite-data")
    try:
        index_dir = tmp_path / "idx"
        shutil.copytree(embed_cache, index_dir / layout.EMBED_CACHE_DIR)  # the command uses the index dir's cache
        argv = [str(corpus_file), "--name", "six", "--index-dir", str(index_dir), "--engine", "milvus",
                "--milvus-uri", lite.uri, "--milvus-token", "root:Milvus-secret", "--quiet"]
        assert cli.main(argv) == 0
        first = layout.read_manifest(layout.published_version(index_dir, "six"))
        target = MilvusConnection(lite.uri, token="root:Milvus-secret")
        opts = options(index_dir, "six")
        second, third = (build_milvus_index(corpus_file, opts, target, progress=False).manifest for _ in range(2))
        assert "Milvus-secret" not in (layout.published_version(index_dir, "six") / layout.MANIFEST).read_text()
        names = [MilvusIndex.of(m).chunks for m in (first, second, third)]
        assert len(set(names)) == 3 and third.engine == "milvus"
        client = target.client()
        kept = set(client.list_collections())
        assert names[0] not in kept and {names[1], names[2]} <= kept
        assert client.describe_alias(MilvusIndex.of(third).chunks_alias)["collection_name"] == names[2]
        client.close()
    finally:
        lite.stop()


def test_highlights_and_evidence_first_context_on_every_engine(served):
    """Sentence evidence runs on the engine-neutral path: every engine's hits carry their best sentence, and the
    context at a small budget gives the answering sentence, its spans exact slices of the source."""
    docs = sample_docs(6)
    question = "若游戏中离，则多少分钟内不得进行配对？"
    top = hits(served, question, top_k=3)[0]
    best = top["highlights"][0]
    assert "4分钟内不得" in docs[top["doc_index"]]["page_body"][best["start_char"]:best["end_char"]]
    data = served.client.post("/v1/context", json={"corpus": "six", "query": question, "max_tokens": 60}).json()
    assert data["tokens"] <= 60 and "4分钟内不得" in data["context"]
    for source in data["sources"]:
        for span in source["spans"]:
            assert docs[source["doc_index"]]["page_body"][span["start_char"]:span["end_char"]] in data["context"]
