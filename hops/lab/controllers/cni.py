"""Nodes turn Ready once the CNI (the `cilium` DaemonSet in kube-system) is fully ready, and NotReady again
when it goes away; a `notready:<node>` fault keeps that node's kubelet reporting NotReady."""

from __future__ import annotations

from hops.lab.controllers.loop import LoopController
from hops.lab.controllers.pods import CNI_NOT_READY, stamp
from hops.lab.readiness import check

READY = ("True", "KubeletReady", "kubelet is posting ready status")
NO_CNI = ("False", "KubeletNotReady", CNI_NOT_READY)
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
FAULTED = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")


class CniController(LoopController):
    kinds = frozenset({"DaemonSet", "Node"})

    def reconcile(self) -> float | None:
        agent = self.store.get("apps/v1", "DaemonSet", "cilium", "kube-system")
        agent_ready = agent is not None and check(agent)[0] and \
            (agent.get("status") or {}).get("desiredNumberScheduled", 0) > 0
        if not agent_ready:
            self.forget("cni")
        left = self.remaining("cni", self.duration("cni.node")) if agent_ready else None
        for node in self.store.list("v1", "Node"):
            name = node["metadata"]["name"]
            if self.node_fault(name) in ("notready", "unreachable"):
                self._set(node, FAULTED)
            elif agent_ready and left is not None and left <= 0:
                self._set(node, READY)
            else:
                self._set(node, NO_CNI)
        return left if left is not None and left > 0 else None

    def _set(self, node: dict, want: tuple[str, str, str]) -> None:
        status, reason, message = want
        current: dict = next((c for c in (node.get("status") or {}).get("conditions", []) or []
                        if c.get("type") == "Ready"), {})
        if (current.get("status"), current.get("reason"), current.get("message")) == want:
            return
        now = stamp()
        condition = {"type": "Ready", "status": status, "reason": reason, "message": message,
                     "lastHeartbeatTime": now, "lastTransitionTime": now}
        self.store.set_status("v1", "Node", node["metadata"]["name"], None, {"conditions": [condition]})
        self._taint(node, status != "True")

    def _taint(self, node: dict, not_ready: bool) -> None:
        """The node lifecycle controller's not-ready taint follows the Ready condition."""
        taints = [t for t in (node.get("spec") or {}).get("taints", []) or [] if t.get("key") != NOT_READY_TAINT]
        if not_ready:
            taints.append({"key": NOT_READY_TAINT, "effect": "NoSchedule"})
        if taints == (node.get("spec") or {}).get("taints", []):
            return
        name = node["metadata"]["name"]
        self.store.patch("v1", "Node", name, None, {"spec": {"taints": None}})
        if taints:
            self.store.patch("v1", "Node", name, None, {"spec": {"taints": taints}})
