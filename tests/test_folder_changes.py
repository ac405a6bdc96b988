"""A folder that changes: the queue builds its vectors in stages like a JSON corpus's, and a changed file is
extracted again alone while every unchanged passage keeps its cached vector."""
import dataclasses
from pathlib import Path

from indexing import folder, layout
from indexing.build import build_index
from indexing.queue import BuildJob, BuildQueue
from indexing.worker import run_worker
from tests.conftest import options
from tests.test_folder_index import make_folder


def _queue_dense_build(index_dir: Path, name: str, snap) -> None:
    """What the MCP server does for a new folder: a queued job on the prepared snapshot, run by a worker."""
    opts = dataclasses.asdict(options(index_dir, name))
    queue = BuildQueue(index_dir)
    queue.submit(BuildJob(name, str(snap.path), "task", {**opts, "index_dir": str(index_dir)}))
    assert run_worker(queue) == 1


def test_the_queue_builds_a_folder_to_full_vectors_and_a_changed_file_reuses_the_rest(tmp_path):
    root, index_dir = make_folder(tmp_path / "task"), tmp_path / "idx"
    first = folder.write_prepared(folder.prepare(root, index_dir), index_dir)
    build_index(first.path, options(index_dir, "task", dense=False), progress=False)
    _queue_dense_build(index_dir, "task", first)
    manifest = layout.read_manifest(layout.published_version(index_dir, "task"))
    assert (manifest.source_kind, manifest.dense_stage, manifest.dense_coverage) == ("folder", "full", 1.0)
    assert not first.path.exists()  # the worker drops the snapshot once built

    cache = index_dir / layout.EXTRACT_CACHE_DIR
    extracted_before = set(cache.iterdir())
    guide = root / "guide.md"
    guide.write_text(guide.read_text(encoding="utf-8").replace("一千二百名", "一千三百名"), encoding="utf-8")
    second = folder.write_prepared(folder.prepare(root, index_dir), index_dir)
    assert len(set(cache.iterdir()) - extracted_before) == 1  # guide.md alone was extracted again
    report = build_index(second.path, options(index_dir, "task"), progress=False)
    assert report.manifest.dense_stage == "full"
    assert 0 < report.embedded <= 3 and report.reused > 10 * report.embedded  # its changed part (+ its title)
