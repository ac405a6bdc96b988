"""Opening a corpus an agent names: only regular files under the roots, checked on the file actually opened."""
import os
import threading

import pytest

from app.serving.access import AccessDenied, check_folder, open_corpus
from tests.conftest import sample_docs, write_corpus


@pytest.fixture()
def roots(tmp_path):
    inside, outside = tmp_path / "tasks", tmp_path / "secret"
    inside.mkdir()
    outside.mkdir()
    write_corpus(inside / "lc.json", sample_docs(2))
    write_corpus(outside / "lc.json", sample_docs(3))
    return inside, outside


def test_a_relative_path_is_told_to_be_absolute_and_the_roots_are_named(roots):
    inside, _ = roots
    with pytest.raises(AccessDenied, match=rf"must be an absolute path.*under {inside}"):
        open_corpus("long_context.json", [inside])


def test_symlinks_are_followed_only_within_the_roots(roots):
    inside, outside = roots
    (inside / "ok.json").symlink_to(inside / "lc.json")
    (inside / "escape.json").symlink_to(outside / "lc.json")
    with open_corpus(str(inside / "ok.json"), [inside]) as opened:
        assert opened.real_path == inside / "lc.json"
    with pytest.raises(AccessDenied, match="outside the allowed corpus roots"):
        open_corpus(str(inside / "escape.json"), [inside])
    with pytest.raises(AccessDenied, match="outside"):
        open_corpus(str(inside / ".." / "secret" / "lc.json"), [inside])


def test_the_opened_file_stays_what_was_checked_after_the_path_is_swapped(roots):
    inside, outside = roots
    with open_corpus(str(inside / "lc.json"), [inside]) as opened:
        os.replace(inside / "lc.json", inside / "old.json")
        (inside / "lc.json").symlink_to(outside / "lc.json")
        assert os.pread(opened.fd, 100, 0) == (inside / "old.json").read_bytes()[:100]


def test_a_fifo_is_refused_at_once_instead_of_hanging(roots):
    inside, _ = roots
    os.mkfifo(inside / "pipe.json")
    outcome = []

    def attempt():
        try:
            open_corpus(str(inside / "pipe.json"), [inside])
        except AccessDenied as exc:
            outcome.append(str(exc))

    worker = threading.Thread(target=attempt, daemon=True)
    worker.start()
    worker.join(10)
    assert outcome and "not a regular file" in outcome[0]


def test_directories_and_missing_files_are_named(roots):
    inside, _ = roots
    with pytest.raises(AccessDenied, match="not a regular file"):
        open_corpus(str(inside), [inside])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_corpus(str(inside / "missing.json"), [inside])


def test_a_folder_is_accepted_only_under_a_root(tmp_path):
    root, outside = tmp_path / "tasks", tmp_path / "elsewhere"
    (root / "task-1").mkdir(parents=True)
    outside.mkdir()
    (root / "link-out").symlink_to(outside, target_is_directory=True)
    assert check_folder(str(root / "task-1"), [root]) == (root / "task-1").resolve()
    for bad in (outside, root / "link-out", root / "task-1" / ".." / ".." / "elsewhere"):
        with pytest.raises(AccessDenied, match="outside the allowed corpus roots"):
            check_folder(str(bad), [root])
    with pytest.raises(AccessDenied, match="absolute path"):
        check_folder("tasks/task-1", [root])
