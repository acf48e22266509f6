"""Acceptance: a user's manual Talos bring-up against the lab, ending with the REAL kubectl listing the nodes.

    talhelper genconfig; talosctl apply-config --insecure (x3); wait until each node answers with the talosconfig;
    talosctl bootstrap (once); talosctl kubeconfig; kubectl get nodes -> three NotReady nodes (no CNI yet).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hops.lab import lifecycle
from lab_helpers import apply_insecure, wait_running

KUBECTL = "/usr/bin/kubectl"
CP1 = "172.29.51.11"


def wait_talos_answers(run_tool, lab: dict, talosconfig: str, name: str, timeout: float = 20.0) -> None:
    """Wait until the node answers `talosctl version` with the talosconfig. Talos offers a user no notification
    for "installed and rebooted"; the lab's daemon does, so the test blocks on that event (no polling) and then
    checks with one `talosctl version` that the node really answers with the talosconfig."""
    wait_running(lab, [name], timeout)
    address = lab["nodes"][name]["address"]
    done = run_tool("talosctl", "--talosconfig", talosconfig, "-n", address, "version")
    assert done.returncode == 0, done.stderr


@pytest.mark.skipif(shutil.which(KUBECTL) is None, reason=f"the real kubectl ({KUBECTL}) is not installed")
def test_manual_bootstrap_with_real_kubectl(lab, run_tool, talos_configs: Path, lab_env, tmp_path: Path) -> None:
    talosconfig = str(talos_configs / "talosconfig")
    apply_insecure(run_tool, talos_configs, lab)
    for name in lab["nodes"]:
        wait_talos_answers(run_tool, lab, talosconfig, name)

    first = run_tool("talosctl", "--talosconfig", talosconfig, "-n", CP1, "bootstrap")
    assert first.returncode == 0, first.stderr
    kubeconfig = tmp_path / "kubeconfig"
    fetched = run_tool("talosctl", "--talosconfig", talosconfig, "-n", CP1, "kubeconfig", str(kubeconfig))
    assert fetched.returncode == 0, fetched.stderr
    for name in lab["nodes"]:
        assert lifecycle.wait_registered(lab, name, 20), f"{name} never registered"

    env = {**lab_env, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(tmp_path / "kubecache")}
    got = subprocess.run([KUBECTL, "get", "nodes", "--no-headers"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert got.returncode == 0, got.stderr
    rows = sorted(line.split()[:2] for line in got.stdout.splitlines())
    assert rows == [["talos-cp-1", "NotReady"], ["talos-cp-2", "NotReady"], ["talos-cp-3", "NotReady"]]

    second = run_tool("talosctl", "--talosconfig", talosconfig, "-n", CP1, "bootstrap")
    assert second.returncode == 1
    assert second.stderr.strip() == ("error executing bootstrap: rpc error: code = AlreadyExists desc = "
                                     "etcd data directory is not empty")
    elsewhere = run_tool("talosctl", "--talosconfig", talosconfig, "-n", "172.29.51.13", "bootstrap")
    assert elsewhere.returncode == 1 and "etcd data directory is not empty" in elsewhere.stderr
