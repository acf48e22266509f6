"""Test projects: a copy of the example configuration whose node addresses are moved to loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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
         dodo: str = "dodo.py") -> subprocess.CompletedProcess:
    """Run a real doit process on the project's dodo."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "doit", "-f", str(project / dodo), *args], cwd=project,
                          env=full_env, capture_output=True, text=True, timeout=timeout)
