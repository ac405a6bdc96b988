"""The build queue: one build at a time per index directory, never the same corpus twice, resumed after a kill."""
import dataclasses
import os
import signal
import subprocess
import sys
import time

from indexing import layout, sources
from indexing.build import build_index
from indexing.queue import BuildJob, BuildQueue
from tests.conftest import build_intervals, options, sample_docs, write_corpus


def _job(index_dir, name, corpus, dense_stage="titles"):
    with open(corpus, "rb") as fh:
        snap = sources.snapshot(fh.fileno(), index_dir, ".json")
    opts = dataclasses.asdict(options(index_dir, name, dense_stage=dense_stage))
    return BuildJob(name, str(snap.path), str(corpus), {**opts, "index_dir": str(index_dir)})


def _wait(predicate, timeout=300):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_four_corpora_asked_at_once_are_built_one_at_a_time_and_once(tmp_path):
    queue = BuildQueue(tmp_path)
    jobs = [_job(tmp_path, f"c{i}", write_corpus(tmp_path / f"c{i}.json", sample_docs(3 + i))) for i in range(4)]
    assert all(queue.submit(j) for j in jobs)
    assert not queue.submit(jobs[0])  # the same corpus is not queued twice
    assert [s.state for s in queue.statuses()] == ["queued"] * 4
    assert queue.ensure_worker() and not queue.ensure_worker()  # one worker slot: the second call starts none
    _wait(lambda: not queue.jobs())
    spans = sorted(build_intervals((tmp_path / layout.QUEUE_DIR / "worker.log").read_text()).values())
    assert len(spans) == 4
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:]))
    for i in range(4):
        assert layout.read_manifest(layout.published_version(tmp_path, f"c{i}")).dense_stage == "titles"
    assert not list((tmp_path / layout.SOURCES_DIR).glob("*.json"))  # snapshots go once their build is done


def test_two_new_corpora_queued_at_once_do_not_pause_each_other(tmp_path):
    """A build pauses for a corpus without vectors only once its own titles are out; pausing while it still
    prepared made two new corpora hand the worker back and forth forever (seen in a folder's MCP session)."""
    queue = BuildQueue(tmp_path)
    for i in range(2):
        queue.submit(_job(tmp_path, f"n{i}", write_corpus(tmp_path / f"n{i}.json", sample_docs(4 + i)), "full"))
    assert queue.ensure_worker()
    _wait(lambda: not queue.jobs(), timeout=300)
    log = (tmp_path / layout.QUEUE_DIR / "worker.log").read_text()
    assert log.count("paused") <= 1, log[-2000:]
    for i in range(2):
        assert layout.read_manifest(layout.published_version(tmp_path, f"n{i}")).dense_stage == "full"


def test_a_killed_worker_leaves_its_job_interrupted_and_the_next_worker_resumes_it(tmp_path):
    corpus = write_corpus(tmp_path / "big.json", sample_docs() * 3)
    build_index(corpus, options(tmp_path, "big", dense=False), progress=False)
    queue = BuildQueue(tmp_path)
    queue.submit(dataclasses.replace(_job(tmp_path, "big", corpus),
                                     options={**_job(tmp_path, "big", corpus).options, "dense": "full",
                                              "embed_batch_size": 1}))
    queue.ensure_worker()
    _wait(lambda: (queue.status("big") or queue).state == "running" and queue.status("big").pid)
    pid = queue.status("big").pid
    _wait(lambda: queue.status("big").done_chars > 0 and queue.status("big").eta_s is not None)  # a measured ETA
    listing = subprocess.run([sys.executable, "-m", "indexing.queue", "--index-dir", str(tmp_path)],
                             capture_output=True, text=True, timeout=60).stdout
    assert listing.startswith("big: running, target full, stage ") and "% of its embedding done, ETA " in listing
    assert "ETA measuring" not in listing
    os.kill(pid, signal.SIGKILL)
    _wait(lambda: queue.status("big").state == "interrupted", 30)
    assert "resumes" in queue.status("big").message
    assert queue.ensure_worker()
    _wait(lambda: queue.status("big") is None)
    assert layout.read_manifest(layout.published_version(tmp_path, "big")).dense_stage == "full"


def test_an_unreadable_job_file_is_listed_as_failed_with_its_reason_and_removed(tmp_path):
    """Issue 22.9: an empty job file was skipped silently: the listing showed nothing, forever."""
    queue = BuildQueue(tmp_path)
    queue.dir.mkdir()
    (queue.dir / "c1.job.json").write_bytes(b"")
    (queue.dir / "c2.job.json").write_text('{"name": "c2", "sou', encoding="utf-8")
    listed = {s.name: s for s in queue.statuses()}
    assert set(listed) == {"c1", "c2"} and all(s.state == "failed" and s.requeue for s in listed.values())
    assert "unreadable (it is empty)" in listed["c1"].message and "JSONDecodeError" in listed["c2"].message
    assert queue.jobs() == [] and not list(queue.dir.glob("*.job.json"))


def test_a_job_file_is_written_whole_or_not_at_all(tmp_path):
    queue = BuildQueue(tmp_path)
    job = _job(tmp_path, "c", write_corpus(tmp_path / "c.json", sample_docs(2)))
    assert queue.submit(job) and not queue.submit(job)  # the second is refused: one job per corpus
    assert queue.jobs() == [job]
    assert sorted(p.name for p in queue.dir.iterdir()) == ["c.job.json", "c.status.json"]  # no temporary left


def test_a_new_corpus_gets_its_vectors_before_a_long_build_goes_on(tmp_path):
    """Issue 22.6: the queue was oldest-first, so a new 50 KB corpus waited behind a resumed long build for more
    than an hour. A build past its titles stage now yields to a queued corpus without vectors, and resumes."""
    long_docs = [{**d, "page_body": f"{d['page_body']} 第{k}版。"} for k in range(4) for d in sample_docs()]
    big = write_corpus(tmp_path / "big.json", long_docs)
    build_index(big, options(tmp_path, "big", dense=False), progress=False)
    queue = BuildQueue(tmp_path)
    job = _job(tmp_path, "big", big)
    queue.submit(dataclasses.replace(job, options={**job.options, "dense": "full", "embed_batch_size": 1}))
    queue.ensure_worker()
    _wait(lambda: (queue.status("big") or queue).state == "running" and queue.status("big").stage in ("leads", "full"))
    new = write_corpus(tmp_path / "new.json", sample_docs(3))
    build_index(new, options(tmp_path, "new", dense=False), progress=False)
    queue.submit(_job(tmp_path, "new", new))
    _wait(lambda: queue.status("new") is None)  # the new corpus is fully built...
    big_now = queue.status("big")
    try:
        assert big_now is not None and big_now.state in ("queued", "running")  # ...while the long one is not
        assert layout.read_manifest(layout.published_version(tmp_path, "new")).dense_stage == "titles"
        log = (queue.dir / "worker.log").read_text()
        assert "paused big: new has no vectors yet" in log
        _wait(lambda: queue.status("big") is None)  # and the long build resumes to its end
        assert layout.read_manifest(layout.published_version(tmp_path, "big")).dense_stage == "full"
    finally:
        if queue.status("big") is not None and queue.status("big").pid:
            os.kill(queue.status("big").pid, signal.SIGKILL)
