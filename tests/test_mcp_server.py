"""The MCP server as an agent sees it: spawned over stdio by the SDK's real client."""
import asyncio
import os
import sys
import time
from pathlib import Path

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from app.agent.citations import CITATION
from indexing import layout
from tests.conftest import ROOT, build_intervals, sample_docs, start_server, write_corpus

EXPECTED = {
    "rag_search": {"query": None, "json_path": None, "top_k": 10, "diverse": True, "min_docs": 5, "max_per_doc": 2},
    "rag_get_context": {"query": None, "json_path": None, "max_tokens": 4000, "top_k": 10, "diverse": True,
                        "min_docs": 5, "max_per_doc": 2, "context_mode": "evidence"},
    "rag_document_stats": {"json_path": None},
    "rag_verify_citations": {"text": None, "json_path": None},
    "rag_read": {"json_path": None, "citation": None, "before": 0, "after": 1, "max_tokens": 4000},
}


async def _session_run(env: dict, calls: list[tuple[str, dict]], command: tuple[str, ...] = (), errlog=sys.stderr):
    """``command``: how the client starts the server, from any directory (default: this python,
    ``-m app.serving.mcp_server``, from the checkout); ``errlog``: where the server's stderr goes."""
    program, *args = command or (sys.executable, "-m", "app.serving.mcp_server")
    params = StdioServerParameters(command=program, args=args, env={**os.environ, **env},
                                   cwd="/" if command else str(ROOT))
    async with stdio_client(params, errlog=errlog) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = [await session.call_tool(name, args) for name, args in calls]
            return tools, results


def run(env, calls, command: tuple[str, ...] = (), errlog=sys.stderr):
    return asyncio.run(_session_run(env, calls, command, errlog))


@pytest.fixture(scope="module")
def agent_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent-roots")
    folder = root / "task-005"
    folder.mkdir()
    write_corpus(folder / "long_context.json", sample_docs(8))
    return root


def test_the_readme_config_works_from_a_client_whose_path_lacks_the_venv(agent_folder, tmp_path):
    """The README's MCP config: the venv's absolute ``zh-rag`` with ``args: ["mcp"]``, started with a bare PATH
    (a client's ``"command": "python"`` once found the system Python and died on a missing module)."""
    command = Path(sys.executable).parent / "zh-rag"
    if not command.is_file():
        pytest.skip("the zh-rag console script is not installed beside this python")
    env = {"PATH": "/usr/bin:/bin", "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    with open(tmp_path / "stderr.log", "w+") as errlog:
        _, (result,) = run(env, [("rag_document_stats", {
            "json_path": str(agent_folder / "task-005" / "long_context.json")})], command=(str(command), "mcp"),
            errlog=errlog)
        errlog.seek(0)
        log = errlog.read()
    assert not result.is_error and "Documents: 8" in result.content[0].text
    # the agent's log of a normal start holds no alarming lines (faiss once listed every library it failed to load)
    assert "Could not" not in log and "Error" not in log and "Traceback" not in log, log


def test_tools_names_arguments_and_defaults_match_the_old_tool(agent_folder, tmp_path):
    tools, _ = run({"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder)}, [])
    assert {t.name for t in tools} == set(EXPECTED)
    for tool in tools:
        props = tool.input_schema["properties"]
        assert set(props) == set(EXPECTED[tool.name])
        for arg, default in EXPECTED[tool.name].items():
            assert props[arg].get("default") == default
        assert set(tool.input_schema["required"]) == {a for a, d in EXPECTED[tool.name].items() if d is None}
        assert len(tool.description) > 80


def test_tools_answer_and_their_citations_resolve_through_rest(agent_folder, tmp_path):
    json_path = str(agent_folder / "task-005" / "long_context.json")
    env = {"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder), "RAG_MCP_MAX_RESULT_CHARS": "80"}
    _, (search, context, stats) = run(env, [
        ("rag_search", {"query": "泡泡战士是哪个公司开发的", "json_path": json_path, "top_k": 3}),
        ("rag_get_context", {"query": "泡泡战士的游戏模式", "json_path": json_path, "max_tokens": 300}),
        ("rag_document_stats", {"json_path": json_path}),
    ])
    assert not search.is_error and not context.is_error and not stats.is_error
    search_text = search.content[0].text
    assert "indexed for keyword (BM25) search" in search_text  # first use: BM25 now, dense follows
    assert "=== RAG Search Results ===" in search_text and "Title: 泡泡战士" in search_text
    assert "…[cut:" in search_text and "CITATION GUIDANCE" in search_text
    assert "Passages:" in context.content[0].text and "of 300 tokens" in context.content[0].text
    assert "Documents: 8" in stats.content[0].text
    srv = start_server(tmp_path, set())
    try:
        names = [c["name"] for c in srv.client.get("/v1/corpora").json()["corpora"]]
        assert len(names) == 1
        text = search_text + context.content[0].text
        cited = {m.group(0) for m in CITATION.finditer(text) if "Document Title" not in m.group(0)}
        assert cited
        got = srv.client.post("/v1/citations/resolve", json={"corpus": names[0], "text": "\n".join(cited)}).json()
        assert got["resolved"] == got["found"] == len(cited)
    finally:
        srv.stop()


def test_the_same_answers_through_the_rest_service(agent_folder, tmp_path):
    json_path = str(agent_folder / "task-005" / "long_context.json")
    local_env = {"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    call = [("rag_search", {"query": "泡泡战士", "json_path": json_path, "top_k": 3})]
    run(local_env, call)  # indexes on first use; dense vectors follow in the background
    deadline = time.monotonic() + 180
    while not _has_dense(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _has_dense(tmp_path)
    srv = start_server(tmp_path, set())
    try:
        _, (local,) = run(local_env, call)
        _, (remote,) = run({**local_env, "RAG_SERVICE_URL": srv.url}, call)
    finally:
        srv.stop()
    strip = lambda t: [line for line in t.splitlines() if not line.startswith("Note:")]  # noqa: E731
    assert strip(local.content[0].text) == strip(remote.content[0].text)


def test_four_agents_with_four_new_corpora_get_answers_at_once_and_one_build_at_a_time(tmp_path):
    """Agents starting tasks together must not each start an embedding process on the same two cores."""
    roots = tmp_path / "roots"
    docs = sample_docs()
    paths = []
    for i in range(4):
        (roots / f"task-{i}").mkdir(parents=True)
        paths.append(str(write_corpus(roots / f"task-{i}" / "long_context.json", docs[i * 7:(i + 1) * 7])))
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(roots)}

    async def agents():
        calls = [_session_run(env, [("rag_search", {"query": docs[i * 7]["title"], "json_path": p, "top_k": 3})])
                 for i, p in enumerate(paths)]
        return await asyncio.gather(*calls)

    answers = [results[0] for _, results in asyncio.run(agents())]
    for i, answer in enumerate(answers):
        assert not answer.is_error
        assert f"Title: {docs[i * 7]['title']}" in answer.content[0].text  # BM25 answers before any vector
    log = tmp_path / "idx" / layout.QUEUE_DIR / "worker.log"
    deadline = time.monotonic() + 300
    while len(build_intervals(log.read_text() if log.exists() else "")) < 4 and time.monotonic() < deadline:
        time.sleep(0.5)
    spans = sorted(build_intervals(log.read_text()).values())
    assert len(spans) == 4  # each corpus built once
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))


def _has_dense(index_dir) -> bool:
    names = layout.list_corpora(index_dir)
    return bool(names) and layout.read_manifest(layout.published_version(index_dir, names[0])).embedder is not None


def test_paths_outside_the_allowed_roots_are_refused_and_not_read(agent_folder, tmp_path):
    outside = tmp_path / "secret"
    outside.mkdir()
    write_corpus(outside / "long_context.json", sample_docs(2))
    link = agent_folder / "escape.json"
    link.symlink_to(outside / "long_context.json")
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    _, results = run(env, [
        ("rag_search", {"query": "x", "json_path": str(outside / "long_context.json")}),
        ("rag_search", {"query": "x", "json_path": str(agent_folder / ".." / "secret" / "long_context.json")}),
        ("rag_search", {"query": "x", "json_path": str(link)}),
        ("rag_document_stats", {"json_path": str(agent_folder / "missing.json")}),
    ])
    for result in results[:3]:
        assert result.is_error and "outside the allowed corpus roots" in result.content[0].text
    assert results[3].is_error and "does not exist" in results[3].content[0].text
    assert not (tmp_path / "idx").exists() or not any((tmp_path / "idx").iterdir())  # nothing was indexed
    link.unlink()


def test_mistakes_an_agent_makes_get_one_line_it_can_act_on(agent_folder, tmp_path):
    json_path = str(agent_folder / "task-005" / "long_context.json")
    env = {"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    _, (relative, too_many) = run(env, [
        ("rag_search", {"query": "x", "json_path": "long_context.json"}),
        ("rag_search", {"query": "泡泡战士", "json_path": json_path, "top_k": 10000}),
    ])
    assert relative.is_error and "must be an absolute path" in relative.content[0].text
    assert str(agent_folder) in relative.content[0].text  # the roots are named
    text = too_many.content[0].text
    assert too_many.is_error and "top_k" in text and "100" in text
    assert "pydantic" not in text and "\n" not in text.strip()


def test_a_swapped_in_symlink_or_fifo_never_gets_an_outside_file_indexed(tmp_path):
    """The corpus is opened once, checked, and snapshotted: swapping the path afterwards changes nothing."""
    roots, outside = tmp_path / "roots", tmp_path / "outside"
    (roots / "t1").mkdir(parents=True)
    outside.mkdir()
    lc = write_corpus(roots / "t1" / "lc.json", sample_docs(3))
    secret = write_corpus(outside / "secret.json", [{"title": "SECRET-TITLE", "page_body": "机密内容" * 50}])
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(roots)}
    _, (first,) = run(env, [("rag_document_stats", {"json_path": str(lc)})])
    assert not first.is_error
    lc.unlink()
    lc.symlink_to(secret)  # swapped as soon as the call returned; the background build is still running
    os.mkfifo(roots / "t1" / "pipe.json")
    started = time.monotonic()
    _, (swapped, fifo) = run(env, [("rag_document_stats", {"json_path": str(lc)}),
                                   ("rag_search", {"query": "x", "json_path": str(roots / "t1" / "pipe.json")})])
    assert swapped.is_error and "outside the allowed corpus roots" in swapped.content[0].text
    assert fifo.is_error and "not a regular file" in fifo.content[0].text and time.monotonic() - started < 60
    deadline = time.monotonic() + 240
    while not _has_dense(tmp_path / "idx") and time.monotonic() < deadline:
        time.sleep(0.5)
    (name,) = layout.list_corpora(tmp_path / "idx")
    manifest = layout.read_manifest(layout.published_version(tmp_path / "idx", name))
    assert manifest.embedder is not None and manifest.source_path == str(roots / "t1" / "lc.json")
    srv = start_server(tmp_path / "idx", {name})
    try:
        titles = srv.client.get(f"/v1/corpora/{name}").json()["sample_titles"]
        assert "SECRET-TITLE" not in titles and titles == [d["title"] for d in sample_docs(3)]
    finally:
        srv.stop()


def test_bad_bytes_in_another_corpus_pointer_do_not_stop_the_tools(agent_folder, tmp_path):
    json_path = str(agent_folder / "task-005" / "long_context.json")
    broken = tmp_path / "other-corpus"
    broken.mkdir()
    (broken / "CURRENT").write_bytes(b"\xff\xfe\x00garbage")
    env = {"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    _, (search, stats) = run(env, [("rag_search", {"query": "泡泡战士", "json_path": json_path, "top_k": 2}),
                                   ("rag_document_stats", {"json_path": json_path})])
    assert not search.is_error and "Title: 泡泡战士" in search.content[0].text
    assert not stats.is_error and "Documents: 8" in stats.content[0].text


def verify(agent_folder, index_dir, report: str) -> list[str]:
    """rag_verify_citations' answer to ``report`` over the agent folder's corpus, as lines."""
    json_path = str(agent_folder / "task-005" / "long_context.json")
    env = {"RAG_INDEX_DIR": str(index_dir), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    _, (checked,) = run(env, [("rag_verify_citations", {"text": report, "json_path": json_path})])
    return checked.content[0].text.splitlines()


def test_an_agent_checks_its_report_before_handing_it_in(agent_folder, tmp_path):
    lines = verify(agent_folder, tmp_path, '泡泡战士“由韩国Nexon开发与发行” [long_context: "泡泡战士", chunk 0]。'
                   '“由中国网易开发” [long_context: "泡泡战士", chunk 0]。[long_context: "不存在", chunk 0]'
                   '尤金袋鼠在袋鼠岛上每季都大量繁殖，因而被视为害虫[long_context: "尤金袋鼠", chunk 0]。')
    assert lines[1] == "Citations found: 4, ok: 2, partial: 0, FAILED: 2 (resolved to a chunk: 3)"
    assert lines[2].startswith("1. ok") and "found verbatim" in lines[2]
    assert lines[3].startswith("2. FAILED") and "NOT IN THE CITED CHUNK" in lines[3]
    assert lines[4].startswith("3. FAILED, NOT RESOLVED")
    # a paraphrase, not a quote: supported, with the sentence it paraphrases
    assert lines[5].startswith("4. ok") and "supported" in lines[5] and "由于牠们每季在袋鼠岛都大量繁殖" in lines[5]


def test_the_old_tools_failure_an_unquoted_claim_citing_an_unrelated_article_is_caught(agent_folder, tmp_path):
    """The old tool's agent cited an unrelated article for a claim and the check said "ok ... no quoted claim"."""
    lines = verify(agent_folder, tmp_path, 'The squeezing effect in LLM finetuning is caused by negative gradients '
                   '[long_context: "尤金袋鼠", chunk 0]. Bubble Fighter was developed and published by the Korean '
                   'company Nexon [long_context: "泡泡战士", chunk 0].')
    assert lines[1].startswith("Citations found: 2, ok: 1, partial: 0, FAILED: 1")
    assert lines[2].startswith("1. FAILED") and "UNSUPPORTED" in lines[2] and "squeezing effect" in lines[2]
    assert lines[3].startswith("2. ok") and "由韩国Nexon开发与发行" in lines[3]  # English claim, Chinese chunk


async def _until_complete(env: dict, json_path: str, timeout: float = 300):
    """One agent session: search a new corpus, ask the stats until its build is done, search twice more."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.serving.mcp_server"], env={**os.environ, **env},
                                   cwd=str(ROOT))
    search = ("rag_search", {"query": "泡泡战士是哪个公司开发的", "json_path": json_path, "top_k": 3})
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            texts = [(await session.call_tool(*search)).content[0].text]
            deadline = time.monotonic() + timeout
            while "Semantic index:" in texts[-1] and time.monotonic() < deadline:
                await asyncio.sleep(1)
                texts.append((await session.call_tool("rag_document_stats", {"json_path": json_path})).content[0].text)
            for _ in range(2):
                texts.append((await session.call_tool(*search)).content[0].text)
            return texts


def test_an_agent_sees_stage_share_and_eta_while_the_index_builds_then_complete_once(tmp_path):
    """Every status line names stage, share and ETA; the build's end is said once ("Semantic index complete.");
    the Relevance Score is on one 0..1 scale at the keyword-only stage and once hybrid."""
    folder = tmp_path / "roots" / "task-009"
    folder.mkdir(parents=True)
    json_path = str(write_corpus(folder / "long_context.json", sample_docs(12)))
    texts = asyncio.run(_until_complete({"RAG_INDEX_DIR": str(tmp_path / "idx"),
                                         "RAG_ALLOWED_ROOTS": str(tmp_path / "roots")}, json_path))
    first, *waiting, last_stats, after, again = texts
    status = [line for text in [first, *waiting] for line in text.splitlines() if line.startswith("Semantic index:")]
    assert status and all("stage " in line and "% of its embedding done, ETA " in line for line in status)
    assert "Ranking: keyword (BM25) only" in first
    assert "Semantic index complete." in last_stats  # the loop ended because the build did, and says so
    assert "Semantic index" not in after and "Semantic index" not in again  # once
    assert "Ranking: hybrid" in after
    for text in (first, after):
        scores = [float(line.split(": ")[1]) for line in text.splitlines() if line.startswith("Relevance Score:")]
        assert scores[0] == 1.0 and all(0.0 <= s <= 1.0 for s in scores)


def test_evidence_first_answers_and_short_weak_answers_through_the_sdk_client(agent_folder, tmp_path):
    """rag_search shows each hit's best sentence first; a weak match comes back short (issue 21 point 6), and
    rag_get_context gives the answer sentence at a budget where the passages' opening does not hold it."""
    json_path = str(agent_folder / "task-005" / "long_context.json")
    env = {"RAG_INDEX_DIR": str(tmp_path), "RAG_ALLOWED_ROOTS": str(agent_folder)}
    question = "若游戏中离，则多少分钟内不得进行配对？"
    _, (found, weak, evidence, passages) = run(env, [
        ("rag_search", {"query": question, "json_path": json_path, "top_k": 3}),
        ("rag_search", {"query": "中国红烧肉的做法", "json_path": json_path}),
        ("rag_get_context", {"query": question, "json_path": json_path, "max_tokens": 60}),
        ("rag_get_context", {"query": question, "json_path": json_path, "max_tokens": 60,
                             "context_mode": "passages"}),
    ])
    first = found.content[0].text.split("Result 2")[0]
    assert first.index("Best sentence: ") < first.index("--- Content ---")
    assert "4分钟内不得进行配对" in first.split("Best sentence: ")[1].splitlines()[0]
    short = weak.content[0].text
    assert "WARNING: weak matches" in short and "--- Content ---" not in short
    assert 1 <= short.count("Best sentence: ") <= 3 and "top_k" in short and "format=text" in short
    assert len(short) < 2000
    assert "4分钟内不得" in evidence.content[0].text and "4分钟内不得" not in passages.content[0].text
