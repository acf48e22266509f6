"""Deployments, DaemonSets and StatefulSets -> ReplicaSets, Pods and workload status over (scaled) time.

Pods of ordinary workloads need a Ready node (a working CNI), so CoreDNS stays Pending until Cilium makes the
nodes Ready, as on a real cluster; hostNetwork / tolerate-everything pods (the cilium agent and operator) run on
NotReady nodes. Faults: `delay:<name>` adds simulated seconds, `block:<name>` keeps the pods in ImagePullBackOff
(<name> is the workload or its Helm release, label app.kubernetes.io/instance). Pods whose containers read a
Secret through env wait for it (CreateContainerConfigError), and 1Password Connect crash-loops on credentials
that are not version 2.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

from hops.lab.controllers import pods
from hops.lab.controllers.loop import LoopController, soonest
from hops.lab.readiness import WORKLOAD_KINDS

OWNER_KINDS = ("ReplicaSet", "DaemonSet", "StatefulSet")
CONNECT_LOG = ('{"log_message":"(E) Server: (failed to OpenDefault), Wrapped: (failed to loadCredentialsFile), '
               'Wrapped: (LoadLocalAuthV2 failed to credentialsDataFromBase64), credentials file is not version 2",'
               '"timestamp":"%s","level":1}\n')


class WorkloadController(LoopController):
    kinds = frozenset({*WORKLOAD_KINDS, "Node", "Secret"})

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self._written: dict[tuple, tuple] = {}
        self._hosts_by_template: dict[str, tuple[list[dict], list[dict]]] = {}  # for the Nodes as of _hosts_for
        self._hosts_for: tuple = ()
        cfg = getattr(getattr(lab.settings, "config", None), "network", None)
        self.pod_cidr = str(getattr(cfg, "pod_cidr", "10.244.0.0/16")) if cfg else "10.244.0.0/16"

    def reconcile(self) -> float | None:
        nodes = self.store.peek("v1", "Node")  # read only (peek: shared, not copied)
        nodes_now = tuple(n["metadata"].get("resourceVersion") for n in nodes)
        if nodes_now != self._hosts_for:  # a Node changed: where each template may run is asked again
            self._hosts_by_template.clear()
            self._hosts_for = nodes_now
        wait: float | None = None
        live: set[tuple[str, str]] = set()
        for kind in WORKLOAD_KINDS:  # shared, not copied: read here, written only through the store
            for obj in self.store.peek("apps/v1", kind):
                wait = soonest(wait, self._workload(obj, nodes, live))
        self._collect_garbage(live)
        return wait

    # -- one workload ---------------------------------------------------------------------------------------
    def _workload(self, w: dict, nodes: list[dict], live: set) -> float | None:
        kind, meta, spec = w["kind"], w["metadata"], w.get("spec", {})
        ns, name = meta["namespace"], meta["name"]
        template = spec.get("template", {})
        thash = pods.short_hash(json.dumps(template, sort_keys=True))
        instance = (meta.get("labels") or {}).get("app.kubernetes.io/instance")
        delay = self.component_delay(name, instance)
        rollout = self.duration("rollout.daemonset" if kind == "DaemonSet" else "rollout.deployment")
        owner = self._replicaset(w, thash) if kind == "Deployment" else w
        wait: float | None = None
        ready = 0
        placements = self._placements(w, thash, nodes)
        for pod_name, node in placements:
            live.add((ns, pod_name))
            pod_ready, pod_wait = self._pod(w, owner, pod_name, node, thash, delay, rollout, len(nodes))
            ready += pod_ready
            wait = soonest(wait, pod_wait)
        key = (kind, ns, name, thash)
        blocked_for = None if delay is not None else self.remaining(key, self._deadline(w))
        self._write_status(w, owner, len(placements), ready, blocked_for is not None and blocked_for <= 0)
        if blocked_for is not None and blocked_for > 0:
            wait = soonest(wait, blocked_for)
        return wait

    def _deadline(self, w: dict) -> float:
        return float(w.get("spec", {}).get("progressDeadlineSeconds", 600)) / self.lab.speed

    def _placements(self, w: dict, thash: str, nodes: list[dict]) -> list[tuple[str, dict | None]]:
        """(pod name, node or None when nothing can host it) for every pod the workload should have."""
        kind, name, spec = w["kind"], w["metadata"]["name"], w.get("spec", {})
        eligible, hosts = self._hosts(spec.get("template", {}).get("spec", {}), thash, nodes)
        if kind == "DaemonSet":
            return [(f"{name}-{pods.short_hash(name + n['metadata']['name'], 5)}", n) for n in eligible]
        replicas = int(spec.get("replicas", 1))
        out = []
        for i in range(replicas):
            pod_name = f"{name}-{i}" if kind == "StatefulSet" else f"{name}-{thash}-{pods.short_hash(f'{name}{thash}{i}', 5)}"
            out.append((pod_name, hosts[i % len(hosts)] if hosts else None))
        return out

    def _hosts(self, pspec: dict, thash: str, nodes: list[dict]) -> tuple[list[dict], list[dict]]:
        """The nodes a pod template may run on, and those of them it can start on now. The same for every
        workload with that template while no Node changed (reconcile() forgets them when one did): 200
        workloads on 50 nodes would ask 10,000 times a pass."""
        found = self._hosts_by_template.get(thash)
        if found is None:
            eligible = [n for n in nodes if pods.selects(n, pspec)]
            hosts = eligible if pods.tolerates_not_ready(pspec) else [n for n in eligible if pods.node_ready(n)]
            found = self._hosts_by_template[thash] = (eligible, hosts)
        return found

    def _replicaset(self, deploy: dict, thash: str) -> dict:
        meta = deploy["metadata"]
        name = f"{meta['name']}-{thash}"
        rs = self.store.get("apps/v1", "ReplicaSet", name, meta["namespace"])
        if rs is None:
            template = deploy["spec"].get("template", {})
            labels = {**(template.get("metadata", {}).get("labels") or {}), "pod-template-hash": thash}
            rs = self.store.create({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels,
                             "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": meta["name"],
                                                  "uid": meta.get("uid", ""), "controller": True}]},
                "spec": {"replicas": deploy["spec"].get("replicas", 1),
                         "selector": {"matchLabels": {**deploy["spec"].get("selector", {}).get("matchLabels", {}),
                                                      "pod-template-hash": thash}},
                         "template": {**template, "metadata": {**template.get("metadata", {}), "labels": labels}}}})
        return rs

    # -- one pod --------------------------------------------------------------------------------------------
    def _pod(self, w: dict, owner: dict, pod_name: str, node: dict | None, thash: str, delay: float | None,
             rollout: float, node_count: int) -> tuple[int, float | None]:
        ns = w["metadata"]["namespace"]
        template = w["spec"].get("template", {})
        extra = {"pod-template-hash": thash} if w["kind"] == "Deployment" else {"controller-revision-hash": thash}
        pod = pods.new_pod(pod_name, ns, template, owner, extra)
        key = (ns, pod_name, thash)
        if node is None:
            self.forget(key)
            msg = pods.NOT_READY_TAINT_MESSAGE.format(n=node_count) if node_count else \
                "no nodes available to schedule pods"
            self._save(pod, None, pods.status_unschedulable(msg))
            return 0, None
        node_name = node["metadata"]["name"]
        node_ip = pods.node_address(node)
        ip = node_ip if pod["spec"].get("hostNetwork") else pods.pod_ip(pod_name, node_name, [node], self.pod_cidr)
        if not (pods.tolerates_not_ready(pod["spec"]) or pods.node_ready(node)):
            self.forget(key)
            self._save(pod, node_name, pods.status_waiting(pod, node_ip, "", "ContainerCreating", ""))
            return 0, None
        left = self.remaining(key, rollout + (delay or 0.0))
        if left > 0:
            self._save(pod, node_name, pods.status_waiting(pod, node_ip, ip, "ContainerCreating", ""))
            return 0, left
        if delay is None:
            image = (pod["spec"].get("containers") or [{}])[0].get("image", "")
            self._save(pod, node_name, pods.status_waiting(pod, node_ip, ip, "ImagePullBackOff",
                                                        f'Back-off pulling image "{image}"'))
            return 0, None
        problem = self._gate(ns, pod["spec"])
        if problem is not None:
            reason, message, log = problem
            restarts = 1 + int((time.monotonic() - self.since(key)) * self.lab.speed / 30) if log else 0
            self._save(pod, node_name, pods.status_waiting(pod, node_ip, ip, reason, message, restarts,
                                                        phase="Running" if log else "Pending"), log)
            return 0, None
        self._save(pod, node_name, pods.status_running(pod, node_ip, ip), self._startup_log(pod))
        return 1, None

    def _gate(self, ns: str, pspec: dict) -> tuple[str, str, str] | None:
        """Why the containers cannot start: (waiting reason, message, log) or None."""
        for container in pspec.get("containers", []):
            for env in container.get("env", []) or []:
                ref = (env.get("valueFrom") or {}).get("secretKeyRef")
                if not ref or ref.get("optional"):
                    continue
                secret = self.store.get("v1", "Secret", ref["name"], ns)
                if secret is None:
                    return "CreateContainerConfigError", f'secret "{ref["name"]}" not found', ""
                raw = (secret.get("data") or {}).get(ref["key"])
                if raw is None:
                    return ("CreateContainerConfigError",
                            f"couldn't find key {ref['key']} in Secret {ns}/{ref['name']}", "")
                if container.get("image", "").startswith("1password/connect-") and env["name"] == "OP_SESSION" \
                        and not _connect_credentials_ok(raw):
                    return ("CrashLoopBackOff", f"back-off 5m0s restarting failed container={container['name']}",
                            CONNECT_LOG % pods.stamp())
        return None

    def _startup_log(self, pod: dict) -> str:
        containers = ", ".join(c["name"] for c in pod["spec"].get("containers", []))
        return f'{pods.stamp()} level=info msg="started container(s) {containers}; ready"\n'

    def _save(self, pod: dict, node_name: str | None, status: dict, log: str | None = None) -> None:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        sig = (node_name, pods.signature(status))
        existing = self.store.peek_one("v1", "Pod", meta["name"], meta["namespace"])
        if self._written.get(key) == sig and existing is not None:
            return
        if existing is None:
            if node_name:
                pod["spec"]["nodeName"] = node_name
            self.store.create(pod)
        elif node_name and existing["spec"].get("nodeName") != node_name:
            self.store.patch("v1", "Pod", meta["name"], meta["namespace"], {"spec": {"nodeName": node_name}})
        write_pod_status(self.store, meta["namespace"], meta["name"], status)
        if log is not None:
            self.store.set_pod_log(meta["namespace"], meta["name"], log)
        self._written[key] = sig

    # -- workload status ------------------------------------------------------------------------------------
    def _write_status(self, w: dict, owner: dict, desired: int, ready: int, deadline_passed: bool) -> None:
        kind, meta = w["kind"], w["metadata"]
        gen = meta.get("generation", 1)
        if kind == "DaemonSet":
            status: dict[str, Any] = {"observedGeneration": gen, "desiredNumberScheduled": desired,
                                      "currentNumberScheduled": desired, "updatedNumberScheduled": desired,
                                      "numberReady": ready, "numberAvailable": ready, "numberMisscheduled": 0,
                                      "numberUnavailable": desired - ready}
        elif kind == "StatefulSet":
            status = {"observedGeneration": gen, "replicas": desired, "readyReplicas": ready,
                      "availableReplicas": ready, "currentReplicas": desired, "updatedReplicas": desired}
        else:
            status = {"observedGeneration": gen, "replicas": desired, "updatedReplicas": desired,
                      "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": desired - ready,
                      "conditions": _deployment_conditions(owner["metadata"]["name"], desired, ready,
                                                           deadline_passed)}
            self._replicaset_status(owner, desired, ready)
        if _status_sig(w.get("status") or {}) != _status_sig(status):
            self.store.set_status(w["apiVersion"], kind, meta["name"], meta["namespace"], status)

    def _replicaset_status(self, rs: dict, desired: int, ready: int) -> None:
        status = {"observedGeneration": rs["metadata"].get("generation", 1), "replicas": desired,
                  "fullyLabeledReplicas": desired, "readyReplicas": ready, "availableReplicas": ready}
        if _status_sig(rs.get("status") or {}) != _status_sig(status):
            self.store.set_status("apps/v1", "ReplicaSet", rs["metadata"]["name"], rs["metadata"]["namespace"],
                                  status)

    # -- garbage collection ---------------------------------------------------------------------------------
    def _collect_garbage(self, live: set[tuple[str, str]]) -> None:
        """Delete pods of workloads (or template revisions) that no longer exist, and orphaned ReplicaSets."""
        for pod in self.store.peek("v1", "Pod"):
            meta = pod["metadata"]
            owners = [o.get("kind") for o in meta.get("ownerReferences", []) or []]
            if any(k in OWNER_KINDS for k in owners) and (meta["namespace"], meta["name"]) not in live:
                self.store.delete("v1", "Pod", meta["name"], meta["namespace"])
                self._written.pop((meta["namespace"], meta["name"]), None)
        for rs in self.store.peek("apps/v1", "ReplicaSet"):
            meta = rs["metadata"]
            for ref in meta.get("ownerReferences", []) or []:
                if ref.get("kind") == "Deployment" and \
                        self.store.peek_one("apps/v1", "Deployment", ref["name"], meta["namespace"]) is None:
                    self.store.delete("apps/v1", "ReplicaSet", meta["name"], meta["namespace"])


def write_pod_status(store: Any, namespace: str, name: str, status: dict) -> None:
    """Replace the container state (a merge would keep `waiting` next to `running`)."""
    for cs in status.get("containerStatuses", []) or []:
        for state in ("waiting", "running", "terminated"):
            cs["state"].setdefault(state, None)
    store.set_status("v1", "Pod", name, namespace, status)


def _deployment_conditions(rs_name: str, desired: int, ready: int, deadline_passed: bool) -> list[dict]:
    now = pods.stamp()
    if ready >= desired:
        available = ("True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        progressing = ("True", "NewReplicaSetAvailable", f'ReplicaSet "{rs_name}" has successfully progressed.')
    else:
        available = ("False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        progressing = ("False", "ProgressDeadlineExceeded", f'ReplicaSet "{rs_name}" has timed out progressing.') \
            if deadline_passed else ("True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
    return [{"type": t, "status": s, "reason": r, "message": m, "lastUpdateTime": now, "lastTransitionTime": now}
            for t, (s, r, m) in (("Available", available), ("Progressing", progressing))]


def _status_sig(status: dict) -> tuple:
    counts = tuple(sorted((k, v) for k, v in status.items() if isinstance(v, int)))
    conds = tuple(sorted((c["type"], c["status"], c.get("reason")) for c in status.get("conditions", []) or []))
    return counts, conds


def _connect_credentials_ok(secret_value: str) -> bool:
    """Connect reads OP_SESSION as the credentials JSON, usually base64-encoded once more; it needs version 2."""
    try:
        text = base64.b64decode(secret_value).decode()
    except (binascii.Error, UnicodeDecodeError):
        return False
    for candidate in (text, _maybe_b64(text)):
        try:
            data = json.loads(candidate) if candidate else None
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            return str(data.get("version")) == "2"
    return False


def _maybe_b64(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""
