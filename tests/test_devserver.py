"""The tests' own server (app/serving/devserver.py): on a shared machine whose port rules allow a range, it stays inside it."""
import socket

import pytest

from app.serving.devserver import free_port, port_range
from tests.conftest import start_server


def test_a_server_takes_its_port_from_RAG_TEST_PORTS(monkeypatch, index_dir):
    port = free_port()  # the OS's choice, free now
    monkeypatch.setenv("RAG_TEST_PORTS", f"{port}-{port}")
    srv = start_server(index_dir, {"small"})
    try:
        assert srv.port == port and srv.client.get("/healthz").status_code == 200
    finally:
        srv.stop()


def test_a_range_with_every_port_taken_says_so_and_a_bad_range_is_refused(monkeypatch):
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        monkeypatch.setenv("RAG_TEST_PORTS", f"{port}-{port}")
        with pytest.raises(RuntimeError, match="no free port in RAG_TEST_PORTS"):
            free_port()
    with pytest.raises(ValueError, match="expected two port numbers as lo-hi"):
        port_range("8000")
    assert port_range(" 20000-20002") == range(20000, 20003)
