"""Test projects: the example configuration moved to loopback addresses (task-model tests), or a full copy of
the project for lab runs (bootstrap tests and the bootstrap benchmark), and a real doit on them."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from tests import forkserver

REPO = Path(__file__).resolve().parent.parent
EXAMPLE_PREFIX = "172.29.51."
LOOPBACK_PREFIX = "127.0.51."


def write_config(project: Path, prefix: str = LOOPBACK_PREFIX) -> None:
    """bootstrap-config.yaml, talconfig.yaml and the patches/.mise.toml they refer to, addresses on loopback."""
    project.mkdir(parents=True, exist_ok=True)
    for name in ("bootstrap-config.yaml", "talconfig.yaml", ".mise.toml"):
        if (REPO / name).exists():
            (project / name).write_text((REPO / name).read_text().replace(EXAMPLE_PREFIX, prefix))
    shutil.copytree(REPO / "talos", project / "talos", dirs_exist_ok=True)


def doit(project: Path, *args: str, env: dict | None = None, timeout: float = 120,
         dodo: str = "dodo.py", check: bool = False) -> subprocess.CompletedProcess:
    """Run a real doit process on the project's dodo (check=True: assert it succeeded, showing its output); forked
    from a pre-started interpreter (tests/forkserver.py), it starts as `python -m doit` would."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    full_env.update(env or {})
    result = forkserver.run_module("doit", ["-f", str(project / dodo), *args], project, full_env, timeout)
    if check:
        assert result.returncode == 0, f"doit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


PROJECT_FILES = ("dodo.py", "bootstrap-config.yaml", "talconfig.yaml", ".mise.toml")
PROJECT_DIRS = ("talos", "infrastructure")


def copy_project(base: Path) -> Path:
    """`<base>/project`: the repository's dodo, configuration, Talos patches and infrastructure/ as they are (the
    example's private addresses stay: in lab mode nothing may contact them)."""
    project = base / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, project / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, project / name)
    return project


def lab_env(base: Path, speed: float | str = 1000) -> dict[str, str]:
    """Environment for lab mode with its own lab folder, HOME and kubectl cache under `base`."""
    (base / "home").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HOPS_", "OP_", "TALOSCONFIG", "KUBECONFIG", "GITHUB_TOKEN"))}
    env.update({"HOPS_LAB": "1", "HOPS_LAB_DIR": str(base / "lab"), "HOPS_LAB_SPEED": str(speed),
                "HOME": str(base / "home"), "KUBECACHEDIR": str(base / "kubecache")})
    env.update(helm_choice())
    return env


def helm_choice() -> dict[str, str]:
    """HOPS_LAB_REAL_HELM for a lab env: the runner's own setting (0 runs the lab tests on the emulated helm),
    else the real helm installed under the runner's HOME (the lab env moves HOME, where the lab would not find
    it), else nothing (the emulated helm)."""
    from hops.lab import real_helm

    if os.environ.get(real_helm.ENV_VAR, "").strip():
        return {real_helm.ENV_VAR: os.environ[real_helm.ENV_VAR]}
    binary = real_helm.installed()
    return {real_helm.ENV_VAR: str(binary)} if binary else {}


def executed(result: subprocess.CompletedProcess) -> list[str]:
    """Task names doit executed in a run (lines `.  name`), as opposed to skipped (`-- name`)."""
    return [line[3:].strip() for line in result.stdout.splitlines() if line.startswith(".  ")]
