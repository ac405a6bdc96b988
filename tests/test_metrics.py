"""/metrics as Prometheus scrapes it: a real server, real searches, the exposition parsed by prometheus-client."""
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.settings import Settings
from indexing.build import build_index
from indexing.queue import BuildJob, BuildQueue
from tests.conftest import free_port, options, sample_docs, start_server, write_corpus


def scrape(client: httpx.Client, url: str = "/metrics", **kw) -> list:
    """Every sample of one scrape: (name, labels, value)."""
    resp = client.get(url, **kw)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/plain")
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(resp.text)
            for s in family.samples]


def value(samples: list, name: str, **labels) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 when there is none)."""
    return sum(v for n, have, v in samples if n == name and labels.items() <= have.items())


def test_a_scrape_counts_what_was_asked_and_shows_the_served_corpora(server):
    """The counters move by exactly the requests made here (the session server has served other tests before,
    so deltas are compared), and the corpus gauges match /v1/corpora."""
    client = server.client
    before = scrape(client)
    question = {"corpus": "small", "query": "泡泡战士这款游戏的开发商是谁"}  # asked by no other test
    first = client.post("/v1/search", json=question).json()
    again = client.post("/v1/search", json=question).json()
    off_topic = client.post("/v1/search", json={"corpus": "small", "query": "红烧肉的做法"}).json()
    bm25 = client.post("/v1/context", json={"corpus": "sample", "query": "泡泡战士", "mode": "bm25"}).json()
    assert client.post("/v1/search", json={"corpus": "nope", "query": "x"}).status_code == 404
    assert client.get("/v1/corpora/small/chunks/0/0").status_code == 200
    after = scrape(client)

    assert not first["low_confidence"] and not again["low_confidence"] and not bm25["low_confidence"]
    assert off_topic["low_confidence"]

    def moved(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    requests = "zhrag_http_requests_total"
    assert moved(requests, endpoint="/v1/search", method="POST", mode="hybrid", status="2xx") == 3
    assert moved(requests, endpoint="/v1/search", mode="hybrid", status="4xx") == 1
    assert moved(requests, endpoint="/v1/context", mode="bm25", status="2xx") == 1
    assert moved(requests, endpoint="/v1/corpora/{name}/chunks/{doc_index}/{chunk_index}", mode="",
                 status="2xx") == 1
    assert not any(n == requests and "/small/" in labels["endpoint"] for n, labels, _ in after)  # templates only

    latency = "zhrag_http_request_duration_seconds"
    at = dict(endpoint="/v1/search", mode="hybrid", status="2xx")
    buckets = {labels["le"]: v for n, labels, v in after
               if n == latency + "_bucket" and at.items() <= labels.items()}
    assert len(buckets) > 5 and "+Inf" in buckets
    assert moved(latency + "_bucket", le="+Inf", **at) == moved(latency + "_count", **at) == 3
    assert moved(latency + "_sum", **at) > 0

    assert moved("zhrag_answers_total", corpus="small", endpoint="/v1/search") == 3
    assert moved("zhrag_low_confidence_answers_total", corpus="small", endpoint="/v1/search") == 1
    assert moved("zhrag_low_confidence_answers_total", corpus="sample") == 0
    # the repeated question's vector came from the cache; the other two were embedded
    assert moved("zhrag_query_cache_hits_total", corpus="small") == 1
    assert moved("zhrag_query_cache_misses_total", corpus="small") == 2
    assert not any(n.startswith("zhrag_query_cache") and labels["corpus"] == "sample" for n, labels, _ in after)

    served = {c["name"]: c for c in client.get("/v1/corpora").json()["corpora"]}
    assert {"small", "sample", "mixed"} <= set(served)
    for name, stats in served.items():
        assert value(after, "zhrag_corpus_chunks", corpus=name, version=stats["version"]) == stats["chunks"]
        assert value(after, "zhrag_corpus_info", corpus=name, version=stats["version"]) == 1
        assert value(after, "zhrag_index_loads_total", corpus=name) == 1
    assert value(after, "zhrag_corpus_dense_coverage_ratio", corpus="small") == 1.0
    assert value(after, "zhrag_corpus_dense_coverage_ratio", corpus="sample") == 0.0
    assert value(after, "zhrag_index_load_failures_total") == 0


def test_a_scrape_shows_no_corpus_text_or_queries(server):
    """Public by default: labels are names and templates, never a title, a chunk or a question."""
    server.client.post("/v1/search", json={"corpus": "mixed", "query": "长江全长多少公里"})
    text = server.client.get("/metrics").text
    title = server.client.get("/v1/corpora/mixed/chunks/4/0").json()["title"]
    for secret in (title, "长江全长多少公里", "泡泡战士", "红烧肉的做法"):
        assert secret not in text


def test_failed_loads_and_queued_builds_are_exported(tmp_path):
    """Index state the service sees on disk: a corrupted corpus counts one load failure and is unavailable; a
    build waiting in the queue shows its state."""
    for name in ("good", "broken"):
        build_index(write_corpus(tmp_path / f"{name}.json", sample_docs(2)), options(tmp_path, name, dense=False),
                    progress=False)
    version = (tmp_path / "broken" / "CURRENT").read_text().strip()
    (tmp_path / "broken" / version / "chunk_docs.npy").write_bytes(b"flipped")
    opts = options(tmp_path, "later")
    opts_json = {**vars(opts), "index_dir": str(opts.index_dir)}
    assert BuildQueue(tmp_path).submit(BuildJob("later", str(tmp_path / "good.json"), "good.json", opts_json))
    srv = start_server(tmp_path, {"good"})
    try:
        samples = scrape(srv.client)
    finally:
        srv.stop()
    assert value(samples, "zhrag_index_loads_total", corpus="good") == 1
    assert value(samples, "zhrag_index_load_failures_total", corpus="broken") == 1
    assert value(samples, "zhrag_corpus_unavailable", corpus="broken") == 1
    assert not any(labels.get("corpus") == "broken" for n, labels, _ in samples if n == "zhrag_corpus_chunks")
    assert value(samples, "zhrag_build_state", corpus="later", state="queued") == 1
    assert value(samples, "zhrag_build_state", corpus="later", state="running") == 0
    assert value(samples, "zhrag_build_progress_ratio", corpus="later") == 0


@pytest.fixture(scope="module")
def bm25_index(tmp_path_factory):
    root = tmp_path_factory.mktemp("metrics-auth")
    build_index(write_corpus(root / "a.json", sample_docs(2)), options(root, "a", dense=False), progress=False)
    return root


@pytest.mark.parametrize("metrics, on_main_port", [("public", 200), ("auth", 401), ("off", 404)])
def test_with_api_keys_metrics_is_public_behind_the_key_or_off_as_configured(bm25_index, metrics, on_main_port):
    """RAG_METRICS decides whether a scrape needs the API's bearer key; the API itself always does."""
    srv = start_server(bm25_index, {"a"}, RAG_API_KEYS="k1", RAG_METRICS=metrics)
    try:
        assert srv.client.get("/v1/corpora").status_code == 401
        assert srv.client.get("/metrics").status_code == on_main_port
        keyed = srv.client.get("/metrics", headers={"Authorization": "Bearer k1"})
        assert keyed.status_code == (404 if metrics == "off" else 200)
        if metrics == "auth":
            assert value(scrape(srv.client, headers={"Authorization": "Bearer k1"}), "zhrag_corpus_chunks",
                         corpus="a") > 0
    finally:
        srv.stop()


def test_a_separate_metrics_port_serves_the_same_registry(bm25_index):
    """RAG_METRICS_PORT moves /metrics off the main port to a listener of its own (no key there)."""
    port = free_port()
    srv = start_server(bm25_index, {"a"}, RAG_API_KEYS="k1", RAG_METRICS_PORT=str(port))
    try:
        assert srv.client.get("/metrics", headers={"Authorization": "Bearer k1"}).status_code == 404
        srv.client.post("/v1/search", json={"corpus": "a", "query": "泡泡战士"}, headers={"Authorization": "Bearer k1"})
        with httpx.Client(timeout=30) as plain:
            samples = scrape(plain, f"http://127.0.0.1:{port}/metrics")
        assert value(samples, "zhrag_http_requests_total", endpoint="/v1/search", status="2xx") == 1
        assert value(samples, "zhrag_corpus_chunks", corpus="a") > 0
    finally:
        srv.stop()


def test_auth_on_a_separate_port_is_refused_at_startup():
    """The metrics listener has no auth: asking for both is a configuration error, not a silently open port."""
    with pytest.raises(ValueError, match="RAG_METRICS=auth"):
        Settings(metrics="auth", metrics_port=9100)
