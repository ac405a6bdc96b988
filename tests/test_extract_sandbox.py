"""The bounded worker: every problem with a file is one status line, and the caller's process survives."""
from __future__ import annotations

import os
import signal
import zipfile
from pathlib import Path

from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.pdfgen import canvas

from indexing.extract.factory import SUPPORTED_SUFFIXES, extractor_for
from indexing.extract.protocol import Limits
from indexing.extract.sandbox import ExtractionPool, extract_file, run_extraction


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_factory_maps_suffixes_case_insensitively():
    assert {".pdf", ".docx", ".pptx", ".xlsx", ".csv", ".html", ".htm", ".md", ".txt"} <= SUPPORTED_SUFFIXES
    assert extractor_for(Path("A/README.MD")).format == "md"
    assert extractor_for(Path("photo.jpg")) is None


def test_one_worker_serves_many_files(tmp_path: Path):
    with ExtractionPool() as pool:
        first = pool.extract(_write(tmp_path / "a.txt", "甲。"))
        pid = pool.worker_pid
        second = pool.extract(_write(tmp_path / "b.md", "# 乙\n\n丙。"))
        assert pool.worker_pid == pid
    assert first.status == second.status == "indexed"
    assert second.blocks[0].heading == ("乙",)
    assert pool.worker_pid is None  # closed with the context


def test_a_file_past_its_time_budget_fails_and_the_worker_is_replaced(tmp_path: Path):
    big = _write(tmp_path / "big.txt", ("长文本。" * 50 + "\n\n") * 20_000)  # ~4 MB: far more than 1 ms of work
    small = _write(tmp_path / "small.txt", "短。")
    with ExtractionPool() as pool:
        assert pool.extract(small).status == "indexed"  # the worker is up; the next budget is the file's alone
        pid = pool.worker_pid
        slow = pool.extract(big, Limits(seconds=0.001))
        assert slow.status == "failed" and "timed out" in slow.reason and slow.format == "txt"
        assert pool.extract(small).blocks[0].text == "短。"
        assert pool.worker_pid != pid


def test_a_worker_killed_while_idle_is_replaced_without_failing_the_next_file(tmp_path: Path):
    small = _write(tmp_path / "small.txt", "短。")
    with ExtractionPool() as pool:
        pool.extract(small)
        first = pool.worker_pid
        os.kill(first, signal.SIGKILL)  # e.g. the kernel's OOM killer choosing it between files
        got = pool.extract(small)
        assert got.status == "indexed" and pool.worker_pid != first


def test_a_file_past_the_memory_limit_fails_without_taking_down_the_caller(tmp_path: Path):
    big = _write(tmp_path / "big.txt", "长文本。" * 4_000_000)  # 48 MB of UTF-8
    got = extract_file(big, Limits(memory_bytes=40 << 20))
    assert got.status == "failed" and "memory" in got.reason


def test_missing_empty_unsupported_and_oversized_files_get_one_line_each(tmp_path: Path):
    empty = tmp_path / "empty.md"
    empty.write_bytes(b"")
    large = _write(tmp_path / "large.txt", "字" * 2_000)
    cases = {
        tmp_path / "gone.txt": ("failed", "not found"),
        empty: ("failed", "empty file"),
        _write(tmp_path / "movie.mp4", "x"): ("skipped", "unsupported format .mp4"),
        large: ("skipped", "too large"),
    }
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    cases[fifo] = ("skipped", "not a regular file")
    limits = Limits(max_bytes=1_000)
    for path, (status, words) in cases.items():
        got = run_extraction(path, limits)
        assert (got.status, words in got.reason, "\n" in got.reason) == (status, True, False), (path, got)


def test_text_past_max_chars_is_cut_and_says_so(tmp_path: Path):
    path = _write(tmp_path / "long.txt", "\n\n".join(["一二三四五六七八九十" * 100] * 30))
    got = run_extraction(path, Limits(max_chars=5_000))
    assert got.status == "indexed" and got.chars == 5_000
    assert got.reason.startswith("cut at 5,000 characters of 30,")


def test_one_pool_through_a_folder_of_hostile_files_indexes_the_good_ones(tmp_path: Path):
    """What the folder indexer sees: every file gets its one line, the good files between the bad ones are
    indexed, and the pool is still serving at the end."""
    bomb = tmp_path / "bomb.docx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive, archive.open("word/document.xml", "w") as m:
        for _ in range(20):
            m.write(b"\0" * (1 << 20))
    encrypted = tmp_path / "locked.pdf"
    c = canvas.Canvas(str(encrypted), encrypt=StandardEncryption("pw", "owner"))
    c.drawString(72, 700, "secret")
    c.save()
    good_pdf = tmp_path / "paper.pdf"
    c = canvas.Canvas(str(good_pdf))
    c.drawString(72, 700, "Penalized least squares.")
    c.save()
    (tmp_path / "corrupt.pdf").write_bytes(b"%PDF-1.4\n" + bytes(range(256)))
    (tmp_path / "photo.txt").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "corrupt.xlsx").write_bytes(b"PK\x03\x04 not really")
    _write(tmp_path / "notes.md", "# 笔记\n\n惩罚最小二乘。")
    files = ["notes.md", "bomb.docx", "corrupt.pdf", "locked.pdf", "photo.txt", "gone.csv", "corrupt.xlsx",
             "paper.pdf"]
    with ExtractionPool() as pool:
        got = {name: pool.extract(tmp_path / name) for name in files}
    assert {name: r.status for name, r in got.items()} == {
        "notes.md": "indexed", "bomb.docx": "failed", "corrupt.pdf": "failed", "locked.pdf": "skipped",
        "photo.txt": "skipped", "gone.csv": "failed", "corrupt.xlsx": "failed", "paper.pdf": "indexed",
    }
    assert all(r.reason and "\n" not in r.reason for r in got.values() if r.status != "indexed")
    assert got["paper.pdf"].blocks[0].text == "Penalized least squares."
