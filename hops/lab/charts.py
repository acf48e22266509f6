"""The lab's chart catalog: what each known Helm chart creates for a release, given its values.

No chart repository is reachable from the lab, so every chart hops and the Flux repository use is described
here: its repository, version, app version, default values and a renderer producing realistic objects
(the names, kinds, labels and value-dependent fields of the real chart; not its every detail).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hops.lab import crd_schemas

Renderer = Callable[[str, str, dict, "Chart"], list[dict]]


@dataclass(frozen=True)
class Chart:
    name: str
    version: str
    app_version: str
    repo_url: str
    description: str
    defaults: dict = field(default_factory=dict)
    render: Renderer | None = None


class ChartNotFoundError(Exception):
    """The chart is not in the catalog; helm prints the message after `Error: ...`."""


def deep_merge(base: Any, override: Any) -> Any:
    """Helm's values coalescing: maps merge recursively, anything else is replaced; None deletes a key."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for key, value in override.items():
            if value is None:
                out.pop(key, None)
            else:
                out[key] = deep_merge(out.get(key), value)
        return out
    return copy.deepcopy(override)


def _get(values: dict, dotted: str, default: Any = None) -> Any:
    node: Any = values
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


# -- object builders -------------------------------------------------------------------------------------------
def _labels(chart: Chart, release: str, app: str, component: str | None = None) -> dict:
    labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release,
              "app.kubernetes.io/managed-by": "Helm", "app.kubernetes.io/version": chart.app_version,
              "helm.sh/chart": f"{chart.name}-{chart.version}"}
    if component:
        labels["app.kubernetes.io/component"] = component
    return labels


def _meta(name: str, namespace: str | None, labels: dict, release: str, release_ns: str) -> dict:
    meta: dict[str, Any] = {"name": name, "labels": dict(labels),
                            "annotations": {"meta.helm.sh/release-name": release,
                                            "meta.helm.sh/release-namespace": release_ns}}
    if namespace:
        meta["namespace"] = namespace
    return meta


def _container(name: str, image: str, ports: list[tuple[str, int]] | None = None, env: list[dict] | None = None,
               extra: dict | None = None) -> dict:
    out: dict[str, Any] = {"name": name, "image": image, "imagePullPolicy": "IfNotPresent"}
    if ports:
        out["ports"] = [{"name": n, "containerPort": p, "protocol": "TCP"} for n, p in ports]
    if env:
        out["env"] = env
    out.update(extra or {})
    return out


def _pod_spec(containers: list[dict], host_network: bool = False, tolerate_all: bool = False,
              service_account: str | None = None, node_selector: dict | None = None) -> dict:
    spec: dict[str, Any] = {"containers": containers, "restartPolicy": "Always"}
    if host_network:
        spec["hostNetwork"] = True
        spec["dnsPolicy"] = "ClusterFirstWithHostNet"
    if tolerate_all:
        spec["tolerations"] = [{"operator": "Exists"}]
    if service_account:
        spec["serviceAccountName"] = service_account
    if node_selector:
        spec["nodeSelector"] = node_selector
    return spec


def workload(kind: str, name: str, ns: str, labels: dict, selector: dict, pod_spec: dict, release: str,
             replicas: int | None = None) -> dict:
    spec: dict[str, Any] = {"selector": {"matchLabels": selector},
                            "template": {"metadata": {"labels": {**selector, **labels}}, "spec": pod_spec}}
    if kind != "DaemonSet":
        spec["replicas"] = 1 if replicas is None else replicas
    if kind == "StatefulSet":
        spec["serviceName"] = name
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": _meta(name, ns, labels, release, ns), "spec": spec}


def service(name: str, ns: str, labels: dict, selector: dict, ports: list[tuple[str, int, int]], release: str,
            service_type: str = "ClusterIP") -> dict:
    return {"apiVersion": "v1", "kind": "Service", "metadata": _meta(name, ns, labels, release, ns),
            "spec": {"type": service_type, "selector": selector,
                     "ports": [{"name": n, "port": p, "targetPort": t, "protocol": "TCP"} for n, p, t in ports]}}


def crd(group: str, kind: str, plural: str, versions: list[str], release: str, release_ns: str,
        namespaced: bool = True, short_names: list[str] | None = None, labels: dict | None = None) -> dict:
    names: dict[str, Any] = {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()}
    if short_names:
        names["shortNames"] = short_names
    printed = crd_schemas.columns_for(group, kind)
    columns = {"additionalPrinterColumns": printed} if printed else {}
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": _meta(f"{plural}.{group}", None, labels or {}, release, release_ns),
            "spec": {"group": group, "names": names, "scope": "Namespaced" if namespaced else "Cluster",
                     "versions": [{"name": v, "served": True, "storage": i == len(versions) - 1,
                                   "schema": {"openAPIV3Schema": crd_schemas.schema_for(group, kind, v)},
                                   "subresources": {"status": {}}, **columns}
                                  for i, v in enumerate(versions)]}}


def _config_map(name: str, ns: str, labels: dict, data: dict, release: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(name, ns, labels, release, ns),
            "data": {k: str(v) for k, v in data.items()}}


def _bool(value: Any) -> str:
    return "true" if value is True or str(value).lower() == "true" else "false"


# -- cilium ----------------------------------------------------------------------------------------------------
CILIUM_CRDS = [("CiliumNetworkPolicy", "ciliumnetworkpolicies", ["cnp", "ciliumnp"], True, "v2"),
               ("CiliumClusterwideNetworkPolicy", "ciliumclusterwidenetworkpolicies", ["ccnp"], False, "v2"),
               ("CiliumEndpoint", "ciliumendpoints", ["cep", "ciliumep"], True, "v2"),
               ("CiliumIdentity", "ciliumidentities", ["ciliumid"], False, "v2"),
               ("CiliumNode", "ciliumnodes", ["cn", "ciliumn"], False, "v2"),
               ("CiliumLoadBalancerIPPool", "ciliumloadbalancerippools", ["ippools"], False, "v2alpha1"),
               ("CiliumL2AnnouncementPolicy", "ciliuml2announcementpolicies", ["l2announcement"], False, "v2alpha1")]


def _render_cilium(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    tag = f"v{chart.app_version}"
    kpr = _bool(values.get("kubeProxyReplacement"))
    agent_sel = {"k8s-app": "cilium"}
    agent_env = [{"name": "KUBERNETES_SERVICE_HOST", "value": str(values.get("k8sServiceHost", ""))},
                 {"name": "KUBERNETES_SERVICE_PORT", "value": str(values.get("k8sServicePort", ""))}]
    agent = _container("cilium-agent", f"quay.io/cilium/cilium:{tag}", env=agent_env, extra={
        "securityContext": {"capabilities": {"add": _get(values, "securityContext.capabilities.ciliumAgent", [])}}})
    objects = [
        _config_map("cilium-config", ns, {"app.kubernetes.io/part-of": "cilium"}, {
            "kube-proxy-replacement": kpr, "ipam": _get(values, "ipam.mode", "cluster-pool"),
            "cluster-name": _get(values, "cluster.name", "default"), "tunnel-protocol": "vxlan",
            "routing-mode": values.get("routingMode", "tunnel"),
            "enable-hubble": _bool(_get(values, "hubble.enabled", True)),
            "cgroup-root": _get(values, "cgroup.hostRoot", "/run/cilium/cgroupv2")}, release),
        workload("DaemonSet", "cilium", ns, {"app.kubernetes.io/name": "cilium-agent",
                                             "app.kubernetes.io/part-of": "cilium"}, agent_sel,
                 _pod_spec([agent], host_network=True, tolerate_all=True, service_account="cilium"), release),
        workload("Deployment", "cilium-operator", ns, {"app.kubernetes.io/name": "cilium-operator",
                                                       "app.kubernetes.io/part-of": "cilium"},
                 {"io.cilium/app": "operator", "name": "cilium-operator"},
                 _pod_spec([_container("cilium-operator", f"quay.io/cilium/operator-generic:{tag}")],
                           host_network=True, tolerate_all=True, service_account="cilium-operator"),
                 release, replicas=int(_get(values, "operator.replicas", 2))),
    ]
    if _get(values, "hubble.enabled", True) and _get(values, "hubble.relay.enabled", False):
        sel = {"k8s-app": "hubble-relay"}
        objects.append(workload("Deployment", "hubble-relay", ns, {"app.kubernetes.io/name": "hubble-relay",
                                                                   "app.kubernetes.io/part-of": "cilium"}, sel,
                                _pod_spec([_container("hubble-relay", f"quay.io/cilium/hubble-relay:{tag}",
                                                      [("grpc", 4245)])], service_account="hubble-relay"),
                                release, replicas=int(_get(values, "hubble.relay.replicas", 1))))
        objects.append(service("hubble-relay", ns, {"k8s-app": "hubble-relay"}, sel, [("grpc", 80, 4245)], release))
    objects += [crd("cilium.io", kind, plural, [version], release, ns, namespaced, short)
                for kind, plural, short, namespaced, version in CILIUM_CRDS]
    return objects


# -- external-secrets ------------------------------------------------------------------------------------------
ESO_CRDS = [("ExternalSecret", "externalsecrets", ["es"], True), ("SecretStore", "secretstores", ["ss"], True),
            ("ClusterSecretStore", "clustersecretstores", ["css"], False),
            ("ClusterExternalSecret", "clusterexternalsecrets", ["ces"], False),
            ("PushSecret", "pushsecrets", [], True)]


def _render_external_secrets(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    image = f"oci.external-secrets.io/external-secrets/external-secrets:v{chart.app_version}"
    objects: list[dict] = []
    parts = [("external-secrets", None, ["--concurrent=1"], True),
             ("external-secrets-webhook", "webhook", ["webhook", "--port=10250"], _get(values, "webhook.create", True)),
             ("external-secrets-cert-controller", "cert-controller", ["certcontroller"],
              _get(values, "certController.create", True))]
    for name, component, args, enabled in parts:
        if not enabled:
            continue
        app = name if component else "external-secrets"
        sel = {"app.kubernetes.io/name": app, "app.kubernetes.io/instance": release}
        replicas = values.get("replicaCount", 1) if not component else _get(values, f"{_camel(component)}.replicaCount", 1)
        objects.append(workload("Deployment", name, ns, _labels(chart, release, app), sel,
                                _pod_spec([_container(component or "external-secrets", image, extra={"args": args})],
                                          service_account=name), release, replicas=int(replicas)))
    if _get(values, "webhook.create", True):
        web_sel = {"app.kubernetes.io/name": "external-secrets-webhook", "app.kubernetes.io/instance": release}
        objects.append(service("external-secrets-webhook", ns, _labels(chart, release, "external-secrets-webhook"),
                               web_sel, [("webhook", 443, 10250)], release))
        objects.append({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
                        "metadata": _meta("secretstore-validate", None, {"external-secrets.io/component": "webhook"},
                                          release, ns),
                        "webhooks": [{"name": f"validate.{p}.external-secrets.io", "admissionReviewVersions": ["v1"],
                                      "sideEffects": "None", "failurePolicy": "Fail",
                                      "clientConfig": {"service": {"name": "external-secrets-webhook",
                                                                   "namespace": ns, "path": f"/validate-{p}"}},
                                      "rules": [{"apiGroups": ["external-secrets.io"], "apiVersions": ["v1beta1"],
                                                 "operations": ["CREATE", "UPDATE", "DELETE"], "resources": [p]}]}
                                     for p in ("secretstores", "clustersecretstores")]})
    if values.get("installCRDs", True):
        objects += [crd("external-secrets.io", kind, plural, ["v1alpha1", "v1beta1"], release, ns, namespaced, short)
                    for kind, plural, short, namespaced in ESO_CRDS]
    return objects


def _camel(name: str) -> str:
    head, *rest = name.split("-")
    return head + "".join(p.title() for p in rest)


# -- 1Password Connect -----------------------------------------------------------------------------------------
def _render_connect(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    name = _get(values, "connect.applicationName", "onepassword-connect")
    secret = _get(values, "connect.credentialsName", "op-credentials")
    key = _get(values, "connect.credentialsKey", "1password-credentials.json")
    session: list[dict] = [{"name": "OP_SESSION", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}},
               {"name": "OP_BUS_PORT", "value": "11220"}, {"name": "OP_HTTP_PORT", "value": "8080"}]
    tag = _get(values, "connect.version", chart.app_version)
    containers = [_container("connect-api", f"1password/connect-api:{tag}", [("connect-api", 8080)], session),
                  _container("connect-sync", f"1password/connect-sync:{tag}", [("connect-sync", 8081)],
                             [session[0], {"name": "OP_HTTP_PORT", "value": "8081"}])]
    sel = {"app": name}
    labels = {**_labels(chart, release, name), "app": name}
    objects = [workload("Deployment", name, ns, labels, sel, _pod_spec(containers), release),
               service(name, ns, labels, sel, [("connect-sync", 8081, 8081), ("connect-api", 8080, 8080)], release,
                       _get(values, "connect.serviceType", "NodePort"))]
    if _get(values, "operator.create", False):
        op_sel = {"app": "onepassword-connect-operator"}
        objects.append(workload("Deployment", "onepassword-connect-operator", ns,
                                _labels(chart, release, "onepassword-connect-operator"), op_sel,
                                _pod_spec([_container("connect-operator", "1password/onepassword-operator:1.8.1")]),
                                release))
    return objects


# -- longhorn --------------------------------------------------------------------------------------------------
LONGHORN_CRDS = ["Volume", "Engine", "Replica", "Node", "Setting", "EngineImage", "InstanceManager", "BackingImage",
                 "Backup", "BackupTarget", "BackupVolume", "RecurringJob", "ShareManager", "Snapshot",
                 "SupportBundle", "SystemBackup", "SystemRestore", "Orphan", "VolumeAttachment"]


def _render_longhorn(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    tag = f"v{chart.app_version}"
    base = {"app.kubernetes.io/name": "longhorn", "app.kubernetes.io/instance": release,
            "app.kubernetes.io/version": tag, "helm.sh/chart": f"longhorn-{chart.version}"}
    default_class = _bool(_get(values, "persistence.defaultClass", True))
    replicas = str(_get(values, "persistence.defaultClassReplicaCount", 3))
    objects = [
        workload("DaemonSet", "longhorn-manager", ns, {**base, "app": "longhorn-manager"}, {"app": "longhorn-manager"},
                 _pod_spec([_container("longhorn-manager", f"longhornio/longhorn-manager:{tag}", [("manager", 9500)],
                                       extra={"securityContext": {"privileged": True}})],
                           service_account="longhorn-service-account"), release),
        workload("Deployment", "longhorn-driver-deployer", ns, base, {"app": "longhorn-driver-deployer"},
                 _pod_spec([_container("longhorn-driver-deployer", f"longhornio/longhorn-manager:{tag}")],
                           service_account="longhorn-service-account"), release),
        workload("Deployment", "longhorn-ui", ns, {**base, "app": "longhorn-ui"}, {"app": "longhorn-ui"},
                 _pod_spec([_container("longhorn-ui", f"longhornio/longhorn-ui:{tag}", [("http", 8000)])]), release,
                 replicas=int(_get(values, "longhornUI.replicas", 2))),
        service("longhorn-backend", ns, base, {"app": "longhorn-manager"}, [("manager", 9500, 9500)], release),
        service("longhorn-frontend", ns, base, {"app": "longhorn-ui"}, [("http", 80, 8000)], release),
        _config_map("longhorn-storageclass", ns, base, {"storageclass.yaml": json.dumps(
            {"kind": "StorageClass", "metadata": {"name": "longhorn"}, "parameters": {"numberOfReplicas": replicas}})},
            release),
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
         "metadata": {**_meta("longhorn", None, base, release, ns),
                      "annotations": {"storageclass.kubernetes.io/is-default-class": default_class,
                                      "meta.helm.sh/release-name": release, "meta.helm.sh/release-namespace": ns}},
         "provisioner": "driver.longhorn.io", "allowVolumeExpansion": True,
         "reclaimPolicy": _get(values, "persistence.reclaimPolicy", "Delete"), "volumeBindingMode": "Immediate",
         "parameters": {"numberOfReplicas": replicas, "staleReplicaTimeout": "30", "fsType": "ext4"}},
    ]
    objects += [crd("longhorn.io", kind, kind.lower() + ("es" if kind.endswith("s") else "s"), ["v1beta2"],
                    release, ns, labels={"longhorn-manager": ""}) for kind in LONGHORN_CRDS]
    return objects


# -- podinfo ---------------------------------------------------------------------------------------------------
def _render_podinfo(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    name = release if release == "podinfo" or "podinfo" in release else f"{release}-podinfo"
    sel = {"app.kubernetes.io/name": name}
    env = [{"name": "PODINFO_UI_MESSAGE", "value": str(_get(values, "ui.message", ""))},
           {"name": "PODINFO_UI_COLOR", "value": str(_get(values, "ui.color", "#34577c"))}]
    container = _container("podinfo", f"ghcr.io/stefanprodan/podinfo:{chart.app_version}",
                           [("http", 9898), ("http-metrics", 9797), ("grpc", 9999)], env,
                           {"resources": values.get("resources", {})})
    labels = {**_labels(chart, release, name)}
    return [workload("Deployment", name, ns, labels, sel, _pod_spec([container]), release,
                     replicas=int(values.get("replicaCount", 1))),
            service(name, ns, labels, sel, [("http", 9898, 9898), ("grpc", 9999, 9999)], release)]


# -- flux2 (what `flux bootstrap` / `flux install` apply; also the fluxcd-community chart) ---------------------
FLUX_CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
FLUX_EXTRA = ("image-reflector-controller", "image-automation-controller")
CrdSpec = tuple[str, str, str, list[str], list[str]]  # group, kind, plural, versions, short names
FLUX_CRDS: list[CrdSpec] = [
    ("source.toolkit.fluxcd.io", "GitRepository", "gitrepositories", ["v1beta2", "v1"], ["gitrepo"]),
    ("source.toolkit.fluxcd.io", "HelmRepository", "helmrepositories", ["v1beta2", "v1"], ["helmrepo"]),
    ("source.toolkit.fluxcd.io", "HelmChart", "helmcharts", ["v1beta2", "v1"], ["hc"]),
    ("source.toolkit.fluxcd.io", "OCIRepository", "ocirepositories", ["v1beta2"], ["ocirepo"]),
    ("source.toolkit.fluxcd.io", "Bucket", "buckets", ["v1beta2"], []),
    ("kustomize.toolkit.fluxcd.io", "Kustomization", "kustomizations", ["v1beta2", "v1"], ["ks"]),
    ("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases", ["v2beta2", "v2"], ["hr"]),
    ("notification.toolkit.fluxcd.io", "Provider", "providers", ["v1beta3"], []),
    ("notification.toolkit.fluxcd.io", "Alert", "alerts", ["v1beta3"], []),
    ("notification.toolkit.fluxcd.io", "Receiver", "receivers", ["v1"], []),
]
FLUX_IMAGE_CRDS: list[CrdSpec] = [
    ("image.toolkit.fluxcd.io", "ImageRepository", "imagerepositories", ["v1beta2"], []),
    ("image.toolkit.fluxcd.io", "ImagePolicy", "imagepolicies", ["v1beta2"], []),
    ("image.toolkit.fluxcd.io", "ImageUpdateAutomation", "imageupdateautomations", ["v1beta2"], []),
]
FLUX_IMAGE_TAGS = {"source-controller": "v1.4.1", "kustomize-controller": "v1.4.0", "helm-controller": "v1.1.0",
                   "notification-controller": "v1.4.0", "image-reflector-controller": "v0.33.0",
                   "image-automation-controller": "v0.39.0"}


def _render_flux(release: str, ns: str, values: dict, chart: Chart) -> list[dict]:
    part_of = {"app.kubernetes.io/instance": ns, "app.kubernetes.io/part-of": "flux",
               "app.kubernetes.io/version": f"v{chart.app_version}"}
    objects: list[dict] = []
    controllers = list(FLUX_CONTROLLERS) + [c for c in FLUX_EXTRA if c in values.get("extraComponents", [])]
    for name in controllers:
        sel = {"app": name}
        image = f"ghcr.io/fluxcd/{name}:{FLUX_IMAGE_TAGS[name]}"
        objects.append(workload("Deployment", name, ns, {**part_of, "control-plane": "controller",
                                                         "app.kubernetes.io/component": name}, sel,
                                _pod_spec([_container("manager", image, [("http-prom", 8080), ("healthz", 9440)])],
                                          service_account=name), release))
    objects.append(service("source-controller", ns, part_of, {"app": "source-controller"}, [("http", 80, 9090)],
                           release))
    objects.append(service("notification-controller", ns, part_of, {"app": "notification-controller"},
                           [("http", 80, 9090)], release))
    objects.append(service("webhook-receiver", ns, part_of, {"app": "notification-controller"},
                           [("http", 80, 9292)], release))
    crds = FLUX_CRDS + (FLUX_IMAGE_CRDS if any(c in controllers for c in FLUX_EXTRA) else [])
    objects += [crd(group, kind, plural, versions, release, ns, short_names=short, labels=part_of)
                for group, kind, plural, versions, short in crds]
    return objects


CATALOG: dict[str, Chart] = {c.name: c for c in [
    Chart("cilium", "1.16.5", "1.16.5", "https://helm.cilium.io", "eBPF-based Networking, Security, and Observability",
          {"kubeProxyReplacement": False, "ipam": {"mode": "cluster-pool"}, "operator": {"replicas": 2},
           "hubble": {"enabled": True, "relay": {"enabled": False}}, "k8sServiceHost": "", "k8sServicePort": ""},
          _render_cilium),
    Chart("external-secrets", "0.10.7", "v0.10.7", "https://charts.external-secrets.io",
          "External secret management for Kubernetes",
          {"installCRDs": True, "replicaCount": 1, "webhook": {"create": True, "replicaCount": 1},
           "certController": {"create": True, "replicaCount": 1}}, _render_external_secrets),
    Chart("connect", "1.16.0", "1.7.3", "https://1password.github.io/connect-helm-charts",
          "A Helm chart for deploying 1Password Connect and the 1Password Connect Kubernetes Operator",
          {"connect": {"create": True, "applicationName": "onepassword-connect", "credentialsName": "op-credentials",
                       "credentialsKey": "1password-credentials.json", "serviceType": "NodePort"},
           "operator": {"create": False}}, _render_connect),
    Chart("longhorn", "1.7.2", "v1.7.2", "https://charts.longhorn.io",
          "Longhorn is a distributed block storage system for Kubernetes.",
          {"persistence": {"defaultClass": True, "defaultClassReplicaCount": 3, "reclaimPolicy": "Delete"},
           "longhornUI": {"replicas": 2}}, _render_longhorn),
    Chart("podinfo", "6.7.1", "6.7.1", "https://stefanprodan.github.io/podinfo",
          "Podinfo Helm chart for Kubernetes", {"replicaCount": 1, "ui": {"color": "#34577c", "message": ""}},
          _render_podinfo),
    Chart("flux2", "2.14.0", "2.4.0", "https://fluxcd-community.github.io/helm-charts",
          "A Helm chart for flux2", {"extraComponents": []}, _render_flux),
]}


def lookup(name: str, version: str | None = None, repo: str = "") -> Chart:
    """The catalog entry for chart `name` (a `repo/chart` reference is accepted), at `version` if given."""
    chart = CATALOG.get(name.split("/")[-1])
    where = f"{repo} " if repo else ""
    if chart is None:
        raise ChartNotFoundError(f'chart "{name.split("/")[-1]}" not found in {where}repository'.replace("  ", " "))
    if version and version.lstrip("v") != chart.version.lstrip("v") and version not in ("*", ">=0.0.0"):
        raise ChartNotFoundError(f'chart "{chart.name}" version "{version}" not found in {where}repository'
                            .replace("  ", " "))
    return chart


def render(chart: Chart, release: str, namespace: str, values: dict) -> list[dict]:
    """Objects of `release` in `namespace` with the user's `values` merged over the chart defaults."""
    merged = deep_merge(chart.defaults, values or {})
    assert chart.render is not None
    return chart.render(release, namespace, merged, chart)
