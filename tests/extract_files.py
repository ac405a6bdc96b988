"""Where the extraction tests find real documents, skipping with the reason when they are absent.

- the task folders' real files: ``$EVAL_DATA/task_folders`` (default: ``shared/eval`` beside the repository;
  not in the repo: licensed data);
- Debian's PDFs: ``tests/fixtures/extract/debian/``, filled by ``tests/fixtures/extract/get_debian_pdfs.sh``
  (``.ci/run`` calls it).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EVAL_DATA = Path(os.environ.get("EVAL_DATA") or ROOT.parent / "shared" / "eval")
TASK_FOLDERS = EVAL_DATA / "task_folders"
DEBIAN_PDFS = ROOT / "tests" / "fixtures" / "extract" / "debian"


def task_file(relative: str) -> Path:
    """A real file of the task folders, or skip the test saying where it was looked for."""
    path = TASK_FOLDERS / relative
    if not path.is_file():
        pytest.skip(f"{path} not present (set EVAL_DATA to the evaluation data folder holding task_folders/)")
    return path


def debian_pdf(name: str) -> Path:
    """A PDF from Debian's packages, or skip the test saying how to get it."""
    path = DEBIAN_PDFS / name
    if not path.is_file():
        pytest.skip(f"{path} not present: run tests/fixtures/extract/get_debian_pdfs.sh")
    return path
