"""The bounded worker: every problem with a file is one status line, and the caller's process survives."""
from __future__ import annotations

from pathlib import Path

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
    limits = Limits(max_bytes=1_000)
    for path, (status, words) in cases.items():
        got = run_extraction(path, limits)
        assert (got.status, words in got.reason, "\n" in got.reason) == (status, True, False), (path, got)


def test_text_past_max_chars_is_cut_and_says_so(tmp_path: Path):
    path = _write(tmp_path / "long.txt", "\n\n".join(["一二三四五六七八九十" * 100] * 30))
    got = run_extraction(path, Limits(max_chars=5_000))
    assert got.status == "indexed" and got.chars == 5_000
    assert got.reason.startswith("cut at 5,000 characters of 30,")
