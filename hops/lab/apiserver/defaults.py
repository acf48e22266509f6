"""The defaults a real kube-apiserver fills into built-in objects on every write (the `SetDefaults_*` functions of
k8s.io/kubernetes/pkg/apis/*/v1), for the kinds hops, the lab's charts and kubectl look at.

Clients depend on them: `kubectl rollout status daemonset/x` needs `updateStrategy`, `kubectl describe deployment`
prints `StrategyType`, controllers compare `imagePullPolicy`. `apply(key, obj)` changes `obj` in place, so callers
hand it an object they own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Defaulter = Callable[[dict], None]


def _dict(parent: dict, key: str) -> dict:
    """parent[key] as a dict, created when missing (a non-dict value is left for validation to refuse)."""
    value = parent.get(key)
    if value is None:
        value = parent[key] = {}
    return value if isinstance(value, dict) else {}


def _items(value: Any) -> list[dict]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def pull_policy(image: str) -> str:
    """Always for `:latest` or an untagged image, else IfNotPresent (a digest counts as a tag)."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def _probe(probe: Any) -> None:
    if isinstance(probe, dict):
        for key, value in (("timeoutSeconds", 1), ("periodSeconds", 10), ("successThreshold", 1),
                           ("failureThreshold", 3)):
            probe.setdefault(key, value)
        http = probe.get("httpGet")
        if isinstance(http, dict):
            http.setdefault("path", "/")
            http.setdefault("scheme", "HTTP")


def _container(container: dict) -> None:
    image = container.get("image")
    if isinstance(image, str) and image:
        container.setdefault("imagePullPolicy", pull_policy(image))
    container.setdefault("terminationMessagePath", "/dev/termination-log")
    container.setdefault("terminationMessagePolicy", "File")
    container.setdefault("resources", {})
    for port in _items(container.get("ports")):
        port.setdefault("protocol", "TCP")
    for env in _items(container.get("env")):
        field_ref = (env.get("valueFrom") or {}).get("fieldRef") if isinstance(env.get("valueFrom"), dict) else None
        if isinstance(field_ref, dict):
            field_ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _probe(container.get(name))


def pod_spec(spec: dict, restart_policy: str | None = "Always") -> None:
    """SetDefaults_PodSpec and its containers. restart_policy None leaves a missing one missing."""
    if restart_policy is not None:
        spec.setdefault("restartPolicy", restart_policy)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    for key in ("containers", "initContainers"):
        for container in _items(spec.get(key)):
            _container(container)
    for volume in _items(spec.get("volumes")):
        for source, mode in (("secret", "defaultMode"), ("configMap", "defaultMode"), ("projected", "defaultMode")):
            if isinstance(volume.get(source), dict):
                volume[source].setdefault(mode, 420)


def _template(spec: dict, restart_policy: str | None = "Always") -> None:
    template = spec.get("template")
    if isinstance(template, dict):
        pod_spec(_dict(template, "spec"), restart_policy)


def _pod(obj: dict) -> None:
    pod_spec(_dict(obj, "spec"))


def _deployment(obj: dict) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    strategy = _dict(spec, "strategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", "25%")
        rolling.setdefault("maxSurge", "25%")
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    _template(spec)


def _daemonset(obj: dict) -> None:
    spec = _dict(obj, "spec")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _dict(strategy, "rollingUpdate")
        rolling.setdefault("maxUnavailable", 1)
        rolling.setdefault("maxSurge", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    _template(spec)


def _statefulset(obj: dict) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    spec.setdefault("podManagementPolicy", "OrderedReady")
    strategy = _dict(spec, "updateStrategy")
    strategy.setdefault("type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        _dict(strategy, "rollingUpdate").setdefault("partition", 0)
    spec.setdefault("revisionHistoryLimit", 10)
    retention = _dict(spec, "persistentVolumeClaimRetentionPolicy")
    retention.setdefault("whenDeleted", "Retain")
    retention.setdefault("whenScaled", "Retain")
    for claim in _items(spec.get("volumeClaimTemplates")):
        claim_spec = _dict(claim, "spec")
        claim_spec.setdefault("volumeMode", "Filesystem")
    _template(spec)


def _replicaset(obj: dict) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("replicas", 1)
    _template(spec)


def _job(obj: dict) -> None:
    spec = _dict(obj, "spec")
    uid = (obj.get("metadata") or {}).get("uid")
    if uid and not spec.get("manualSelector"):
        # the job controller's generated selector: the Job's uid, also stamped on the template's labels
        name = obj["metadata"].get("name", "")
        spec.setdefault("selector", {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}})
        template = spec.get("template")
        if isinstance(template, dict):
            labels = _dict(_dict(template, "metadata"), "labels")
            for key, value in (("batch.kubernetes.io/controller-uid", uid), ("batch.kubernetes.io/job-name", name),
                               ("controller-uid", uid), ("job-name", name)):
                labels.setdefault(key, value)
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")
    _template(spec, restart_policy=None)   # a Job's template must say OnFailure or Never itself


def _cronjob(obj: dict) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("concurrencyPolicy", "Allow")
    spec.setdefault("suspend", False)
    spec.setdefault("successfulJobsHistoryLimit", 3)
    spec.setdefault("failedJobsHistoryLimit", 1)
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        _template(_dict(job_template, "spec"), restart_policy=None)


def _service(obj: dict) -> None:
    spec = _dict(obj, "spec")
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    if spec["type"] != "ExternalName":
        spec.setdefault("internalTrafficPolicy", "Cluster")
    if spec["type"] in ("NodePort", "LoadBalancer"):
        spec.setdefault("externalTrafficPolicy", "Cluster")
    for port in _items(spec.get("ports")):
        port.setdefault("protocol", "TCP")
        if "targetPort" not in port and "port" in port:
            port["targetPort"] = port["port"]


def _pvc(obj: dict) -> None:
    _dict(obj, "spec").setdefault("volumeMode", "Filesystem")


DEFAULTERS: dict[tuple[str, str], Defaulter] = {
    ("", "pods"): _pod,
    ("", "services"): _service,
    ("", "persistentvolumeclaims"): _pvc,
    ("apps", "deployments"): _deployment,
    ("apps", "daemonsets"): _daemonset,
    ("apps", "statefulsets"): _statefulset,
    ("apps", "replicasets"): _replicaset,
    ("batch", "jobs"): _job,
    ("batch", "cronjobs"): _cronjob,
}


def has_defaults(key: tuple[str, str]) -> bool:
    return key in DEFAULTERS


def apply(key: tuple[str, str], obj: dict) -> None:
    """Fill in the defaults of the kind stored under `key` (group, plural); changes obj in place."""
    defaulter = DEFAULTERS.get(key)
    if defaulter is not None:
        defaulter(obj)
