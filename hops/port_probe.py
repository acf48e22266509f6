"""A bare TCP connect to a port: the cheapest answer to "can anything answer there?" (no ICMP: home networks
often drop it)."""

from __future__ import annotations

import errno
import socket

CONNECT_TIMEOUT_S = 3.0
# answers that prove nothing listens (the host's stack refused, or no host is there): no client can do better
DEFINITE_NO = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})


def tcp_reachable(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when a TCP connection opens, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def refused(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing can answer on host:port when the connect says so for certain (refused, no route), else None:
    a timeout or an open port leaves the question to a real client."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return (exc.strerror or "refused") if exc.errno in DEFINITE_NO else None
