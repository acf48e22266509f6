"""Server-side printing: the `Table` kubectl asks for (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`).

Columns and cell texts follow the real apiserver's printers for the common kinds, a CRD's
additionalPrinterColumns for custom resources, and NAME / AGE for everything else.
"""

from __future__ import annotations

import calendar
import json
import re
import time
from collections.abc import Callable
from typing import Any

from hops.lab.apiserver.resources import ResourceType

Column = tuple[str, str, str, int]   # (name, type, format, priority)


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    total = int(seconds)
    if total < 120:
        return f"{total}s"
    minutes = total // 60
    if minutes < 10:
        rest = total % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = total // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        return f"{hours // 24 // 365}y" if rest == 0 else f"{hours // 24 // 365}y{rest}d"
    return f"{hours // 24 // 365}y"


def parse_time(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return calendar.timegm(time.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S"))
    except ValueError:
        return None


def age(stamp: str | None, now: float) -> str:
    started = parse_time(stamp)
    return "<unknown>" if started is None else human_duration(now - started)


def _get(obj: Any, *path: str, default: Any = None) -> Any:
    for part in path:
        if not isinstance(obj, dict):
            return default
        obj = obj.get(part)
    return default if obj is None else obj


def _meta_age(obj: dict, now: float) -> str:
    return age(_get(obj, "metadata", "creationTimestamp"), now)


def _containers(obj: dict) -> list[dict]:
    return _get(obj, "spec", "template", "spec", "containers", default=[]) or []


def _selector(obj: dict) -> str:
    selector = _get(obj, "spec", "selector", default={}) or {}
    parts = [f"{k}={v}" for k, v in (selector.get("matchLabels") or {}).items()]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        values = ",".join(expr.get("values") or [])
        parts.append({"In": f"{expr.get('key')} in ({values})", "NotIn": f"{expr.get('key')} notin ({values})",
                      "Exists": f"{expr.get('key')}", "DoesNotExist": f"!{expr.get('key')}"}.get(op, ""))
    return ",".join(parts) or "<none>"


def _wide_workload(obj: dict) -> list:
    containers = _containers(obj)
    return [",".join(c.get("name", "") for c in containers), ",".join(c.get("image", "") for c in containers),
            _selector(obj)]


WIDE_WORKLOAD: list[Column] = [("Containers", "string", "", 1), ("Images", "string", "", 1),
                               ("Selector", "string", "", 1)]


# --------------------------------------------------------------------------------------------------- printers

def _node(obj: dict, now: float) -> list:
    ready = next((c for c in _get(obj, "status", "conditions", default=[]) or [] if c.get("type") == "Ready"), None)
    status = "Ready" if ready and ready.get("status") == "True" else ("NotReady" if ready else "Unknown")
    if _get(obj, "spec", "unschedulable"):
        status += ",SchedulingDisabled"
    labels = _get(obj, "metadata", "labels", default={}) or {}
    roles = sorted({key.split("/", 1)[1] for key in labels if key.startswith("node-role.kubernetes.io/")} |
                   ({labels["kubernetes.io/role"]} if labels.get("kubernetes.io/role") else set()))
    info = _get(obj, "status", "nodeInfo", default={}) or {}
    addresses = _get(obj, "status", "addresses", default=[]) or []

    def address(kind: str) -> str:
        return next((a.get("address") for a in addresses if a.get("type") == kind), None) or "<none>"
    return [obj["metadata"]["name"], status, ",".join(roles) or "<none>", _meta_age(obj, now),
            info.get("kubeletVersion", ""), address("InternalIP"), address("ExternalIP"),
            info.get("osImage", "<unknown>"), info.get("kernelVersion", "<unknown>"),
            info.get("containerRuntimeVersion", "<unknown>")]


def _pod(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    containers = _get(obj, "spec", "containers", default=[]) or []
    reason = status.get("reason") or status.get("phase") or ""
    restarts, ready, running, last_restart = 0, 0, False, None
    for cs in reversed(status.get("containerStatuses") or []):
        restarts += int(cs.get("restartCount") or 0)
        finished = parse_time(_get(cs, "lastState", "terminated", "finishedAt"))
        if finished and (last_restart is None or finished > last_restart):
            last_restart = finished
        state = cs.get("state") or {}
        waiting, terminated = state.get("waiting"), state.get("terminated")
        if waiting and waiting.get("reason"):
            reason = waiting["reason"]
        elif terminated and terminated.get("reason"):
            reason = terminated["reason"]
        elif terminated:
            reason = (f"Signal:{terminated['signal']}" if terminated.get("signal")
                      else f"ExitCode:{terminated.get('exitCode', 0)}")
        elif cs.get("ready") and ("running" in state or not state):
            running = True
            ready += 1
    if reason == "Completed" and running:
        has_ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or [])
        reason = "Running" if has_ready else "NotReady"
    if _get(obj, "metadata", "deletionTimestamp"):
        reason = "Unknown" if status.get("reason") == "NodeLost" else "Terminating"
    restart_text = str(restarts)
    if restarts and last_restart is not None:
        restart_text = f"{restarts} ({human_duration(now - last_restart)} ago)"
    gates = _get(obj, "spec", "readinessGates", default=[]) or []
    gate_text = "<none>"
    if gates:
        true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
        gate_text = f"{sum(1 for g in gates if g.get('conditionType') in true)}/{len(gates)}"
    return [obj["metadata"]["name"], f"{ready}/{len(containers)}", reason, restart_text, _meta_age(obj, now),
            status.get("podIP") or "<none>", _get(obj, "spec", "nodeName") or "<none>",
            status.get("nominatedNodeName") or "<none>", gate_text]


def _deployment(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    desired = _get(obj, "spec", "replicas", default=1)
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{desired}", status.get("updatedReplicas", 0),
            status.get("availableReplicas", 0), _meta_age(obj, now), *_wide_workload(obj)]


def _daemonset(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    selector = _get(obj, "spec", "template", "spec", "nodeSelector", default={}) or {}
    return [obj["metadata"]["name"], status.get("desiredNumberScheduled", 0), status.get("currentNumberScheduled", 0),
            status.get("numberReady", 0), status.get("updatedNumberScheduled", 0), status.get("numberAvailable", 0),
            ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>", _meta_age(obj, now),
            *_wide_workload(obj)]


def _statefulset(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    return [obj["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{_get(obj, 'spec', 'replicas', default=1)}",
            _meta_age(obj, now), *_wide_workload(obj)[:2]]


def _replicaset(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    return [obj["metadata"]["name"], _get(obj, "spec", "replicas", default=1), status.get("replicas", 0),
            status.get("readyReplicas", 0), _meta_age(obj, now), *_wide_workload(obj)]


def _service(obj: dict, now: float) -> list:
    spec = obj.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    external = [i.get("ip") or i.get("hostname") for i in _get(obj, "status", "loadBalancer", "ingress", default=[])
                or []] + list(spec.get("externalIPs") or [])
    if kind == "ExternalName":
        external_text = spec.get("externalName", "<none>")
    elif external:
        external_text = ",".join(e for e in external if e)
    else:
        external_text = "<pending>" if kind == "LoadBalancer" else "<none>"
    ports = []
    for port in spec.get("ports") or []:
        text = f"{port.get('port')}"
        if port.get("nodePort") and kind in ("NodePort", "LoadBalancer"):
            text += f":{port['nodePort']}"
        ports.append(f"{text}/{port.get('protocol', 'TCP')}")
    selector = spec.get("selector") or {}
    return [obj["metadata"]["name"], kind, spec.get("clusterIP") or "<none>", external_text,
            ",".join(ports) or "<none>", _meta_age(obj, now),
            ",".join(f"{k}={v}" for k, v in selector.items()) or "<none>"]


def _namespace(obj: dict, now: float) -> list:
    return [obj["metadata"]["name"], _get(obj, "status", "phase", default=""), _meta_age(obj, now)]


def _configmap(obj: dict, now: float) -> list:
    return [obj["metadata"]["name"], len(obj.get("data") or {}) + len(obj.get("binaryData") or {}),
            _meta_age(obj, now)]


def _secret(obj: dict, now: float) -> list:
    return [obj["metadata"]["name"], obj.get("type", "Opaque"),
            len(obj.get("data") or {}) + len(obj.get("stringData") or {}), _meta_age(obj, now)]


def _job(obj: dict, now: float) -> list:
    status = obj.get("status") or {}
    true = {c.get("type") for c in status.get("conditions") or [] if c.get("status") == "True"}
    state = ("Complete" if "Complete" in true else "Failed" if "Failed" in true
             else "Suspended" if "Suspended" in true else "FailureTarget" if "FailureTarget" in true
             else "Terminating" if _get(obj, "metadata", "deletionTimestamp") else "Running")
    completions = _get(obj, "spec", "completions")
    done = f"{status.get('succeeded', 0)}/{completions}" if completions is not None else f"{status.get('succeeded', 0)}/1"
    started = parse_time(status.get("startTime"))
    finished = parse_time(status.get("completionTime"))
    duration = "" if started is None else human_duration((finished or now) - started)
    return [obj["metadata"]["name"], state, done, duration, _meta_age(obj, now), *_wide_workload(obj)]


def _cronjob(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    last = status.get("lastScheduleTime")
    return [obj["metadata"]["name"], spec.get("schedule", ""), spec.get("timeZone") or "<none>",
            str(bool(spec.get("suspend"))), len(status.get("active") or []),
            age(last, now) if last else "<none>", _meta_age(obj, now)]


def _pvc(obj: dict, now: float) -> list:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    modes = {"ReadWriteOnce": "RWO", "ReadOnlyMany": "ROX", "ReadWriteMany": "RWX", "ReadWriteOncePod": "RWOP"}
    return [obj["metadata"]["name"], status.get("phase", "Pending"), spec.get("volumeName", ""),
            _get(status, "capacity", "storage", default=""),
            ",".join(modes.get(m, m) for m in status.get("accessModes") or []),
            spec.get("storageClassName") or "<unset>", spec.get("volumeAttributesClassName") or "<unset>",
            _meta_age(obj, now)]


def _event(obj: dict, now: float) -> list:
    involved = obj.get("involvedObject") or {}
    seen = obj.get("lastTimestamp") or obj.get("eventTime") or _get(obj, "metadata", "creationTimestamp")
    return [age(seen, now), obj.get("type", ""), obj.get("reason", ""),
            f"{(involved.get('kind') or '').lower()}/{involved.get('name', '')}", obj.get("message", "")]


def _crd(obj: dict, now: float) -> list:
    return [obj["metadata"]["name"], _get(obj, "metadata", "creationTimestamp", default="")]


NAME: Column = ("Name", "string", "name", 0)
AGE: Column = ("Age", "string", "", 0)

PRINTERS: dict[tuple[str, str], tuple[list[Column], Callable[[dict, float], list]]] = {
    ("", "nodes"): ([NAME, ("Status", "string", "", 0), ("Roles", "string", "", 0), AGE, ("Version", "string", "", 0),
                     ("Internal-IP", "string", "", 1), ("External-IP", "string", "", 1),
                     ("OS-Image", "string", "", 1), ("Kernel-Version", "string", "", 1),
                     ("Container-Runtime", "string", "", 1)], _node),
    ("", "pods"): ([NAME, ("Ready", "string", "", 0), ("Status", "string", "", 0), ("Restarts", "string", "", 0), AGE,
                    ("IP", "string", "", 1), ("Node", "string", "", 1), ("Nominated Node", "string", "", 1),
                    ("Readiness Gates", "string", "", 1)], _pod),
    ("apps", "deployments"): ([NAME, ("Ready", "string", "", 0), ("Up-to-date", "integer", "", 0),
                               ("Available", "integer", "", 0), AGE, *WIDE_WORKLOAD], _deployment),
    ("apps", "daemonsets"): ([NAME, ("Desired", "integer", "", 0), ("Current", "integer", "", 0),
                              ("Ready", "integer", "", 0), ("Up-to-date", "integer", "", 0),
                              ("Available", "integer", "", 0), ("Node Selector", "string", "", 0), AGE,
                              *WIDE_WORKLOAD], _daemonset),
    ("apps", "statefulsets"): ([NAME, ("Ready", "string", "", 0), AGE, *WIDE_WORKLOAD[:2]], _statefulset),
    ("apps", "replicasets"): ([NAME, ("Desired", "integer", "", 0), ("Current", "integer", "", 0),
                               ("Ready", "integer", "", 0), AGE, *WIDE_WORKLOAD], _replicaset),
    ("", "services"): ([NAME, ("Type", "string", "", 0), ("Cluster-IP", "string", "", 0),
                        ("External-IP", "string", "", 0), ("Port(s)", "string", "", 0), AGE,
                        ("Selector", "string", "", 1)], _service),
    ("", "namespaces"): ([NAME, ("Status", "string", "", 0), AGE], _namespace),
    ("", "configmaps"): ([NAME, ("Data", "string", "", 0), AGE], _configmap),
    ("", "secrets"): ([NAME, ("Type", "string", "", 0), ("Data", "string", "", 0), AGE], _secret),
    ("batch", "jobs"): ([NAME, ("Status", "string", "", 0), ("Completions", "string", "", 0),
                         ("Duration", "string", "", 0), AGE, *WIDE_WORKLOAD], _job),
    ("batch", "cronjobs"): ([NAME, ("Schedule", "string", "", 0), ("Timezone", "string", "", 0),
                             ("Suspend", "boolean", "", 0), ("Active", "integer", "", 0),
                             ("Last Schedule", "string", "", 0), AGE], _cronjob),
    ("", "persistentvolumeclaims"): ([NAME, ("Status", "string", "", 0), ("Volume", "string", "", 0),
                                      ("Capacity", "string", "", 0), ("Access Modes", "string", "", 0),
                                      ("StorageClass", "string", "", 0), ("VolumeAttributesClass", "string", "", 0),
                                      AGE], _pvc),
    ("", "events"): ([("Last Seen", "string", "", 0), ("Type", "string", "", 0), ("Reason", "string", "", 0),
                      ("Object", "string", "", 0), ("Message", "string", "", 0)], _event),
    ("apiextensions.k8s.io", "customresourcedefinitions"): ([NAME, ("Created At", "date", "", 0)], _crd),
}


# ------------------------------------------------------------------------------------------------- JSONPath

_FILTER_RE = re.compile(r"^\?\(@\.([\w.\-]+)\s*(==|!=)\s*(?:\"([^\"]*)\"|'([^']*)'|([\w.\-]+))\)$")


def _tokens(path: str) -> list[str]:
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    tokens, i = [], 0
    while i < len(path):
        char = path[i]
        if char == ".":
            i += 1
            start = i
            while i < len(path) and path[i] not in ".[":
                i += 1
            if path[start:i]:
                tokens.append(path[start:i])
        elif char == "[":
            depth, start = 0, i
            while i < len(path):
                if path[i] == "[":
                    depth += 1
                elif path[i] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                i += 1
            tokens.append(path[start:i + 1])
            i += 1
        else:
            start = i
            while i < len(path) and path[i] not in ".[":
                i += 1
            tokens.append(path[start:i])
    return tokens


def jsonpath(obj: Any, path: str) -> list:
    """The values a (simple) kubectl JSONPath selects: .a.b, [n], [*], [?(@.k=="v")]."""
    current = [obj]
    for token in _tokens(path):
        found: list = []
        if token.startswith("["):
            inner = token[1:-1].strip()
            match = _FILTER_RE.match(inner)
            for value in current:
                if not isinstance(value, list):
                    continue
                if inner == "*":
                    found.extend(value)
                elif match:
                    field, op = match.group(1), match.group(2)
                    wanted = next(g for g in match.group(3, 4, 5) if g is not None)
                    for item in value:
                        have = _get(item, *field.split("."))
                        text = str(have).lower() if isinstance(have, bool) else (None if have is None else str(have))
                        if (text == wanted) == (op == "=="):
                            found.append(item)
                else:
                    try:
                        found.append(value[int(inner)])
                    except (ValueError, IndexError):
                        pass
        else:
            for value in current:
                if isinstance(value, dict) and token in value:
                    found.append(value[token])
        current = found
    return current


def _custom_cell(obj: dict, column: dict, now: float) -> Any:
    values = jsonpath(obj, column.get("jsonPath", ""))
    if not values:
        return None
    kind = column.get("type", "string")
    value = values[0]
    if kind == "date":
        return age(value, now) if isinstance(value, str) else value
    if kind in ("integer", "number", "boolean") and not isinstance(value, (dict, list)):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return ", ".join(str(v) for v in values) if len(values) > 1 else str(value)


def _custom_printer(rt: ResourceType) -> tuple[list[Column], Callable[[dict, float], list]]:
    columns = list(rt.printer_columns) or [{"name": "Age", "type": "date",
                                            "jsonPath": ".metadata.creationTimestamp"}]
    defs: list[Column] = [NAME] + [(c.get("name", ""), "string" if c.get("type") == "date" else c.get("type", "string"),
                                    c.get("format", ""), int(c.get("priority", 0))) for c in columns]

    def cells(obj: dict, now: float) -> list:
        return [obj["metadata"]["name"]] + [_custom_cell(obj, column, now) for column in columns]
    return defs, cells


def _generic(obj: dict, now: float) -> list:
    return [obj["metadata"]["name"], _meta_age(obj, now)]


def printer_for(rt: ResourceType) -> tuple[list[Column], Callable[[dict, float], list]]:
    if rt.custom:
        return _custom_printer(rt)
    return PRINTERS.get(rt.key) or ([NAME, AGE], _generic)


_DESCRIPTIONS = {"Name": "Name must be unique within a namespace. Is required when creating resources, although some "
                         "resources may allow a client to request the generation of an appropriate name automatically. "
                         "Name is primarily intended for creation idempotence and configuration definition. Cannot be "
                         "updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
                 "Age": "CreationTimestamp is a timestamp representing the server time when this object was created."}


def column_definitions(rt: ResourceType) -> list[dict]:
    columns, _ = printer_for(rt)
    return [{"name": name, "type": kind, "format": fmt, "description": _DESCRIPTIONS.get(name, name),
             "priority": priority} for name, kind, fmt, priority in columns]


def rows(rt: ResourceType, objects: list[dict], include_object: str = "PartialObjectMetadata",
         now: float | None = None) -> list[dict]:
    _, cells = printer_for(rt)
    now = time.time() if now is None else now
    out = []
    for obj in objects:
        row: dict = {"cells": cells(obj, now)}
        if include_object == "Object":
            row["object"] = obj
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": obj.get("metadata") or {}}
        out.append(row)
    return out


def table(rt: ResourceType, objects: list[dict], resource_version: str, include_object: str = "PartialObjectMetadata",
          with_columns: bool = True, extra_meta: dict | None = None) -> dict:
    body: dict = {"kind": "Table", "apiVersion": "meta.k8s.io/v1",
                  "metadata": {"resourceVersion": resource_version, **(extra_meta or {})}}
    body["columnDefinitions"] = column_definitions(rt) if with_columns else None
    body["rows"] = rows(rt, objects, include_object)
    return body
