"""The real task folders ($EVAL_DATA/task_folders) and Debian's real PDFs, indexed as folders: every
file is indexed or listed, and citations by sheet rows, part, slide and page resolve and read on."""
import shutil
from pathlib import Path

import pytest

from app.backend.local import LocalBackend
from app.schemas import ReadRequest, ResolveRequest, SearchRequest
from app.settings import Settings
from indexing import folder
from indexing.build import build_index
from tests.conftest import ROOT, options
from tests.extract_files import TASK_FOLDERS

TASKS = TASK_FOLDERS
DEBIAN = ROOT / "tests" / "fixtures" / "extract" / "debian"
needs_tasks = pytest.mark.skipif(not (TASKS / "010").is_dir(), reason=f"{TASKS} is not here (set EVAL_DATA)")
needs_pdfs = pytest.mark.skipif(not (DEBIAN / "lmer.pdf").is_file(), reason="Debian PDFs not fetched: run "
                                "tests/fixtures/extract/get_debian_pdfs.sh")


def _serve(root: Path, tmp_path: Path) -> LocalBackend:
    index_dir = tmp_path / "idx"
    snap = folder.write_prepared(folder.prepare(root, index_dir), index_dir)
    build_index(snap.path, options(index_dir, "task", dense=False), progress=False, source_label=str(root))
    return LocalBackend(Settings(index_dir=index_dir), eager=False)


@needs_tasks
def test_a_data_task_folder_cites_sheet_rows_and_docx_parts(tmp_path):
    backend = _serve(TASKS / "010", tmp_path)
    files = {f.path: f for f in backend.stats("task").files}
    assert {f.status for f in files.values()} == {"indexed"}
    assert files["yahoo_data.xlsx"].format == "xlsx" and files["About_Dataset.docx"].format == "docx"
    hit = backend.search(SearchRequest(corpus="task", query="Apr 28, 2023 Open High Low Close Volume",
                                       mode="bm25")).results[0]
    assert hit.citation.startswith("[文档: yahoo_data.xlsx, sheet Sheet1, rows ") and hit.source.sheet == "Sheet1"
    row = next(line for line in hit.content.splitlines() if "Apr 28, 2023" in line)
    first, last = map(int, hit.source.rows.split("-"))
    assert first <= int(row.split(":")[0].removeprefix("row ")) <= last  # the cited rows hold the row
    claim = row.split("; ")[1]  # e.g. "Open: 33797.43"
    (checked,) = backend.resolve(ResolveRequest(corpus="task", text=f"“{claim}” {hit.citation}")).citations
    assert checked.resolved and checked.claim_match == "exact"
    doc = backend.read(ReadRequest(corpus="task", citation="[文档: About_Dataset.docx, part 1]"))
    assert doc.passages[0].source.part == 1 and doc.passages[0].text


@needs_tasks
def test_the_deck_and_the_sampled_corpus_of_task_002(tmp_path):
    backend = _serve(TASKS / "002", tmp_path)
    hit = backend.search(SearchRequest(corpus="task", query="避风港原则起源于哪部美国法律", mode="bm25")).results[0]
    assert hit.citation == "[文档: 006law.pptx, slide 5]" and "数字千年版权法" in hit.content
    read = backend.read(ReadRequest(corpus="task", citation=hit.citation, after=2))
    assert [p.source.slide for p in read.passages] == [5, 6, 7] and read.next == "[文档: 006law.pptx, slide 8]"


@needs_pdfs
def test_a_paper_and_a_manual_cite_their_pages(tmp_path):
    root = tmp_path / "task"
    root.mkdir()
    for name in ("lmer.pdf", "lshort-zh-cn.pdf"):
        shutil.copy(DEBIAN / name, root / name)
    backend = _serve(root, tmp_path)
    files = {f.path: f for f in backend.stats("task").files}
    assert (files["lmer.pdf"].pages, files["lmer.pdf"].language) == (51, "latin")
    assert (files["lshort-zh-cn.pdf"].pages, files["lshort-zh-cn.pdf"].language) == (139, "cjk")
    hit = backend.search(SearchRequest(corpus="task", query="vcov method variance-covariance matrix fixed-effects",
                                       mode="bm25")).results[0]
    assert hit.citation == "[文档: lmer.pdf, page 33]"
    hit = backend.search(SearchRequest(corpus="task", query="高德纳 发布 TeX 排版引擎", mode="bm25")).results[0]
    assert hit.citation == "[文档: lshort-zh-cn.pdf, page 13]"
    (whole,) = backend.resolve(ResolveRequest(corpus="task", text="“1982 年，高德纳发布 TEX 排版引擎” "
                                                                 "[文档: lshort-zh-cn.pdf]")).citations
    assert whole.claim_match == "exact" and whole.source.page == 13
