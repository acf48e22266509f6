"""Operational tasks (`<component>_<verb>`) on one converged lab: each runs outside the bootstrap graph and says
something specific about the cluster."""

from __future__ import annotations

import os
import re
import shutil
from typing import Iterator

import pytest

import converged_lab
from tests.projects import executed
from converged_lab import Lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("ops"))
    lab.doit("bootstrap_phased", timeout=900)
    yield lab
    lab.down()


# each pattern holds only on the converged cluster (counts, readiness, a line a running container logged)
@pytest.mark.parametrize("task,expected", [
    ("talos_status", r"│ talos-cp-2 +│ 172\.29\.51\.12 +│ controlplane +│ yes +│ running \(ready\) +│ yes +│ Ready +│"),
    ("networking_status", r"DaemonSet kube-system/cilium: desiredNumberScheduled=3 numberReady=3 of 3 nodes\n"
                          r"Deployment kube-system/cilium-operator: Available=True"),
    ("networking_debug", r"DaemonSet +cilium +Desired: 3, Ready: 3/3, Available: 3/3"),
    ("services_status", r"Deployment onepassword-connect/onepassword-connect: 1/1 available, Available=True"),
    ("services_logs", r"-- onepassword-connect-\S+/connect-api\n\S+ level=info "
                      r"msg=\"started container\(s\) connect-api, connect-sync; ready\""),
    ("gitops_status", r"flux-system\s+kustomization/flux-system\s+main@sha1:[0-9a-f]{40}\s+False\s+True\s"),
    ("gitops_logs", r"GitRepository/flux-system\.flux-system - stored artifact"),
    ("gitops_debug", r"4 Flux controllers available"),
    ("applications_logs", r"== HelmRelease podinfo \(podinfo\)\n-- podinfo-\S+/podinfo\n\S+ level=info "
                          r"msg=\"started container\(s\) podinfo; ready\""),
    ("applications_debug", r"no problems: every Flux object Ready"),
])
def test_read_only_operation_reports(lab: Lab, task: str, expected: str) -> None:
    result = lab.doit(task)
    assert executed(result) == [task]  # no bootstrap step runs with an operation
    assert re.search(expected, result.stdout), result.stdout


def test_recover_kubeconfig_restores_a_private_file(lab: Lab) -> None:
    kubeconfig = lab.dir / "clusterconfig" / "kubeconfig"
    kubeconfig.unlink()
    lab.doit("talos_recover_kubeconfig")
    assert kubeconfig.exists() and (kubeconfig.stat().st_mode & 0o777) == 0o600
    assert executed(lab.doit("talos")) == []  # the recovered file satisfies every live check again


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the real kubectl is not installed here")
def test_redeploy_forces_one_release(lab: Lab) -> None:
    result = lab.doit("applications_redeploy", "--name", "podinfo/podinfo")
    assert "requested reconciliation of GitRepository flux-system and apps" in result.stdout
    annotations = lab.tool("kubectl", "-n", "podinfo", "get", "helmrelease", "podinfo", "-o",
                           "jsonpath={.metadata.annotations}").stdout
    assert "reconcile.fluxcd.io/forceAt" in annotations
    missing = lab.doit("applications_redeploy", "--name", "podinfo/nope", check=False)
    assert missing.returncode == 1 and "HelmRelease podinfo/nope not found" in missing.stdout
    assert "requested reconciliation" not in missing.stdout  # refused before asking Flux for anything
    assert "0 problems" in lab.doit("applications_health").stdout


def test_operations_run_beside_a_running_bootstrap_lock(lab: Lab) -> None:
    """Read-only operations do not take the run lock (they may watch a bootstrap in progress)."""
    import fcntl

    with open(lab.state / "run.lock", "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        assert lab.doit("talos_status").returncode == 0
        refused = lab.doit("networking_redeploy", check=False)
        assert refused.returncode != 0 and "another hops run" in refused.stderr


def test_a_stopped_lab_is_started_by_the_task_that_needs_it(lab: Lab) -> None:
    """HOPS_LAB=1: a task that talks to the cluster starts the lab again, on the API address the kubeconfig
    fetched during the bootstrap names (as a real cluster's endpoint, it does not move)."""
    kubeconfig = lab.dir / "clusterconfig" / "kubeconfig"
    before = kubeconfig.read_text()
    lab.down()
    assert not (lab.dir / "lab.json").exists()
    result = lab.doit("networking_status")
    assert executed(result) == ["networking_status"]
    assert (lab.dir / "lab.json").exists() and kubeconfig.read_text() == before
    assert re.search(r"^node talos-cp-1: Ready=(True|False)", result.stdout, re.M), result.stdout  # API answered
