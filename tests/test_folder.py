"""Walking a task folder, extracting each file once, deduplicating JSON corpora, cutting sections."""
import json
import os
from pathlib import Path

import pytest

from indexing import folder, layout
from indexing.extract.protocol import Block, Extracted, Place
from tests.conftest import sample_docs, write_corpus


def _kinds(root: Path) -> dict[str, str]:
    listed, _ = folder.walk(root)
    return {f.rel: f.kind for f in listed}


def test_walk_skips_hidden_files_and_symlinks_that_leave_and_lists_media(tmp_path):
    root, outside = tmp_path / "task", tmp_path / "outside"
    (root / "sub").mkdir(parents=True)
    (root / ".git").mkdir()
    outside.mkdir()
    (outside / "secret.md").write_text("outside the folder")
    (root / "notes.md").write_text("# Notes\nsome text")
    (root / ".hidden.md").write_text("hidden")
    (root / ".git" / "HEAD.md").write_text("hidden folder")
    (root / "sub" / "b.txt").write_text("nested")
    (root / "photo.png").write_bytes(b"\x89PNG")
    (root / "long_context.json.chunks.db").write_bytes(b"SQLite format 3\x00")
    (root / "long_context.json").write_text("[]")
    (root / "escape").symlink_to(outside, target_is_directory=True)
    (root / "escape.md").symlink_to(outside / "secret.md")
    (root / "inside.txt").symlink_to(root / "sub" / "b.txt")
    assert _kinds(root) == {"notes.md": "document", "sub/b.txt": "document", "inside.txt": "document",
                            "photo.png": "listed", "long_context.json.chunks.db": "listed",
                            "long_context.json": "json"}


def test_a_file_whose_name_is_not_utf8_is_listed_not_indexed(tmp_path):
    (tmp_path / "ok.txt").write_text("fine")
    (Path(os.fsdecode(bytes(tmp_path) + b"/\xff\xfe.txt"))).write_text("bytes in the name")
    prepared = folder.prepare(tmp_path, tmp_path / "idx")
    by_status = {f.status: f for f in prepared.files}
    assert by_status["indexed"].path == "ok.txt"
    assert by_status["listed"].path == "\ufffd\ufffd.txt" and "not valid UTF-8" in by_status["listed"].reason
    folder.read_prepared(folder.write_prepared(prepared, tmp_path / "idx").path)  # the snapshot stays readable


def test_a_folder_walk_stops_at_its_file_bound_and_says_how_many_were_left_out(tmp_path):
    for i in range(5):
        (tmp_path / f"{i}.txt").write_text(str(i))
    listed, left_out = folder.walk(tmp_path, max_files=3)
    assert len(listed) == 3 and left_out == 2


def test_the_listing_fingerprint_changes_when_a_file_is_added_changed_or_removed(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    first = folder.fingerprint(*folder.walk(tmp_path))
    assert folder.fingerprint(*folder.walk(tmp_path)) == first
    (tmp_path / "b.txt").write_text("two")
    added = folder.fingerprint(*folder.walk(tmp_path))
    (tmp_path / "a.txt").write_text("one, changed")
    changed = folder.fingerprint(*folder.walk(tmp_path))
    (tmp_path / "b.txt").unlink()
    removed = folder.fingerprint(*folder.walk(tmp_path))
    assert len({first, added, changed, removed}) == 4


def test_documents_repeated_across_json_corpora_are_stored_once(tmp_path):
    """A task's long_context_sampled_*.json holds a subset of its long_context.json."""
    docs = sample_docs(8)
    write_corpus(tmp_path / "long_context.json", docs)
    write_corpus(tmp_path / "long_context_sampled_3.json", docs[2:5])
    prepared = folder.prepare(tmp_path, tmp_path / "idx")
    by_path = {f.path: f for f in prepared.files}
    assert len(prepared.sections) == 8
    assert by_path["long_context.json"].n_docs == 8
    sampled = by_path["long_context_sampled_3.json"]
    assert sampled.n_docs == 0 and sampled.reason == "3 documents already in long_context.json"


def test_only_a_changed_file_is_extracted_again(tmp_path):
    """The extraction cache is keyed by content: an unchanged file's cached blocks are used as they are (the
    cached text is edited here to prove it is read, not re-extracted)."""
    root, index_dir = tmp_path / "task", tmp_path / "idx"
    root.mkdir()
    (root / "a.md").write_text("# A\nalpha text that stays.\n", encoding="utf-8")
    (root / "b.md").write_text("# B\nbeta text, first version.\n", encoding="utf-8")
    folder.prepare(root, index_dir)
    cache = index_dir / layout.EXTRACT_CACHE_DIR
    (a_cached,) = [p for p in cache.iterdir() if "alpha" in p.read_text(encoding="utf-8")]
    a_cached.write_text(a_cached.read_text(encoding="utf-8").replace("alpha", "ALPHA-FROM-CACHE"), encoding="utf-8")
    (root / "b.md").write_text("# B\nbeta text, second version.\n", encoding="utf-8")
    again = folder.prepare(root, index_dir)
    bodies = {f.path: " ".join(s.body for s in again.sections[f.first_doc:f.first_doc + f.n_docs])
              for f in again.files}
    assert "ALPHA-FROM-CACHE" in bodies["a.md"]
    assert "second version" in bodies["b.md"]
    assert len(list(cache.iterdir())) == 3


def test_a_long_file_becomes_several_sections_of_whole_blocks():
    pages = tuple(Block(f"page {i} " + "文字" * 600, Place("page", i), ("第一章",) if i < 4 else ("第二章",))
                  for i in range(1, 7))
    result = Extracted("pdf", "indexed", pages, pages=6, title="手册")
    sections = list(folder._sections_of(result, "手册", 0, section_chars=2500))
    assert [len(s.blocks) for s in sections] == [3, 3]
    assert [s.title for s in sections] == ["手册 · 第一章", "手册 · 第二章"]
    for s in sections:
        for start, end, block in s.blocks:
            assert s.body[start:end] == block.text


def test_a_folder_with_nothing_to_index_is_one_clear_error(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(b"\x00" * 10)
    with pytest.raises(folder.FolderError, match="holds no text"):
        folder.prepare(tmp_path, tmp_path / "idx")


def test_the_prepared_snapshot_round_trips_and_is_named_by_content(tmp_path):
    root = tmp_path / "task"
    root.mkdir()
    (root / "a.md").write_text("# A\nalpha\n", encoding="utf-8")
    write_corpus(root / "long_context.json", sample_docs(2))
    prepared = folder.prepare(root, tmp_path / "idx")
    snap = folder.write_prepared(prepared, tmp_path / "idx")
    assert folder.is_prepared(snap.path) and snap.sha256 == layout.file_sha256(snap.path)
    assert folder.read_prepared(snap.path) == prepared
    assert folder.write_prepared(folder.prepare(root, tmp_path / "idx"), tmp_path / "idx").sha256 == snap.sha256
