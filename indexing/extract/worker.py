"""The extraction worker process: ``python -m indexing.extract.worker FD`` (started by ``sandbox.py``).

Reads ``(path, Limits)`` requests from the socket ``FD``, answers each with an ``Extracted``, exits when the
socket closes. Each request lowers its address space to ``Limits.memory_bytes`` (``RLIMIT_AS``), so a
file that would need more fails with MemoryError or kills only this process.
"""
from __future__ import annotations

import resource
import socket
import sys
from pathlib import Path

from indexing.extract.protocol import Extracted, Limits
from indexing.extract.sandbox import _recv, _send, run_extraction


def _limit_memory(limit: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def serve(sock: socket.socket) -> None:
    while True:
        try:
            path, limits = _recv(sock)
        except (EOFError, OSError):
            return
        assert isinstance(limits, Limits)
        _limit_memory(limits.memory_bytes)
        result = run_extraction(Path(path), limits)
        try:
            _send(sock, result)
        except MemoryError:
            _send(sock, Extracted(format=result.format, status="failed", reason="out of memory sending the result"))


def main() -> None:
    serve(socket.socket(fileno=int(sys.argv[1])))


if __name__ == "__main__":
    main()
