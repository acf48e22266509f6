"""When a Deployment, DaemonSet or StatefulSet counts as ready: one definition for every phase.

Counts are exact where a surplus is possible (a rolling update's surge keeps old pods next to new ones: more
available than wanted means the rollout has not finished), and always for the spec the controller last saw."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hops import secrets
from hops.errors import WaitTimeout
from hops.kube import describe_condition, is_true, observed


def _spec(obj: dict) -> dict:
    return obj.get("spec") or {}


def _status(obj: dict) -> dict:
    return obj.get("status") or {}


# --- Deployment (and StatefulSet counts) --------------------------------------------------------------------
def replica_counts(obj: dict) -> tuple[int, int]:
    """(available, wanted) replicas; a StatefulSet counts its ready ones (availableReplicas is newer)."""
    field = "readyReplicas" if obj.get("kind") == "StatefulSet" else "availableReplicas"
    return _status(obj).get(field, 0) or 0, _spec(obj).get("replicas", 1)


def deployment_available(deploy: dict) -> bool:
    """Available=True, every wanted replica updated, exactly the wanted number available, current spec."""
    have, want = replica_counts(deploy)
    updated = _status(deploy).get("updatedReplicas", 0) or 0
    return observed(deploy) and is_true(deploy, "Available") and have == want and updated >= want


def deployment_state(deploy: dict | None, ns: str, name: str) -> tuple[bool, str]:
    """(Available, what its status says) of Deployment ns/name (None: it does not exist)."""
    if deploy is None:
        return False, f"Deployment {ns}/{name} does not exist"
    have, want = replica_counts(deploy)
    detail = f"Deployment {ns}/{name}: {have}/{want} available, {describe_condition(deploy, 'Available')}"
    return deployment_available(deploy), detail


# --- DaemonSet ----------------------------------------------------------------------------------------------
def daemonset_counts(ds: dict) -> tuple[int, int, int]:
    """(desiredNumberScheduled, numberReady, updatedNumberScheduled)."""
    status = _status(ds)
    return (status.get("desiredNumberScheduled", 0) or 0, status.get("numberReady", 0) or 0,
            status.get("updatedNumberScheduled", 0) or 0)


def daemonset_ready(ds: dict, nodes: int | None = None, minimum: int = 0) -> bool:
    """Every pod the controller wants is updated and ready (exactly), for the current spec.

    The phases differ on purpose in how many pods that must be: `nodes` — exactly this many (the CNI agent runs
    on every configured node); `minimum` — at least this many (storage on no node is no storage); neither — any
    number, 0 included (a Flux-managed DaemonSet may target nodes this cluster does not have)."""
    desired, ready, updated = daemonset_counts(ds)
    count_ok = desired == nodes if nodes is not None else desired >= minimum
    return observed(ds) and count_ok and ready == desired and updated >= desired


def daemonset_state(ds: dict | None, ns: str, name: str, nodes: int | None = None,
                    minimum: int = 0) -> tuple[bool, str]:
    """(ready, what its status says) of DaemonSet ns/name: exactly `nodes` pods, or at least `minimum`."""
    if ds is None:
        return False, f"DaemonSet {ns}/{name} does not exist"
    desired, ready, updated = daemonset_counts(ds)
    detail = f"DaemonSet {ns}/{name}: desiredNumberScheduled={desired} numberReady={ready}"
    detail += f" updatedNumberScheduled={updated}" if updated < desired else ""  # only when it is the reason
    detail += f" of {nodes} nodes" if nodes is not None else ""
    return daemonset_ready(ds, nodes, minimum), detail


# --- any workload -------------------------------------------------------------------------------------------
def statefulset_ready(sts: dict) -> bool:
    """Every wanted replica ready, for the current spec."""
    # no surge for StatefulSets: a surplus only exists while scaling down, so at least the wanted count suffices
    have, want = replica_counts(sts)
    return observed(sts) and have >= want


def workload_ready(obj: dict) -> bool:
    """Any Deployment/DaemonSet/StatefulSet, by the definition of its kind (any number of DaemonSet pods)."""
    kind = obj["kind"]
    if kind == "Deployment":
        return deployment_available(obj)
    return daemonset_ready(obj) if kind == "DaemonSet" else statefulset_ready(obj)


# --- why pods are not ready ---------------------------------------------------------------------------------
def waiting_pods(kube: Any, ns: str, labels: str | None = None) -> str:
    """"; pods: pod/container: reason message; …" for the containers waiting in `ns` (e.g. CrashLoopBackOff and
    its message), or "" — the reason a timed-out wait should name."""
    problems = []
    for pod in kube.list("Pod", ns, fresh=True, labels=labels):
        for cs in _status(pod).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting:
                problems.append(f"{pod['metadata']['name']}/{cs.get('name')}: {waiting.get('reason')} "
                                f"{waiting.get('message', '')}".strip())
    return ("; pods: " + "; ".join(problems)) if problems else ""


@contextmanager
def naming_waiting_pods(kube: Any, ns: str, labels: str | None = None) -> Iterator[None]:
    """A WaitTimeout inside also names the waiting containers of the pods in `ns` (matching `labels`)."""
    try:
        yield
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}{waiting_pods(kube, ns, labels)}") from None


# --- logs -------------------------------------------------------------------------------------------------------
def print_pod_logs(kube: Any, groups: dict[str, str], tail: int) -> None:
    """For each `title: namespace`, the last `tail` log lines of every container of every pod there (redacted);
    a pod whose log cannot be read says why instead of hiding the others."""
    for title, ns in groups.items():
        print(f"== {title} ({ns})")
        for pod in kube.list("Pod", ns, fresh=True):
            for container in pod["spec"].get("containers") or []:
                name = f"{pod['metadata']['name']}/{container['name']}"
                try:
                    text = kube.log(pod["metadata"]["name"], ns, container["name"], tail=tail)
                except Exception as exc:  # noqa: BLE001 - one pod's missing log must not hide the others
                    text = f"(no log: {type(exc).__name__})"
                print(f"-- {name}\n{secrets.redact(text.rstrip()) or '(empty)'}")
