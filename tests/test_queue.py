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


def _job(index_dir, name, corpus):
    with open(corpus, "rb") as fh:
        snap = sources.snapshot(fh.fileno(), index_dir, ".json")
    opts = dataclasses.asdict(options(index_dir, name, dense_stage="titles"))
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
