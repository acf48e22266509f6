"""A bare TCP connect to a port: the cheapest answer to "can anything answer there?" (no ICMP: home networks
often drop it). Many ports are probed at once from one thread: every connect starts non-blocking and one selector
waits for all of them, so 50 nodes cost one timeout at most and start no thread."""

from __future__ import annotations

import errno
import os
import selectors
import socket
import time
from collections.abc import Sequence

CONNECT_TIMEOUT_S = 3.0
# answers that prove nothing listens (the host's stack refused, or no host is there): no client can do better
DEFINITE_NO = frozenset({errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH})
Endpoint = tuple[str, int]


def tcp_reachable(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """None when a TCP connection opens, else why not."""
    return tcp_reachable_all([(host, port)], timeout)[0]


def tcp_reachable_all(endpoints: Sequence[Endpoint], timeout: float = CONNECT_TIMEOUT_S) -> list[str | None]:
    """tcp_reachable of each endpoint, all at once."""
    return [None if failure is None else (failure.strerror or type(failure).__name__)
            for failure in connect_all(endpoints, timeout)]


def refused(host: str, port: int, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why nothing can answer on host:port when the connect says so for certain (refused, no route), else None:
    a timeout or an open port leaves the question to a real client."""
    return refused_all([(host, port)], timeout)[0]


def refused_all(endpoints: Sequence[Endpoint], timeout: float = CONNECT_TIMEOUT_S) -> list[str | None]:
    """refused() of each endpoint, all at once."""
    return [(failure.strerror or "refused") if failure is not None and failure.errno in DEFINITE_NO else None
            for failure in connect_all(endpoints, timeout)]


def connect_all(endpoints: Sequence[Endpoint], timeout: float) -> list[OSError | None]:
    """For each endpoint, None when a TCP connection opened within `timeout`, else the error (errno ETIMEDOUT,
    "timed out", when the connect had no answer in time)."""
    results: list[OSError | None] = [OSError(errno.ETIMEDOUT, "timed out")] * len(endpoints)
    with selectors.DefaultSelector() as selector:
        try:
            for index, endpoint in enumerate(endpoints):
                sock = _start_connect(endpoint, results, index)
                if sock is not None:
                    selector.register(sock, selectors.EVENT_WRITE, index)
            _collect(selector, results, time.monotonic() + timeout)
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
    return results


def _start_connect(endpoint: Endpoint, results: list[OSError | None], index: int) -> socket.socket | None:
    """A socket whose connect is under way, or None with the answer already in results[index]."""
    try:
        family, address = _address(*endpoint)
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as exc:
        results[index] = exc
        return None
    sock.setblocking(False)
    try:
        code = sock.connect_ex(address)
    except OSError as exc:  # refused before any packet left (a sandbox's audit hook, say)
        sock.close()
        results[index] = exc
        return None
    if code in (0, errno.EINPROGRESS):
        return sock
    sock.close()
    results[index] = OSError(code, os.strerror(code))
    return None


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple]:
    """Where to connect: an IP address as it is (node addresses are; 50 of them need no resolver), a name through
    the resolver (its first address, as a client would try first)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host)
        except OSError:
            continue
        return family, (host, port)
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    return family, address


def _collect(selector: selectors.BaseSelector, results: list[OSError | None], deadline: float) -> None:
    """Each connect's outcome as it comes in, until all are in or the deadline passes (the rest stay timed out)."""
    while selector.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        for key, _ in selector.select(remaining):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            results[key.data] = None if code == 0 else OSError(code, os.strerror(code))
            selector.unregister(sock)
            sock.close()
