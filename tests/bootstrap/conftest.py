"""Fixtures for bootstrap tests on the lab: a full copy of the project in a tmp dir and a real `doit` on it.

The project keeps the example's private 172.29.51.x addresses on purpose: in lab mode hops must never contact
them (hops.endpoints maps every node to its loopback lab endpoint)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("dodo.py", "bootstrap-config.yaml", "talconfig.yaml", ".mise.toml")
PROJECT_DIRS = ("talos", "infrastructure")
SPEED = "1000"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    root.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, root / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, root / name)
    return root


@pytest.fixture
def lab_env(project: Path, tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HOPS_", "OP_", "TALOSCONFIG", "KUBECONFIG", "GITHUB_TOKEN"))}
    env.update({"HOPS_LAB": "1", "HOPS_LAB_DIR": str(tmp_path / "lab"), "HOPS_LAB_SPEED": SPEED,
                "HOME": str(home), "KUBECACHEDIR": str(tmp_path / "kubecache")})
    return env


@pytest.fixture
def doit(project: Path, lab_env: dict[str, str]) -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """run(*args, env=None, check=True): a real doit process on the tmp project in lab mode. The lab it starts
    is stopped at teardown."""

    def run(*args: str, env: dict | None = None, check: bool = True, timeout: float = 300):
        result = subprocess.run([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args],
                                cwd=project, env={**lab_env, **(env or {})}, capture_output=True, text=True,
                                timeout=timeout)
        if check:
            assert result.returncode == 0, f"doit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

    yield run
    subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=lab_env, cwd=project, capture_output=True,
                   timeout=60)


@pytest.fixture
def state_dir(lab_env: dict[str, str]) -> Path:
    return Path(lab_env["HOPS_LAB_DIR"]) / "state"
