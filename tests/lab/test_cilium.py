"""The emulated cilium CLI against an in-process API emulation with the lab's controllers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hops.lab import faults
from kube_lab import KubeLab


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(3)
    yield lab
    lab.close()


def install_cilium(kl: KubeLab, *extra: str) -> None:
    assert kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io").returncode == 0
    done = kl.run("helm", "upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system", *extra)
    assert done.returncode == 0, done.stderr


def test_status_before_install_fails(kl: KubeLab) -> None:
    done = kl.run("cilium", "status")
    assert done.returncode == 1
    assert "Cilium:             1 errors" in done.stdout
    assert 'daemonsets.apps "cilium" not found' in done.stdout


def test_status_wait_watches_until_ready(kl: KubeLab) -> None:
    install_cilium(kl)
    done = kl.run("cilium", "status", "--wait", "--wait-duration", "5m0s")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Cilium:             OK" in done.stdout and "Operator:           OK" in done.stdout
    assert "Desired: 3, Ready: 3/3, Available: 3/3" in done.stdout
    assert "quay.io/cilium/cilium:v1.16.5: 3" in done.stdout
    as_json = json.loads(kl.run("cilium", "status", "-o", "json").stdout)
    assert as_json["cilium_ok"] is True and as_json["errors"] == []


def test_status_wait_times_out_when_blocked(kl: KubeLab) -> None:
    faults.add(kl.layout, "block:cilium")
    install_cilium(kl)
    done = kl.run("cilium", "status", "--wait", "--wait-duration", "60s")
    assert done.returncode == 1
    assert done.stderr.strip() == ("Error: Unable to determine status:  timeout while waiting for status to become "
                                   "successful: context deadline exceeded")
    assert "pods of DaemonSet cilium are not ready" in done.stdout


def test_version_reports_client_and_running_image(kl: KubeLab) -> None:
    install_cilium(kl)
    out = kl.run("cilium", "version").stdout
    assert "cilium-cli: v0.16.20" in out and "cilium image (running): v1.16.5" in out


def test_connectivity_test_needs_ready_nodes_and_coredns(kl: KubeLab) -> None:
    failing = kl.run("cilium", "connectivity", "test")
    assert failing.returncode == 1 and "❌ [lab] 0/3 nodes Ready" in failing.stdout
    install_cilium(kl, "--wait")
    kl.store.create({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "coredns", "namespace": "kube-system"},
                     "spec": {"replicas": 1, "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                              "template": {"metadata": {"labels": {"k8s-app": "kube-dns"}},
                                           "spec": {"containers": [{"name": "coredns", "image": "coredns:1.11.3"}]}}}})
    kl.wait_for(lambda: all(kl.nodes_ready()), what="nodes Ready")
    kl.wait_for(lambda: (d := kl.store.get("apps/v1", "Deployment", "coredns", "kube-system")) and
                (d.get("status") or {}).get("availableReplicas") == 1, what="coredns")
    passing = kl.run("cilium", "connectivity", "test")
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "All 3 tests" in passing.stdout
