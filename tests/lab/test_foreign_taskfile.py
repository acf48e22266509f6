"""Acceptance: a foreign, Taskfile-based bootstrap (tests/lab/foreign, run by the real go-task) converges on the lab.

The Taskfile drives the lab's tools the way public home-ops repositories do (mise install, talosctl gen secrets,
talhelper genconfig with installDiskSelector, apply-config --insecure, bootstrap, kubeconfig, helm with pinned
chart versions from the upstream repository URLs, kubectl wait, op read, flux bootstrap github, kubectl run/exec)
and gets nothing from the lab but PATH (the lab's bin first), KUBECONFIG and TALOSCONFIG: no HOPS_* variable, no
lab-specific flag. The lab runs in its default folder, <project>/.lab, as `python -m hops.lab up` starts it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hops.lab import lifecycle
from hops.lab.layout import LabLayout
from tests.projects import helm_choice

FOREIGN = Path(__file__).parent / "foreign"
TASK = Path(sys.executable).parent / "task"
KUBECTL = "/usr/bin/kubectl"
# The foreign Taskfile keeps its tools' default timeouts (flux bootstrap: 5m), which the lab scales by its speed;
# at x1000 that is 0.3 s of wall time, less than the tools' own start-up, so this test runs the lab at x100.
SPEED = "100"
pytestmark = pytest.mark.skipif(not TASK.exists() or shutil.which(KUBECTL) is None,
                                reason="needs go-task (pip install go-task-bin: the test extra) and the real kubectl")


@pytest.fixture
def foreign_lab(lab_project: Path, tmp_path: Path):
    """The lab started like a user does (`python -m hops.lab up` in the project), then the foreign repo beside it.
    The lab uses the real helm when the runner has it installed (HOME is fresh here, so it is named)."""
    env = {**_plain_env(tmp_path), "HOPS_LAB_SPEED": SPEED, **helm_choice()}
    up = subprocess.run([sys.executable, "-m", "hops.lab", "up"], cwd=lab_project, env=env, capture_output=True,
                        text=True, timeout=120)
    assert up.returncode == 0, up.stderr
    shutil.copytree(FOREIGN, lab_project, dirs_exist_ok=True)
    layout = LabLayout(lab_project / ".lab")
    yield layout
    lifecycle.down(layout)


def _plain_env(tmp_path: Path) -> dict[str, str]:
    """The caller's environment without any hops, lab, kube or talos setting; HOME is a fresh folder."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    drop = ("HOPS_", "OP_", "TALOSCONFIG", "KUBECONFIG", "GITHUB_TOKEN", "KUBECACHEDIR")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, "HOME": str(home)}


def test_foreign_taskfile_names_nothing_of_the_lab() -> None:
    lines = [line for p in FOREIGN.rglob("*") if p.is_file() for line in p.read_text().splitlines()
             if not line.lstrip().startswith("#")]                  # comments may say what the files are for
    assert lines
    for word in ("hops", "HOPS_", "127.0.0.1", ".lab", "lab_"):
        assert not [line for line in lines if word in line], word


def test_foreign_taskfile_bootstraps_the_lab(foreign_lab: LabLayout, lab_project: Path, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "home" / ".kube" / "config"
    talos_dir = lab_project / "kubernetes" / "bootstrap" / "talos"
    env = {**_plain_env(tmp_path), "PATH": f"{foreign_lab.bin_dir}{os.pathsep}{os.environ['PATH']}",
           "KUBECONFIG": str(kubeconfig), "TALOSCONFIG": str(talos_dir / "clusterconfig" / "talosconfig")}
    done = subprocess.run([str(TASK), "bootstrap"], cwd=lab_project, env=env, capture_output=True, text=True,
                          timeout=900)
    if done.returncode != 0:
        state = subprocess.run([KUBECTL, "get", "kustomizations", "-A", "-o", "yaml"], env=env,
                               capture_output=True, text=True, timeout=60)
        pytest.fail(f"task bootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}\n"
                    f"cluster state:\n{state.stdout[-6000:]}{state.stderr}")
    assert "hi\n" in done.stdout and "smoke\n" in done.stdout          # kubectl exec's answers
    assert "mise all tools are installed" in done.stderr

    def kubectl(*args: str) -> str:
        got = subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)
        assert got.returncode == 0, got.stderr
        return got.stdout

    nodes = sorted(line.split()[:2] for line in kubectl("get", "nodes", "--no-headers").splitlines())
    assert nodes == [["talos-cp-1", "Ready"], ["talos-cp-2", "Ready"], ["talos-cp-3", "Ready"]]
    releases = json.loads(subprocess.run(["helm", "list", "-A", "-o", "json"], env=env, capture_output=True,
                                         text=True, timeout=60).stdout)
    assert {(r["name"], r["chart"], r["status"]) for r in releases} >= {
        ("cilium", "cilium-1.16.4", "deployed"), ("external-secrets", "external-secrets-0.10.6", "deployed")}
    assert kubectl("get", "namespace", "smoke-apps", "-o", "name").strip() == "namespace/smoke-apps"
    machine = (talos_dir / "clusterconfig" / "home-ops-talos-cp-1.yaml").read_text()
    assert "diskSelector" in machine and "1.1.1.1" in machine
