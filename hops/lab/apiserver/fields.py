"""The fields of built-in kinds, as the Go types of k8s.io/api declare them: decoding a request drops unknown fields
(with a warning) or, with `fieldValidation=Strict`, refuses them — `strict decoding error: unknown field "spec.x"`.

A tree per kind: a dict lists a struct's fields, a one-item list is a list of that, `ANY` is free-form (maps such
as labels, and sub-structures the lab does not need to police), `None` a scalar. Kinds without a tree are not
checked. Status is never checked (controllers own it). List trees name their merge key (`KEYED`), which
server-side apply uses for paths like `.spec.template.spec.containers[name="app"]`.
"""

from __future__ import annotations

from typing import Any

ANY = "*"
KEYED = "__key__"     # in a list's item tree: the field(s) the list is keyed by

_REF = {"name": None, "namespace": None, "kind": None, "apiVersion": None, "uid": None, "resourceVersion": None,
        "fieldPath": None}
_SELECTOR = {"matchLabels": ANY, "matchExpressions": ANY}
_OWNER = {KEYED: ("uid",), "apiVersion": None, "kind": None, "name": None, "uid": None, "controller": None,
          "blockOwnerDeletion": None}
META = {"name": None, "generateName": None, "namespace": None, "selfLink": None, "uid": None,
        "resourceVersion": None, "generation": None, "creationTimestamp": None, "deletionTimestamp": None,
        "deletionGracePeriodSeconds": None, "labels": ANY, "annotations": ANY, "ownerReferences": [_OWNER],
        "finalizers": [None], "managedFields": ANY}
_PROBE = {"exec": ANY, "httpGet": {"path": None, "port": None, "host": None, "scheme": None, "httpHeaders": ANY},
          "tcpSocket": ANY, "grpc": ANY, "initialDelaySeconds": None, "timeoutSeconds": None, "periodSeconds": None,
          "successThreshold": None, "failureThreshold": None, "terminationGracePeriodSeconds": None}
_ENV = {KEYED: ("name",), "name": None, "value": None,
        "valueFrom": {"fieldRef": ANY, "resourceFieldRef": ANY, "configMapKeyRef": ANY, "secretKeyRef": ANY}}
_CONTAINER = {
    KEYED: ("name",), "name": None, "image": None, "command": [None], "args": [None], "workingDir": None,
    "ports": [{KEYED: ("containerPort", "protocol"), "name": None, "hostPort": None, "containerPort": None,
               "protocol": None, "hostIP": None}],
    "envFrom": [{"prefix": None, "configMapRef": ANY, "secretRef": ANY}], "env": [_ENV],
    "resources": {"limits": ANY, "requests": ANY, "claims": ANY}, "resizePolicy": ANY, "restartPolicy": None,
    "volumeMounts": [{KEYED: ("mountPath",), "name": None, "readOnly": None, "recursiveReadOnly": None,
                      "mountPath": None, "subPath": None, "mountPropagation": None, "subPathExpr": None}],
    "volumeDevices": ANY, "livenessProbe": _PROBE, "readinessProbe": _PROBE, "startupProbe": _PROBE,
    "lifecycle": ANY, "terminationMessagePath": None, "terminationMessagePolicy": None, "imagePullPolicy": None,
    "securityContext": ANY, "stdin": None, "stdinOnce": None, "tty": None}
_VOLUME_SOURCES = ("hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
                   "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
                   "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
                   "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral",
                   "image")
_VOLUME = {KEYED: ("name",), "name": None, **dict.fromkeys(_VOLUME_SOURCES, ANY)}
POD_SPEC = {
    "volumes": [_VOLUME], "initContainers": [_CONTAINER], "containers": [_CONTAINER], "ephemeralContainers": ANY,
    "restartPolicy": None, "terminationGracePeriodSeconds": None, "activeDeadlineSeconds": None, "dnsPolicy": None,
    "nodeSelector": ANY, "serviceAccountName": None, "serviceAccount": None, "automountServiceAccountToken": None,
    "nodeName": None, "hostNetwork": None, "hostPID": None, "hostIPC": None, "shareProcessNamespace": None,
    "securityContext": ANY, "imagePullSecrets": [{KEYED: ("name",), "name": None}], "hostname": None,
    "subdomain": None, "affinity": ANY,
    "schedulerName": None, "tolerations": [{"key": None, "operator": None, "value": None, "effect": None,
                                            "tolerationSeconds": None}],
    "hostAliases": ANY, "priorityClassName": None, "priority": None, "dnsConfig": ANY, "readinessGates": ANY,
    "runtimeClassName": None, "enableServiceLinks": None, "preemptionPolicy": None, "overhead": ANY,
    "topologySpreadConstraints": ANY, "setHostnameAsFQDN": None, "os": ANY, "hostUsers": None,
    "schedulingGates": ANY, "resourceClaims": ANY, "resources": ANY}
TEMPLATE = {"metadata": META, "spec": POD_SPEC}
_ROLLING = {"maxUnavailable": None, "maxSurge": None}
_JOB_SPEC = {"parallelism": None, "completions": None, "activeDeadlineSeconds": None, "podFailurePolicy": ANY,
             "successPolicy": ANY, "backoffLimit": None, "backoffLimitPerIndex": None, "maxFailedIndexes": None,
             "selector": _SELECTOR, "manualSelector": None, "template": TEMPLATE, "ttlSecondsAfterFinished": None,
             "completionMode": None, "suspend": None, "podReplacementPolicy": None, "managedBy": None}


def _kind(**fields: Any) -> dict:
    return {"apiVersion": None, "kind": None, "metadata": META, "status": ANY, **fields}


KINDS: dict[tuple[str, str], dict] = {
    ("", "namespaces"): _kind(spec={"finalizers": [None]}),
    ("", "configmaps"): _kind(data=ANY, binaryData=ANY, immutable=None),
    ("", "secrets"): _kind(data=ANY, stringData=ANY, type=None, immutable=None),
    ("", "serviceaccounts"): _kind(secrets=ANY, imagePullSecrets=ANY, automountServiceAccountToken=None),
    ("", "pods"): _kind(spec=POD_SPEC),
    ("", "nodes"): _kind(spec={"podCIDR": None, "podCIDRs": [None], "providerID": None, "unschedulable": None,
                               "taints": [{"key": None, "value": None, "effect": None, "timeAdded": None}],
                               "configSource": ANY, "externalID": None}),
    ("", "services"): _kind(spec={
        "ports": [{KEYED: ("port", "protocol"), "name": None, "protocol": None, "appProtocol": None, "port": None,
                   "targetPort": None, "nodePort": None}],
        "selector": ANY, "clusterIP": None, "clusterIPs": [None], "type": None, "externalIPs": [None],
        "sessionAffinity": None, "loadBalancerIP": None, "loadBalancerSourceRanges": [None], "externalName": None,
        "externalTrafficPolicy": None, "healthCheckNodePort": None, "publishNotReadyAddresses": None,
        "sessionAffinityConfig": ANY, "ipFamilies": [None], "ipFamilyPolicy": None,
        "allocateLoadBalancerNodePorts": None, "loadBalancerClass": None, "internalTrafficPolicy": None,
        "trafficDistribution": None}),
    ("apps", "deployments"): _kind(spec={
        "replicas": None, "selector": _SELECTOR, "template": TEMPLATE,
        "strategy": {"type": None, "rollingUpdate": _ROLLING}, "minReadySeconds": None,
        "revisionHistoryLimit": None, "paused": None, "progressDeadlineSeconds": None}),
    ("apps", "daemonsets"): _kind(spec={
        "selector": _SELECTOR, "template": TEMPLATE, "updateStrategy": {"type": None, "rollingUpdate": _ROLLING},
        "minReadySeconds": None, "revisionHistoryLimit": None}),
    ("apps", "statefulsets"): _kind(spec={
        "replicas": None, "selector": _SELECTOR, "template": TEMPLATE, "volumeClaimTemplates": ANY,
        "serviceName": None, "podManagementPolicy": None,
        "updateStrategy": {"type": None, "rollingUpdate": {"partition": None, "maxUnavailable": None}},
        "revisionHistoryLimit": None, "minReadySeconds": None, "persistentVolumeClaimRetentionPolicy": ANY,
        "ordinals": ANY}),
    ("apps", "replicasets"): _kind(spec={"replicas": None, "minReadySeconds": None, "selector": _SELECTOR,
                                         "template": TEMPLATE}),
    ("batch", "jobs"): _kind(spec=_JOB_SPEC),
    ("batch", "cronjobs"): _kind(spec={
        "schedule": None, "timeZone": None, "startingDeadlineSeconds": None, "concurrencyPolicy": None,
        "suspend": None, "jobTemplate": {"metadata": META, "spec": _JOB_SPEC}, "successfulJobsHistoryLimit": None,
        "failedJobsHistoryLimit": None}),
    ("coordination.k8s.io", "leases"): _kind(spec={
        "holderIdentity": None, "leaseDurationSeconds": None, "acquireTime": None, "renewTime": None,
        "leaseTransitions": None, "strategy": None, "preferredHolder": None}),
}


def tree(key: tuple[str, str]) -> dict | None:
    """The field tree of the kind stored under `key`, or None when the lab does not check that kind."""
    return KINDS.get(key)


def _index(path: str, index: int, item: Any, spec: dict, keyed: bool) -> str:
    keys = spec.get(KEYED) if isinstance(spec, dict) else None
    if keyed and keys and isinstance(item, dict) and all(k in item for k in keys):
        inner = ",".join(f"{k}={_go_quote(item[k])}" for k in keys)
        return f"{path}[{inner}]"
    return f"{path}[{index}]"


def _go_quote(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)


def prune(spec: Any, value: Any, path: str = "", keyed: bool = False) -> tuple[Any, list[str]]:
    """(value without the fields `spec` does not know, their paths). keyed: server-side apply's path notation
    (`.spec.containers[name="app"].x`) instead of the decoder's (`spec.containers[0].x`). Never mutates value."""
    if spec is ANY or spec is None:
        return value, []
    if isinstance(spec, list):
        if not isinstance(value, list):
            return value, []
        unknown: list[str] = []
        items = []
        for index, item in enumerate(value):
            kept, found = prune(spec[0], item, _index(path, index, item, spec[0], keyed), keyed)
            items.append(kept)
            unknown += found
        return (items if unknown else value), unknown
    if not isinstance(value, dict):
        return value, []
    unknown = []
    out: dict = {}
    for key, item in value.items():
        child = f"{path}.{key}" if path or keyed else key
        if key not in spec or key == KEYED:
            unknown.append(child)
            continue
        kept, found = prune(spec[key], item, child, keyed)
        out[key] = kept
        unknown += found
    return (out if unknown else value), unknown
