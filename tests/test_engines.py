"""One API contract, every engine: the same REST calls against a corpus served by the local engine, by embedded
Milvus Lite (a ``.db`` path) and by a Milvus Lite server; then a Milvus going down and coming back."""
from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from fastapi.testclient import TestClient  # noqa: E402

from app.fusion import FusionParams  # noqa: E402
from app.loaded import LoadedCorpus  # noqa: E402
from app.main import create_app  # noqa: E402
from app.mcp_server import create_server  # noqa: E402
from app.search import SearchParams, search  # noqa: E402
from app.settings import Settings  # noqa: E402
from indexing import cli, layout  # noqa: E402
from indexing.build import build_index  # noqa: E402
from indexing.milvus_export import build_milvus_index  # noqa: E402
from indexing.milvus_layout import MilvusConnection, MilvusIndex  # noqa: E402
from tests.conftest import free_port, options, sample_docs, start_server, write_corpus  # noqa: E402

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
    assert not result.is_error and "=== RAG Search Results ===" in text and "Title: 泡泡战士" in text


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
        lite.start()
        wait_for(lambda: search_ok(srv.client), what="the corpus to come back")
        assert "six" in srv.client.get("/readyz").json()["corpora"]
    finally:
        srv.stop()
        lite.stop()


def test_a_milvus_down_at_startup_is_retried_until_it_answers(lite_served_dir):
    """A corpus whose Milvus is unreachable when its version is first loaded is retried, not given up."""
    lite, index_dir = lite_served_dir
    lite.stop()
    settings = Settings(index_dir=index_dir, reload_interval_s=0.3)
    try:
        with TestClient(create_app(settings)) as client:
            reason = wait_for(lambda: client.get("/readyz").json().get("unavailable", {}).get("six"),
                              what="the failure")
            assert lite.uri in reason and search_ok(client, "plain")
            lite.start()
            wait_for(lambda: search_ok(client), what="the corpus to load")
    finally:
        lite.stop()


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
