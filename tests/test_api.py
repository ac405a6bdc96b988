"""The REST service over HTTP: a real uvicorn process, real indexes."""
import json
import shutil
import time

import pytest

from indexing.build import build_index
from tests.conftest import options, queued_dense_build, sample_docs, start_server, write_corpus


def search(server, **body):
    return server.client.post("/v1/search", json=body)


def test_health_and_readiness(server):
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz").json()
    assert {"small", "sample", "mixed"} <= set(ready["corpora"])


def test_search_returns_cited_scored_results(server):
    resp = search(server, corpus="small", query="泡泡战士是哪个公司开发的？", top_k=3)
    assert resp.status_code == 200
    data = resp.json()
    assert data["mode"] == "hybrid" and not data["low_confidence"] and 0 <= data["confidence"] <= 1
    top = data["results"][0]
    assert top["title"] == "泡泡战士" and "Nexon" in top["content"]
    assert top["citation"] == f'[long_context: "泡泡战士", chunk {top["chunk_index"]}]'
    assert set(top["scores"]) == {"bm25", "dense", "fused"} and top["scores"]["fused"] == top["score"]
    assert [r["rank"] for r in data["results"]] == [1, 2, 3]


def test_content_is_the_exact_document_slice(server):
    body = sample_docs(10)
    for r in search(server, corpus="small", query="游戏", top_k=10).json()["results"]:
        assert body[r["doc_index"]]["page_body"][r["start_char"]:r["end_char"]] == r["content"]


def test_modes_and_cross_language_query(server):
    q = "Which company developed the game Bubble Fighter?"
    dense = search(server, corpus="small", query=q, mode="dense", top_k=3).json()
    hybrid = search(server, corpus="small", query=q, mode="hybrid", top_k=3).json()
    assert dense["results"][0]["title"] == hybrid["results"][0]["title"] == "泡泡战士"
    bm25 = search(server, corpus="small", query="泡泡战士", mode="bm25", top_k=3).json()
    assert bm25["results"][0]["title"] == "泡泡战士" and bm25["results"][0]["scores"]["dense"] is None


def test_bm25_only_corpus_serves_hybrid_as_bm25_and_refuses_dense(server):
    hybrid = search(server, corpus="sample", query="泡泡战士", mode="hybrid")
    assert hybrid.status_code == 200 and hybrid.json()["mode"] == "bm25"
    dense = search(server, corpus="sample", query="泡泡战士", mode="dense")
    assert dense.status_code == 409 and "no dense vectors" in dense.json()["detail"]


def test_diverse_results_span_documents_and_cap_each(server):
    data = search(server, corpus="sample", query="游戏 公司 发行", top_k=10, min_docs=5, max_per_doc=1).json()
    docs = [r["doc_index"] for r in data["results"]]
    assert len(set(docs)) == len(docs) >= 5
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    plain = search(server, corpus="sample", query="游戏 公司 发行", top_k=10, diverse=False).json()
    plain_scores = [r["score"] for r in plain["results"]]
    assert plain_scores == sorted(plain_scores, reverse=True) and plain_scores[0] >= scores[0]


def test_near_duplicates_take_one_slot_when_diverse(server):
    q = "KV缓存 分页注意力 显存"
    diverse = search(server, corpus="mixed", query=q, top_k=4, max_per_doc=1).json()["results"]
    assert len({r["doc_index"] for r in diverse} & {0, 1}) == 1  # the repost (doc 1) shares doc 0's group
    plain = search(server, corpus="mixed", query=q, top_k=4, diverse=False).json()["results"]
    assert {0, 1} <= {r["doc_index"] for r in plain}


def test_text_format_is_the_layout_agents_parse(server):
    resp = server.client.post("/v1/search?format=text", json={"corpus": "small", "query": "泡泡战士", "top_k": 2})
    assert resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    for line in ["=== RAG Search Results ===", "Query: 泡泡战士", "Source File: ", "Results Found: 2", "Result 1",
                 'Citation: [long_context: "泡泡战士", chunk 0]', "Relevance Score: ", "Document Index: 0",
                 "Chunk Index: 0", "Title: 泡泡战士", "--- Content ---", '(Cite as: [long_context: "泡泡战士", chunk 0])']:
        assert line in text


def test_context_fits_the_budget_and_heads_passages_with_citations(server):
    for budget in [60, 500, 4000]:
        data = server.client.post("/v1/context", json={"corpus": "small", "query": "泡泡战士的游戏模式",
                                                       "max_tokens": budget}).json()
        assert data["tokens"] <= budget and data["sources"]
        assert data["sources"][0]["citations"][0] in data["context"]
    small = server.client.post("/v1/context", json={"corpus": "small", "query": "泡泡战士", "max_tokens": 60,
                                                    "context_mode": "passages"}).json()
    assert small["sources"][0]["truncated"] and "[truncated]" in small["context"]


def test_evidence_context_puts_the_answer_sentence_first_and_its_spans_are_exact(server):
    """At a small budget the passages' opening is not the answer; evidence mode finds it by its sentence."""
    q = "若游戏中离，则多少分钟内不得进行配对？"
    data = server.client.post("/v1/context", json={"corpus": "small", "query": q, "max_tokens": 60}).json()
    assert data["tokens"] <= 60 and "[truncated]" not in data["context"] and "4分钟内不得" in data["context"]
    old = server.client.post("/v1/context", json={"corpus": "small", "query": q, "max_tokens": 60,
                                                  "context_mode": "passages"}).json()
    assert "4分钟内不得" not in old["context"]
    for source in data["sources"]:
        assert source["spans"] and all(c in data["context"] for c in source["citations"])
        for span in source["spans"]:
            chunk = server.client.get(f"/v1/corpora/small/chunks/{source['doc_index']}/0").json()
            body_part = chunk["content"][span["start_char"] - chunk["start_char"]:span["end_char"] - chunk["start_char"]]
            assert body_part and body_part in data["context"]
    big = {"corpus": "small", "query": q, "max_tokens": 32000}
    evidence = server.client.post("/v1/context", json=big).json()
    passages = server.client.post("/v1/context", json=big | {"context_mode": "passages"}).json()
    assert evidence["context"] == passages["context"]  # at a large budget the output is today's


def test_every_hit_carries_its_best_sentences_as_document_offsets(server):
    results = search(server, corpus="small", query="泡泡战士是哪个公司开发的？", top_k=3).json()["results"]
    top = results[0]
    assert 1 <= len(top["highlights"]) <= 3
    best = top["highlights"][0]
    assert top["start_char"] <= best["start_char"] < best["end_char"] <= top["end_char"]
    assert "Nexon" in top["content"][best["start_char"] - top["start_char"]:best["end_char"] - top["start_char"]]
    text = server.client.post("/v1/search?format=text", json={"corpus": "small", "query": "泡泡战士是哪个公司开发的？",
                                                              "top_k": 3}).text
    assert f"Highlights: [{best['start_char']}:{best['end_char']}]" in text and "Best sentence: " in text


def test_every_emitted_citation_resolves_to_its_chunk(server):
    results = search(server, corpus="mixed", query="长江 三峡 防洪 公交", top_k=10, diverse=False).json()["results"]
    report = "\n".join(f"据报道，{r['citation']}" for r in results)
    resolved = server.client.post("/v1/citations/resolve", json={"corpus": "mixed", "text": report}).json()
    assert resolved["found"] == len(results) == 10
    for r, c in zip(results, resolved["citations"]):
        if r["doc_index"] in (8, 9):  # two titles share their first 50 characters: the citation is ambiguous
            assert not c["resolved"] and "title prefix shared by 2 documents (8, 9)" in c["reason"]
        else:
            assert (c["doc_index"], c["chunk_index"], c["content"]) == (r["doc_index"], r["chunk_index"], r["content"])
    quoted = "\n".join(f"“{r['content'][:12]}” {r['citation']}" for r in results)
    with_claims = server.client.post("/v1/citations/resolve", json={"corpus": "mixed", "text": quoted}).json()
    assert with_claims["resolved"] == 10  # a quoted claim disambiguates the shared prefix


def test_resolve_explains_failures_and_checks_claims(server):
    text = ('“三峡工程位于湖北省宜昌市” [long_context: "长江三峡工程概况", chunk 0]\n'
            '“位于四川” [long_context: "长江三峡工程概况", chunk 0]\n'
            '[long_context: "不存在的文章", chunk 0]\n[long_context: "长江三峡工程概况", chunk 99]\n'
            '[long_context: "关于推进城市公共交通优先发展的若干意见与实施细则及配套措施和地方实施方案的通知（二〇二五年修订版，全文）第一部分", chunk 0]')
    got = server.client.post("/v1/citations/resolve", json={"corpus": "mixed", "text": text}).json()["citations"]
    assert got[0]["resolved"] and got[0]["claim_match"] == "exact"
    assert got[1]["resolved"] and got[1]["claim_match"] == "none"
    assert not got[2]["resolved"] and "no document titled" in got[2]["reason"]
    assert not got[3]["resolved"] and "out of range" in got[3]["reason"]
    assert not got[4]["resolved"] and "title prefix shared by" in got[4]["reason"]


def test_resolve_checks_that_the_chunk_supports_the_sentence_before_each_citation(server):
    """Quoted or not, a claim is scored against the cited chunk; its closest sentence is given as document offsets."""
    text = ('尤金袋鼠在袋鼠岛上每季都大量繁殖，因而被视为害虫[long_context: "尤金袋鼠", chunk 0]。'
            'The squeezing effect in LLM finetuning is caused by negative gradients [long_context: "尤金袋鼠", chunk 0].'
            '“由韩国Nexon开发与发行” [long_context: "泡泡战士", chunk 0]')
    got = server.client.post("/v1/citations/resolve", json={"corpus": "small", "text": text}).json()
    assert (got["found"], got["resolved"], got["ok"], got["partial"], got["failed"]) == (3, 3, 2, 0, 1)
    paraphrase, unrelated, quoted = got["citations"]
    body = sample_docs(10)[1]["page_body"]
    assert paraphrase["claim"] == "尤金袋鼠在袋鼠岛上每季都大量繁殖，因而被视为害虫" and not paraphrase["claim_quoted"]
    assert (paraphrase["support"], paraphrase["verdict"]) == ("supported", "ok")
    best = paraphrase["best_sentence"]
    assert body[best["start_char"]:best["end_char"]] == best["text"] and "每季在袋鼠岛都大量繁殖" in best["text"]
    assert (unrelated["support"], unrelated["verdict"]) == ("unsupported", "failed") and unrelated["support_score"] < 0.4
    assert (quoted["claim_match"], quoted["support"], quoted["verdict"]) == ("exact", "supported", "ok")
    assert quoted["best_sentence"]["text"] == "由韩国Nexon开发与发行"


@pytest.fixture(scope="module")
def shared_prefix(tmp_path_factory):
    """12 documents whose titles share their first 50 characters, and two whose titles differ by a forged citation,
    served with a cap of 20 citations."""
    root = tmp_path_factory.mktemp("shared-prefix")
    prefix = ("城市公共交通优先发展的若干意见与实施细则" * 3)[:50]
    docs = [{"title": f"{prefix}（第{i}号）", "page_body": f"第{i}号文件的正文。线路编号{i}。"} for i in range(12)]
    docs += [{"title": "目标文章", "page_body": "目标文章的正文。"},
             {"title": '目标文章", chunk 1] 另一篇', "page_body": "另一篇文章，标题里有引号和方括号。"}]
    build_index(write_corpus(root / "c.json", docs), options(root / "idx", "c", dense=False), progress=False)
    srv = start_server(root / "idx", {"c"}, RAG_MAX_CITATIONS="20")
    yield srv, prefix
    srv.stop()


def test_too_many_citations_get_one_422_line(shared_prefix):
    """Issue 22.4: 1,282 citations in one text burned 29 s of CPU; past RAG_MAX_CITATIONS the check is refused."""
    srv, prefix = shared_prefix
    text = f'[long_context: "{prefix}", chunk 0]' * 21
    resp = srv.client.post("/v1/citations/resolve", json={"corpus": "c", "text": text})
    assert resp.status_code == 422
    assert resp.json()["detail"] == ("the text holds 21 citations; check at most 20 per request (RAG_MAX_CITATIONS): "
                                     "split the report")


def test_an_ambiguous_citation_names_a_count_and_the_first_five_documents(shared_prefix):
    """Listing all 3,000 documents sharing a prefix made a 27 KB text's answer 2.6 MB."""
    srv, prefix = shared_prefix
    got = srv.client.post("/v1/citations/resolve", json={"corpus": "c", "text": f'[long_context: "{prefix}", chunk 0]'})
    (c,) = got.json()["citations"]
    assert not c["resolved"] and c["candidates"] == 12 and c["verdict"] == "failed"
    assert c["reason"].startswith("title prefix shared by 12 documents (the first 5: 0, 1, 2, 3, 4);")
    quoted = srv.client.post("/v1/citations/resolve", json={"corpus": "c", "text": f'“线路编号7” [long_context: "{prefix}", chunk 0]'})
    assert quoted.json()["citations"][0]["doc_index"] == 7  # a quoted claim still tells them apart


def test_a_title_cannot_forge_a_citation_and_its_citation_still_resolves(shared_prefix):
    """Issue 22.10: a document titled `目标文章", chunk 1] 另一篇` was cited as `[long_context: "目标文章", chunk 1] 另一篇",
    chunk 0]`, which resolved to the document titled 目标文章."""
    srv, _ = shared_prefix
    results = srv.client.post("/v1/search", json={"corpus": "c", "query": "标题里有引号和方括号", "top_k": 1}).json()
    (top,) = results["results"]
    assert top["doc_index"] == 13 and top["citation"] == '[long_context: "目标文章＂, chunk 1］ 另一篇", chunk 0]'
    got = srv.client.post("/v1/citations/resolve", json={"corpus": "c", "text": f"另一篇文章{top['citation']}"}).json()
    (c,) = got["citations"]
    assert (c["resolved"], c["doc_index"], c["chunk_index"], c["verdict"]) == (True, 13, 0, "ok")


def test_corpus_stats_and_chunk_lookup(server):
    corpora = server.client.get("/v1/corpora").json()["corpora"]
    assert {"small", "sample", "mixed"} <= {c["name"] for c in corpora}
    stats = server.client.get("/v1/corpora/mixed").json()
    assert stats["documents"] == 10 and stats["empty_documents"] == 1 and stats["dense"] is True
    assert stats["duplicate_groups"] == 1 and stats["sample_titles"] and stats["avg_chunk_chars"] > 0
    assert stats["dense_coverage"]["summary"] == "Semantic index complete."
    chunk = server.client.get("/v1/corpora/mixed/chunks/4/1").json()
    assert chunk["previous"]["chunk_index"] == 0 and chunk["chunks_in_document"] >= 2
    assert chunk["citation"] == '[long_context: "长江流域的水文特征", chunk 1]'
    assert server.client.get("/v1/corpora/mixed/chunks/4/999").status_code == 404
    for odd in ("1_0", "+1", "1.0", "-1", " 1"):  # coordinates are plain integers, nothing pydantic would coerce
        assert server.client.get(f"/v1/corpora/mixed/chunks/{odd}/0").status_code == 422


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({"corpus": "nope", "query": "x"}, 404, "unknown corpus"),
        ({"corpus": "small", "query": "   "}, 422, "query is empty"),
        ({"corpus": "small", "query": "x", "top_k": 0}, 422, "top_k"),
        ({"corpus": "small", "query": "x", "top_k": 101}, 422, "top_k"),
        ({"corpus": "small", "query": "长" * 2001}, 422, "query"),
        ({"corpus": "small", "query": "x", "colour": "red"}, 422, "unknown field"),
        ({"corpus": "small", "query": "x", "mode": "magic"}, 422, "mode"),
        ({"corpus": "small"}, 422, "query"),
    ],
)
def test_bad_requests_get_a_4xx_with_a_message(server, body, status, words):
    resp = search(server, **body)
    assert resp.status_code == status and words in resp.json()["detail"]


def test_context_budget_limits(server):
    for bad in [0, 32001]:
        resp = server.client.post("/v1/context", json={"corpus": "small", "query": "x", "max_tokens": bad})
        assert resp.status_code == 422 and "max_tokens" in resp.json()["detail"]


def test_malformed_json_body_is_a_422_not_a_500(server):
    for body in (b"{not json", b"\xff\xfe\x00\x81"):  # not JSON, and not even UTF-8
        resp = server.client.post("/v1/search", content=body, headers={"content-type": "application/json"})
        assert resp.status_code == 422 and resp.json()["error"] == "InvalidRequest"


def test_openapi_documents_the_endpoints(server):
    paths = server.client.get("/openapi.json").json()["paths"]
    for path in ["/v1/search", "/v1/context", "/v1/corpora", "/v1/corpora/{name}",
                 "/v1/corpora/{name}/chunks/{doc_index}/{chunk_index}", "/v1/citations/resolve", "/healthz", "/readyz"]:
        assert path in paths


def test_a_rebuilt_index_is_picked_up_without_restart(tmp_path):
    corpus = write_corpus(tmp_path / "live.json", sample_docs(2))
    build_index(corpus, options(tmp_path, "live", dense=False), progress=False)
    srv = start_server(tmp_path, {"live"})
    try:
        before = srv.client.get("/v1/corpora/live").json()
        assert before["documents"] == 2
        write_corpus(corpus, sample_docs(5))
        build_index(corpus, options(tmp_path, "live", dense=False), progress=False)
        for _ in range(100):
            if srv.client.get("/v1/corpora/live").json()["documents"] == 5:
                break
            time.sleep(0.1)
        assert srv.client.get("/v1/corpora/live").json()["documents"] == 5
        assert search(srv, corpus="live", query="泡泡战士").status_code == 200
    finally:
        srv.stop()


def test_one_unreadable_pointer_makes_only_its_corpus_unavailable_until_fixed(tmp_path):
    for name in ("ok", "odd"):
        build_index(write_corpus(tmp_path / f"{name}.json", sample_docs(2)), options(tmp_path, name, dense=False),
                    progress=False)
    current = tmp_path / "odd" / "CURRENT"
    pointer = current.read_bytes()
    current.write_bytes(b"\xff\xfe\x00")
    srv = start_server(tmp_path, {"ok"})
    try:
        ready = srv.client.get("/readyz").json()
        assert "ok" in ready["corpora"] and "not a version name" in ready["unavailable"]["odd"]
        assert str(tmp_path) not in str(ready)  # the public readiness probe names no server paths
        resp = search(srv, corpus="odd", query="泡泡战士")
        assert resp.status_code == 503 and "not a version name" in resp.json()["detail"]
        assert search(srv, corpus="ok", query="泡泡战士").status_code == 200
        current.write_bytes(pointer)
        for _ in range(100):
            if search(srv, corpus="odd", query="泡泡战士").status_code == 200:
                break
            time.sleep(0.1)
        assert search(srv, corpus="odd", query="泡泡战士").status_code == 200
    finally:
        srv.stop()


def test_a_corpus_published_but_not_loaded_yet_answers_503_with_retry_after(tmp_path):
    build_index(write_corpus(tmp_path / "a.json", sample_docs(2)), options(tmp_path, "a", dense=False), progress=False)
    srv = start_server(tmp_path, {"a"}, RAG_RELOAD_INTERVAL_S="60")
    try:
        build_index(write_corpus(tmp_path / "b.json", sample_docs(2)), options(tmp_path, "b", dense=False),
                    progress=False)
        resp = search(srv, corpus="b", query="泡泡战士")
        assert resp.status_code == 503 and "still loading" in resp.json()["detail"]
        assert resp.headers["retry-after"] == "2"
        assert search(srv, corpus="zzz", query="x").status_code == 404
    finally:
        srv.stop()


def test_a_queued_dense_build_shows_in_builds_and_in_the_corpus_coverage(tmp_path):
    queued_dense_build(tmp_path, "q", sample_docs(3))
    srv = start_server(tmp_path, {"q"})  # no worker was started: the job waits
    try:
        assert srv.client.get("/v1/builds").json()["builds"] == [
            {"name": "q", "state": "queued", "target": "full", "stage": None, "done_chars": 0, "total_chars": 0,
             "eta_s": None, "message": None,
             "summary": "queued, target full, stage starting, 0% of its embedding done, ETA measuring"}]
        coverage = srv.client.get("/v1/corpora/q").json()["dense_coverage"]
        assert coverage == {"stage": "none", "target": "full", "chunks_with_vectors": 0.0, "building": "queued",
                            "eta_s": None, "build_stage": None, "build_done": 0.0,
                            "summary": "Semantic index: none yet (keyword search only) (0% of passages); build "
                                       "towards full queued: stage starting, 0% of its embedding done, ETA measuring."}
        english = search(srv, corpus="q", query="Which company developed Bubble Fighter?").json()
        assert english["dense_coverage"]["building"] == "queued" and "Chinese rewording" in english["guidance"]
        assert search(srv, corpus="q", query="泡泡战士").json()["guidance"] is None
    finally:
        srv.stop()


def test_the_api_docs_group_every_endpoint_by_what_it_is_for(server):
    """Swagger UI showed every endpoint under "default"."""
    paths = server.client.get("/openapi.json").json()["paths"]
    tags = {path: op["tags"] for path, ops in paths.items() for op in ops.values()}
    assert all(len(t) == 1 for t in tags.values()), tags
    assert tags["/v1/search"] == tags["/v1/context"] == ["retrieval"] and tags["/v1/builds"] == ["builds"]
    assert tags["/v1/corpora/{name}"] == ["corpora"] and tags["/healthz"] == ["health"]
