"""Pod objects as a kubelet and scheduler would report them: shared by the workload and job controllers."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
from datetime import UTC, datetime
from typing import Any

from hops.lab.readiness import is_true

NOT_READY_TAINT_MESSAGE = ("0/{n} nodes are available: {n} node(s) had untolerated taint "
                           "{{node.kubernetes.io/not-ready: }}. preemption: 0/{n} nodes are available: "
                           "{n} Preemption is not helpful for scheduling.")
CNI_NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                 "message:Network plugin returns error: cni plugin not initialized")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def short_hash(text: str, length: int = 10) -> str:
    """Kubernetes-style name suffix (consonants and digits)."""
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:length])


def tolerates_not_ready(pod_spec: dict) -> bool:
    """hostNetwork pods and pods tolerating every taint run on NotReady nodes (cilium agent and operator)."""
    if pod_spec.get("hostNetwork"):
        return True
    for tol in pod_spec.get("tolerations", []) or []:
        if tol.get("operator") == "Exists" and not tol.get("key"):
            return True
        if tol.get("key") == "node.kubernetes.io/not-ready":
            return True
    return False


def node_ready(node: dict) -> bool:
    return is_true(node, "Ready")


def selects(node: dict, pod_spec: dict) -> bool:
    """nodeSelector, roughly: every listed label must match."""
    labels = node.get("metadata", {}).get("labels", {}) or {}
    return all(labels.get(k) == v for k, v in (pod_spec.get("nodeSelector") or {}).items())


def node_address(node: dict) -> str:
    for addr in (node.get("status") or {}).get("addresses", []) or []:
        if addr.get("type") == "InternalIP":
            return addr["address"]
    return ""


def pod_ip(pod_name: str, node_name: str, nodes: list[dict], pod_cidr: str) -> str:
    """A stable address in the node's slice of the pod CIDR (/24 per node, as the controller-manager assigns)."""
    names = sorted(n["metadata"]["name"] for n in nodes)
    index = names.index(node_name) if node_name in names else 0
    net = ipaddress.ip_network(pod_cidr, strict=False)
    host = 2 + int(hashlib.sha1(pod_name.encode()).hexdigest(), 16) % 250
    return str(net.network_address + index * 256 + host)


def new_pod(name: str, namespace: str, template: dict, owner: dict | None, extra_labels: dict | None = None) -> dict:
    meta = template.get("metadata", {}) or {}
    pod: dict[str, Any] = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace,
                     "labels": {**(meta.get("labels") or {}), **(extra_labels or {})},
                     "annotations": dict(meta.get("annotations") or {})},
        "spec": copy.deepcopy(template.get("spec", {}))}
    if owner:
        pod["metadata"]["ownerReferences"] = [{
            "apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
            "uid": owner["metadata"].get("uid", ""), "controller": True, "blockOwnerDeletion": True}]
    pod["spec"].setdefault("restartPolicy", "Always")
    return pod


_Condition = dict[str, str | None]  # a None value deletes the field in the status merge


def _conditions(scheduled: bool, ready: bool, initialized: bool = True, reason: str = "", message: str = "") -> list:
    now = stamp()
    sched: _Condition = {"type": "PodScheduled", "status": "True" if scheduled else "False", "lastTransitionTime": now}
    if not scheduled:
        sched.update(reason="Unschedulable", message=message)
        return [sched]
    out: list[_Condition] = [{"type": "Initialized", "status": "True" if initialized else "False",
                              "lastTransitionTime": now}]
    for kind in ("ContainersReady", "Ready"):
        cond: _Condition = {"type": kind, "status": "True" if ready else "False", "lastTransitionTime": now}
        if ready:  # null deletes in the status merge: a Ready condition keeps no stale "not ready" text
            cond.update(reason=None, message=None)
        else:
            cond.update(reason="ContainersNotReady", message=f"containers with unready status: [{reason}]")
        out.append(cond)
    return out + [sched]


def container_statuses(pod: dict, state: dict, ready: bool, restarts: int = 0) -> list[dict]:
    return [{"name": c["name"], "image": c.get("image", ""), "imageID": "", "ready": ready,
             "restartCount": restarts, "started": "running" in state, "state": state}
            for c in pod["spec"].get("containers", [])]


def status_unschedulable(message: str) -> dict:
    return {"phase": "Pending", "conditions": _conditions(False, False, message=message), "qosClass": "BestEffort"}


def status_waiting(pod: dict, node_ip: str, ip: str, reason: str, message: str, restarts: int = 0,
                   phase: str = "Pending") -> dict:
    names = " ".join(c["name"] for c in pod["spec"].get("containers", []))
    conds = _conditions(True, False, reason=names)
    state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    return {"phase": phase, "conditions": conds, "hostIP": node_ip, "podIP": ip or None,
            "podIPs": [{"ip": ip}] if ip else [], "startTime": stamp(), "qosClass": "BestEffort",
            "containerStatuses": container_statuses(pod, state, False, restarts)}


def status_running(pod: dict, node_ip: str, ip: str, ready: bool = True) -> dict:
    state = {"running": {"startedAt": stamp()}}
    return {"phase": "Running", "conditions": _conditions(True, ready), "hostIP": node_ip, "podIP": ip,
            "podIPs": [{"ip": ip}], "startTime": stamp(), "qosClass": "BestEffort",
            "containerStatuses": container_statuses(pod, state, ready)}


def status_terminated(pod: dict, node_ip: str, ip: str, exit_code: int) -> dict:
    reason = "Completed" if exit_code == 0 else "Error"
    state = {"terminated": {"exitCode": exit_code, "reason": reason, "startedAt": stamp(), "finishedAt": stamp()}}
    names = " ".join(c["name"] for c in pod["spec"].get("containers", []))
    return {"phase": "Succeeded" if exit_code == 0 else "Failed",
            "conditions": _conditions(True, False, reason=names), "hostIP": node_ip, "podIP": ip,
            "podIPs": [{"ip": ip}], "startTime": stamp(), "qosClass": "BestEffort",
            "containerStatuses": container_statuses(pod, state, False)}


def signature(status: dict) -> tuple:
    """What distinguishes two pod statuses, ignoring timestamps (so unchanged states are not rewritten)."""
    cs = status.get("containerStatuses") or [{}]
    state = cs[0].get("state", {})
    detail: dict = next(iter(state.values()), {}) if state else {}
    return (status.get("phase"), is_true({"status": status}, "Ready"), next(iter(state), None),
            detail.get("reason"), detail.get("message"), cs[0].get("restartCount"), status.get("podIP"),
            tuple((c["type"], c["status"], c.get("message")) for c in status.get("conditions", [])))
