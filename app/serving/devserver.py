"""A real service process on loopback, for the tests, the load and fuzz scripts, and the benchmark."""
from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent.parent


def port_range(spec: str) -> range:
    """``RAG_TEST_PORTS=lo-hi`` (inclusive) as a range; a malformed value is refused in one line."""
    lo, sep, hi = spec.partition("-")
    if not (sep and lo.strip().isdigit() and hi.strip().isdigit() and 0 < int(lo) <= int(hi) < 65536):
        raise ValueError(f"RAG_TEST_PORTS={spec!r}: expected two port numbers as lo-hi, e.g. 20000-20999")
    return range(int(lo), int(hi) + 1)


def free_port() -> int:
    """A free loopback port: the OS's choice, or one of ``RAG_TEST_PORTS=lo-hi`` where a machine's port rules
    allow only a range (tried from a random point, so processes sharing the range rarely pick the same one)."""
    spec = os.environ.get("RAG_TEST_PORTS", "").strip()
    candidates = [0]
    if spec:
        ports = port_range(spec)
        start = random.randrange(len(ports))
        candidates = [ports[(start + i) % len(ports)] for i in range(len(ports))]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError(f"no free port in RAG_TEST_PORTS={spec}")


class Server:
    """A real uvicorn process; its log goes to a file (a pipe nobody drains would stall a busy server)."""

    def __init__(self, env: dict[str, str], workers: int = 1):
        self.port = free_port()
        self.workers = workers
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "app.serving.main:app", "--host", "127.0.0.1", "--port", str(self.port),
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
