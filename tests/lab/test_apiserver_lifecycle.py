"""Contract tests: namespace lifecycle, cascading deletion, metadata.generation and defaulting, through the
official Python client and the real kubectl, as a real kube-apiserver (+ its controller-manager) behaves."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from tests.lab.apiserver_fixtures import api_client, kubectl, server, status_body, store  # noqa: F401

HOLD = "example.com/hold"


def cm(name: str, namespace: str = "default", owners: list[dict] | None = None,
       finalizers: list[str] | None = None) -> dict:
    meta: dict = {"name": name, "namespace": namespace}
    if owners:
        meta["ownerReferences"] = owners
    if finalizers:
        meta["finalizers"] = finalizers
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": "v"}}


def owner_ref(obj: dict, block: bool = False) -> dict:
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": obj["metadata"]["name"],
           "uid": obj["metadata"]["uid"]}
    if block:
        ref["blockOwnerDeletion"] = True
    return ref


def release(store, name: str, namespace: str = "default") -> None:
    """Remove every finalizer of a ConfigMap (what its controller would do)."""
    store.patch("v1", "ConfigMap", name, namespace, {"metadata": {"finalizers": None}})


def daemonset(name: str = "agent", strategy: dict | None = None) -> dict:
    spec: dict = {"selector": {"matchLabels": {"app": name}},
                  "template": {"metadata": {"labels": {"app": name}},
                               "spec": {"containers": [{"name": "a", "image": "busybox"}]}}}
    if strategy is not None:
        spec["updateStrategy"] = strategy
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": name, "namespace": "default"},
            "spec": spec}


# ------------------------------------------------------------------------------------------ namespace lifecycle

def test_deleting_a_namespace_with_held_content_keeps_it_terminating(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "doomed"}})
    core.create_namespaced_config_map("doomed", cm("plain", "doomed"))
    core.create_namespaced_config_map("doomed", cm("held", "doomed", finalizers=[HOLD]))

    answer = core.delete_namespace("doomed")          # the client declares V1Status: it hands back the dict
    assert answer["status"]["phase"] == "Terminating" and answer["metadata"]["deletionTimestamp"]

    ns = core.read_namespace("doomed")
    assert ns.status.phase == "Terminating" and ns.spec.finalizers == ["kubernetes"]
    conditions = {c.type: c.message for c in ns.status.conditions}
    assert conditions["NamespaceContentRemaining"] == \
        "Some resources are remaining: configmaps. has 1 resource instances"
    assert conditions["NamespaceFinalizersRemaining"] == \
        f"Some content in the namespace has finalizers remaining: {HOLD} in 1 resource instances"
    assert store.get("v1", "ConfigMap", "plain", "doomed") is None
    held = core.read_namespaced_config_map("held", "doomed")
    assert held.metadata.deletion_timestamp and held.metadata.finalizers == [HOLD]

    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("doomed", cm("late", "doomed"))
    status = status_body(info.value)
    assert info.value.status == 403 and status["reason"] == "Forbidden"
    assert status["message"] == ('configmaps "late" is forbidden: unable to create new content in namespace doomed '
                                 'because it is being terminated')
    assert status["details"]["causes"] == [{"reason": "NamespaceTerminating", "field": "metadata.namespace",
                                            "message": "namespace doomed is being terminated"}]

    release(store, "held", "doomed")
    assert store.get("v1", "ConfigMap", "held", "doomed") is None
    with pytest.raises(ApiException) as info:
        core.read_namespace("doomed")
    assert info.value.status == 404


def test_an_empty_namespace_goes_at_once_and_active_ones_take_content(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespace({"metadata": {"name": "empty"}})
    core.create_namespace({"metadata": {"name": "kept"}})
    core.delete_namespace("empty")
    assert store.get("v1", "Namespace", "empty") is None
    created = core.create_namespaced_config_map("kept", cm("fine", "kept"))
    assert created.metadata.name == "fine" and store.get("v1", "Namespace", "kept")["status"]["phase"] == "Active"


def test_kubectl_refuses_content_for_a_terminating_namespace(kubectl, store):
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "going"}})
    store.create(cm("held", "going", finalizers=[HOLD]))
    store.delete("v1", "Namespace", "going")
    result = kubectl("apply", "-f", "-", input=json.dumps(cm("late", "going")), check=False)
    assert result.returncode != 0
    assert ('Error from server (Forbidden): error when creating "STDIN": configmaps "late" is forbidden: unable to '
            'create new content in namespace going because it is being terminated') in result.stderr
    shown = kubectl("get", "namespace", "going", "-o", "jsonpath={.status.phase}").stdout
    assert shown == "Terminating"


# ----------------------------------------------------------------------------------------- cascading deletion

def test_background_deletion_removes_dependents_and_keeps_those_with_other_owners(api_client, store):
    core = client.CoreV1Api(api_client)
    owner = store.create(cm("owner"))
    other = store.create(cm("other-owner"))
    store.create(cm("child", owners=[owner_ref(owner)]))
    store.create(cm("grandchild", owners=[owner_ref(store.get("v1", "ConfigMap", "child", "default"))]))
    store.create(cm("shared", owners=[owner_ref(owner), owner_ref(other)]))

    core.delete_namespaced_config_map("owner", "default")       # no policy: Background for ConfigMaps

    assert store.get("v1", "ConfigMap", "child", "default") is None
    assert store.get("v1", "ConfigMap", "grandchild", "default") is None
    shared = store.get("v1", "ConfigMap", "shared", "default")
    assert shared["metadata"]["ownerReferences"] == [owner_ref(other)]


def test_kubectl_delete_cascade_orphan_leaves_dependents_unowned(kubectl, store):
    owner = store.create(cm("owner"))
    store.create(cm("child", owners=[owner_ref(owner)]))
    kubectl("delete", "configmap", "owner", "--cascade=orphan")
    child = store.get("v1", "ConfigMap", "child", "default")
    assert child is not None and "ownerReferences" not in child["metadata"]
    assert store.get("v1", "ConfigMap", "owner", "default") is None
    # and without --cascade=orphan kubectl asks for Background: the dependent goes
    owner = store.create(cm("owner2"))
    store.create(cm("child2", owners=[owner_ref(owner)]))
    kubectl("delete", "configmap", "owner2")
    assert store.get("v1", "ConfigMap", "child2", "default") is None


def test_foreground_deletion_waits_for_blocking_dependents(api_client, store):
    core = client.CoreV1Api(api_client)
    owner = store.create(cm("owner"))
    store.create(cm("blocker", owners=[owner_ref(owner, block=True)], finalizers=[HOLD]))
    store.create(cm("free", owners=[owner_ref(owner)]))

    answer = core.delete_namespaced_config_map("owner", "default",
                                               body=client.V1DeleteOptions(propagation_policy="Foreground"))
    assert answer["metadata"]["deletionTimestamp"] and answer["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert store.get("v1", "ConfigMap", "free", "default") is None
    held = store.get("v1", "ConfigMap", "owner", "default")
    assert held["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert store.get("v1", "ConfigMap", "blocker", "default")["metadata"]["deletionTimestamp"]

    release(store, "blocker")
    assert store.get("v1", "ConfigMap", "blocker", "default") is None
    assert store.get("v1", "ConfigMap", "owner", "default") is None


def test_foreground_deletion_without_dependents_deletes_at_once(api_client, store):
    core = client.CoreV1Api(api_client)
    store.create(cm("lonely"))
    core.delete_namespaced_config_map("lonely", "default", propagation_policy="Foreground")
    assert store.get("v1", "ConfigMap", "lonely", "default") is None


def test_jobs_orphan_their_pods_unless_told_otherwise(api_client, store):
    batch = client.BatchV1Api(api_client)
    for name in ("a", "b"):
        job = store.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": "default"},
                            "spec": {"template": {"spec": {"restartPolicy": "Never",
                                                           "containers": [{"name": "c", "image": "busybox"}]}}}})
        store.create({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"{name}-pod", "namespace": "default",
                                   "ownerReferences": [{**owner_ref(job, block=True), "controller": True}]},
                      "spec": {"containers": [{"name": "c", "image": "busybox"}]}})
    batch.delete_namespaced_job("a", "default")                            # batch/v1's default: Orphan
    batch.delete_namespaced_job("b", "default", propagation_policy="Background")
    orphan = store.get("v1", "Pod", "a-pod", "default")
    assert orphan is not None and "ownerReferences" not in orphan["metadata"]
    assert store.get("v1", "Pod", "b-pod", "default") is None


def test_unknown_propagation_policy_is_refused(api_client, store):
    store.create(cm("x"))
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api_client).delete_namespaced_config_map("x", "default", propagation_policy="Sometimes")
    assert info.value.status == 422 and "Unsupported value: \"Sometimes\"" in status_body(info.value)["message"]
    assert store.get("v1", "ConfigMap", "x", "default") is not None


# ----------------------------------------------------------------------------------------------- generation

@pytest.mark.parametrize("obj", [
    cm("c"),
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}},
    {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}},
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "ns"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc", "namespace": "default"},
     "spec": {"ports": [{"port": 80}]}},
    {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l", "namespace": "default"}},
], ids=lambda obj: obj["kind"])
def test_kinds_without_generation(store, obj):
    created = store.create(obj)
    assert "generation" not in created["metadata"]
    updated = store.apply({**obj, "metadata": {**obj["metadata"], "labels": {"x": "y"}}})
    assert "generation" not in updated["metadata"]


def test_workloads_have_a_generation_bumped_by_spec_changes_only(api_client, store):
    apps = client.AppsV1Api(api_client)
    created = apps.create_namespaced_daemon_set("default", daemonset())
    assert created.metadata.generation == 1
    store.set_status("apps/v1", "DaemonSet", "agent", "default", {"numberReady": 1})
    assert store.get("apps/v1", "DaemonSet", "agent", "default")["metadata"]["generation"] == 1
    store.patch("apps/v1", "DaemonSet", "agent", "default", {"metadata": {"labels": {"a": "b"}}})
    assert store.get("apps/v1", "DaemonSet", "agent", "default")["metadata"]["generation"] == 1
    patched = apps.patch_namespaced_daemon_set("agent", "default", {"spec": {"minReadySeconds": 5}})
    assert patched.metadata.generation == 2


# ----------------------------------------------------------------------------------------------- defaulting

def test_deployment_and_pod_defaults(api_client, store):
    apps = client.AppsV1Api(api_client)
    body = {"metadata": {"name": "web"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [
                                      {"name": "pinned", "image": "nginx:1.25", "ports": [{"containerPort": 80}]},
                                      {"name": "latest", "image": "nginx:latest"},
                                      {"name": "bare", "image": "registry:5000/nginx"},
                                      {"name": "own", "image": "nginx", "imagePullPolicy": "Never"}]}}}}
    apps.create_namespaced_deployment("default", body)
    raw = store.get("apps/v1", "Deployment", "web", "default")
    spec = raw["spec"]
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}}
    assert (spec["replicas"], spec["revisionHistoryLimit"], spec["progressDeadlineSeconds"]) == (1, 10, 600)
    pod_spec = spec["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["dnsPolicy"], pod_spec["terminationGracePeriodSeconds"],
            pod_spec["schedulerName"], pod_spec["securityContext"]) == \
        ("Always", "ClusterFirst", 30, "default-scheduler", {})
    policies = {c["name"]: c["imagePullPolicy"] for c in pod_spec["containers"]}
    assert policies == {"pinned": "IfNotPresent", "latest": "Always", "bare": "Always", "own": "Never"}
    first = pod_spec["containers"][0]
    assert first["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert (first["terminationMessagePath"], first["terminationMessagePolicy"]) == ("/dev/termination-log", "File")


def test_given_values_are_not_overwritten_by_defaults(store):
    obj = daemonset(strategy={"type": "OnDelete"})
    created = store.create(obj)
    assert created["spec"]["updateStrategy"] == {"type": "OnDelete"}
    default = store.create(daemonset("other"))["spec"]["updateStrategy"]
    assert default == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}


def test_statefulset_service_and_job_defaults(store):
    sts = store.create({"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                                 "template": {"metadata": {"labels": {"app": "db"}},
                                              "spec": {"containers": [{"name": "db", "image": "postgres:16"}]}}}})
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}
    assert sts["spec"]["podManagementPolicy"] == "OrderedReady"
    svc = store.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": "default"},
                        "spec": {"ports": [{"port": 5432}]}})
    assert svc["spec"]["ports"] == [{"port": 5432, "protocol": "TCP", "targetPort": 5432}]
    assert (svc["spec"]["type"], svc["spec"]["sessionAffinity"]) == ("ClusterIP", "None")
    job = store.create({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "once", "namespace": "default"},
                        "spec": {"template": {"spec": {"restartPolicy": "OnFailure",
                                                       "containers": [{"name": "c", "image": "busybox"}]}}}})
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "OnFailure" and job["spec"]["backoffLimit"] == 6
    uid = job["metadata"]["uid"]
    assert job["spec"]["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}
    assert job["spec"]["template"]["metadata"]["labels"]["job-name"] == "once"


def test_a_job_must_say_how_its_pods_restart(api_client):
    body = {"metadata": {"name": "bad"},
            "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}
    with pytest.raises(ApiException) as info:
        client.BatchV1Api(api_client).create_namespaced_job("default", body)
    assert info.value.status == 422
    assert status_body(info.value)["message"] == ('Job.batch "bad" is invalid: spec.template.spec.restartPolicy: '
                                                  'Unsupported value: "Always": supported values: "OnFailure", '
                                                  '"Never"')


def test_kubectl_rollout_status_and_describe_see_the_defaults(kubectl, store):
    store.create(daemonset())
    store.set_status("apps/v1", "DaemonSet", "agent", "default",
                     {"observedGeneration": 1, "desiredNumberScheduled": 2, "updatedNumberScheduled": 2,
                      "numberAvailable": 1, "numberReady": 1, "currentNumberScheduled": 2})
    waiting = kubectl("rollout", "status", "daemonset/agent", "--watch=false").stdout
    assert 'Waiting for daemon set "agent" rollout to finish: 1 of 2 updated pods are available...' in waiting
    store.set_status("apps/v1", "DaemonSet", "agent", "default", {"numberAvailable": 2, "numberReady": 2})
    done = kubectl("rollout", "status", "daemonset/agent", "--watch=false").stdout
    assert 'daemon set "agent" successfully rolled out' in done
    store.create(daemonset("manual", strategy={"type": "OnDelete"}))
    refused = kubectl("rollout", "status", "daemonset/manual", "--watch=false", check=False)
    assert refused.returncode != 0 and "rollout status is only available for RollingUpdate" in refused.stderr

    store.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
                  "spec": {"selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}}}})
    described = kubectl("describe", "deployment", "web").stdout
    assert "StrategyType:           RollingUpdate" in described
    assert "RollingUpdateStrategy:  25% max unavailable, 25% max surge" in described
