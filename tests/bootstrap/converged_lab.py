"""A module-scoped project + lab driven by a real doit (like conftest's `doit` fixture, but shared by every test of
a module so the slow convergence happens once). Imported as `converged_lab` by test_gitops / test_applications."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROJECT_FILES = ("dodo.py", "bootstrap-config.yaml", "talconfig.yaml", ".mise.toml")
PROJECT_DIRS = ("talos", "infrastructure")


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
        result = subprocess.run([sys.executable, "-m", "doit", "-f", str(self.project / "dodo.py"), *args],
                                cwd=self.project, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert result.returncode == 0, f"doit {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result

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
    project = tmp / "project"
    project.mkdir()
    for name in PROJECT_FILES:
        shutil.copy(REPO / name, project / name)
    for name in PROJECT_DIRS:
        shutil.copytree(REPO / name, project / name)
    (tmp / "home").mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HOPS_", "OP_", "TALOSCONFIG", "KUBECONFIG", "GITHUB_TOKEN"))}
    env.update({"HOPS_LAB": "1", "HOPS_LAB_DIR": str(tmp / "lab"), "HOPS_LAB_SPEED": "1000",
                "HOME": str(tmp / "home"), "KUBECACHEDIR": str(tmp / "kubecache")})
    return Lab(project, env)


def executed(result: subprocess.CompletedProcess) -> list[str]:
    return [line[3:].strip() for line in result.stdout.splitlines() if line.startswith(".  ")]
