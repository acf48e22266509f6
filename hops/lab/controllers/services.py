"""Endpoints of every Service with a selector: ready pods as addresses, the others as notReadyAddresses.
(The `kubernetes` Service has no selector; its Endpoints are the control-plane addresses, seeded elsewhere.)"""

from __future__ import annotations

from hops.lab.controllers.loop import LoopController
from hops.lab.readiness import is_true


class EndpointsController(LoopController):
    kinds = frozenset({"Service", "Pod"})

    def reconcile(self) -> float | None:
        pods_by_ns: dict[str, list[dict]] = {}
        for svc in self.store.peek("v1", "Service"):  # read only (peek: shared, not copied)
            selector = (svc.get("spec") or {}).get("selector")
            if not selector:
                continue
            ns = svc["metadata"]["namespace"]
            if ns not in pods_by_ns:
                pods_by_ns[ns] = self.store.peek("v1", "Pod", ns)
            chosen = [p for p in pods_by_ns[ns] if _matches(p, selector) and (p.get("status") or {}).get("podIP")]
            self._write(svc, chosen)
        return None

    def _write(self, svc: dict, pods: list[dict]) -> None:
        meta = svc["metadata"]
        ready = [_address(p) for p in pods if is_true(p, "Ready")]
        not_ready = [_address(p) for p in pods if not is_true(p, "Ready")]
        subset: dict = {}
        if ready:
            subset["addresses"] = ready
        if not_ready:
            subset["notReadyAddresses"] = not_ready
        ports = [_port(port, pods) for port in (svc.get("spec") or {}).get("ports", []) or []]
        subsets = [{**subset, "ports": ports}] if subset else []
        current = self.store.get("v1", "Endpoints", meta["name"], meta["namespace"])
        if current is None:
            self.store.create({"apiVersion": "v1", "kind": "Endpoints",
                               "metadata": {"name": meta["name"], "namespace": meta["namespace"],
                                            "labels": dict(meta.get("labels") or {})},
                               "subsets": subsets})
        elif current.get("subsets", []) != subsets:
            # subsets is replaced as a whole (a merge would keep addresses that are no longer ready)
            self.store.patch("v1", "Endpoints", meta["name"], meta["namespace"], {"subsets": None})
            if subsets:
                self.store.patch("v1", "Endpoints", meta["name"], meta["namespace"], {"subsets": subsets})


def _matches(pod: dict, selector: dict) -> bool:
    labels = pod["metadata"].get("labels", {}) or {}
    return all(labels.get(k) == v for k, v in selector.items())


def _address(pod: dict) -> dict:
    meta = pod["metadata"]
    return {"ip": pod["status"]["podIP"], "nodeName": pod["spec"].get("nodeName", ""),
            "targetRef": {"kind": "Pod", "name": meta["name"], "namespace": meta["namespace"],
                          "uid": meta.get("uid", "")}}


def _port(port: dict, pods: list[dict]) -> dict:
    """The Service port resolved to the container port (a named targetPort is looked up in the pods)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, str):
        for pod in pods:
            for container in pod["spec"].get("containers", []):
                for cport in container.get("ports", []) or []:
                    if cport.get("name") == target:
                        target = cport["containerPort"]
    out = {"port": target if isinstance(target, int) else port.get("port"), "protocol": port.get("protocol", "TCP")}
    if port.get("name"):
        out["name"] = port["name"]
    return out
