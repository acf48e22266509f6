"""The kinds the emulated apiserver serves: the built-in catalog, plus the ones established CRDs add.

A `ResourceType` is one group/version/resource. Objects are stored per (group, plural), so every served version of
a custom resource shares one storage; a read through another version only rewrites `apiVersion` (what a CRD with
conversion strategy None does).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
SUB_VERBS = ("get", "patch", "update")


@dataclass(frozen=True)
class ResourceType:
    group: str
    version: str
    kind: str
    plural: str
    singular: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: frozenset[str] = frozenset()    # "status", "scale", "log"
    verbs: tuple[str, ...] = VERBS
    printer_columns: tuple[dict, ...] = ()        # CRD additionalPrinterColumns
    scale: dict = field(default_factory=dict, hash=False, compare=False)  # CRD scale subresource paths
    custom: bool = False

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key(self) -> tuple[str, str]:
        """The storage key shared by every version of the resource."""
        return (self.group, self.plural)

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods`: how messages name the resource."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def list_kind(self) -> str:
        return self.kind + "List"

    @property
    def has_status(self) -> bool:
        return "status" in self.subresources

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/api/{self.version}" if not self.group else f"/apis/{self.group}/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return base + (f"/{name}" if name else "")


def _r(gv: str, kind: str, plural: str, namespaced: bool = True, short: tuple[str, ...] = (),
       subs: tuple[str, ...] = (), categories: tuple[str, ...] = (), verbs: tuple[str, ...] = VERBS) -> ResourceType:
    group, _, version = gv.rpartition("/")
    return ResourceType(group=group, version=version, kind=kind, plural=plural, singular=kind.lower(),
                        namespaced=namespaced, short_names=short, categories=categories,
                        subresources=frozenset(subs), verbs=verbs)


ALL = ("all",)
BUILTINS: tuple[ResourceType, ...] = (
    _r("v1", "Namespace", "namespaces", False, ("ns",), ("status",),
       verbs=("create", "delete", "get", "list", "patch", "update", "watch")),
    _r("v1", "Node", "nodes", False, ("no",), ("status",)),
    _r("v1", "Pod", "pods", True, ("po",), ("status", "log", "exec"), ALL),
    _r("v1", "Service", "services", True, ("svc",), ("status",), ALL,
       verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")),
    _r("v1", "Endpoints", "endpoints", True, ("ep",)),
    _r("v1", "ConfigMap", "configmaps", True, ("cm",)),
    _r("v1", "Secret", "secrets", True),
    _r("v1", "ServiceAccount", "serviceaccounts", True, ("sa",)),
    _r("v1", "Event", "events", True, ("ev",)),
    _r("v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",)),
    _r("v1", "PersistentVolume", "persistentvolumes", False, ("pv",), ("status",)),
    _r("apps/v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"), ALL),
    _r("apps/v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), ALL),
    _r("apps/v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"), ALL),
    _r("apps/v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"), ALL),
    _r("batch/v1", "Job", "jobs", True, (), ("status",), ALL),
    _r("batch/v1", "CronJob", "cronjobs", True, ("cj",), ("status",), ALL),
    _r("storage.k8s.io/v1", "StorageClass", "storageclasses", False, ("sc",)),
    _r("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", False,
       ("crd", "crds"), ("status",), ("api-extensions",)),
    _r("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations",
       False, (), (), ("api-extensions",)),
    _r("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations",
       False, (), (), ("api-extensions",)),
    _r("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    _r("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    _r("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("coordination.k8s.io/v1", "Lease", "leases", True),
    _r("discovery.k8s.io/v1", "EndpointSlice", "endpointslices", True),
    _r("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), ("status",)),
    _r("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    _r("networking.k8s.io/v1", "Ingress", "ingresses", True, ("ing",), ("status",)),
    _r("networking.k8s.io/v1", "IngressClass", "ingressclasses", False),
    _r("events.k8s.io/v1", "Event", "events", True, ("ev",)),
    _r("apiregistration.k8s.io/v1", "APIService", "apiservices", False, (), ("status",), ("api-extensions",)),
    _r("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("status",), ALL),
    _r("autoscaling/v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True, ("hpa",), ("status",), ALL),
    # reviews: answered, never stored (hops.lab.apiserver.reviews)
    _r("authentication.k8s.io/v1", "SelfSubjectReview", "selfsubjectreviews", False, verbs=("create",)),
    _r("authorization.k8s.io/v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False, verbs=("create",)),
    _r("authorization.k8s.io/v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", True, verbs=("create",)),
)

# The order real clusters list groups in (kubectl shows `api-resources` in this order).
GROUP_ORDER = ("", "apiregistration.k8s.io", "apps", "events.k8s.io", "authentication.k8s.io",
               "authorization.k8s.io", "autoscaling", "networking.k8s.io", "batch", "policy",
               "rbac.authorization.k8s.io", "storage.k8s.io", "admissionregistration.k8s.io", "apiextensions.k8s.io",
               "coordination.k8s.io", "discovery.k8s.io")

_VERSION_RE = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple:
    """Sort key: kube-like versions first (GA > beta > alpha, higher numbers first), then the rest by name."""
    match = _VERSION_RE.match(version)
    if not match:
        return (3, 0, 0, version)
    major, level, minor = int(match.group(1)), match.group(2), int(match.group(3) or 0)
    rank = {None: 0, "beta": 1, "alpha": 2}[level]
    return (rank, -major, -minor, version)


def crd_resource_types(crd: dict) -> list[ResourceType]:
    """The ResourceTypes a CustomResourceDefinition serves (one per served version)."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural, kind = spec.get("group", ""), names.get("plural", ""), names.get("kind", "")
    out = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = version.get("subresources") or {}
        subs = frozenset(name for name in ("status", "scale") if name in subresources)
        out.append(ResourceType(
            group=group, version=version["name"], kind=kind, plural=plural,
            singular=names.get("singular") or kind.lower(), namespaced=spec.get("scope", "Namespaced") == "Namespaced",
            short_names=tuple(names.get("shortNames") or ()), categories=tuple(names.get("categories") or ()),
            subresources=subs, printer_columns=tuple(version.get("additionalPrinterColumns") or ()),
            scale=dict(subresources.get("scale") or {}), custom=True))
    return out


class Registry:
    """Lookup tables for the served kinds. Reads need no lock: every change swaps in fresh dictionaries."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._builtin = list(BUILTINS)
        self._custom: dict[str, list[ResourceType]] = {}   # CRD name -> its types
        self.generation = 0
        self._rebuild()

    def _rebuild(self) -> None:
        types = self._builtin + [rt for rts in self._custom.values() for rt in rts]
        by_gvr: dict[tuple[str, str, str], ResourceType] = {}
        by_gvk: dict[tuple[str, str], ResourceType] = {}
        groups: dict[str, list[str]] = {}
        for rt in types:
            by_gvr.setdefault((rt.group, rt.version, rt.plural), rt)
            by_gvk.setdefault((rt.api_version, rt.kind), rt)
            versions = groups.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        order = {group: index for index, group in enumerate(GROUP_ORDER)}
        self.groups = {group: sorted(versions, key=version_priority)
                       for group, versions in sorted(groups.items(), key=lambda item: (order.get(item[0], 99), item[0]))}
        self.types = types
        self.by_gvr = by_gvr
        self.by_gvk = by_gvk
        self.generation += 1

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self.by_gvr.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self.by_gvk.get((api_version, kind))

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.types if rt.group == group and rt.version == version]

    def storage_type(self, key: tuple[str, str]) -> ResourceType | None:
        """Any one served type for a storage key (for messages and cascades)."""
        for rt in self.types:
            if rt.key == key:
                return rt
        return None

    def clashes(self, types: list[ResourceType]) -> bool:
        """Whether custom types would shadow a built-in resource or kind."""
        return any(b.key == rt.key or (b.api_version, b.kind) == (rt.api_version, rt.kind)
                   for rt in types for b in self._builtin)

    def set_custom(self, crd_name: str, types: list[ResourceType]) -> bool:
        """Register (or replace) a CRD's types; returns True when anything changed. Clashing types are refused."""
        with self._lock:
            if self.clashes(types):
                types = []
            if self._custom.get(crd_name, []) == types:
                return False
            if types:
                self._custom[crd_name] = types
            else:
                self._custom.pop(crd_name, None)
            self._rebuild()
            return True

    def remove_custom(self, crd_name: str) -> bool:
        return self.set_custom(crd_name, [])
