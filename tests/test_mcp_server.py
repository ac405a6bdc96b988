"""The MCP server as an agent sees it: spawned over stdio by the SDK's real client."""
import asyncio
import os
import sys
import time

import pytest
from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from app.citations import CITATION
from indexing import layout
from tests.conftest import ROOT, sample_docs, start_server, write_corpus

EXPECTED = {
    "rag_search": {"query": None, "json_path": None, "top_k": 10, "diverse": True, "min_docs": 5, "max_per_doc": 2},
    "rag_get_context": {"query": None, "json_path": None, "max_tokens": 4000, "top_k": 10, "diverse": True,
                        "min_docs": 5, "max_per_doc": 2},
    "rag_document_stats": {"json_path": None},
    "rag_verify_citations": {"text": None, "json_path": None},
}


async def _session_run(env: dict, calls: list[tuple[str, dict]]):
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.mcp_server"],
                                   env={**os.environ, **env}, cwd=str(ROOT))
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            tools = (await session.list_tools()).tools
            results = [await session.call_tool(name, args) for name, args in calls]
            return tools, results


def run(env, calls):
    return asyncio.run(_session_run(env, calls))


@pytest.fixture(scope="module")
def agent_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("agent-roots")
    folder = root / "task-005"
    folder.mkdir()
    write_corpus(folder / "long_context.json", sample_docs(8))
    return root


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
