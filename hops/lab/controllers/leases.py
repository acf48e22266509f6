"""Each running kubelet renews its node's Lease in kube-node-lease (every quarter of the lease duration), the
heartbeat the node lifecycle controller and `kubectl describe node` read. A node whose kubelet stopped posting
status (Ready Unknown: reset, unreachable) renews nothing, so its lease ages like a real one."""

from __future__ import annotations

from datetime import UTC, datetime

from hops.lab.cluster_seed import LEASE_NAMESPACE, LEASE_SECONDS, renew_lease
from hops.lab.controllers.loop import LoopController, soonest

MIN_RENEW_S = 1.0     # at high lab speeds, renewing more often than this would only flood the store with events


def _age(lease: dict) -> float | None:
    """Seconds since the lease was renewed; None when it carries no renewTime."""
    stamp = (lease.get("spec") or {}).get("renewTime")
    if not stamp:
        return None
    try:
        renewed = datetime.strptime(stamp.replace("Z", "+0000"), "%Y-%m-%dT%H:%M:%S.%f%z")
    except ValueError:
        return None
    return (datetime.now(UTC) - renewed).total_seconds()


def _posting(node: dict) -> bool:
    ready = next((c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), None)
    return ready is None or ready.get("status") != "Unknown"


class NodeLeaseController(LoopController):
    # Woken by Nodes only: its own renewals are Lease events, and waking on them made every renewal a pass over
    # every node (50 nodes: 50 passes a second). A lease changed by someone else is seen at the next renewal.
    kinds = frozenset({"Node"})

    def interval(self) -> float:
        return max(LEASE_SECONDS / 4 / self.lab.speed, MIN_RENEW_S)

    def reconcile(self) -> float | None:
        every = self.interval()
        wait: float | None = None
        for node in self.store.peek("v1", "Node"):  # read only (peek: shared, not copied)
            if not _posting(node):
                continue
            name = node["metadata"]["name"]
            lease = self.store.get("coordination.k8s.io/v1", "Lease", name, LEASE_NAMESPACE)
            age = _age(lease) if lease is not None else None
            if age is None or age >= every * 0.9:  # due soon: renewed in this pass with the others
                renew_lease(self.store, name, exists=lease is not None)
                age = 0.0
            wait = soonest(wait, every - age)
        return wait
