"""Fixtures of the in-process step tests (see harness.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from hops import context, phase_clock
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
