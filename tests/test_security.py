"""Operating safely: auth, CORS, request limits, time budget, corrupted indexes (each refusal shown over HTTP)."""
import pytest

from indexing import layout
from indexing.build import build_index
from tests.conftest import options, sample_docs, start_server, write_corpus


@pytest.fixture(scope="module")
def two_corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("secure")
    for name in ("good", "broken"):
        build_index(write_corpus(root / f"{name}.json", sample_docs(4)), options(root, name, dense=False),
                    progress=False)
    target = layout.published_version(root, "broken") / layout.CHUNKS_DB
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01  # one flipped bit
    target.write_bytes(bytes(data))
    return root


@pytest.fixture(scope="module")
def locked(two_corpora):
    srv = start_server(two_corpora, {"good"}, RAG_API_KEYS="k1,secret-2", RAG_CORS_ORIGINS="https://ok.example",
                       RAG_MAX_BODY_BYTES="2000")
    yield srv
    srv.stop()


def test_api_keys_guard_everything_but_health(locked):
    assert locked.client.get("/healthz").status_code == 200
    assert locked.client.get("/readyz").status_code == 200
    body = {"corpus": "good", "query": "泡泡战士"}
    assert locked.client.post("/v1/search", json=body).status_code == 401
    assert locked.client.post("/v1/search", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert locked.client.post("/v1/search", json=body, headers={"Authorization": "Basic secret-2"}).status_code == 401
    assert locked.client.get("/v1/corpora").status_code == 401
    ok = locked.client.post("/v1/search", json=body, headers={"Authorization": "Bearer secret-2"})
    assert ok.status_code == 200


def test_cors_allows_only_configured_origins(locked):
    good = locked.client.options("/v1/search", headers={"Origin": "https://ok.example",
                                                       "Access-Control-Request-Method": "POST"})
    assert good.headers.get("access-control-allow-origin") == "https://ok.example"
    bad = locked.client.options("/v1/search", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in bad.headers


def test_cors_is_closed_by_default(server):
    resp = server.client.options("/v1/search", headers={"Origin": "https://ok.example",
                                                        "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in resp.headers


def test_oversized_bodies_are_refused(locked):
    resp = locked.client.post("/v1/citations/resolve", json={"corpus": "good", "text": "长" * 3000},
                              headers={"Authorization": "Bearer k1"})
    assert resp.status_code == 413 and "2000 bytes" in resp.json()["detail"]


def test_streamed_bodies_of_unknown_size_are_refused(locked):
    def chunks():
        yield b'{"corpus": "good", '
        yield b'"query": "x"}'

    resp = locked.client.post("/v1/search", content=chunks(),
                              headers={"Authorization": "Bearer k1", "content-type": "application/json"})
    assert resp.status_code == 411


def test_a_corrupted_index_is_unavailable_while_others_serve(locked):
    auth = {"Authorization": "Bearer k1"}
    assert "broken" in locked.client.get("/readyz").json()["unavailable"]
    resp = locked.client.post("/v1/search", json={"corpus": "broken", "query": "x"}, headers=auth)
    assert resp.status_code == 503 and "checksum" in resp.json()["detail"]
    assert locked.client.post("/v1/search", json={"corpus": "good", "query": "x"}, headers=auth).status_code == 200
    listed = locked.client.get("/v1/corpora", headers=auth).json()
    assert [c["name"] for c in listed["corpora"]] == ["good"] and "broken" in listed["unavailable"]


def test_a_search_over_its_time_budget_gets_a_503(two_corpora):
    srv = start_server(two_corpora, {"good"}, RAG_SEARCH_TIMEOUT_S="0.000001")
    try:
        resp = srv.client.post("/v1/search", json={"corpus": "good", "query": "泡泡战士"})
        assert resp.status_code == 503 and "longer than" in resp.json()["detail"]
        assert srv.client.get("/healthz").status_code == 200
    finally:
        srv.stop()


def test_index_names_cannot_escape_the_index_dir(server):
    for name in ["..", "../etc", "%2e%2e", "a/b"]:
        resp = server.client.get(f"/v1/corpora/{name}")
        assert resp.status_code == 404
