"""Bad Unicode gets an answer over stdio (app/serving/mcp_stdin.py): the real ``zh-rag mcp`` process, spoken to as a
JavaScript client does, which sends a lone surrogate as the JSON escape ``\\ud800`` (the SDK's Python client cannot
send one at all: it fails to serialize the request)."""
import json
import os
import select
import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st

from app.serving.mcp_stdin import repair_line
from tests.conftest import ROOT, sample_docs, write_corpus


def _send(proc, line: str) -> None:
    proc.stdin.write(line.encode() + b"\n")
    proc.stdin.flush()


def _answer(proc, wait_s: float = 60) -> dict | None:
    """The next JSON-RPC message from the server, or None if it says nothing within ``wait_s``."""
    ready, _, _ = select.select([proc.stdout], [], [], wait_s)
    return json.loads(proc.stdout.readline()) if ready else None


def test_a_lone_surrogate_in_a_tool_call_gets_an_error_and_the_server_keeps_serving(tmp_path):
    """Issue 22.11: the request was dropped and the client waited 30 s; REST answers 422."""
    (tmp_path / "roots" / "t").mkdir(parents=True)
    corpus = write_corpus(tmp_path / "roots" / "t" / "long_context.json", sample_docs(3))
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(tmp_path / "roots")}
    proc = subprocess.Popen([sys.executable, "-m", "app.serving.mcp_server"], cwd=ROOT, env=env, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        _send(proc, json.dumps({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "js-like", "version": "1"}}}))
        assert _answer(proc)["id"] == 1
        _send(proc, json.dumps({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "rag_search", "arguments": {
            "query": "泡泡LONE战士", "json_path": str(corpus)}}}
        _send(proc, json.dumps(call, ensure_ascii=False).replace("LONE", "\\ud800"))
        bad = _answer(proc)
        assert bad is not None, "no answer to a request holding a lone surrogate"
        assert bad["id"] == 2 and bad["result"]["isError"]
        assert "query holds invalid Unicode: a lone surrogate" in bad["result"]["content"][0]["text"]
        call["id"], call["params"]["arguments"]["query"] = 3, "泡泡\U0001F600战士"  # a pair is text like any other
        _send(proc, json.dumps(call))  # ensure_ascii: the emoji travels as the pair \ud83d\ude00
        good = _answer(proc)
        assert good["id"] == 3 and not good["result"]["isError"]
        assert "泡泡战士" in good["result"]["content"][0]["text"]
    finally:
        proc.stdin.close()
        proc.wait(30)


@given(st.text())
def test_repair_keeps_every_valid_json_text_as_it_is(text):
    for line in (json.dumps(text), json.dumps(text, ensure_ascii=False)):
        assert repair_line(line.encode()) == line.encode()


@given(st.lists(st.one_of(st.text(max_size=3), st.sampled_from(["\ud800", "\udfff", "\udbff", "\\", "\\ud800"]))))
def test_repair_turns_exactly_the_lone_surrogates_into_the_mark(parts):
    text = "".join(parts)
    repaired = json.loads(repair_line(json.dumps(text).encode()))  # json.dumps escapes lone surrogates as is
    expected = text.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass")  # joins split pairs
    expected = "".join("\uffff" if 0xD800 <= ord(c) <= 0xDFFF else c for c in expected)
    assert repaired == expected
