"""The structural `openAPIV3Schema`s of the lab's CustomResourceDefinitions for Flux, External Secrets and Longhorn.

Written after the projects' published CRDs (fluxcd source/kustomize/helm-controller v1/v2, external-secrets 0.10
v1beta1, longhorn 1.7 v1beta2): every spec field those CRDs declare for the kinds hops and `infrastructure/` use,
with their types, required fields, enums and patterns, so the lab refuses what a real cluster refuses and prunes
what it prunes. `status` is left open (`x-kubernetes-preserve-unknown-fields`): the lab's controllers own it.
Kinds without a schema here get an open one, as before.
"""

from __future__ import annotations

from typing import Any

DURATION = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
TIMEOUT = r"^([0-9]+(\.[0-9]+)?(ms|s|m))+$"


def s(pattern: str | None = None, enum: list[str] | None = None, min_len: int | None = None,
      max_len: int | None = None, default: Any = None) -> dict:
    out: dict[str, Any] = {"type": "string"}
    if pattern:
        out["pattern"] = pattern
    if enum:
        out["enum"] = enum
    if min_len is not None:
        out["minLength"] = min_len
    if max_len is not None:
        out["maxLength"] = max_len
    if default is not None:
        out["default"] = default
    return out


def i(minimum: int | None = None, maximum: int | None = None) -> dict:
    out: dict[str, Any] = {"type": "integer"}
    if minimum is not None:
        out["minimum"] = minimum
    if maximum is not None:
        out["maximum"] = maximum
    return out


def b(default: bool | None = None) -> dict:
    return {"type": "boolean", **({"default": default} if default is not None else {})}


def obj(props: dict | None = None, required: tuple[str, ...] = (), **extra: Any) -> dict:
    out: dict[str, Any] = {"type": "object"}
    if props:
        out["properties"] = props
    if required:
        out["required"] = list(required)
    out.update(extra)
    return out


def arr(items: dict) -> dict:
    return {"type": "array", "items": items}


def smap() -> dict:
    return {"type": "object", "additionalProperties": {"type": "string"}}


def free() -> dict:
    return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def ios() -> dict:
    return {"x-kubernetes-int-or-string": True}


STATUS = free()
LOCAL_REF = obj({"name": s()}, ("name",))
NAME_REF = obj({"name": s(), "namespace": s()}, ("name",))
SELECTOR = obj({"matchLabels": smap(), "matchExpressions": arr(obj(
    {"key": s(), "operator": s(), "values": arr(s())}, ("key", "operator")))})
META_TEMPLATE = obj({"labels": smap(), "annotations": smap()})


def _root(spec: dict, spec_required: bool = False) -> dict:
    return obj({"apiVersion": s(), "kind": s(), "metadata": obj(), "spec": spec, "status": STATUS},
               ("spec",) if spec_required else ())


# -- Flux source-controller ---------------------------------------------------------------------------------------
_VERIFY_GIT = obj({"mode": s(enum=["head", "HEAD", "Tag", "TagAndHEAD"], default="HEAD"), "secretRef": LOCAL_REF},
                  ("secretRef",))
GIT_REPOSITORY = _root(obj({
    "url": s(pattern=r"^(http|https|ssh)://.*$"),
    "secretRef": LOCAL_REF,
    "provider": s(enum=["generic", "azure", "github"]),
    "interval": s(pattern=DURATION),
    "timeout": s(pattern=TIMEOUT, default="60s"),
    "ref": obj({"branch": s(), "tag": s(), "semver": s(), "name": s(), "commit": s()}),
    "verify": _VERIFY_GIT,
    "proxySecretRef": LOCAL_REF,
    "ignore": s(),
    "suspend": b(),
    "recurseSubmodules": b(),
    "include": arr(obj({"repository": LOCAL_REF, "fromPath": s(), "toPath": s()}, ("repository",))),
    "sparseCheckout": arr(s()),
}, ("interval", "url")), spec_required=False)

HELM_REPOSITORY = _root(obj({
    "url": s(pattern=r"^(http|https|oci)://.*$"),
    "secretRef": LOCAL_REF,
    "certSecretRef": LOCAL_REF,
    "passCredentials": b(),
    "interval": s(pattern=DURATION),
    "insecure": b(),
    "timeout": s(pattern=TIMEOUT),
    "suspend": b(),
    "accessFrom": obj({"namespaceSelectors": arr(obj({"matchLabels": smap()}))}, ("namespaceSelectors",)),
    "type": s(enum=["default", "oci"]),
    "provider": s(enum=["generic", "aws", "azure", "gcp"], default="generic"),
}, ("url",)))

_CHART_VERIFY = obj({"provider": s(enum=["cosign", "notation"], default="cosign"), "secretRef": LOCAL_REF,
                     "matchOIDCIdentity": arr(obj({"issuer": s(), "subject": s()}, ("issuer", "subject")))},
                    ("provider",))
_CHART_SOURCE_REF = obj({"apiVersion": s(), "kind": s(enum=["HelmRepository", "GitRepository", "Bucket"]),
                         "name": s(min_len=1, max_len=253), "namespace": s(min_len=1, max_len=63)}, ("name",))
HELM_CHART = _root(obj({
    "chart": s(),
    "version": s(default="*"),
    "sourceRef": obj({"apiVersion": s(), "kind": s(enum=["HelmRepository", "GitRepository", "Bucket"]),
                      "name": s()}, ("kind", "name")),
    "interval": s(pattern=DURATION),
    "reconcileStrategy": s(enum=["ChartVersion", "Revision"], default="ChartVersion"),
    "valuesFiles": arr(s()),
    "ignoreMissingValuesFiles": b(),
    "suspend": b(),
    "verify": _CHART_VERIFY,
}, ("chart", "interval", "sourceRef")))

# -- Flux kustomize-controller ------------------------------------------------------------------------------------
_KUBECONFIG = obj({"secretRef": obj({"name": s(), "key": s()}, ("name",))}, ("secretRef",))
_SELECTOR_TARGET = obj({"group": s(), "version": s(), "kind": s(), "name": s(), "namespace": s(),
                        "annotationSelector": s(), "labelSelector": s()})
KUSTOMIZATION = _root(obj({
    "commonMetadata": META_TEMPLATE,
    "components": arr(s()),
    "decryption": obj({"provider": s(enum=["sops"]), "secretRef": LOCAL_REF}, ("provider",)),
    "deletionPolicy": s(enum=["MirrorPrune", "Delete", "WaitForTermination", "Orphan"]),
    "dependsOn": arr(NAME_REF),
    "force": b(default=False),
    "healthChecks": arr(obj({"apiVersion": s(), "kind": s(), "name": s(), "namespace": s()}, ("kind", "name"))),
    "healthCheckExprs": arr(obj({"apiVersion": s(), "kind": s(), "current": s(), "inProgress": s(),
                                 "failed": s()}, ("apiVersion", "current", "kind"))),
    "images": arr(obj({"name": s(), "newName": s(), "newTag": s(), "digest": s()}, ("name",))),
    "interval": s(pattern=DURATION),
    "retryInterval": s(pattern=DURATION),
    "kubeConfig": _KUBECONFIG,
    "namePrefix": s(max_len=200),
    "nameSuffix": s(max_len=200),
    "patches": arr(obj({"patch": s(), "target": _SELECTOR_TARGET}, ("patch",))),
    "path": s(),
    "postBuild": obj({"substitute": smap(),
                      "substituteFrom": arr(obj({"kind": s(enum=["Secret", "ConfigMap"]), "name": s(),
                                                 "optional": b(default=False)}, ("kind", "name")))}),
    "prune": b(),
    "serviceAccountName": s(),
    "sourceRef": obj({"apiVersion": s(), "kind": s(enum=["OCIRepository", "GitRepository", "Bucket"]),
                      "name": s(), "namespace": s()}, ("kind", "name")),
    "suspend": b(),
    "targetNamespace": s(min_len=1, max_len=63),
    "timeout": s(pattern=DURATION),
    "wait": b(),
}, ("interval", "prune", "sourceRef")))

# -- Flux helm-controller -----------------------------------------------------------------------------------------
_REMEDIATION = {"retries": i(), "ignoreTestFailures": b(), "remediateLastFailure": b()}
_CRDS = s(enum=["Skip", "Create", "CreateReplace"])
HELM_RELEASE = _root(obj({
    "chart": obj({"metadata": META_TEMPLATE, "spec": obj({
        "chart": s(min_len=1, max_len=2048),
        "version": s(default="*"),
        "sourceRef": _CHART_SOURCE_REF,
        "interval": s(pattern=DURATION),
        "reconcileStrategy": s(enum=["ChartVersion", "Revision"], default="ChartVersion"),
        "valuesFiles": arr(s()),
        "valuesFile": s(),
        "ignoreMissingValuesFiles": b(),
        "verify": _CHART_VERIFY,
    }, ("chart", "sourceRef"))}, ("spec",)),
    "chartRef": obj({"apiVersion": s(), "kind": s(enum=["OCIRepository", "HelmChart"]),
                     "name": s(min_len=1, max_len=253), "namespace": s(min_len=1, max_len=63)}, ("kind", "name")),
    "interval": s(pattern=DURATION),
    "kubeConfig": _KUBECONFIG,
    "suspend": b(),
    "releaseName": s(min_len=1, max_len=53),
    "targetNamespace": s(min_len=1, max_len=63),
    "storageNamespace": s(min_len=1, max_len=63),
    "dependsOn": arr(NAME_REF),
    "timeout": s(pattern=TIMEOUT),
    "maxHistory": i(),
    "serviceAccountName": s(min_len=1, max_len=253),
    "persistentClient": b(),
    "driftDetection": obj({"mode": s(enum=["enabled", "warn", "disabled"]),
                           "ignore": arr(obj({"paths": arr(s()), "target": _SELECTOR_TARGET}, ("paths",)))}),
    "install": obj({
        "timeout": s(pattern=TIMEOUT), "remediation": obj(dict(_REMEDIATION)), "disableWait": b(),
        "disableWaitForJobs": b(), "disableHooks": b(), "disableOpenAPIValidation": b(),
        "disableSchemaValidation": b(), "replace": b(), "skipCRDs": b(), "crds": _CRDS, "createNamespace": b()}),
    "upgrade": obj({
        "timeout": s(pattern=TIMEOUT),
        "remediation": obj({**_REMEDIATION, "strategy": s(enum=["rollback", "uninstall"])}),
        "disableWait": b(), "disableWaitForJobs": b(), "disableHooks": b(), "disableOpenAPIValidation": b(),
        "disableSchemaValidation": b(), "force": b(), "preserveValues": b(), "cleanupOnFail": b(), "crds": _CRDS}),
    "test": obj({"enable": b(), "ignoreFailures": b(), "timeout": s(pattern=TIMEOUT),
                 "filters": arr(obj({"name": s(min_len=1, max_len=253), "exclude": b()}, ("name",)))}),
    "rollback": obj({"timeout": s(pattern=TIMEOUT), "disableWait": b(), "disableWaitForJobs": b(),
                     "disableHooks": b(), "recreate": b(), "force": b(), "cleanupOnFail": b()}),
    "uninstall": obj({"timeout": s(pattern=TIMEOUT), "disableHooks": b(), "keepHistory": b(), "disableWait": b(),
                      "deletionPropagation": s(enum=["background", "foreground", "orphan"], default="background")}),
    "valuesFrom": arr(obj({"kind": s(enum=["Secret", "ConfigMap"]), "name": s(min_len=1, max_len=253),
                           "valuesKey": s(pattern=r"^[\-._a-zA-Z0-9]+$", max_len=253),
                           "targetPath": s(max_len=250), "optional": b()}, ("kind", "name"))),
    "values": free(),
    "postRenderers": arr(free()),
    "commonMetadata": META_TEMPLATE,
}, ("interval",), **{"x-kubernetes-validations": [
    {"rule": "(has(self.chart) && !has(self.chartRef)) || (!has(self.chart) && has(self.chartRef))",
     "message": "either chart or chartRef must be set"}]}))

# -- External Secrets ---------------------------------------------------------------------------------------------
_SECRET_KEY_REF = obj({"name": s(min_len=1, max_len=253), "key": s(min_len=1, max_len=253),
                       "namespace": s(min_len=1, max_len=63)})
ONEPASSWORD = obj({
    "connectHost": s(),
    "vaults": {"type": "object", "additionalProperties": {"type": "integer"}},
    "auth": obj({"secretRef": obj({"connectTokenSecretRef": _SECRET_KEY_REF}, ("connectTokenSecretRef",))},
                ("secretRef",)),
}, ("auth", "connectHost", "vaults"))
_OTHER_PROVIDERS = ("akeyless", "alibaba", "aws", "azurekv", "beyondtrust", "bitwardensecretsmanager", "chef",
                    "conjur", "delinea", "device42", "doppler", "fake", "fortanix", "gcpsm", "gitlab", "ibm",
                    "infisical", "keepersecurity", "kubernetes", "onboardbase", "oracle", "passbolt", "passworddepot",
                    "previder", "pulumi", "scaleway", "secretserver", "senhasegura", "upcloud", "vault", "webhook",
                    "yandexcertificatemanager", "yandexlockbox")
STORE_SPEC = obj({
    "controller": s(),
    "provider": obj({"onepassword": ONEPASSWORD, **{name: free() for name in _OTHER_PROVIDERS}},
                    maxProperties=1, minProperties=1),
    "retrySettings": obj({"maxRetries": i(), "retryInterval": s()}),
    "refreshInterval": i(),
    "conditions": arr(obj({"namespaceSelector": SELECTOR, "namespaces": arr(s()),
                           "namespaceRegexes": arr(s())})),
}, ("provider",))
SECRET_STORE = _root(STORE_SPEC)
CLUSTER_SECRET_STORE = _root(STORE_SPEC)

_REMOTE_REF = obj({
    "key": s(), "property": s(), "version": s(),
    "metadataPolicy": s(enum=["None", "Fetch"], default="None"),
    "conversionStrategy": s(enum=["Default", "Unicode"], default="Default"),
    "decodingStrategy": s(enum=["Auto", "Base64", "Base64URL", "None"], default="None"),
}, ("key",))
_STORE_REF = obj({"name": s(), "kind": s(enum=["SecretStore", "ClusterSecretStore"])})
EXTERNAL_SECRET = _root(obj({
    "secretStoreRef": _STORE_REF,
    "target": obj({
        "name": s(),
        "creationPolicy": s(enum=["Owner", "Orphan", "Merge", "None"], default="Owner"),
        "deletionPolicy": s(enum=["Delete", "Merge", "Retain"], default="Retain"),
        "template": free(),
        "immutable": b(),
    }),
    "refreshInterval": s(default="1h"),
    "data": arr(obj({"secretKey": s(), "remoteRef": _REMOTE_REF,
                     "sourceRef": obj({"storeRef": _STORE_REF, "generatorRef": free()})},
                    ("remoteRef", "secretKey"))),
    "dataFrom": arr(free()),
}))

# -- Longhorn ------------------------------------------------------------------------------------------------------
LONGHORN_SETTING = obj({"apiVersion": s(), "kind": s(), "metadata": obj(), "value": s(), "status": STATUS},
                       ("value",))
LONGHORN_VOLUME = _root(obj({
    "size": s(), "numberOfReplicas": i(), "frontend": s(enum=["blockdev", "iscsi", "nvmf", ""]),
    "dataLocality": s(enum=["disabled", "best-effort", "strict-local"]),
    "accessMode": s(enum=["rwo", "rwx"]), "migratable": b(), "encrypted": b(), "dataEngine": s(enum=["v1", "v2"]),
    "nodeSelector": arr(s()), "diskSelector": arr(s()), "staleReplicaTimeout": i(), "fromBackup": s(),
    "dataSource": s(), "backingImage": s(), "nodeID": s(), "lastAttachedBy": s(),
    "replicaAutoBalance": s(enum=["ignored", "disabled", "least-effort", "best-effort"]),
    "revisionCounterDisabled": b(), "unmapMarkSnapChainRemoved": s(enum=["ignored", "disabled", "enabled"]),
    "snapshotDataIntegrity": s(enum=["ignored", "disabled", "enabled", "fast-check"]),
    "restoreVolumeRecurringJob": s(enum=["ignored", "enabled", "disabled"]),
    "replicaSoftAntiAffinity": s(enum=["ignored", "enabled", "disabled"]),
    "replicaZoneSoftAntiAffinity": s(enum=["ignored", "enabled", "disabled"]),
    "replicaDiskSoftAntiAffinity": s(enum=["ignored", "enabled", "disabled"]),
    "backupCompressionMethod": s(enum=["none", "lz4", "gzip"]), "snapshotMaxCount": i(), "snapshotMaxSize": s(),
    "freezeFilesystemForSnapshot": s(enum=["ignored", "enabled", "disabled"]), "image": s(), "Standby": b(),
    "backupTargetName": s(), "offlineRebuilding": s(),
}))

SCHEMAS: dict[tuple[str, str], dict] = {
    ("source.toolkit.fluxcd.io", "GitRepository"): GIT_REPOSITORY,
    ("source.toolkit.fluxcd.io", "HelmRepository"): HELM_REPOSITORY,
    ("source.toolkit.fluxcd.io", "HelmChart"): HELM_CHART,
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): KUSTOMIZATION,
    ("helm.toolkit.fluxcd.io", "HelmRelease"): HELM_RELEASE,
    ("external-secrets.io", "ExternalSecret"): EXTERNAL_SECRET,
    ("external-secrets.io", "SecretStore"): SECRET_STORE,
    ("external-secrets.io", "ClusterSecretStore"): CLUSTER_SECRET_STORE,
    ("longhorn.io", "Setting"): LONGHORN_SETTING,
    ("longhorn.io", "Volume"): LONGHORN_VOLUME,
}
# versions before the ones infrastructure/ uses keep an open schema (the lab serves them for old clients only)
SCHEMA_VERSIONS = {"source.toolkit.fluxcd.io": ("v1",), "kustomize.toolkit.fluxcd.io": ("v1",),
                   "helm.toolkit.fluxcd.io": ("v2",), "external-secrets.io": ("v1beta1",), "longhorn.io": ("v1beta2",)}


def schema_for(group: str, kind: str, version: str) -> dict:
    """The openAPIV3Schema the lab's CRD declares for group/kind at version (open when none is written)."""
    found = SCHEMAS.get((group, kind))
    if found is None or version not in SCHEMA_VERSIONS.get(group, ()):
        return {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    return found


# -- kubectl get columns (additionalPrinterColumns, as the projects' CRDs declare them) -----------------------------
def _col(name: str, path: str, kind: str = "string", priority: int = 0) -> dict:
    out: dict[str, Any] = {"name": name, "type": kind, "jsonPath": path}
    if priority:
        out["priority"] = priority
    return out


AGE = _col("Age", ".metadata.creationTimestamp", "date")
READY = _col("Ready", '.status.conditions[?(@.type=="Ready")].status')
STATUS_MESSAGE = _col("Status", '.status.conditions[?(@.type=="Ready")].message')
STORE_STATUS = _col("Status", '.status.conditions[?(@.type=="Ready")].reason')
COLUMNS: dict[tuple[str, str], list[dict]] = {
    ("source.toolkit.fluxcd.io", "GitRepository"): [_col("URL", ".spec.url"), AGE, READY, STATUS_MESSAGE],
    ("source.toolkit.fluxcd.io", "HelmRepository"): [_col("URL", ".spec.url"), AGE, READY, STATUS_MESSAGE],
    ("source.toolkit.fluxcd.io", "HelmChart"): [
        _col("Chart", ".spec.chart"), _col("Version", ".spec.version"), _col("Source Kind", ".spec.sourceRef.kind"),
        _col("Source Name", ".spec.sourceRef.name"), AGE, READY, STATUS_MESSAGE],
    ("kustomize.toolkit.fluxcd.io", "Kustomization"): [AGE, READY, STATUS_MESSAGE],
    ("helm.toolkit.fluxcd.io", "HelmRelease"): [AGE, READY, STATUS_MESSAGE],
    ("external-secrets.io", "ExternalSecret"): [
        _col("Store", ".spec.secretStoreRef.name"), _col("Refresh Interval", ".spec.refreshInterval"), STORE_STATUS,
        READY],
    ("external-secrets.io", "SecretStore"): [AGE, STORE_STATUS, _col("Capabilities", ".status.capabilities"), READY],
    ("external-secrets.io", "ClusterSecretStore"): [AGE, STORE_STATUS, _col("Capabilities", ".status.capabilities"),
                                                    READY],
}


def columns_for(group: str, kind: str) -> list[dict]:
    """The additionalPrinterColumns of group/kind's CRD ([] when it declares none)."""
    return [dict(column) for column in COLUMNS.get((group, kind), [])]
