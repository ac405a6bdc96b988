"""An agent's whole task folder through the MCP SDK's real client: stats, search in both languages, context,
read-on, citation checks, and a file added between two calls."""
import asyncio
import os
import re
import sys

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

from tests.conftest import ROOT
from tests.test_folder_index import make_folder

MORE = "# Appendix\n\nThe appendix lists the hyperparameters: learning rate 3e-5, batch size 64.\n"


async def _agent(env: dict, task) -> list[str]:
    """The calls an agent makes on its task folder; the folder changes between the last two searches."""
    params = StdioServerParameters(command=sys.executable, args=["-m", "app.serving.mcp_server"],
                                   env={**os.environ, **env}, cwd=str(ROOT))
    path = str(task)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()

            async def call(name, **args):
                result = await session.call_tool(name, args)
                assert not result.is_error, result.content[0].text
                return result.content[0].text

            texts = [
                await call("rag_document_stats", json_path=path),
                await call("rag_search", query="What is the squeezing effect in finetuning?", json_path=path),
                await call("rag_search", query="惩罚最小二乘是什么方法？", json_path=path),
                await call("rag_get_context", query="有多少名学生参加调查？", json_path=path, max_tokens=600),
                await call("rag_read", json_path=path, citation="[文档: guide.md, part 1]", after=1),
            ]
            cited = re.search(r"\[文档: [^\]]+\]", texts[1]).group(0)
            texts.append(await call("rag_verify_citations", json_path=path, text=(
                f"“The squeezing effect appears when a negative gradient is applied” {cited}; "
                "“一千二百名学生” [文档: guide.md]; “made up” [文档: guide.md, part 3]. "
                "Stock prices of oil companies doubled in March [文档: guide.md].")))
            (task / "appendix.md").write_text(MORE, encoding="utf-8")
            texts.append(await call("rag_search", query="learning rate batch size hyperparameters", json_path=path))
            texts.append(await call("rag_search", query="结论", json_path=str(task / "guide.md")))  # one document
            return texts


def test_an_agent_works_through_its_task_folder(tmp_path):
    task = make_folder(tmp_path / "roots" / "task-005")
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(tmp_path / "roots")}
    stats, english, chinese, context, read, verify, after_change, document = asyncio.run(_agent(env, task))
    assert "Files: 5 (4 indexed)" in stats and "figure.png [png] listed" in stats
    assert "papers/paper.md [md] indexed (3 parts" in stats
    first = english.split("Result 2")[0]
    assert "Citation: [文档: papers/paper.md, part 2]" in first and "Source: papers/paper.md, part 2" in first
    assert "Citation: [文档: guide.md, part 1]" in chinese.split("Result 2")[0]
    assert "[文档: guide.md, part 2]" in context and "一千二百名学生" in context
    assert read.index("--- [文档: guide.md, part 1] ---") < read.index("--- [文档: guide.md, part 2] ---")
    assert "Read on: rag_read with citation [文档: guide.md, part 3]" in read
    lines = verify.splitlines()
    assert "Citations found: 4, ok: 2, partial: 0, FAILED: 2 (resolved to a chunk: 4)" in verify
    assert "quoted claim found verbatim" in lines[2] and "-> papers/paper.md, part 2" in lines[2]
    assert "-> guide.md, part 2; quoted claim found verbatim" in lines[3]
    assert "QUOTED CLAIM NOT IN THE CITED CHUNK" in lines[4]
    assert lines[5].startswith("4. FAILED [文档: guide.md]") and "UNSUPPORTED" in lines[5]  # unquoted, judged too
    assert "Citation: [文档: appendix.md, part 1]" in after_change.split("Result 2")[0]
    assert "Citation: [文档: guide.md, part 3]" in document.split("Result 2")[0] and "Results Found: 1" in document
