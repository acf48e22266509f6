"""Test-only network guard: no test may send traffic outside 127.0.0.0/8 (the example configuration's addresses
belong to a real network).

tests/conftest.py puts this folder first on PYTHONPATH, so every Python process the suite starts (doit, the lab
daemon, the emulated tools) loads it as `sitecustomize`, and installs it in the test process itself. A connection
to a non-loopback address is refused before any packet leaves and recorded in $TEST_NETGUARD_LOG; the session
fails on any record, even when the code under test swallowed the error (a connectivity check would)."""

from __future__ import annotations

import ipaddress
import os
import socket
import sys


def loopback(host: object) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _guard(event: str, args: tuple) -> None:
    if event != "socket.connect":
        return
    sock, address = args
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or loopback(address[0]):
        return
    record = os.environ.get("TEST_NETGUARD_LOG")
    if record:
        with open(record, "a") as handle:
            handle.write(f"pid {os.getpid()} ({' '.join(sys.argv)[:200]}) connected to {address[:2]}\n")
    raise PermissionError(f"test network guard: connection to {address[:2]} refused (tests stay on 127.0.0.0/8)")


def install() -> None:
    sys.addaudithook(_guard)


if os.environ.get("TEST_NETGUARD_LOG"):
    install()
