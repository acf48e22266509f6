"""What the Kubernetes API holds the moment it comes up on a fresh Talos cluster, and the Node objects kubelets
register afterwards.

Seeded: the four system namespaces, the `kubernetes` Service and Endpoints, the static control-plane pods of every
running control-plane node, CoreDNS (Deployment + kube-dns Service; not ready, no CNI yet). Nodes register NotReady
with the kubelet's real "cni plugin not initialized" message; the lab's node controller turns them Ready once
Cilium runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

CNI_NOT_READY = ("container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady "
                 "message:Network plugin returns error: cni plugin not initialized")
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
LEASE_NAMESPACE = "kube-node-lease"
LEASE_SECONDS = 40            # the kubelet's nodeLeaseDurationSeconds; it renews every quarter of that
# What a small Talos node reports (4 cores, 8 GiB, 100 GiB disk); allocatable keeps Talos' system reservation
# (50m CPU, 192Mi memory, 256Mi ephemeral storage) back.
CAPACITY = {"cpu": "4", "ephemeral-storage": "102626232Ki", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
            "memory": "8029932Ki", "pods": "110"}
ALLOCATABLE = {"cpu": "3950m", "ephemeral-storage": "104818315225", "hugepages-1Gi": "0", "hugepages-2Mi": "0",
               "memory": "7833324Ki", "pods": "110"}
STATIC_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _versions(settings: Any) -> tuple[str, str]:
    talos = settings.config.talos
    k8s = str(talos.kubernetes_version)
    return (k8s if k8s.startswith("v") else "v" + k8s), str(talos.version)


def _put(store: Any, obj: dict) -> None:
    """Create or update (idempotent: the seed runs again after a reset and re-bootstrap)."""
    store.apply(obj)


def seed(store: Any, settings: Any, control_plane: Iterable[Any]) -> None:
    """Objects a fresh cluster has once kube-apiserver answers. `control_plane`: running control-plane NodeStates."""
    nodes = list(control_plane)
    for name in NAMESPACES:
        _put(store, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name},
                     "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
    _put(store, _kubernetes_service(settings))
    _put(store, _kubernetes_endpoints(nodes))
    for node in nodes:
        for pod in STATIC_PODS:
            _put(store, _static_pod(pod, node.k8s_name, node.address, settings))
    _put(store, _coredns_deployment(settings))
    _put(store, _kube_dns_service(settings))


def _service_ip(settings: Any, index: int) -> str:
    network = ipaddress.ip_network(str(settings.config.network.service_cidr), strict=False)
    return str(network.network_address + index)


def _kubernetes_service(settings: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"type": "ClusterIP", "clusterIP": _service_ip(settings, 1),
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}}


def _kubernetes_endpoints(nodes: list[Any]) -> dict:
    return {"apiVersion": "v1", "kind": "Endpoints",
            "metadata": {"name": "kubernetes", "namespace": "default"},
            "subsets": [{"addresses": [{"ip": n.address} for n in nodes],
                         "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]}] if nodes else []}


def _static_pod(component: str, node: str, address: str, settings: Any) -> dict:
    k8s, _ = _versions(settings)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{component}-{node}", "namespace": "kube-system",
                         "labels": {"k8s-app": component, "tier": "control-plane"},
                         "annotations": {"kubernetes.io/config.source": "file"}},
            "spec": {"nodeName": node, "hostNetwork": True, "priorityClassName": "system-cluster-critical",
                     "containers": [{"name": component, "image": f"registry.k8s.io/{component}:{k8s}"}]},
            "status": {"phase": "Running", "hostIP": address, "podIP": address, "startTime": _now(),
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": _now()}],
                       "containerStatuses": [{"name": component, "ready": True, "restartCount": 0,
                                              "image": f"registry.k8s.io/{component}:{k8s}",
                                              "state": {"running": {"startedAt": _now()}}}]}}


def _coredns_deployment(settings: Any) -> dict:
    labels = {"k8s-app": "kube-dns"}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": "kube-system", "labels": labels},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "coredns",
                                                           "image": "registry.k8s.io/coredns/coredns:v1.11.3"}]}}},
            "status": {"replicas": 2, "unavailableReplicas": 2, "observedGeneration": 1,
                       "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                                       "message": "Deployment does not have minimum availability."}]}}


def _kube_dns_service(settings: Any) -> dict:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system", "labels": {"k8s-app": "kube-dns"}},
            "spec": {"type": "ClusterIP", "clusterIP": _service_ip(settings, 10), "selector": {"k8s-app": "kube-dns"},
                     "ports": [{"name": "dns", "port": 53, "protocol": "UDP"},
                               {"name": "dns-tcp", "port": 53, "protocol": "TCP"}]}}


def node_object(settings: Any, name: str, address: str, role: str) -> dict:
    """A Node as a Talos kubelet registers it before any CNI runs."""
    k8s, talos = _versions(settings)
    labels = {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    taints = []
    if role == "controlplane":
        labels["node-role.kubernetes.io/control-plane"] = ""
    taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
    now = _now()
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": taints},
            "status": {"addresses": [{"type": "InternalIP", "address": address}, {"type": "Hostname", "address": name}],
                       "capacity": dict(CAPACITY), "allocatable": dict(ALLOCATABLE),
                       "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                       "nodeInfo": {"kubeletVersion": k8s, "osImage": f"Talos ({talos})",
                                    "containerRuntimeVersion": "containerd://2.0.0", "architecture": "amd64",
                                    "operatingSystem": "linux", "kernelVersion": "6.6.60-talos"},
                       "conditions": [_condition("MemoryPressure", "False", "KubeletHasSufficientMemory",
                                                 "kubelet has sufficient memory available", now),
                                      _condition("DiskPressure", "False", "KubeletHasNoDiskPressure",
                                                 "kubelet has no disk pressure", now),
                                      _condition("PIDPressure", "False", "KubeletHasSufficientPID",
                                                 "kubelet has sufficient PID available", now),
                                      _condition("Ready", "False", "KubeletNotReady", CNI_NOT_READY, now)]}}


def _condition(kind: str, status: str, reason: str, message: str, now: str) -> dict:
    return {"type": kind, "status": status, "reason": reason, "message": message,
            "lastHeartbeatTime": now, "lastTransitionTime": now}


def register_node(store: Any, settings: Any, name: str, address: str, role: str) -> None:
    """The kubelet registers its Node (NotReady until a CNI runs) and its Lease. Keeps an existing object's
    conditions."""
    if _get_node(store, name) is None:
        _put(store, node_object(settings, name, address, role))
    renew_lease(store, name)


def micro_now() -> str:
    """A MicroTime, as Lease.spec.renewTime carries it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease_object(node: dict) -> dict:
    """The kubelet's heartbeat: a Lease named after its Node in kube-node-lease, owned by the Node."""
    name = node["metadata"]["name"]
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": LEASE_NAMESPACE,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Node", "name": name,
                                              "uid": node["metadata"]["uid"]}]},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": micro_now()}}


def renew_lease(store: Any, name: str, exists: bool = False) -> None:
    """Create or renew a node's Lease (nothing when the Node or the lease namespace is missing); `exists`: the
    caller just saw the lease, so it is renewed at once, without reading the Node, the namespace and the lease
    again (the lease controller renews every node every second at lab speed 10)."""
    from hops.lab.apiserver.errors import ApiError

    if exists:
        try:
            store.patch("coordination.k8s.io/v1", "Lease", name, LEASE_NAMESPACE, {"spec": {"renewTime": micro_now()}})
            return
        except ApiError as exc:  # deleted in between: created below, as a kubelet does
            if exc.code != 404:
                raise
    node = _get_node(store, name)
    if node is None or store.get("v1", "Namespace", LEASE_NAMESPACE) is None:
        return
    if store.get("coordination.k8s.io/v1", "Lease", name, LEASE_NAMESPACE) is None:
        try:
            store.create(lease_object(node))
            return
        except ApiError as exc:  # the lease controller's thread created it in between: renew it instead
            if exc.code != 409:
                raise
    store.patch("coordination.k8s.io/v1", "Lease", name, LEASE_NAMESPACE, {"spec": {"renewTime": micro_now()}})


def node_stopped(store: Any, name: str) -> None:
    """A reset node's kubelet stops posting status: its Ready condition turns Unknown (the object stays)."""
    node = _get_node(store, name)
    if node is None:
        return
    now = _now()
    conditions = [c for c in node.get("status", {}).get("conditions", []) if c.get("type") != "Ready"]
    conditions.append(_condition("Ready", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.", now))
    store.set_status("v1", "Node", name, None, {"conditions": conditions})


def node_is_ready(store: Any, name: str) -> bool:
    node = _get_node(store, name)
    conditions = (node or {}).get("status", {}).get("conditions", [])
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _get_node(store: Any, name: str) -> dict | None:
    return store.get("v1", "Node", name)
