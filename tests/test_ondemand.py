"""On-demand indexing of a file an agent names (app/serving/ondemand.py): bounded copies, no leftovers, no stale
answers after an in-place swap, private files. Real files, the real local backend and, where an agent sees
the result, the real MCP SDK client over stdio."""
import json
import os
import stat
import subprocess
import time

import pytest

from app.backend.factory import create_backend
from app.serving.ondemand import CorpusResolver
from app.settings import Settings
from indexing import layout
from indexing.queue import BuildQueue
from tests.conftest import sample_docs, write_corpus
from tests.test_mcp_server import run


def _resolver(tmp_path, roots, **settings) -> CorpusResolver:
    s = Settings(index_dir=tmp_path / "idx", allowed_roots=str(roots), **settings)
    return CorpusResolver(s, create_backend(s))


def _sources(tmp_path) -> list:
    d = tmp_path / "idx" / layout.SOURCES_DIR
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def _bytes_under(path) -> int:
    return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0


def test_a_file_over_the_size_limit_is_refused_before_anything_is_copied(tmp_path):
    """Issue 22.1: a 1 GB sparse file (0 bytes on disk) once left a 1,090 MB snapshot behind after 10 s."""
    roots = tmp_path / "roots"
    roots.mkdir()
    huge = roots / "huge.json"
    subprocess.run(["truncate", "-s", "1G", str(huge)], check=True)
    resolver = _resolver(tmp_path, roots)  # the default limit, 512 MiB
    with pytest.raises(ValueError) as err:
        resolver.resolve(str(huge))
    message = str(err.value)
    assert str(huge) in message and "RAG_MAX_SOURCE_BYTES" in message and "1073741824" in message.replace(",", "")
    assert _bytes_under(tmp_path / "idx") == 0 and _sources(tmp_path) == []


def test_a_failed_build_leaves_no_snapshot_and_names_the_callers_path(tmp_path):
    """Issue 22.1: invalid files left their snapshots (66 MB from seven), and the error named
    ``.sources/<sha>.json`` instead of the file the agent gave."""
    roots = tmp_path / "roots"
    roots.mkdir()
    resolver = _resolver(tmp_path, roots)
    bad = [roots / f"bad{i}.json" for i in range(3)]
    bad[0].write_text(json.dumps([{"title": "t", "content": "x"}] * 5 + [42]), encoding="utf-8")  # record 5
    bad[1].write_text('[{"title": "t", "content": ', encoding="utf-8")  # truncated JSON
    bad[2].write_bytes(b"\x00\x01binary")
    for path in bad:
        with pytest.raises(ValueError) as err:
            resolver.resolve(str(path))
        assert str(path) in str(err.value) and layout.SOURCES_DIR not in str(err.value), err.value
    assert _sources(tmp_path) == []
    assert layout.list_corpora(tmp_path / "idx") == []


def test_the_agent_sees_its_own_path_in_the_error_and_nothing_is_left(tmp_path):
    roots = tmp_path / "roots"
    (roots / "task").mkdir(parents=True)
    bad = roots / "task" / "long_context.json"
    bad.write_text(json.dumps([{"title": "t", "content": "x"}] * 600 + ["not a record"]), encoding="utf-8")
    env = {"RAG_INDEX_DIR": str(tmp_path / "idx"), "RAG_ALLOWED_ROOTS": str(roots)}
    _, (stats,) = run(env, [("rag_document_stats", {"json_path": str(bad)})])
    text = stats.content[0].text
    assert stats.is_error and f"{bad}: record 600" in text and layout.SOURCES_DIR not in text, text
    assert _sources(tmp_path) == []


def test_a_file_swapped_in_place_with_its_mtime_kept_is_indexed_anew(tmp_path):
    """Issue 22.5: ``cp -p`` rewrites the same inode, same size, and restores the mtime; a long-lived
    process kept answering from the old content. The ctime still moves, and it is part of the cache key."""
    roots = tmp_path / "roots"
    roots.mkdir()
    corpus = write_corpus(roots / "c.json", sample_docs(4))
    resolver = _resolver(tmp_path, roots)
    first = resolver.resolve(str(corpus))
    before = os.stat(corpus)
    swapped = sample_docs(4)
    swapped[0]["title"] = "".join({1: "X", 3: "字"}.get(len(c.encode()), c) for c in swapped[0]["title"])
    new_bytes = json.dumps(swapped, ensure_ascii=False).encode()
    assert len(new_bytes) == before.st_size
    replacement = write_corpus(tmp_path / "new.json", swapped)
    os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))  # what cp -p then keeps
    subprocess.run(["cp", "-p", str(replacement), str(corpus)], check=True)
    after = os.stat(corpus)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    second = resolver.resolve(str(corpus))
    assert second.name != first.name and second.new
    assert "字字字字" in create_backend(resolver.settings).stats(second.name).sample_titles


def test_the_content_hash_cache_is_bounded(tmp_path):
    roots = tmp_path / "roots"
    roots.mkdir()
    corpus = write_corpus(roots / "c.json", sample_docs(2))
    resolver = _resolver(tmp_path, roots)
    resolver.resolve(str(corpus))
    for i in range(resolver.HASH_CACHE + 50):  # every touch is a new identity
        os.utime(corpus, ns=(i, i))
        resolver.resolve(str(corpus))
    assert len(resolver._sha) == resolver.HASH_CACHE


def test_snapshots_and_on_demand_indexes_are_private_whatever_the_umask(tmp_path):
    """Issue 22.8: a 0600 corpus under a 0700 folder became 0644 files in 0755 folders."""
    roots = tmp_path / "roots"
    (roots / "secret").mkdir(parents=True, mode=0o700)
    corpus = write_corpus(roots / "secret" / "c.json", sample_docs(3))
    corpus.chmod(0o600)
    old = os.umask(0o022)
    try:
        resolved = _resolver(tmp_path, roots).resolve(str(corpus))
    finally:
        os.umask(old)
    index_dir = tmp_path / "idx"
    queue = BuildQueue(index_dir)
    deadline = time.monotonic() + 300
    while queue.status(resolved.name) is not None and time.monotonic() < deadline:  # the dense build too
        time.sleep(0.5)
    assert queue.status(resolved.name) is None
    checked = [index_dir / layout.SOURCES_DIR, *(index_dir / layout.SOURCES_DIR).iterdir(),
               layout.corpus_root(index_dir, resolved.name), *layout.corpus_root(index_dir, resolved.name).rglob("*")]
    assert len(checked) > 8
    loose = {str(p.relative_to(index_dir)): oct(stat.S_IMODE(p.stat().st_mode)) for p in checked
             if p.stat().st_mode & 0o077}
    assert loose == {}


def test_a_corpus_whose_job_file_was_left_empty_still_gets_its_vectors(tmp_path):
    """Issue 22.9: an empty job file (a kill between create and write) left the corpus BM25-only forever
    while the queue listing showed nothing; the next use now queues the build again."""
    from indexing import sources
    from indexing.build import build_index
    from tests.conftest import options

    roots = tmp_path / "roots"
    roots.mkdir()
    corpus = write_corpus(roots / "c.json", sample_docs(3))
    index_dir = tmp_path / "idx"
    with open(corpus, "rb") as fh:
        snap = sources.snapshot(fh.fileno(), index_dir, ".json")
    name = layout.default_name(corpus, snap.sha256)
    build_index(snap.path, options(index_dir, name, dense=False), progress=False, source_label=str(corpus))
    queue = BuildQueue(index_dir)
    queue.dir.mkdir(parents=True, exist_ok=True)
    (queue.dir / f"{name}.job.json").write_bytes(b"")  # what the kill left
    resolved = _resolver(tmp_path, roots).resolve(str(corpus))
    assert resolved.name == name and not resolved.new
    assert resolved.build is not None and resolved.build.state in ("queued", "running")
    deadline = time.monotonic() + 300
    while queue.status(name) is not None and time.monotonic() < deadline:
        time.sleep(0.5)
    assert layout.read_manifest(layout.published_version(index_dir, name)).dense_stage == "full"


def test_a_file_appended_to_five_times_leaves_one_queued_build(tmp_path):
    """Issue 22.6: every content change queued a dense build, stale ones first; a newer content of the same
    file now drops the queued build of the older one, and its snapshot."""
    roots = tmp_path / "roots"
    roots.mkdir()
    docs = sample_docs(8)
    corpus = write_corpus(roots / "c.json", docs[:3])
    resolver = _resolver(tmp_path, roots)
    with resolver.queue.take_slot():  # no worker may start: every build stays queued
        names = [resolver.resolve(str(corpus)).name]
        for n in range(4, 9):
            write_corpus(corpus, docs[:n])
            names.append(resolver.resolve(str(corpus)).name)
        assert len(set(names)) == 6
        assert [j.name for j in resolver.queue.jobs()] == [names[-1]]
        assert len(_sources(tmp_path)) == 1
        assert [s.name for s in resolver.queue.statuses()] == [names[-1]]
