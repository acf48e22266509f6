"""The OpenAPI schemas the lab publishes for the kinds it serves (`kubectl explain`, client-side tooling).

Built-in kinds: derived from the field trees strict field validation uses (hops.lab.apiserver.fields, the one
list of their fields); what those trees do not say — a scalar's JSON type, which sub-structure has which Go type
name, a few descriptions, enums and required fields — comes from the small tables below. Custom resources: their
CRD's own `openAPIV3Schema`, with metadata pointing at ObjectMeta as kube-apiserver publishes it.

Definitions are named and referenced the way the real server writes them: `io.k8s.api.apps.v1.Deployment`,
`{"allOf": [{"$ref": "#/components/schemas/..."}], "description": ...}` for a described reference (OpenAPI v3),
`{"$ref": "#/definitions/...", "description": ...}` in the swagger 2.0 document (`swagger_definitions`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from hops.lab.apiserver import fields, structural
from hops.lab.apiserver.fields import ANY, KEYED
from hops.lab.apiserver.resources import ResourceType

META = "io.k8s.apimachinery.pkg.apis.meta.v1"
CORE = "io.k8s.api.core.v1"
OBJECT_META = f"{META}.ObjectMeta"
LIST_META = f"{META}.ListMeta"
V3_REFS = "#/components/schemas/"
V2_REFS = "#/definitions/"
GVK = "x-kubernetes-group-version-kind"

CrdLookup = Callable[[ResourceType], dict | None]

# -- what the field trees do not say --------------------------------------------------------------------------
# Go type names of sub-structures: (owner type, field) -> type ("Name": the owner's package; dotted: qualified).
# A struct not listed is named owner + Field, which is how `<Kind>.spec` becomes `<Kind>Spec`.
_NAMES: dict[tuple[str, str], str] = {
    ("ObjectMeta", "ownerReferences"): "OwnerReference",
    ("PodTemplateSpec", "spec"): "PodSpec",
    ("PodSpec", "volumes"): "Volume", ("PodSpec", "containers"): "Container", ("PodSpec", "initContainers"): "Container",
    ("PodSpec", "imagePullSecrets"): "LocalObjectReference", ("PodSpec", "tolerations"): "Toleration",
    ("Container", "ports"): "ContainerPort", ("Container", "envFrom"): "EnvFromSource", ("Container", "env"): "EnvVar",
    ("Container", "resources"): "ResourceRequirements", ("Container", "volumeMounts"): "VolumeMount",
    ("Container", "livenessProbe"): "Probe", ("Container", "readinessProbe"): "Probe",
    ("Container", "startupProbe"): "Probe", ("EnvVar", "valueFrom"): "EnvVarSource",
    ("Probe", "httpGet"): "HTTPGetAction",
    ("DeploymentSpec", "strategy"): "DeploymentStrategy",
    ("DeploymentStrategy", "rollingUpdate"): "RollingUpdateDeployment",
    ("DaemonSetSpec", "updateStrategy"): "DaemonSetUpdateStrategy",
    ("DaemonSetUpdateStrategy", "rollingUpdate"): "RollingUpdateDaemonSet",
    ("StatefulSetSpec", "updateStrategy"): "StatefulSetUpdateStrategy",
    ("StatefulSetUpdateStrategy", "rollingUpdate"): "RollingUpdateStatefulSetStrategy",
    ("CronJobSpec", "jobTemplate"): "JobTemplateSpec", ("JobTemplateSpec", "spec"): "JobSpec",
    ("NodeSpec", "taints"): "Taint", ("ServiceSpec", "ports"): "ServicePort",
}
# fields whose structure is the same shared Go type wherever it appears
_SHARED = {"metadata": OBJECT_META, "selector": f"{META}.LabelSelector", "template": f"{CORE}.PodTemplateSpec"}

_INT32 = ("replicas", "minReadySeconds", "revisionHistoryLimit", "progressDeadlineSeconds", "containerPort",
          "hostPort", "port", "nodePort", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
          "successThreshold", "failureThreshold", "priority", "parallelism", "completions", "backoffLimit",
          "backoffLimitPerIndex", "maxFailedIndexes", "ttlSecondsAfterFinished", "successfulJobsHistoryLimit",
          "failedJobsHistoryLimit", "leaseDurationSeconds", "leaseTransitions", "partition", "healthCheckNodePort")
_INT64 = ("generation", "deletionGracePeriodSeconds", "terminationGracePeriodSeconds", "activeDeadlineSeconds",
          "startingDeadlineSeconds", "tolerationSeconds")
_BOOLEANS = ("paused", "controller", "blockOwnerDeletion", "immutable", "automountServiceAccountToken", "hostNetwork",
             "hostPID", "hostIPC", "shareProcessNamespace", "stdin", "stdinOnce", "tty", "readOnly",
             "enableServiceLinks", "setHostnameAsFQDN", "hostUsers", "manualSelector", "suspend",
             "publishNotReadyAddresses", "allocateLoadBalancerNodePorts", "unschedulable")
_REFERENCED = {"maxUnavailable": "intstr", "maxSurge": "intstr", "targetPort": "intstr", "HTTPGetAction.port": "intstr",
               "creationTimestamp": "Time", "deletionTimestamp": "Time", "timeAdded": "Time",
               "acquireTime": "MicroTime", "renewTime": "MicroTime"}
_SCALARS: dict[str, dict] = {
    **{name: {"type": "integer", "format": "int32"} for name in _INT32},
    **{name: {"type": "integer", "format": "int64"} for name in _INT64},
    **{name: {"type": "boolean"} for name in _BOOLEANS},
}
# Go types outside the field trees that references point at
_PRIMITIVES: dict[str, dict] = {
    "intstr": {"name": "io.k8s.apimachinery.pkg.util.intstr.IntOrString", "type": "string", "format": "int-or-string",
               "description": "IntOrString is a type that can hold an int32 or a string."},
    "Time": {"name": f"{META}.Time", "type": "string", "format": "date-time",
             "description": "Time is a wrapper around time.Time, serialised in RFC 3339 form."},
    "MicroTime": {"name": f"{META}.MicroTime", "type": "string", "format": "date-time",
                  "description": "MicroTime is version of Time with microsecond level precision."},
    "Quantity": {"name": "io.k8s.apimachinery.pkg.api.resource.Quantity", "type": "string",
                 "description": "Quantity is a fixed-point representation of a number, such as 100m or 2Gi."},
}
# free-form parts of the trees (ANY): maps of strings, maps of quantities, lists; the rest are objects
_STRING_MAPS = ("labels", "annotations", "nodeSelector", "matchLabels", "data", "stringData", "selector")
_BYTE_MAPS = ("binaryData",)
_QUANTITY_MAPS = ("limits", "requests", "overhead")
_LISTS = ("matchExpressions", "managedFields", "resizePolicy", "volumeDevices", "ephemeralContainers", "hostAliases",
          "readinessGates", "topologySpreadConstraints", "schedulingGates", "resourceClaims", "claims", "secrets",
          "imagePullSecrets", "volumeClaimTemplates", "httpHeaders")
_ENUMS: dict[str, list[str]] = {
    "DeploymentStrategy.type": ["Recreate", "RollingUpdate"],
    "DaemonSetUpdateStrategy.type": ["OnDelete", "RollingUpdate"],
    "StatefulSetUpdateStrategy.type": ["OnDelete", "RollingUpdate"],
    "StatefulSetSpec.podManagementPolicy": ["OrderedReady", "Parallel"],
    "Container.imagePullPolicy": ["Always", "IfNotPresent", "Never"],
    "PodSpec.restartPolicy": ["Always", "Never", "OnFailure"],
    "PodSpec.dnsPolicy": ["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"],
    "ContainerPort.protocol": ["SCTP", "TCP", "UDP"], "ServicePort.protocol": ["SCTP", "TCP", "UDP"],
    "ServiceSpec.type": ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"],
    "CronJobSpec.concurrencyPolicy": ["Allow", "Forbid", "Replace"],
    "Taint.effect": ["NoExecute", "NoSchedule", "PreferNoSchedule"],
}
_REQUIRED: dict[str, list[str]] = {
    "OwnerReference": ["apiVersion", "kind", "name", "uid"], "PodSpec": ["containers"], "Container": ["name"],
    "ContainerPort": ["containerPort"], "EnvVar": ["name"], "VolumeMount": ["name", "mountPath"], "Volume": ["name"],
    "ServicePort": ["port"], "Taint": ["key", "effect"], "DeploymentSpec": ["selector", "template"],
    "DaemonSetSpec": ["selector", "template"], "StatefulSetSpec": ["selector", "template"],
    "ReplicaSetSpec": ["selector"], "JobSpec": ["template"], "CronJobSpec": ["schedule", "jobTemplate"],
}
_TOP = ("apiVersion", "kind", "metadata", "spec", "status")     # described alike in every kind
_API_VERSION = ("APIVersion defines the versioned schema of this representation of an object. Servers should "
                "convert recognized schemas to the latest internal value, and may reject unrecognized values.")
_KIND = ("Kind is a string value representing the REST resource this object represents. Servers may infer this "
         "from the endpoint the client submits requests to. Cannot be updated. In CamelCase.")
_DESCRIPTIONS: dict[str, str] = {
    "apiVersion": _API_VERSION, "kind": _KIND,
    "metadata": "Standard object's metadata.",
    "spec": "Specification of the desired behavior of the object.",
    "status": "Most recently observed status of the object. Populated by the system. Read-only.",
    "ObjectMeta": "ObjectMeta is metadata that all persisted resources must have, which includes all objects users "
                  "must create.",
    "ListMeta": "ListMeta describes metadata that synthetic resources must have, including lists.",
    "ObjectMeta.name": "Name must be unique within a namespace. Cannot be updated.",
    "ObjectMeta.namespace": "Namespace defines the space within which each name must be unique.",
    "ObjectMeta.labels": "Map of string keys and values that can be used to organize and categorize (scope and "
                         "select) objects.",
    "ObjectMeta.annotations": "Annotations is an unstructured key value map stored with a resource that may be set "
                              "by external tools to store and retrieve arbitrary metadata.",
    "LabelSelector": "A label selector is a label query over a set of resources.",
    "Deployment": "Deployment enables declarative updates for Pods and ReplicaSets.",
    "DeploymentSpec": "DeploymentSpec is the specification of the desired behavior of the Deployment.",
    "DeploymentSpec.replicas": "Number of desired pods. Defaults to 1.",
    "DeploymentSpec.selector": "Label selector for pods. It must match the pod template's labels.",
    "DeploymentSpec.template": "Template describes the pods that will be created.",
    "DeploymentSpec.strategy": "The deployment strategy to use to replace existing pods with new ones.",
    "DeploymentStrategy": "DeploymentStrategy describes how to replace existing pods with new ones.",
    "DeploymentStrategy.type": 'Type of deployment. Can be "Recreate" or "RollingUpdate". Default is RollingUpdate.',
    "DeploymentStrategy.rollingUpdate": "Rolling update config params. Present only if DeploymentStrategyType = "
                                        "RollingUpdate.",
    "RollingUpdateDeployment": "Spec to control the desired behavior of rolling update.",
    "RollingUpdateDeployment.maxSurge": "The maximum number of pods that can be scheduled above the desired number "
                                        "of pods (a number or a percentage). Defaults to 25%.",
    "RollingUpdateDeployment.maxUnavailable": "The maximum number of pods that can be unavailable during the update "
                                              "(a number or a percentage). Defaults to 25%.",
    "DaemonSet": "DaemonSet represents the configuration of a daemon set.",
    "StatefulSet": "StatefulSet represents a set of pods with consistent identities.",
    "ReplicaSet": "ReplicaSet ensures that a specified number of pod replicas are running at any given time.",
    "Pod": "Pod is a collection of containers that can run on a host.",
    "PodSpec": "PodSpec is a description of a pod.",
    "PodTemplateSpec": "PodTemplateSpec describes the data a pod should have when created from a template.",
    "Container": "A single application container that you want to run within a pod.",
    "Service": "Service is a named abstraction of software service (for example, mysql) consisting of local port "
               "that the proxy listens on, and the selector that determines which pods will answer requests sent "
               "through the proxy.",
    "ConfigMap": "ConfigMap holds configuration data for pods to consume.",
    "Secret": "Secret holds secret data of a certain type.",
    "Namespace": "Namespace provides a scope for Names.",
    "Node": "Node is a worker node in Kubernetes.",
    "ServiceAccount": "ServiceAccount binds together a name, a principal that can be authenticated, and a set of "
                      "secrets.",
    "Job": "Job represents the configuration of a single job.",
    "CronJob": "CronJob represents the configuration of a single cron job.",
    "Lease": "Lease defines a lease concept.",
}


# -- naming ---------------------------------------------------------------------------------------------------

def package(rt: ResourceType) -> str:
    """The definition-name prefix of a kind: `io.k8s.api.apps.v1`, or the reversed group of a custom resource."""
    if rt.custom:
        return ".".join(reversed(rt.group.split("."))) + f".{rt.version}"
    if rt.group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rt.version}"
    if rt.group == "apiregistration.k8s.io":
        return f"io.k8s.kube-aggregator.pkg.apis.apiregistration.{rt.version}"
    return f"io.k8s.api.{rt.group.split('.')[0] or 'core'}.{rt.version}"


def definition_name(rt: ResourceType) -> str:
    return f"{package(rt)}.{rt.kind}"


def _short(name: str) -> str:
    return name.rsplit(".", 1)[-1]


def _child(owner: str, key: str) -> str:
    """The qualified Go type name of the struct at `owner.key`."""
    if key in _SHARED:
        return _SHARED[key]
    pkg, short = owner.rsplit(".", 1)
    child = _NAMES.get((short, key)) or short + key[0].upper() + key[1:]
    return child if "." in child else f"{pkg}.{child}"


def ref(name: str, description: str | None = None, prefix: str = V3_REFS) -> dict:
    """A reference as the real server writes it: wrapped in allOf when it carries a description."""
    target = {"$ref": prefix + name}
    if description is None:
        return target
    return {"allOf": [target], "description": description}


# -- built-in kinds from their field trees ----------------------------------------------------------------------

class Builder:
    """Collects the named definitions reachable from the kinds asked for."""

    def __init__(self, crd_lookup: CrdLookup | None = None) -> None:
        self.crd_lookup = crd_lookup
        self.schemas: dict[str, dict] = {}

    def add_kinds(self, types: Iterable[ResourceType]) -> dict[str, dict]:
        """Add every kind of `types` (and its list kind); all definitions so far, by name."""
        for rt in types:
            self.add_kind(rt)
        return self.schemas

    def add_kind(self, rt: ResourceType) -> None:
        """Add one kind's definition, its list kind's and those of every structure they refer to."""
        name = definition_name(rt)
        if name in self.schemas:
            return
        self._meta()
        gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
        if rt.custom:
            schema = custom_schema(self.crd_lookup(rt) if self.crd_lookup else None, rt)
        else:
            tree = fields.tree(rt.key)
            schema = self._struct(name, tree) if tree is not None else _open_kind()
            if not rt.has_status:           # the trees let every kind carry one; ConfigMaps, Leases... have none
                schema["properties"].pop("status", None)
        self.schemas[name] = {**schema, GVK: gvk}
        self.schemas[name + "List"] = self._list(rt, name)

    def _list(self, rt: ResourceType, item: str) -> dict:
        return {"description": f"{rt.list_kind} is a list of {rt.kind}.", "type": "object", "required": ["items"],
                "properties": {"apiVersion": _string(_API_VERSION), "kind": _string(_KIND),
                               "items": {"type": "array", "items": ref(item),
                                         "description": f"List of {rt.plural}."},
                               "metadata": ref(LIST_META, "Standard list metadata.")},
                GVK: [{"group": rt.group, "version": rt.version, "kind": rt.list_kind}]}

    def _meta(self) -> None:
        if OBJECT_META in self.schemas:
            return
        self._named(OBJECT_META, fields.META)
        self.schemas[LIST_META] = {
            "description": _DESCRIPTIONS["ListMeta"], "type": "object",
            "properties": {"resourceVersion": _string("The version of this list, for watches and consistent reads."),
                           "continue": _string("Set when the list was cut short by a limit; pass it to get the "
                                               "rest."),
                           "remainingItemCount": {"type": "integer", "format": "int64"},
                           "selfLink": _string("Deprecated.")}}

    def _struct(self, name: str, tree: dict) -> dict:
        short = _short(name)
        props = {key: self._field(name, key, sub) for key, sub in tree.items() if key != KEYED}
        schema: dict[str, Any] = {"type": "object", "properties": props}
        if short in _DESCRIPTIONS:
            schema["description"] = _DESCRIPTIONS[short]
        if short in _REQUIRED:
            schema["required"] = list(_REQUIRED[short])
        return schema

    def _named(self, name: str, tree: dict) -> None:
        if name not in self.schemas:
            self.schemas[name] = {}                   # reserved: a recursive tree must not build twice
            self.schemas[name] = self._struct(name, tree)

    def _field(self, owner: str, key: str, sub: Any) -> dict:
        short = _short(owner)
        description = _DESCRIPTIONS.get(f"{short}.{key}") or (_DESCRIPTIONS.get(key) if key in _TOP else None)
        if isinstance(sub, dict):
            child = _child(owner, key)
            self._named(child, sub)
            return ref(child, description)
        schema: dict[str, Any]
        if isinstance(sub, list):
            schema = {"type": "array", "items": self._item(owner, key, sub[0])}
            schema.update(_list_markers(sub[0]))
        elif sub is ANY:
            schema = self._free(key)
        else:
            schema = self._scalar(short, key)
        if "$ref" in schema:
            return schema if description is None else ref(schema["$ref"][len(V3_REFS):], description)
        if description:
            schema["description"] = description
        enum = _ENUMS.get(f"{short}.{key}")
        if enum:
            schema["enum"] = list(enum)
        return schema

    def _item(self, owner: str, key: str, sub: Any) -> dict:
        if isinstance(sub, dict):
            child = _child(owner, key)
            self._named(child, sub)
            return ref(child)
        if sub is ANY:
            return self._free(key)
        return {"type": "string", "default": ""}

    def _scalar(self, owner: str, key: str) -> dict:
        kind = _REFERENCED.get(f"{owner}.{key}") or _REFERENCED.get(key)
        if kind:
            return self._primitive(kind)
        return dict(_SCALARS.get(key) or {"type": "string"})

    def _primitive(self, kind: str) -> dict:
        spec = _PRIMITIVES[kind]
        self.schemas.setdefault(spec["name"], {k: v for k, v in spec.items() if k != "name"})
        return ref(spec["name"])

    def _free(self, key: str) -> dict:
        if key in _STRING_MAPS:
            return {"type": "object", "additionalProperties": {"type": "string", "default": ""}}
        if key in _BYTE_MAPS:
            return {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}}
        if key in _QUANTITY_MAPS:
            return {"type": "object", "additionalProperties": self._primitive("Quantity")}
        if key in _LISTS:
            return {"type": "array", "items": _open_object()}
        return _open_object()


def _list_markers(item: Any) -> dict:
    """How a list merges: the keyed lists of the field trees are maps for apply and merge by key when patched."""
    keys = item.get(KEYED) if isinstance(item, dict) else None
    if not keys:
        return {}
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys),
            "x-kubernetes-patch-merge-key": keys[0], "x-kubernetes-patch-strategy": "merge"}


def _string(description: str) -> dict:
    return {"type": "string", "description": description}


def _open_object() -> dict:
    """A structure the lab neither checks nor describes (its fields are kept as sent)."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def _open_kind() -> dict:
    """A built-in kind whose fields the lab does not police (no field tree): open, like its validation."""
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True,
            "properties": {"apiVersion": _string(_API_VERSION), "kind": _string(_KIND),
                           "metadata": ref(OBJECT_META, _DESCRIPTIONS["metadata"])}}


# -- custom resources -------------------------------------------------------------------------------------------

def custom_schema(crd: dict | None, rt: ResourceType) -> dict:
    """A CRD version's openAPIV3Schema as published: apiVersion, kind and metadata filled in by the server."""
    found = structural.version_schema(crd, rt.version) if crd else None
    schema = copy.deepcopy(found) if found else _open_object()
    schema.setdefault("type", "object")
    props = dict(schema.get("properties") or {})
    props["apiVersion"] = _string(_API_VERSION)
    props["kind"] = _string(_KIND)
    props["metadata"] = ref(OBJECT_META, _DESCRIPTIONS["metadata"])
    schema["properties"] = props
    return schema


# -- swagger 2.0 ------------------------------------------------------------------------------------------------

_DROPPED_V2 = ("nullable", "anyOf", "oneOf", "not", "x-kubernetes-int-or-string", "x-kubernetes-validations")


def swagger_schema(schema: Any) -> Any:
    """An OpenAPI v3 schema as swagger 2.0 writes it: `#/definitions/` refs, described refs without allOf,
    v3-only keywords dropped, every array with an item schema."""
    if isinstance(schema, list):
        return [swagger_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    allof = schema.get("allOf")
    if isinstance(allof, list) and len(allof) == 1 and isinstance(allof[0], dict) and "$ref" in allof[0]:
        schema = {**{k: v for k, v in schema.items() if k != "allOf"}, "$ref": allof[0]["$ref"]}
    out: dict = {}
    for key, value in schema.items():
        if key in _DROPPED_V2:
            continue
        if key == "$ref" and isinstance(value, str):
            out[key] = value.replace(V3_REFS, V2_REFS)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: swagger_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "allOf"):
            out[key] = swagger_schema(value)
        else:
            out[key] = value
    if schema.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        # swagger 2.0 has no way to say "and any other field": a client validating against v2 (helm's install and
        # upgrade do) would refuse every field not listed, so, as kube-apiserver publishes such schemas in v2, the
        # structure is left open: no properties, no required fields
        out.pop("properties", None)
        out.pop("required", None)
    if out.get("type") == "array" and not isinstance(out.get("items"), dict):
        out["items"] = {}
    return out


def swagger_definitions(schemas: dict[str, dict]) -> dict[str, dict]:
    """components.schemas as swagger 2.0 definitions."""
    return {name: swagger_schema(schema) for name, schema in schemas.items()}
