"""hops.port_probe: many TCP connects at once from one thread, each answer in its endpoint's place."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from hops import port_probe


@pytest.fixture
def listening() -> Iterator[tuple[str, int]]:
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server.getsockname()[:2]


def closed_port() -> tuple[str, int]:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[:2]


def test_each_answer_stays_in_its_endpoints_place(listening: tuple[str, int]) -> None:
    closed = closed_port()
    assert port_probe.tcp_reachable_all([closed, listening, closed, listening]) == [
        "Connection refused", None, "Connection refused", None]
    assert port_probe.refused_all([listening, closed]) == [None, "Connection refused"]
    assert port_probe.tcp_reachable(*listening) is None
    assert port_probe.refused(*closed) == "Connection refused"


def test_many_ports_start_no_thread(listening: tuple[str, int]) -> None:
    before = threading.active_count()
    assert port_probe.tcp_reachable_all([listening] * 50) == [None] * 50
    assert threading.active_count() == before


def test_a_port_that_never_answers_times_out_and_is_not_a_definite_no() -> None:
    # A listener whose accept queue is full drops further SYNs: the connect gets no answer, like a silent host.
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        address = server.getsockname()[:2]
        queued = []
        for _ in range(8):  # fill the accept queue (its length is the backlog plus a small allowance)
            client = socket.socket()
            client.setblocking(False)
            client.connect_ex(address)
            queued.append(client)
        try:
            assert port_probe.tcp_reachable_all([address], timeout=0.3) == ["timed out"]
            assert port_probe.refused_all([address], timeout=0.3) == [None]
        finally:
            for client in queued:
                client.close()

