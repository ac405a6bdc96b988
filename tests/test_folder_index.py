"""A task folder as one corpus, over the real REST service: sources, citations by file and place, read-on."""
import pytest

from indexing import folder, layout
from indexing.build import build_index
from indexing.cli import main as build_main
from tests.conftest import options, sample_docs, start_server, write_corpus

GUIDE = """# 第一章 概述

惩罚最小二乘是一种回归方法，它在系数上加入惩罚项。

# 第二章 数据

数据来自二〇二三年的调查，共有一千二百名学生参加。

# 第三章 结论

结论部分说明压力因素与睡眠质量相关。
"""
PAPER = """# Introduction

Large language models are finetuned with preference data.

# The squeezing effect

The squeezing effect appears when a negative gradient is applied to an unlikely label during finetuning.

# Experiments

We run experiments on two model families.
"""


def make_folder(root):
    root.mkdir(parents=True)
    (root / "guide.md").write_text(GUIDE, encoding="utf-8")
    (root / "papers").mkdir()
    (root / "papers" / "paper.md").write_text(PAPER, encoding="utf-8")
    (root / "figure.png").write_bytes(b"\x89PNG\r\n")
    docs = sample_docs(6)
    write_corpus(root / "long_context.json", docs)
    write_corpus(root / "long_context_sampled_2.json", docs[:2])
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("folder-index")
    root = make_folder(base / "task-005")
    index_dir = base / "idx"
    snap = folder.write_prepared(folder.prepare(root, index_dir), index_dir)
    build_index(snap.path, options(index_dir, "task", dense=False), progress=False, source_label=str(root))
    srv = start_server(index_dir, {"task"})
    yield srv
    srv.stop()


def post(server, url, **body):
    resp = server.client.post(url, json={"corpus": "task", **body})
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_a_document_result_carries_its_file_and_place_and_cites_them(served):
    top = post(served, "/v1/search", query="squeezing effect negative gradient", mode="bm25")["results"][0]
    assert top["citation"] == "[文档: papers/paper.md, part 2]"
    assert top["source"] == {"file": "papers/paper.md", "format": "md", "page": None, "slide": None, "sheet": None,
                             "rows": None, "part": 2, "heading": ["The squeezing effect"]}


def test_a_json_document_in_the_folder_keeps_its_citation_and_names_its_file(served):
    top = post(served, "/v1/search", query="泡泡战士是哪个公司开发的？", mode="bm25")["results"][0]
    assert top["citation"].startswith('[long_context: "泡泡战士", chunk ')
    assert top["source"]["file"] == "long_context.json" and top["source"]["format"] == "json"


def test_text_layout_shows_file_and_place(served):
    resp = served.client.post("/v1/search?format=text", json={"corpus": "task", "query": "惩罚最小二乘"})
    assert "Source: guide.md, part 1" in resp.text and "Section: 第一章 概述" in resp.text


def test_context_heads_passages_with_citations_by_place(served):
    data = post(served, "/v1/context", query="惩罚最小二乘 回归方法", max_tokens=300, mode="bm25")
    assert data["context"].startswith("[文档: guide.md, part 1]")
    assert data["sources"][0]["source"]["part"] == 1


def test_corpus_stats_list_every_file_with_its_status(served):
    stats = served.client.get("/v1/corpora/task").json()
    assert stats["source_kind"] == "folder"
    files = {f["path"]: f for f in stats["files"]}
    assert files["figure.png"]["status"] == "listed" and "no text" in files["figure.png"]["reason"]
    assert files["guide.md"] | {"reason": ""} == {"path": "guide.md", "format": "md", "status": "indexed",
                                                  "reason": "", "pages": 3, "chars": files["guide.md"]["chars"],
                                                  "language": "cjk"}
    assert files["papers/paper.md"]["language"] == "latin"
    assert files["long_context_sampled_2.json"]["reason"] == "2 documents already in long_context.json"


def test_citations_by_file_and_place_resolve_and_check_their_claims(served):
    text = ('“a negative gradient is applied to an unlikely label” [文档: papers/paper.md, part 2]; '
            '“一千二百名学生” [文档: guide.md]; [文档: guide.md, part 9]; [文档: missing.pdf, page 1]; '
            '“we run experiments” [文档: paper.md, part 3]')
    got = post(served, "/v1/citations/resolve", text=text)["citations"]
    assert [c["resolved"] for c in got] == [True, True, False, False, True]
    assert got[0]["claim_match"] == "exact" and got[0]["source"]["part"] == 2
    assert got[1]["claim_match"] == "exact" and got[1]["source"]["part"] == 2  # found across the whole document
    assert got[2]["reason"] == "guide.md has no part 9 (it has part 1 to part 3)"
    assert got[3]["reason"].startswith("no file 'missing.pdf' in the indexed folder")
    assert got[4]["claim_match"] == "normalized"  # named by file name alone: unambiguous in this folder


def test_read_returns_the_cited_place_and_the_next_ones_each_cited(served):
    data = post(served, "/v1/read", citation="[文档: guide.md, part 1]", after=1)
    assert [p["citation"] for p in data["passages"]] == ["[文档: guide.md, part 1]", "[文档: guide.md, part 2]"]
    assert "一千二百名学生" in data["passages"][1]["text"]
    assert data["next"] == "[文档: guide.md, part 3]" and data["previous"] is None
    last = post(served, "/v1/read", citation=data["next"], before=1, after=5)
    assert [p["source"]["part"] for p in last["passages"]] == [2, 3] and last["next"] is None


def test_read_keeps_under_its_size_cap(served):
    """What does not fit is left for the next call: ``next`` points at the first place not returned."""
    data = post(served, "/v1/read", citation="[文档: guide.md, part 1]", after=2, max_tokens=50)
    assert data["tokens"] <= 50 and len(data["passages"]) == 1 and data["next"] == "[文档: guide.md, part 2]"
    cut = post(served, "/v1/read", citation="[文档: guide.md, part 1]", max_tokens=50)
    assert cut["passages"][0]["truncated"] is False


def test_read_on_a_json_citation_walks_its_chunks(served):
    top = post(served, "/v1/search", query="泡泡战士是哪个公司开发的？", mode="bm25")["results"][0]
    data = post(served, "/v1/read", citation=top["citation"], after=1)
    assert data["passages"][0]["citation"] == top["citation"]


def test_a_citation_that_does_not_resolve_is_a_404_with_the_reason(served):
    resp = served.client.post("/v1/read", json={"corpus": "task", "citation": "[文档: guide.md, page 4]"})
    assert resp.status_code == 404 and "guide.md has no page 4" in resp.json()["detail"]
    resp = served.client.post("/v1/read", json={"corpus": "task", "citation": "chapter 2"})
    assert resp.status_code == 404 and "holds no citation" in resp.json()["detail"]


def test_zh_rag_build_takes_a_folder_or_one_document(tmp_path, capsys):
    root = make_folder(tmp_path / "task")
    index_dir = tmp_path / "idx"
    assert build_main([str(root), "--no-dense", "--quiet", "--index-dir", str(index_dir), "--name", "t"]) == 0
    assert build_main([str(root / "guide.md"), "--no-dense", "--quiet", "--index-dir", str(index_dir),
                       "--name", "g"]) == 0
    manifest = layout.read_manifest(layout.published_version(index_dir, "g"))
    assert manifest.source_kind == "document" and manifest.source_path == str(root / "guide.md")
    assert layout.read_manifest(layout.published_version(index_dir, "t")).source_kind == "folder"
    assert not list((index_dir / layout.SOURCES_DIR).glob("*" + folder.PREPARED_SUFFIX))  # snapshots removed


@pytest.mark.parametrize("citation", ["[文档: guide.md, part 0]", "[文档: guide.md, sheet X, rows 9-1]",
                                      "[文档: long_context.json, part 1]", "[文档: figure.png]",
                                      '[long_context: "nope", chunk 1]', "[文档: guide.md, page 99999999]"])
def test_odd_citations_get_a_4xx_with_the_reason_never_a_500(served, citation):
    resp = served.client.post("/v1/read", json={"corpus": "task", "citation": citation})
    assert resp.status_code in (404, 422) and resp.json()["detail"]


def test_milvus_builds_refuse_a_folder_in_one_line(tmp_path, capsys):
    root = make_folder(tmp_path / "task")
    assert build_main([str(root), "--engine", "milvus", "--milvus-uri", str(tmp_path / "m.db")]) == 2
    assert "indexes JSON corpora only" in capsys.readouterr().err


def test_slides_sheets_and_word_parts_cite_their_place_and_resolve(tmp_path):
    """Generated office files (always run; the real ones are in tests/test_folder_real.py)."""
    import docx
    import openpyxl
    import pptx

    from app.backend.local import LocalBackend
    from app.schemas import ReadRequest, ResolveRequest, SearchRequest
    from app.settings import Settings

    root = tmp_path / "task"
    root.mkdir()
    deck = pptx.Presentation()
    for title, body in [("概述", "避风港原则的定义"), ("起源", "起源于美国数字千年版权法"), ("趋势", "平台责任加重")]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text, slide.placeholders[1].text = title, body
    deck.save(root / "law.pptx")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Prices"
    sheet.append(["Date", "Close"])
    for day in range(1, 31):
        sheet.append([f"2023-04-{day:02d}", 30000 + day])
    book.save(root / "prices.xlsx")
    word = docx.Document()
    word.add_heading("About the dataset", 1)
    word.add_paragraph("The data covers the Dow Jones index for April 2023.")
    word.save(root / "About.docx")
    index_dir = tmp_path / "idx"
    snap = folder.write_prepared(folder.prepare(root, index_dir), index_dir)
    build_index(snap.path, options(index_dir, "office", dense=False), progress=False)
    backend = LocalBackend(Settings(index_dir=index_dir), eager=False)

    def top(query):
        return backend.search(SearchRequest(corpus="office", query=query, mode="bm25")).results[0]

    assert top("数字千年版权法").citation == "[文档: law.pptx, slide 2]"
    row = top("2023-04-17")
    assert row.citation.startswith("[文档: prices.xlsx, sheet Prices, rows ") and row.source.sheet == "Prices"
    assert top("Dow Jones April").citation.startswith("[文档: About.docx, part ")
    checked = backend.resolve(ResolveRequest(corpus="office", text=(
        f"“起源于美国数字千年版权法” [文档: law.pptx, slide 2] “30017” {row.citation} “Dow Jones” [文档: About.docx]"
    ))).citations
    assert [c.claim_match for c in checked] == ["exact", "exact", "exact"]
    read = backend.read(ReadRequest(corpus="office", citation="[文档: law.pptx, slide 2]", before=1, after=1))
    assert [p.source.slide for p in read.passages] == [1, 2, 3] and read.next is None
