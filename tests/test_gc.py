"""Retention (indexing/gc.py, ``zh-rag gc``): idle and superseded on-demand corpora and build leftovers go, with
what was freed reported; a corpus a real registry serves, or one being built, stays."""
import os
import time

from app.backend.factory import create_backend
from app.cli import main as cli_main
from app.serving.ondemand import CorpusResolver
from app.backend.registry import Registry
from app.settings import Settings
from indexing import gc, layout
from tests.conftest import sample_docs, write_corpus

DAY = 86400


def _age(index_dir, name, seconds):
    stamp = layout.corpus_root(index_dir, name) / gc.LAST_USED
    t = time.time() - seconds
    os.utime(stamp, (t, t))


def _index(tmp_path, files: dict[str, list[dict]]) -> tuple[CorpusResolver, dict[str, str]]:
    """On-demand corpora of ``files`` (folder/name -> documents), their dense builds left queued."""
    roots = tmp_path / "roots"
    s = Settings(index_dir=tmp_path / "idx", allowed_roots=str(roots))
    resolver = CorpusResolver(s, create_backend(s))
    names = {}
    with resolver.queue.take_slot():  # no worker: the builds stay queued, and the test says which are done
        for rel, docs in files.items():
            (roots / rel).parent.mkdir(parents=True, exist_ok=True)
            names[rel] = resolver.resolve(str(write_corpus(roots / rel, docs))).name
    return resolver, names


def test_gc_frees_idle_superseded_and_leftovers_but_never_what_is_served_or_built(tmp_path):
    docs = sample_docs(6)
    resolver, n = _index(tmp_path, {"t1/a.json": docs[:2], "t2/b.json": docs[2:4], "t3/d.json": docs[4:6],
                                    "t4/c.json": docs[:3]})
    index_dir = resolver.settings.index_dir
    old_c = n["t4/c.json"]
    write_corpus(tmp_path / "roots" / "t4" / "c.json", docs[:5])  # a newer content of the same file
    with resolver.queue.take_slot():
        new_c = resolver.resolve(str(tmp_path / "roots" / "t4" / "c.json")).name
    for name in (n["t1/a.json"], n["t2/b.json"], old_c, new_c):  # their dense builds are over
        resolver.queue.drop(name, status_too=True)
    assert [j.name for j in resolver.queue.jobs()] == [n["t3/d.json"]]  # d is still to be built
    for name in (n["t1/a.json"], n["t2/b.json"], n["t3/d.json"]):
        _age(index_dir, name, 10 * DAY)
    _age(index_dir, old_c, 2 * 3600)
    reader = Registry(index_dir, eager=False)
    served = reader.get(n["t2/b.json"])  # a reader holds b: loading stamps it as used
    stale = index_dir / layout.SOURCES_DIR / ("0" * 64 + ".json")
    stale.write_text("[]")
    os.utime(stale, (time.time() - DAY, time.time() - DAY))
    (resolver.queue.dir / f"{n['t1/a.json']}.lock").touch()  # a finished build's lock file

    before = gc.size_of(index_dir)
    dry = gc.collect(index_dir, max_idle_days=7, dry_run=True)
    assert gc.size_of(index_dir) == before  # nothing removed
    report = gc.collect(index_dir, max_idle_days=7)
    assert [(f.path, f.reason.split(" ")[0]) for f in report.freed] == [(f.path, f.reason.split(" ")[0])
                                                                        for f in dry.freed]
    gone = {f.path for f in report.freed}
    assert {n["t1/a.json"], old_c, f"{layout.SOURCES_DIR}/{stale.name}",
            f"{layout.QUEUE_DIR}/{n['t1/a.json']}.lock"} <= gone
    assert not gone & {n["t2/b.json"], n["t3/d.json"], new_c}
    assert set(layout.list_corpora(index_dir)) == {n["t2/b.json"], n["t3/d.json"], new_c}
    assert report.freed_bytes > 0 and report.freed_bytes == before - gc.size_of(index_dir)
    assert any("superseded by " + new_c in f.reason for f in report.freed)
    assert n["t3/d.json"] in report.kept_in_use  # idle for 10 days, but queued for its dense build
    assert reader.get(n["t2/b.json"]) is served  # the reader still serves its version


def test_a_byte_budget_removes_least_recently_used_first_and_spares_recent_ones(tmp_path):
    docs = sample_docs(6)
    resolver, n = _index(tmp_path, {f"t{i}/c.json": docs[i : i + 1] for i in range(4)})
    index_dir = resolver.settings.index_dir
    for name in n.values():
        resolver.queue.drop(name, status_too=True)
    for i, rel in enumerate(["t0/c.json", "t1/c.json", "t2/c.json"]):
        _age(index_dir, n[rel], (5 - i) * 3600)  # t0 the least recently used; t3 used just now
    sizes = {name: gc.size_of(layout.corpus_root(index_dir, name)) for name in n.values()}
    budget = gc.size_of(index_dir) - sizes[n["t0/c.json"]] - sizes[n["t1/c.json"]] // 2
    report = gc.collect(index_dir, max_bytes=budget)
    assert [f.path for f in report.freed] == [n["t0/c.json"], n["t1/c.json"]]
    assert report.total_bytes <= budget
    report = gc.collect(index_dir, max_bytes=1)  # however small the budget, a corpus used within the hour stays
    assert n["t3/c.json"] in layout.list_corpora(index_dir) and n["t3/c.json"] in report.kept_in_use


def test_the_gc_command_says_what_it_would_free_and_what_it_keeps(tmp_path, capsys):
    resolver, n = _index(tmp_path, {"t1/a.json": sample_docs(2)})
    resolver.queue.drop(n["t1/a.json"], status_too=True)
    _age(resolver.settings.index_dir, n["t1/a.json"], 3 * DAY)
    assert cli_main(["gc", "--index-dir", str(resolver.settings.index_dir), "--max-idle-days", "1", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would free" in out and n["t1/a.json"] in out and "unused for 3.0 days" in out
    assert n["t1/a.json"] in layout.list_corpora(resolver.settings.index_dir)
