"""The build queue's worker: ``python -m indexing.worker --index-dir DIR`` (started by ``BuildQueue.ensure_worker``).

It holds a worker slot for its whole life, builds queued jobs with
``indexing.build.build_index`` (each dense stage published as it lands, progress
written to the job's status file), and exits once the queue is empty. A job whose
build fails is reported as failed and dropped; a job whose corpus is being built
by hand waits.

Scheduling is by stage: the job whose corpus has the least published (no vectors,
then titles, then leads) goes first, oldest first among equals; and a build past
its titles stage yields (``Preempted``, its vectors kept in the cache) as soon as
another queued corpus has no vectors at all. So every queued corpus gets its
titles stage before any gets its leads or full stage, and a new corpus is
useful in seconds even behind a build of hours.
"""
from __future__ import annotations

import argparse
import fcntl
import logging
import os
import sys
import time
from pathlib import Path

from indexing import layout, sources
from indexing.build import STAGES, BuildLocked, BuildOptions, Progress, build_index
from indexing.queue import STATUS_EVERY_S, BuildJob, BuildQueue, BuildStatus, lock_free

log = logging.getLogger("indexing.queue")


class Preempted(Exception):
    """A queued corpus has no vectors yet: this build stops after its last committed batch and waits its turn."""


def published_stage(index_dir: Path, name: str) -> int:
    """Index in ``STAGES`` of the dense stage published for ``name`` (0: none, or nothing readable)."""
    manifest = layout.published_manifest(index_dir, name)
    return STAGES.index(manifest.dense_stage) if manifest and manifest.dense_stage in STAGES else 0


def next_job(queue: BuildQueue) -> BuildJob | None:
    """The free job whose corpus has the least published, oldest first among equals."""
    free = [j for j in queue.jobs() if lock_free(queue.dir / f"{j.name}.lock")]
    return min(free, key=lambda j: (published_stage(queue.index_dir, j.name), j.requested_at), default=None)


def waiting_without_vectors(queue: BuildQueue, running: str) -> str | None:
    """A queued corpus other than ``running`` that nobody builds and that has no vectors yet."""
    return next((j.name for j in queue.jobs() if j.name != running and lock_free(queue.dir / f"{j.name}.lock")
                 and published_stage(queue.index_dir, j.name) == 0), None)


def build_options(job: BuildJob) -> BuildOptions:
    return BuildOptions(**{**job.options, "index_dir": Path(job.options["index_dir"])})


def run_worker(queue: BuildQueue, slot_fd: int | None = None, idle_exit_s: float = 0.0) -> int:
    """Build queued jobs until none is left; returns how many were built. Exits at once if no slot is free.

    ``slot_fd``: a slot lock already taken for this worker by ``ensure_worker``.
    """
    slot = os.fdopen(slot_fd, "a") if slot_fd is not None else queue.take_slot()
    if slot is None:
        return 0
    built, deadline = 0, time.monotonic() + idle_exit_s
    while True:
        job = next_job(queue)
        if job is None:
            if time.monotonic() >= deadline:
                return built
            time.sleep(0.5)
            continue
        built += _run(queue, job)
        deadline = time.monotonic() + idle_exit_s

def _run(queue: BuildQueue, job: BuildJob) -> int:
    with open(queue.dir / f"{job.name}.lock", "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return 0
        opts = build_options(job)
        last = [0.0, None]  # when the status was written, and the stage it named

        def report(p: Progress) -> None:
            if time.monotonic() - last[0] >= STATUS_EVERY_S or p.stage != last[1]:  # a new stage shows at once
                last[0], last[1] = time.monotonic(), p.stage
                # only a build whose corpus already has vectors pauses: two new ones (a small corpus goes straight
                # to its full stage) would hand the worker back and forth forever
                if (p.stage != "titles" and published_stage(queue.index_dir, job.name) > 0
                        and (waiting := waiting_without_vectors(queue, job.name))):
                    raise Preempted(waiting)
                queue.set_status(BuildStatus(job.name, "running", opts.dense, p.stage, p.done_chars, p.total_chars,
                                      None if p.eta_s is None else round(p.eta_s, 1), pid=os.getpid()))

        queue.set_status(BuildStatus(job.name, "running", opts.dense, pid=os.getpid()))
        log.info("building %s", job.name)
        try:
            build_index(Path(job.source), opts, progress=False, on_progress=report, source_label=job.source_label)
        except Preempted as exc:  # a corpus without vectors goes first; this one resumes from its cached vectors
            log.info("paused %s: %s has no vectors yet", job.name, exc)
            queue.set_status(BuildStatus(job.name, "queued", opts.dense, message=f"paused while {exc} gets its "
                                         "first vectors; resumes from its cached vectors"))
            return 0
        except BuildLocked as exc:  # someone builds it by hand: leave the job, try again later
            queue.set_status(BuildStatus(job.name, "queued", opts.dense, message=str(exc)))
            time.sleep(2)
            return 0
        except Exception as exc:  # a bad corpus or a full disk: report it, do not retry forever
            log.exception("build of %s failed", job.name)
            message = f"{type(exc).__name__}: {exc}".replace(job.source, job.source_label)  # the caller's path
            queue.set_status(BuildStatus(job.name, "failed", opts.dense, message=message))
            _finish(queue, job)
            return 0
        log.info("built %s", job.name)
        _finish(queue, job, status_too=True)
        return 1


def _finish(queue: BuildQueue, job: BuildJob, status_too: bool = False) -> None:
    """Drop the job, and its snapshot once no other job reads it."""
    queue.drop(job.name, status_too)
    if not any(j.source == job.source for j in queue.jobs()):
        sources.discard(Path(job.source), queue.index_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexing.worker", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--slots", type=int, default=1, help="builds that may run at once in this index directory")
    parser.add_argument("--slot-fd", type=int, help=argparse.SUPPRESS)  # a slot lock handed over by ensure_worker
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    built = run_worker(BuildQueue(args.index_dir, args.slots), args.slot_fd)
    log.info("queue worker done: %d build(s)", built)
    return 0


if __name__ == "__main__":
    sys.exit(main())
