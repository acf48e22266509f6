"""The suite's network guard (tests/netguard/sitecustomize.py) refuses and records a connection outside
127.0.0.0/8 in a process the tests start, and lets loopback through."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

CONNECT = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2).close()
    print("connected")
except PermissionError as exc:
    print("refused:", exc)
except OSError as exc:
    print("oserror:", type(exc).__name__)
"""


def connect_from_child(host: str, port: int, record: Path) -> str:
    env = {**os.environ, "TEST_NETGUARD_LOG": str(record)}  # this test's own record, not the session's
    return subprocess.run([sys.executable, "-c", CONNECT, host, str(port)], env=env, capture_output=True,
                          text=True, timeout=30, check=True).stdout


def test_a_connection_outside_loopback_is_refused_and_recorded(tmp_path: Path) -> None:
    record = tmp_path / "record.log"
    out = connect_from_child("192.0.2.1", 50000, record)  # TEST-NET-1: refused before any packet is sent
    assert out.startswith("refused: test network guard: connection to ('192.0.2.1', 50000) refused"), out
    assert "connected to ('192.0.2.1', 50000)" in record.read_text()


def test_loopback_is_allowed(tmp_path: Path) -> None:
    record = tmp_path / "record.log"
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert connect_from_child("127.0.0.1", server.getsockname()[1], record) == "connected\n"
    assert not record.exists()
