"""Fixtures for bootstrap tests on the lab: a full copy of the project in a tmp dir and a real `doit` on it.

The project keeps the example's private 172.29.51.x addresses on purpose: in lab mode hops must never contact
them (hops.endpoints maps every node to its loopback lab endpoint)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.projects import copy_project
from tests.projects import doit as run_doit
from tests.projects import lab_env as lab_env_for


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
def lab_env(project: Path, tmp_path: Path) -> dict[str, str]:
    return lab_env_for(tmp_path, speed=1000)


@pytest.fixture
def doit(project: Path, lab_env: dict[str, str]) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """run(*args, env=None, check=True): a real doit process on the tmp project in lab mode. The lab it starts
    is stopped at teardown."""

    def run(*args: str, env: dict | None = None, check: bool = True, timeout: float = 300):
        return run_doit(project, *args, env={**lab_env, **(env or {})}, check=check, timeout=timeout)

    yield run
    subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=lab_env, cwd=project, capture_output=True,
                   timeout=60)


@pytest.fixture
def state_dir(lab_env: dict[str, str]) -> Path:
    return Path(lab_env["HOPS_LAB_DIR"]) / "state"
