"""Is an applied object ready? One answer shared by `helm --wait`, the Flux controllers and `cilium status`.

Pure functions on object dicts (no store access), phrased like the real tools' messages.
"""

from __future__ import annotations

WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")


def condition(obj: dict, kind: str) -> dict | None:
    for cond in (obj.get("status") or {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return cond
    return None


def is_true(obj: dict, kind: str) -> bool:
    cond = condition(obj, kind)
    return cond is not None and cond.get("status") == "True"


def _observed(obj: dict) -> bool:
    status = obj.get("status") or {}
    return status.get("observedGeneration", 0) >= obj.get("metadata", {}).get("generation", 1)


def check(obj: dict) -> tuple[bool, str]:
    """(ready, why not) in helm's wording: 'Deployment is not ready: ns/name. 0 out of 1 expected pods are ready'."""
    kind = obj.get("kind")
    meta = obj.get("metadata", {})
    ref = f"{meta.get('namespace')}/{meta.get('name')}"
    status = obj.get("status") or {}
    if kind in ("Deployment", "StatefulSet"):
        want = (obj.get("spec") or {}).get("replicas", 1)
        have = status.get("availableReplicas" if kind == "Deployment" else "readyReplicas", 0) or 0
        if _observed(obj) and have >= want and (status.get("updatedReplicas", 0) or 0) >= want:
            return True, ""
        return False, f"{kind} is not ready: {ref}. {have} out of {want} expected pods are ready"
    if kind == "DaemonSet":
        want = status.get("desiredNumberScheduled", 0) or 0
        have = status.get("numberReady", 0) or 0
        if _observed(obj) and have >= want and "desiredNumberScheduled" in status:
            return True, ""
        return False, f"DaemonSet is not ready: {ref}. {have} out of {want} expected pods are ready"
    if kind == "Pod":
        if status.get("phase") == "Succeeded" or is_true(obj, "Ready"):
            return True, ""
        return False, f"Pod is not ready: {ref}"
    if kind == "Job":
        if is_true(obj, "Complete"):
            return True, ""
        return False, f"Job is not ready: {ref}"
    if kind == "CustomResourceDefinition":
        return is_true(obj, "Established"), f"CustomResourceDefinition is not established: {meta.get('name')}"
    return True, ""


def kstatus(obj: dict) -> str:
    """The kstatus word Flux prints in health check messages: Current, InProgress or Failed."""
    ready, _ = check(obj)
    if ready:
        return "Current"
    progressing = condition(obj, "Progressing")
    if progressing and progressing.get("reason") == "ProgressDeadlineExceeded":
        return "Failed"
    return "InProgress"
