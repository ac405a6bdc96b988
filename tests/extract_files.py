"""Where the extraction tests find real documents, skipping with the reason when they are absent.

- the task folders' real files: ``../shared/eval/task_folders`` beside the repository (not in the repo:
  licensed data);
- Debian's PDFs: ``tests/fixtures/extract/debian/``, filled by ``tests/fixtures/extract/get_debian_pdfs.sh``
  (``.ci/run`` calls it).
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TASK_FOLDERS = ROOT.parent / "shared" / "eval" / "task_folders"
DEBIAN_PDFS = ROOT / "tests" / "fixtures" / "extract" / "debian"


def task_file(relative: str) -> Path:
    """A real file of the task folders, or skip the test saying where it was looked for."""
    path = TASK_FOLDERS / relative
    if not path.is_file():
        pytest.skip(f"{path} not present (the task folders live in ../shared/eval, beside the repository)")
    return path


def debian_pdf(name: str) -> Path:
    """A PDF from Debian's packages, or skip the test saying how to get it."""
    path = DEBIAN_PDFS / name
    if not path.is_file():
        pytest.skip(f"{path} not present: run tests/fixtures/extract/get_debian_pdfs.sh")
    return path
