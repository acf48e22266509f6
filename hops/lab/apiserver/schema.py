"""What a real apiserver guarantees about the shape of built-in objects, so clients can rely on it:

- `normalize`: fields that Go always serialises (non-omitempty fields, non-pointer structs) appear with their
  zero value, e.g. a Node's `status.nodeInfo` strings or a DaemonSet's `status.numberReady`. The typed Python
  client (kubernetes 37, pydantic models) rejects objects where such a field is missing.
- `validate`: the required fields the apiserver's validation insists on answer 422 Invalid, with its messages.
"""

from __future__ import annotations

from typing import Any

from hops.lab.apiserver import errors
from hops.lab.apiserver.resources import ResourceType

# Template syntax: a dict is created when missing and filled; "key?" is filled only when present; a one-item
# list applies its template to every item of a list; any other value is a default for a missing key.
_CONTAINER_STATE = {"terminated?": {"exitCode": 0}}
_CONTAINER_STATUS = {"name": "", "state": _CONTAINER_STATE, "lastState": _CONTAINER_STATE, "ready": False,
                     "restartCount": 0, "image": "", "imageID": ""}
_NODE_INFO = dict.fromkeys(("machineID", "systemUUID", "bootID", "kernelVersion", "osImage",
                            "containerRuntimeVersion", "kubeletVersion", "kubeProxyVersion",
                            "operatingSystem", "architecture"), "")
_META_CONDITION = {"reason": "", "message": ""}

TEMPLATES: dict[tuple[str, str], dict] = {
    ("", "nodes"): {"spec": {}, "status": {"daemonEndpoints": {"kubeletEndpoint": {"Port": 0}}, "nodeInfo": _NODE_INFO}},
    ("", "pods"): {"status": {"containerStatuses?": [_CONTAINER_STATUS], "initContainerStatuses?": [_CONTAINER_STATUS],
                              "ephemeralContainerStatuses?": [_CONTAINER_STATUS]}},
    ("", "services"): {"status": {"loadBalancer": {}}},
    ("", "namespaces"): {"spec": {}, "status": {}},
    ("", "persistentvolumeclaims"): {"status": {}},
    ("", "persistentvolumes"): {"status": {}},
    ("", "events"): {"involvedObject": {}},
    ("apps", "deployments"): {"status": {}},
    ("apps", "daemonsets"): {"status": {"currentNumberScheduled": 0, "numberMisscheduled": 0,
                                        "desiredNumberScheduled": 0, "numberReady": 0}},
    ("apps", "statefulsets"): {"status": {"replicas": 0, "availableReplicas": 0}},
    ("apps", "replicasets"): {"status": {"replicas": 0}},
    ("batch", "jobs"): {"status": {}},
    ("batch", "cronjobs"): {"status": {}},
    ("policy", "poddisruptionbudgets"): {"status": {"disruptionsAllowed": 0, "currentHealthy": 0,
                                                    "desiredHealthy": 0, "expectedPods": 0,
                                                    "conditions?": [_META_CONDITION]}},
    ("networking.k8s.io", "ingresses"): {"status": {"loadBalancer": {}}},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"status": {"acceptedNames": {"kind": "", "plural": ""}}},
}


def _fill(value: Any, template: Any) -> Any:
    """value with the template's missing parts added; the same object when nothing was missing (no mutation)."""
    if isinstance(template, list):
        if not isinstance(value, list):
            return value
        items = [_fill(item, template[0]) for item in value]
        return items if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if not isinstance(template, dict) or not isinstance(value, dict):
        return value
    changed: dict | None = None
    for raw_key, sub in template.items():
        optional = raw_key.endswith("?")
        key = raw_key[:-1] if optional else raw_key
        if key not in value or value[key] is None:
            if optional:
                continue
            new = _fill({}, sub) if isinstance(sub, dict) else sub
        else:
            new = _fill(value[key], sub)
            if new is value[key]:
                continue
        if changed is None:
            changed = dict(value)
        changed[key] = new
    return value if changed is None else changed


_PORT = {"protocol": "TCP"}
_CONTAINER = {"ports?": [_PORT]}
_POD_SPEC = {"containers?": [_CONTAINER], "initContainers?": [_CONTAINER]}
_TEMPLATE_SPEC = {"spec?": {"template?": {"spec?": _POD_SPEC}}}
# Defaults a real apiserver fills in on every write that clients show (e.g. `Port: 80/TCP` in kubectl describe).
DEFAULTS: dict[tuple[str, str], dict] = {
    ("", "pods"): {"spec?": _POD_SPEC},
    ("apps", "deployments"): _TEMPLATE_SPEC,
    ("apps", "daemonsets"): _TEMPLATE_SPEC,
    ("apps", "statefulsets"): _TEMPLATE_SPEC,
    ("apps", "replicasets"): _TEMPLATE_SPEC,
    ("batch", "jobs"): _TEMPLATE_SPEC,
    ("batch", "cronjobs"): {"spec?": {"jobTemplate?": _TEMPLATE_SPEC}},
    ("", "services"): {"spec?": {"ports?": [_PORT]}},
}


def normalize(rt: ResourceType, obj: dict) -> dict:
    """obj with defaults and always-serialised zero values filled in (a new dict when anything was added)."""
    if rt.custom:
        return obj
    for table in (DEFAULTS, TEMPLATES):
        template = table.get(rt.key)
        if template is not None:
            obj = _fill(obj, template)
    if rt.key == ("", "services"):
        ports = (obj.get("spec") or {}).get("ports")
        if isinstance(ports, list) and any(isinstance(p, dict) and "targetPort" not in p and "port" in p
                                           for p in ports):
            fixed = [{**p, "targetPort": p["port"]} if isinstance(p, dict) and "targetPort" not in p and "port" in p
                     else p for p in ports]
            obj = {**obj, "spec": {**obj["spec"], "ports": fixed}}
    return obj


# ---------------------------------------------------------------------------------------------------- validation

def _go_map(labels: dict) -> str:
    return "map[string]string{" + ", ".join(f'"{k}":"{v}"' for k, v in sorted(labels.items())) + "}"


def _workload(obj: dict, needs_template: bool = True) -> list[tuple[str, str, str]]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        spec = {}
    causes = []
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        causes.append(("FieldValueRequired", "spec.selector", "Required value"))
    template = spec.get("template")
    if needs_template and not isinstance(template, dict):
        causes.append(("FieldValueRequired", "spec.template", "Required value"))
    elif isinstance(template, dict) and isinstance(selector, dict):
        labels = ((template.get("metadata") or {}).get("labels") or {})
        wanted = selector.get("matchLabels") or {}
        if any(labels.get(k) != v for k, v in wanted.items()):
            causes.append(("FieldValueInvalid", "spec.template.metadata.labels",
                           f"Invalid value: {_go_map(labels)}: `selector` does not match template `labels`"))
    if isinstance(template, dict):
        causes += _containers((template.get("spec") or {}), "spec.template.spec")
    return causes


def _containers(pod_spec: dict, prefix: str) -> list[tuple[str, str, str]]:
    containers = pod_spec.get("containers") if isinstance(pod_spec, dict) else None
    if not containers or not isinstance(containers, list):
        return [("FieldValueRequired", f"{prefix}.containers", "Required value")]
    causes = []
    for index, container in enumerate(containers):
        container = container if isinstance(container, dict) else {}
        for field in ("name", "image"):
            if not container.get(field):
                causes.append(("FieldValueRequired", f"{prefix}.containers[{index}].{field}", "Required value"))
    return causes


def _required(obj: dict, *paths: str) -> list[tuple[str, str, str]]:
    causes = []
    for path in paths:
        value: Any = obj
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        if value in (None, "", [], {}):
            causes.append(("FieldValueRequired", path, "Required value"))
    return causes


def validate(rt: ResourceType, obj: dict) -> None:
    """Raise 422 Invalid (with the real messages) for the required fields of built-in kinds."""
    if rt.custom:
        return
    key = rt.key
    causes: list[tuple[str, str, str]] = []
    if key == ("", "pods"):
        causes = _containers(obj.get("spec") or {}, "spec")
    elif key in (("apps", "deployments"), ("apps", "daemonsets"), ("apps", "statefulsets")):
        causes = _workload(obj)
    elif key == ("apps", "replicasets"):
        causes = _workload(obj, needs_template=False)
    elif key == ("batch", "jobs"):
        template = (obj.get("spec") or {}).get("template")
        causes = (_containers((template.get("spec") or {}), "spec.template.spec") if isinstance(template, dict)
                  else [("FieldValueRequired", "spec.template", "Required value")])
        policy = ((template or {}).get("spec") or {}).get("restartPolicy") if isinstance(template, dict) else None
        if isinstance(template, dict) and policy not in ("OnFailure", "Never"):
            # a real apiserver defaults a missing restartPolicy to Always before validating
            causes.append(("FieldValueNotSupported", "spec.template.spec.restartPolicy",
                           f'Unsupported value: "{policy or "Always"}": supported values: "OnFailure", "Never"'))
    elif key == ("batch", "cronjobs"):
        causes = _required(obj, "spec.schedule", "spec.jobTemplate")
    elif key == ("", "services"):
        for index, port in enumerate((obj.get("spec") or {}).get("ports") or []):
            if not isinstance(port, dict) or not port.get("port"):
                causes.append(("FieldValueRequired", f"spec.ports[{index}].port", "Required value"))
    elif key == ("storage.k8s.io", "storageclasses"):
        causes = _required(obj, "provisioner")
    elif key in (("rbac.authorization.k8s.io", "rolebindings"), ("rbac.authorization.k8s.io", "clusterrolebindings")):
        causes = _required(obj, "roleRef.kind", "roleRef.name")
    elif key == ("discovery.k8s.io", "endpointslices"):
        causes = _required(obj, "addressType")
    elif key == ("events.k8s.io", "events"):
        causes = _required(obj, "eventTime")
    if causes:
        raise errors.invalid(rt.group, rt.kind, (obj.get("metadata") or {}).get("name", ""), causes)
