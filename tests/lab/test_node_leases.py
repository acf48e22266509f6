"""Nodes as kubelets register them: capacity/allocatable, a Lease in kube-node-lease owned by the Node and
renewed while the kubelet posts status; `kubectl describe node` reads both."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube_lab import KubeLab, fake_settings

from hops.lab.cluster_seed import LEASE_NAMESPACE, node_stopped, register_node
from hops.lab.controllers import LabContext
from hops.lab.controllers.leases import NodeLeaseController
from tests.lab.apiserver_fixtures import Kubectl, kubectl_binary

LEASE = "coordination.k8s.io/v1"
OLD = "2020-01-01T00:00:00.000000Z"


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path, controllers=[])
    yield lab
    lab.close()


def context(kl: KubeLab) -> LabContext:
    return LabContext(kl.layout, kl.store, fake_settings(kl.root), None, kl.speed, kl.stop)


def register(kl: KubeLab, name: str = "talos-cp-1") -> None:
    register_node(kl.store, fake_settings(kl.root), name, "172.29.51.11", "controlplane")


def lease(kl: KubeLab, name: str = "talos-cp-1") -> dict | None:
    return kl.store.get(LEASE, "Lease", name, LEASE_NAMESPACE)


def test_a_registered_node_has_capacity_and_an_owned_lease(kl):
    register(kl)
    node = kl.store.get("v1", "Node", "talos-cp-1")
    assert node["status"]["capacity"]["cpu"] == "4" and node["status"]["allocatable"]["pods"] == "110"
    assert set(node["status"]["allocatable"]) >= {"cpu", "memory", "pods", "ephemeral-storage"}
    held = lease(kl)
    assert held["spec"]["holderIdentity"] == "talos-cp-1" and held["spec"]["leaseDurationSeconds"] == 40
    assert held["metadata"]["ownerReferences"][0]["uid"] == node["metadata"]["uid"]
    # the garbage collector takes the lease with its node
    kl.store.delete("v1", "Node", "talos-cp-1")
    assert lease(kl) is None


def test_the_kubelet_renews_a_stale_lease_while_it_posts_status(kl):
    register(kl)
    controller = NodeLeaseController(context(kl))
    kl.store.patch(LEASE, "Lease", "talos-cp-1", LEASE_NAMESPACE, {"spec": {"renewTime": OLD}})
    wait = controller.reconcile()
    assert lease(kl)["spec"]["renewTime"] != OLD and 0 < wait <= controller.interval()
    fresh = lease(kl)["spec"]["renewTime"]
    controller.reconcile()                              # not due yet: no write
    assert lease(kl)["spec"]["renewTime"] == fresh


def test_its_own_renewals_do_not_wake_the_controller_but_a_node_does(kl):
    """A renewal is a Lease event; waking on it made every renewal a pass over every node."""
    register(kl)
    register(kl, "talos-cp-2")
    controller = NodeLeaseController(context(kl))
    unsubscribe = kl.store.subscribe(controller._on_event)  # the events it would be woken by, without its thread
    try:
        for name in ("talos-cp-1", "talos-cp-2"):
            kl.store.patch(LEASE, "Lease", name, LEASE_NAMESPACE, {"spec": {"renewTime": OLD}})
        controller._wake.clear()
        controller.reconcile()   # renews both leases (two Lease events)
        assert lease(kl)["spec"]["renewTime"] != OLD and not controller._wake.is_set()
        register(kl, "talos-cp-3")  # a Node event
        assert controller._wake.is_set()
    finally:
        unsubscribe()


def test_a_stopped_kubelet_renews_nothing(kl):
    register(kl)
    controller = NodeLeaseController(context(kl))
    kl.store.patch(LEASE, "Lease", "talos-cp-1", LEASE_NAMESPACE, {"spec": {"renewTime": OLD}})
    node_stopped(kl.store, "talos-cp-1")
    assert controller.reconcile() is None
    assert lease(kl)["spec"]["renewTime"] == OLD


def test_the_running_controller_creates_missing_leases(tmp_path):
    lab = KubeLab(tmp_path, controllers=[NodeLeaseController]).start()
    try:
        lab.add_nodes(2)
        lab.wait_for(lambda: lease(lab, "talos-cp-1") and lease(lab, "talos-cp-2"), what="both node leases")
    finally:
        lab.close()


def test_kubectl_describe_node_shows_allocation_and_lease(kl, tmp_path):
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed")
    register(kl)
    kubectl = Kubectl(binary, kl.server.url, tmp_path / "kubectl")
    described = kubectl("describe", "node", "talos-cp-1").stdout
    assert "HolderIdentity:  talos-cp-1" in described
    assert "Allocatable:" in described and "cpu:                3950m" in described
    assert "cpu                0 (0%)" in described


def test_a_lease_created_by_another_thread_in_between_is_renewed_not_a_crash(kl, monkeypatch):
    """The lease controller and a node's registration both renew leases: the one that loses the race to create
    the Lease renews it (the lab's daemon thread crashed on `already exists`, and the node never registered)."""
    from hops.lab.cluster_seed import renew_lease

    register(kl)
    real_get = kl.store.get
    monkeypatch.setattr(kl.store, "get", lambda *a, **k: None if a[:2] == (LEASE, "Lease") else real_get(*a, **k))
    kl.store.patch(LEASE, "Lease", "talos-cp-1", LEASE_NAMESPACE, {"spec": {"renewTime": OLD}})
    renew_lease(kl.store, "talos-cp-1")  # its look-up misses the lease; the create finds it
    assert real_get(LEASE, "Lease", "talos-cp-1", LEASE_NAMESPACE)["spec"]["renewTime"] != OLD
