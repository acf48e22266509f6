"""A module-scoped project + lab driven by a real doit (like conftest's `doit` fixture, but shared by every test of
a module so the slow convergence happens once). Imported as `converged_lab` by test_gitops / test_applications."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.projects import copy_project, lab_env
from tests.projects import doit as run_doit


@dataclass
class Lab:
    project: Path
    env: dict[str, str]

    @property
    def dir(self) -> Path:
        return Path(self.env["HOPS_LAB_DIR"])

    @property
    def state(self) -> Path:
        return self.dir / "state"

    def doit(self, *args: str, check: bool = True, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_doit(self.project, *args, env=self.env, check=check, timeout=timeout)

    def tool(self, tool: str, *args: str) -> subprocess.CompletedProcess:
        env = {**self.env, "PATH": f"{self.dir / 'bin'}{os.pathsep}{self.env['PATH']}",
               "KUBECONFIG": str(self.dir / "clusterconfig" / "kubeconfig")}
        return subprocess.run([tool, *args], env=env, capture_output=True, text=True, timeout=120)

    def fault(self, spec: str) -> None:
        subprocess.run([sys.executable, "-m", "hops.lab", "fault", "add", spec], env=self.env, check=True,
                       capture_output=True, cwd=self.project)

    def set_timeout(self, group: str, seconds: int) -> None:
        config = self.project / "bootstrap-config.yaml"
        lines = config.read_text().splitlines()
        config.write_text("\n".join(
            f"    {group}: {seconds}" if line.strip().startswith(f"{group}:") and line.startswith("    ") else line
            for line in lines) + "\n")

    def down(self) -> None:
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=self.env, cwd=self.project,
                       capture_output=True, timeout=60)


def make(tmp: Path) -> Lab:
    return Lab(copy_project(tmp), lab_env(tmp, speed=1000))
