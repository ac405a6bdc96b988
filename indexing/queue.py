"""One build queue per index directory: background builds run a bounded number at a time, outlive whoever
asked for them, never build one corpus twice at once, and resume after a kill.

    <index_dir>/.queue/<name>.job.json      what to build; removed once the build reaches its target (written
                                            whole or not at all: tmp file, fsync, link)
    <index_dir>/.queue/<name>.status.json   where it is: state, stage, progress, ETA (rewritten every few seconds)
    <index_dir>/.queue/<name>.lock          held (flock) by the process building it
    <index_dir>/.queue/worker-<k>.lock      held by a live worker; at most ``slots`` workers run
    <index_dir>/.queue/worker.log           what the workers printed

A worker (``indexing/worker.py``) is an ordinary detached process started by
``BuildQueue.ensure_worker()``; it takes the oldest job nobody builds, builds it
through ``indexing.build.build_index`` (which publishes each dense stage as it
lands) and exits when the queue is empty. This module only reads and writes the
queue's files, so the service can show the queue without importing build code. A job whose worker was killed stays in
the queue; the next ``ensure_worker()`` (the MCP server calls it whenever the corpus
is used) starts a worker that resumes it from the vector cache. A job file that
cannot be read (left empty by a kill or a full disk before writes were atomic) is
removed and shown as a failed build with the reason and ``requeue`` set: the next
use of an on-demand corpus queues its build again (``app/serving/ondemand.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from indexing import layout

log = logging.getLogger(__name__)

STATUS_EVERY_S = 2.0
State = Literal["queued", "running", "interrupted", "failed"]


@dataclass(frozen=True)
class BuildJob:
    name: str
    source: str  # a private snapshot (indexing/sources.py), never the caller's path
    source_label: str  # the caller's path, recorded as the manifest's source
    options: dict  # BuildOptions fields
    requested_at: float = field(default_factory=time.time)


@dataclass(frozen=True)
class BuildStatus:
    name: str
    state: State
    target: str
    stage: str | None = None  # the dense stage being embedded
    done_chars: int = 0
    total_chars: int = 0
    eta_s: float | None = None
    message: str | None = None
    pid: int | None = None
    updated_at: float = field(default_factory=time.time)
    requeue: bool = False  # failed for want of a readable job, not of a good corpus: queue it again when used

    @property
    def share_done(self) -> float:
        return self.done_chars / self.total_chars if self.total_chars else 0.0


def eta_text(seconds: float | None) -> str:
    """An ETA as a person reads it; "measuring" until the build has measured its embedding rate."""
    if seconds is None:
        return "measuring"
    return "under a minute" if seconds < 60 else f"about {round(seconds / 60)} min"


def share_text(stage: str | None, share: float) -> str:
    return f"stage {stage or 'starting'}, {share:.0%} of its embedding done"


def progress_text(stage: str | None, share: float, eta_s: float | None) -> str:
    """Where a build is, the same words everywhere (MCP, REST, playground, queue listing): stage, share, ETA."""
    return f"{share_text(stage, share)}, ETA {eta_text(eta_s)}"


def status_line(s: "BuildStatus") -> str:
    """A build of the queue in one line: its state, target, stage, share and ETA, and why when it stopped."""
    return (f"{s.state}, target {s.target}, {progress_text(s.stage, s.share_done, s.eta_s)}"
            + (f" ({s.message})" if s.message else ""))


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


def _write_new(path: Path, data: dict) -> bool:
    """Create ``path`` holding ``data``, whole or not at all; False if it exists already."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.link(tmp, path)  # fails if a job exists: exclusive like O_EXCL, and never half written
        return True
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def lock_free(path: Path) -> bool:
    """Whether no live process holds the flock on ``path`` (a probe: taken and released at once)."""
    try:
        with open(path, "a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(fh, fcntl.LOCK_UN)
            return True
    except BlockingIOError:
        return False


class BuildQueue:
    def __init__(self, index_dir: Path, slots: int = 1):
        self.index_dir = Path(index_dir)
        self.dir = self.index_dir / layout.QUEUE_DIR
        self.slots = max(1, slots)

    def drop(self, name: str, status_too: bool = False) -> None:
        """Remove a finished job (and its progress file)."""
        self._job_file(name).unlink(missing_ok=True)
        if status_too:
            self._status_file(name).unlink(missing_ok=True)

    def drop_queued(self, name: str) -> bool:
        """Remove a job nobody builds yet (superseded by a newer content of its file); False if one builds it."""
        with open(self.dir / f"{layout.check_name(name)}.lock", "a") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            self.drop(name, status_too=True)
            log.info("dropped the queued build of %s: superseded", name)
            return True

    def _job_file(self, name: str) -> Path:
        return self.dir / f"{layout.check_name(name)}.job.json"

    def _status_file(self, name: str) -> Path:
        return self.dir / f"{name}.status.json"

    # --- asking --------------------------------------------------------------------------------

    def submit(self, job: BuildJob) -> bool:
        """Queue a build; False if this corpus is already queued or building (its job is kept as it is)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not _write_new(self._job_file(job.name), dataclasses.asdict(job)):
            return False
        self.set_status(BuildStatus(job.name, "queued", job.options.get("dense", "full")))
        return True

    def _job(self, path: Path) -> BuildJob | None:
        """The job in ``path``; an unreadable one is removed and reported as a failed build to queue again."""
        try:
            return BuildJob(**json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError) as exc:
            reason = "it is empty" if path.exists() and path.stat().st_size == 0 else f"{type(exc).__name__}: {exc}"
            name = path.name.removesuffix(".job.json")
            log.warning("build job %s is unreadable (%s); removed", path, reason)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            self.set_status(BuildStatus(name, "failed", "full", requeue=True, message=(
                f"its job file was unreadable ({reason}) and was removed; the build is queued again when the "
                "corpus is next used")))
            return None

    def jobs(self) -> list[BuildJob]:
        found = [self._job(p) for p in (self.dir.glob("*.job.json") if self.dir.is_dir() else [])]
        return sorted((j for j in found if j is not None), key=lambda j: j.requested_at)

    def status(self, name: str) -> BuildStatus | None:
        """The build of ``name`` if one is queued, running, interrupted or failed; None otherwise."""
        job = self._job(self._job_file(name)) if layout.valid_name(name) else None
        data = _read_json(self._status_file(name))
        if job is None:
            return BuildStatus(**data) if data and data.get("state") == "failed" else None
        status = BuildStatus(**data) if data else BuildStatus(name, "queued", job.options.get("dense", "full"))
        if status.state == "running" and lock_free(self.dir / f"{name}.lock"):
            status = dataclasses.replace(status, state="interrupted", eta_s=None,
                                         message="the build was stopped; it resumes from its cached vectors when "
                                                 "the corpus is next used")
        return status

    def statuses(self) -> list[BuildStatus]:
        names = {p.name.removesuffix(".job.json").removesuffix(".status.json") for p in self.dir.glob("*.json")
                 if not p.name.startswith(".")} if self.dir.is_dir() else set()
        return [s for s in (self.status(n) for n in sorted(names)) if s is not None]

    def workers_alive(self) -> int:
        return sum(not lock_free(self.dir / f"worker-{k}.lock") for k in range(self.slots))

    def ensure_worker(self) -> bool:
        """Start a detached worker if jobs wait and a worker slot is free; True if one was started.

        The slot is locked here and the lock handed to the worker, so two callers at once start one worker.
        """
        if not self.jobs():
            return False
        slot = self.take_slot()
        if slot is None:
            return False
        with slot, open(self.dir / "worker.log", "ab") as logfile:
            subprocess.Popen(
                [sys.executable, "-m", "indexing.worker", "--index-dir", str(self.index_dir),
                 "--slots", str(self.slots), "--slot-fd", str(slot.fileno())],
                stdin=subprocess.DEVNULL, stdout=logfile, stderr=logfile, start_new_session=True,
                pass_fds=(slot.fileno(),), cwd=Path(__file__).resolve().parent.parent,
            )
        return True

    def set_status(self, status: BuildStatus) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(self._status_file(status.name), dataclasses.asdict(status))

    def take_slot(self):
        """A worker slot's lock file, locked; None if every slot is held by a live worker."""
        self.dir.mkdir(parents=True, exist_ok=True)
        for k in range(self.slots):
            fh = open(self.dir / f"worker-{k}.lock", "a")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return fh  # held until the process exits
            except BlockingIOError:
                fh.close()
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m indexing.queue", description="Show an index directory's "
                                     "build queue: one line per build.")
    parser.add_argument("--index-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    for s in BuildQueue(args.index_dir).statuses():
        print(f"{s.name}: {status_line(s)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
