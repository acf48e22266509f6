"""Fixtures of the in-process step tests (see harness.py)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Iterator

import pytest

from hops import context, phase_clock
from tests.steps import objects_f1 as o
from tests.steps.harness import World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """A fresh world; the test makes it converged by saying what the cluster holds."""
    w = World(tmp_path, timeouts={"networking": 2, "services": 2, "gitops": 2, "applications": 2, "talos": 2})
    context._current = w.ctx  # helpers that ask for the process's context get this one
    phase_clock.reset()  # each test is a new run of its phases: their deadlines start with its first wait
    try:
        yield w
    finally:
        context.reset()
        phase_clock.reset()
        w.close()


@pytest.fixture
def talos_apis(world: World) -> Iterator[dict[str, socket.socket]]:
    """A listening loopback socket standing in for each node's Talos API (port 50000 on hardware)."""
    listeners = {}
    for name, _ in o.NODES:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners[name] = listener
        world.endpoints.talos_ports[name] = listener.getsockname()[1]
    yield listeners
    for listener in listeners.values():
        listener.close()
