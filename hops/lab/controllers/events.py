"""The core/v1 Events a real cluster's components record as the lab's objects change: the scheduler (Scheduled,
FailedScheduling), kubelets (Pulled, Created, Started, Failed/BackOff on image pulls, NodeReady), the
controller-manager (RegisteredNode, SuccessfulCreate, ScalingReplicaSet, Completed) and the Flux controllers
(their Ready condition's reason and message). `kubectl describe` and `kubectl events` show them.

It follows store changes (a subscriber) and remembers what it recorded per object, so each happening is recorded
once; an Event that cannot be written (its namespace is terminating) is dropped, as a real recorder drops it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

from hops.lab.controllers.base import Controller, LabContext
from hops.lab.controllers.pods import stamp

log = logging.getLogger("hops.lab.controllers")

OWNER_COMPONENTS = {"ReplicaSet": "replicaset-controller", "DaemonSet": "daemonset-controller",
                    "StatefulSet": "statefulset-controller", "Job": "job-controller"}
FLUX_COMPONENTS = {"source.toolkit.fluxcd.io": "source-controller",
                   "kustomize.toolkit.fluxcd.io": "kustomize-controller",
                   "helm.toolkit.fluxcd.io": "helm-controller"}


def _static(pod: dict) -> bool:
    annotations = (pod.get("metadata") or {}).get("annotations") or {}
    return annotations.get("kubernetes.io/config.source") == "file" or "kubernetes.io/config.mirror" in annotations


def _condition(obj: dict, kind: str) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == kind), {})


def _controller_of(obj: dict) -> dict | None:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return next((r for r in refs if r.get("controller")), None)


def _handled(event_type: str, obj: dict) -> bool:
    """The changes handle() looks at (the others, Leases and Events among them, are not copied for it)."""
    return event_type == "DELETED" or obj.get("kind") in ("Pod", "Node", "ReplicaSet", "Job") or \
        obj.get("apiVersion", "").split("/")[0] in FLUX_COMPONENTS


class EventController(Controller):
    def __init__(self, lab: LabContext) -> None:
        super().__init__(lab)
        self.store = lab.store
        self._done: dict[str, set[tuple]] = {}     # uid -> what was recorded for it
        self._lock = threading.Lock()
        self._unsubscribe: Any = None
        self._queue: queue.SimpleQueue[tuple[str, dict] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self.seed()
        self._unsubscribe = self.store.subscribe(lambda event_type, obj: self._queue.put((event_type, obj)),
                                                 only=_handled)
        self._thread = threading.Thread(target=self._run, name="EventController", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        """Record from this thread: a store subscriber must only hand work over, never write or block."""
        while True:
            item = self._queue.get()
            if item is None or self.lab.stop.is_set():
                return
            try:
                self.handle(*item)
            except Exception:                        # a bug must not kill the lab; it shows in daemon.log
                log.exception("EventController failed on %s", item[0])

    def seed(self) -> None:
        """Remember what the Events already stored (a restored lab) say was recorded, so a restart records
        no happening twice."""
        for event in self.store.list("v1", "Event"):
            involved, reason = event.get("involvedObject") or {}, event.get("reason", "")
            container = (involved.get("fieldPath") or "").partition("{")[2].rstrip("}")
            key = {"Scheduled": ("scheduled",), "Started": ("started", container), "BackOff": ("backoff", container),
                   "RegisteredNode": ("registered",), "Completed": ("done",),
                   "FailedScheduling": ("unschedulable", event.get("message"))}.get(reason)
            if (event.get("source") or {}).get("component") in FLUX_COMPONENTS.values():
                key = ("ready", "False" if event.get("type") == "Warning" else "True", reason, event.get("message"))
            if key is not None:
                self._done.setdefault(involved.get("uid", ""), set()).add(key)

    def stop(self) -> None:
        if self._unsubscribe:
            self._unsubscribe()
        self._queue.put(None)
        if self._thread:
            self._thread.join(timeout=5)

    # -- recording ------------------------------------------------------------------------------------------
    def _once(self, obj: dict, key: tuple) -> bool:
        uid = obj["metadata"].get("uid", "")
        with self._lock:
            done = self._done.setdefault(uid, set())
            if key in done:
                return False
            done.add(key)
            return True

    def record(self, obj: dict, reason: str, message: str, component: str, host: str = "",
               warning: bool = False, field_path: str = "") -> None:
        """Write one Event about obj (in its namespace; cluster-scoped objects' events go to default)."""
        meta = obj["metadata"]
        namespace = meta.get("namespace") or "default"
        now = stamp()
        involved = {"kind": obj.get("kind"), "namespace": meta.get("namespace"), "name": meta["name"],
                    "uid": meta.get("uid"), "apiVersion": obj.get("apiVersion"),
                    "resourceVersion": meta.get("resourceVersion")}
        if field_path:
            involved["fieldPath"] = field_path
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": namespace},
                 "involvedObject": {k: v for k, v in involved.items() if v},
                 "reason": reason, "message": message, "type": "Warning" if warning else "Normal",
                 "source": {"component": component, **({"host": host} if host else {})},
                 "firstTimestamp": now, "lastTimestamp": now, "count": 1,
                 "reportingComponent": component, "reportingInstance": host}
        try:
            self.store.create(event)
        except Exception as exc:  # noqa: BLE001 - a lost Event must never break the lab (real recorders drop them)
            log.debug("event %s on %s dropped: %s", reason, meta["name"], exc)

    # -- what happened --------------------------------------------------------------------------------------
    def handle(self, event_type: str, obj: dict) -> None:
        """Record what one store change means (run on the controller's thread)."""
        kind = obj.get("kind")
        uid = (obj.get("metadata") or {}).get("uid", "")
        if event_type == "DELETED":
            with self._lock:
                self._done.pop(uid, None)
            return
        if kind == "Pod":
            self._pod(obj, event_type)
        elif kind == "Node":
            self._node(obj, event_type)
        elif kind == "ReplicaSet" and event_type == "ADDED":
            self._replicaset(obj)
        elif kind == "Job" and _condition(obj, "Complete").get("status") == "True" and self._once(obj, ("done",)):
            self.record(obj, "Completed", "Job completed", "job-controller")
        elif obj.get("apiVersion", "").split("/")[0] in FLUX_COMPONENTS:
            self._flux(obj)

    def _pod(self, pod: dict, event_type: str) -> None:
        meta, spec = pod["metadata"], pod.get("spec") or {}
        if _static(pod):
            return
        owner = _controller_of(pod)
        if event_type == "ADDED" and owner and owner.get("kind") in OWNER_COMPONENTS:
            self._owner_event(pod, owner)
        node = spec.get("nodeName")
        scheduled = _condition(pod, "PodScheduled")
        if node and self._once(pod, ("scheduled",)):
            self.record(pod, "Scheduled", f"Successfully assigned {meta['namespace']}/{meta['name']} to {node}",
                        "default-scheduler")
        elif not node and scheduled.get("reason") == "Unschedulable" and \
                self._once(pod, ("unschedulable", scheduled.get("message"))):
            self.record(pod, "FailedScheduling", scheduled.get("message", ""), "default-scheduler", warning=True)
        images = {c.get("name"): c.get("image", "") for c in spec.get("containers") or []}
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            self._container(pod, status, images.get(status.get("name"), ""), node or "")

    def _container(self, pod: dict, status: dict, image: str, node: str) -> None:
        name = status.get("name", "")
        path = f"spec.containers{{{name}}}"
        state = status.get("state") or {}
        waiting = state.get("waiting") or {}
        if (state.get("running") or state.get("terminated")) and self._once(pod, ("started", name)):
            self.record(pod, "Pulled", f'Container image "{image}" already present on machine', "kubelet", node,
                        field_path=path)
            self.record(pod, "Created", f"Created container {name}", "kubelet", node, field_path=path)
            self.record(pod, "Started", f"Started container {name}", "kubelet", node, field_path=path)
        elif waiting.get("reason") == "ImagePullBackOff" and self._once(pod, ("backoff", name)):
            self.record(pod, "BackOff", f'Back-off pulling image "{image}"', "kubelet", node, field_path=path)
            self.record(pod, "Failed", "Error: ImagePullBackOff", "kubelet", node, warning=True, field_path=path)

    def _owner_event(self, pod: dict, owner: dict) -> None:
        kind = owner["kind"]
        found = self.store.get("batch/v1" if kind == "Job" else "apps/v1", kind, owner["name"],
                               pod["metadata"]["namespace"])
        if found is None:
            return
        name = pod["metadata"]["name"]
        message = (f"create Pod {name} in StatefulSet {owner['name']} successful" if kind == "StatefulSet"
                   else f"Created pod: {name}")
        self.record(found, "SuccessfulCreate", message, OWNER_COMPONENTS[kind])

    def _replicaset(self, rs: dict) -> None:
        owner = _controller_of(rs) or {}
        if owner.get("kind") != "Deployment":
            return
        deploy = self.store.get("apps/v1", "Deployment", owner["name"], rs["metadata"]["namespace"])
        if deploy is not None:
            replicas = (rs.get("spec") or {}).get("replicas", 1)
            self.record(deploy, "ScalingReplicaSet",
                        f"Scaled up replica set {rs['metadata']['name']} to {replicas} from 0", "deployment-controller")

    def _node(self, node: dict, event_type: str) -> None:
        name = node["metadata"]["name"]
        if event_type == "ADDED" and self._once(node, ("registered",)):
            self.record(node, "RegisteredNode", f"Node {name} event: Registered Node {name} in Controller",
                        "node-controller")
        ready = _condition(node, "Ready").get("status")
        if ready == "True" and self._once(node, ("ready", _condition(node, "Ready").get("lastTransitionTime"))):
            self.record(node, "NodeReady", f"Node {name} status is now: NodeReady", "kubelet", name)

    def _flux(self, obj: dict) -> None:
        ready = _condition(obj, "Ready")
        if ready.get("status") not in ("True", "False") or not ready.get("reason"):
            return
        key = ("ready", ready.get("status"), ready.get("reason"), ready.get("message"))
        if self._once(obj, key):
            component = FLUX_COMPONENTS[obj["apiVersion"].split("/")[0]]
            self.record(obj, ready["reason"], ready.get("message", ""), component,
                        warning=ready.get("status") == "False")
