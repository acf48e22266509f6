"""Contract tests of the Kubernetes API emulation with the official Python client (kubernetes.client)."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import subprocess
import threading

import pytest
import urllib3
from kubernetes import client, dynamic, watch
from kubernetes.client.rest import ApiException

from hops.lab.apiserver import ApiError, ApiServer, Store

from tests.lab.apiserver_fixtures import (api_client, crd, make_client, node, raw_request,  # noqa: F401
                                          self_signed_cert, server, status_body, store)

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def ns_body(name: str, labels: dict | None = None) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels or {}}}


def deployment(name: str = "web", namespace: str = "default", containers: list | None = None) -> dict:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": containers or [
                                  {"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 80}],
                                   "env": [{"name": "A", "value": "1"}]},
                                  {"name": "sidecar", "image": "busybox:1.36"}]}}},
    }


def pod(name: str, namespace: str = "default", labels: dict | None = None, phase: str | None = None) -> dict:
    obj = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
                                                            "labels": labels or {}},
           "spec": {"containers": [{"name": "main", "image": "busybox"}]}}
    if phase:
        obj["status"] = {"phase": phase}
    return obj


# ------------------------------------------------------------------------------------------------- discovery

def test_discovery_documents(api_client):
    version = client.VersionApi(api_client).get_code()
    assert version.major == "1" and version.minor == "31" and version.git_version.startswith("v1.31")
    core = client.CoreV1Api(api_client).get_api_resources()
    assert core.group_version == "v1"
    names = {r.name for r in core.resources}
    assert {"namespaces", "nodes", "pods", "pods/status", "pods/log", "services", "endpoints", "configmaps",
            "secrets", "serviceaccounts", "events", "persistentvolumeclaims", "persistentvolumes"} <= names
    assert all(not r.short_names for r in core.resources if "/" in r.name)
    groups = {g.name: g.preferred_version.group_version for g in client.ApisApi(api_client).get_api_versions().groups}
    for group in ("apps", "batch", "storage.k8s.io", "apiextensions.k8s.io", "admissionregistration.k8s.io",
                  "rbac.authorization.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "policy",
                  "networking.k8s.io", "events.k8s.io"):
        assert groups[group] == f"{group}/v1"
    apps = client.AppsV1Api(api_client).get_api_resources()
    assert {"deployments", "deployments/status", "deployments/scale", "daemonsets", "statefulsets",
            "replicasets"} <= {r.name for r in apps.resources}


def test_health_endpoints_and_openapi(server):
    for path in ("/healthz", "/readyz", "/livez"):
        assert raw_request(server.url + path)[0] == 200
    code, _, body = raw_request(server.url + "/openapi/v3")
    index = json.loads(body)["paths"]
    assert code == 200 and "api/v1" in index and "apis/apps/v1" in index
    code, _, body = raw_request(server.url + index["apis/apps/v1"]["serverRelativeURL"])
    doc = json.loads(body)
    patch_ops = [p["patch"] for p in doc["paths"].values() if "patch" in p]
    kinds = {op["x-kubernetes-group-version-kind"]["kind"] for op in patch_ops}
    assert {"Deployment", "DaemonSet"} <= kinds
    assert all(any(param["name"] == "fieldValidation" for param in op["parameters"]) for op in patch_ops)


# ------------------------------------------------------------------------------------------------------ CRUD

def test_namespace_crud_and_list_shape(api_client, server):
    core = client.CoreV1Api(api_client)
    created, code, _ = core.create_namespace_with_http_info(ns_body("team-a", {"tier": "x"}))
    assert code == 201
    meta = created.metadata
    assert meta.uid and meta.creation_timestamp and meta.resource_version
    assert meta.generation is None          # as real: namespaces have no generation
    assert meta.labels["kubernetes.io/metadata.name"] == "team-a"
    assert created.status.phase == "Active"

    fetched = core.read_namespace("team-a")
    assert fetched.metadata.uid == meta.uid

    code, _, body = raw_request(server.url + "/api/v1/namespaces")
    listing = json.loads(body)
    assert listing["kind"] == "NamespaceList" and listing["apiVersion"] == "v1"
    assert int(listing["metadata"]["resourceVersion"]) >= int(meta.resource_version)
    assert "team-a" in {item["metadata"]["name"] for item in listing["items"]}
    # as a real API server: items of a built-in kind's list carry no kind/apiVersion (custom resources do)
    assert all("kind" not in item and "apiVersion" not in item for item in listing["items"])
    assert json.loads(raw_request(server.url + "/api/v1/namespaces/team-a")[2])["kind"] == "Namespace"

    fetched.metadata.labels["tier"] = "y"
    replaced = core.replace_namespace("team-a", fetched)
    assert replaced.metadata.labels["tier"] == "y"
    assert int(replaced.metadata.resource_version) > int(meta.resource_version)

    deleted = core.delete_namespace("team-a")
    assert deleted is not None
    with pytest.raises(ApiException) as info:
        core.read_namespace("team-a")
    assert info.value.status == 404
    assert status_body(info.value)["message"] == 'namespaces "team-a" not found'


def test_errors_are_real_status_bodies(api_client):
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    with pytest.raises(ApiException) as info:
        core.create_namespace(ns_body("default"))
    status = status_body(info.value)
    assert info.value.status == 409
    assert status["kind"] == "Status" and status["reason"] == "AlreadyExists" and status["code"] == 409
    assert status["message"] == 'namespaces "default" already exists'

    apps.create_namespaced_deployment("default", deployment())
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment("default", deployment())
    assert status_body(info.value)["message"] == 'deployments.apps "web" already exists'
    assert status_body(info.value)["details"] == {"name": "web", "group": "apps", "kind": "deployments"}

    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment("missing", deployment(namespace="missing"))
    status = status_body(info.value)
    assert info.value.status == 404 and status["reason"] == "NotFound"
    assert status["message"] == 'namespaces "missing" not found'

    with pytest.raises(ApiException) as info:
        core.create_namespace(ns_body("Not_Valid"))
    status = status_body(info.value)
    assert info.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"].startswith('Namespace "Not_Valid" is invalid: metadata.name: Invalid value: "Not_Valid"')

    with pytest.raises(ApiException) as info:
        core.delete_namespace("kube-system")
    assert info.value.status == 403
    assert status_body(info.value)["message"] == 'namespaces "kube-system" is forbidden: this namespace may not be deleted'

    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("nope", "default")
    assert status_body(info.value)["message"] == 'deployments.apps "nope" not found'

    current = apps.read_namespaced_deployment("web", "default")
    apps.patch_namespaced_deployment("web", "default", {"metadata": {"labels": {"bump": "1"}}})
    current.spec.replicas = 3
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("web", "default", current)     # stale resourceVersion
    status = status_body(info.value)
    assert info.value.status == 409 and status["reason"] == "Conflict"
    assert status["message"] == ('Operation cannot be fulfilled on deployments.apps "web": the object has been '
                                 'modified; please apply your changes to the latest version and try again')


def test_generate_name_and_custom_objects_create_returns_object(api_client):
    core = client.CoreV1Api(api_client)
    made = core.create_namespaced_config_map("default", {"metadata": {"generateName": "cfg-"}, "data": {"a": "b"}})
    assert made.metadata.name.startswith("cfg-") and len(made.metadata.name) == len("cfg-") + 5
    objects = client.CustomObjectsApi(api_client)
    created = objects.create_cluster_custom_object("rbac.authorization.k8s.io", "v1", "clusterroles", {
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "viewer"},
        "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]})
    assert created is not None and created["metadata"]["name"] == "viewer"


def test_generation_and_status_subresource(api_client):
    apps = client.AppsV1Api(api_client)
    created = apps.create_namespaced_deployment("default", deployment())
    assert created.metadata.generation == 1
    status = {"status": {"replicas": 1, "readyReplicas": 1, "conditions": [
        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}}
    after_status = apps.patch_namespaced_deployment_status("web", "default", status)
    assert after_status.status.ready_replicas == 1
    assert after_status.metadata.generation == 1                      # status does not bump generation
    # conditions merge by type: only Available changes, Progressing stays
    merged = apps.patch_namespaced_deployment_status("web", "default", {"status": {"conditions": [
        {"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}]}})
    by_type = {c.type: c for c in merged.status.conditions}
    assert by_type["Available"].status == "False" and by_type["Progressing"].status == "True"
    # the main resource ignores status changes, and a spec change bumps generation
    current = apps.read_namespaced_deployment("web", "default")
    current.spec.replicas = 4
    current.status.ready_replicas = 99
    replaced = apps.replace_namespaced_deployment("web", "default", current)
    assert replaced.spec.replicas == 4 and replaced.status.ready_replicas == 1
    assert replaced.metadata.generation == 2
    # the status endpoint ignores spec changes
    replaced.spec.replicas = 9
    replaced.status.ready_replicas = 4
    via_status = apps.replace_namespaced_deployment_status("web", "default", replaced)
    assert via_status.spec.replicas == 4 and via_status.status.ready_replicas == 4
    assert apps.read_namespaced_deployment_status("web", "default").status.ready_replicas == 4


def test_strategic_merge_merge_and_json_patches(api_client):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment())
    # dict body -> strategic merge: containers by name, env by name, ports by containerPort
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "app", "image": "nginx:1.26", "env": [{"name": "B", "value": "2"}],
         "ports": [{"containerPort": 443}]}]}}}})
    containers = {c.name: c for c in patched.spec.template.spec.containers}
    assert set(containers) == {"app", "sidecar"}
    assert containers["app"].image == "nginx:1.26"
    assert {e.name for e in containers["app"].env} == {"A", "B"}
    assert {p.container_port for p in containers["app"].ports} == {80, 443}
    assert patched.metadata.generation == 2
    # $patch: delete removes one list item
    patched = apps.patch_namespaced_deployment("web", "default", {"spec": {"template": {"spec": {"containers": [
        {"name": "sidecar", "$patch": "delete"}]}}}})
    assert [c.name for c in patched.spec.template.spec.containers] == ["app"]
    # merge patch replaces lists and deletes with null
    patched = apps.patch_namespaced_deployment(
        "web", "default", {"metadata": {"labels": {"app": None, "x": "y"}}},
        _content_type="application/merge-patch+json")
    assert patched.metadata.labels == {"x": "y"}
    # JSON patch
    patched = apps.patch_namespaced_deployment("web", "default", [
        {"op": "replace", "path": "/spec/replicas", "value": 5},
        {"op": "add", "path": "/metadata/annotations", "value": {"note": "a/b"}}])
    assert patched.spec.replicas == 5 and patched.metadata.annotations == {"note": "a/b"}
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", "default", [{"op": "test", "path": "/spec/replicas", "value": 1}])
    assert info.value.status == 422
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("ghost", "default", {"metadata": {"labels": {"a": "b"}}})
    assert info.value.status == 404


def test_server_side_apply_creates_then_merges(api_client):
    core = client.CoreV1Api(api_client)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
            "data": {"a": "1"}}
    created, code, _ = core.patch_namespaced_config_map_with_http_info(
        "settings", "default", body, field_manager="hops", _content_type="application/apply-patch+yaml")
    assert code == 201 and created.data == {"a": "1"}
    body["data"] = {"b": "2"}
    applied, code, _ = core.patch_namespaced_config_map_with_http_info(
        "settings", "default", body, field_manager="hops", force=True, _content_type="application/apply-patch+yaml")
    # as on a real apiserver: "a", which only this manager owned and no longer applies, is removed
    assert code == 200 and applied.data == {"b": "2"}
    assert applied.metadata.uid == created.metadata.uid
    other = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
             "data": {"c": "3"}}
    merged = core.patch_namespaced_config_map("settings", "default", other, field_manager="someone-else",
                                              _content_type="application/apply-patch+yaml")
    assert merged.data == {"b": "2", "c": "3"}          # another manager's fields merge in


def test_put_and_patch_on_missing_objects(api_client):
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("nope", "default", {"metadata": {"name": "nope"}, "data": {}})
    assert info.value.status == 404
    with pytest.raises(ApiException) as info:
        core.replace_namespaced_config_map("a", "default", {"metadata": {"name": "b"}, "data": {}})
    assert info.value.status in (400, 404)


def test_delete_with_finalizers_waits_for_them(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "held", "finalizers": ["example.com/x"]}})
    core.delete_namespaced_config_map("held", "default")
    held = core.read_namespaced_config_map("held", "default")
    assert held.metadata.deletion_timestamp is not None
    core.patch_namespaced_config_map("held", "default", {"metadata": {"finalizers": None}},
                                     _content_type="application/merge-patch+json")
    with pytest.raises(ApiException) as info:
        core.read_namespaced_config_map("held", "default")
    assert info.value.status == 404


def test_scale_subresource(api_client):
    apps = client.AppsV1Api(api_client)
    apps.create_namespaced_deployment("default", deployment())
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 3


def test_pod_log_subresource(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_pod("default", pod("runner"))
    store.set_pod_log("default", "runner", "one\ntwo\nthree\n")
    assert core.read_namespaced_pod_log("runner", "default") == "one\ntwo\nthree\n"
    assert core.read_namespaced_pod_log("runner", "default", tail_lines=1) == "three\n"
    with pytest.raises(ApiException) as info:
        core.read_namespaced_pod_log("ghost", "default")
    assert info.value.status == 404


# ------------------------------------------------------------------------------------------------- selectors

def test_label_and_field_selectors(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespace(ns_body("other"))
    for name, labels, phase in [("a", {"app": "web", "tier": "front"}, "Running"),
                                ("b", {"app": "web", "tier": "back"}, "Pending"),
                                ("c", {"app": "db"}, "Running")]:
        core.create_namespaced_pod("default", pod(name, labels=labels, phase=phase))
    core.create_namespaced_pod("other", pod("d", "other", {"app": "web"}))

    def names(**kw) -> list[str]:
        return sorted(p.metadata.name for p in core.list_pod_for_all_namespaces(**kw).items)
    assert names(label_selector="app=web") == ["a", "b", "d"]
    assert names(label_selector="app==web,tier=front") == ["a"]
    assert names(label_selector="app!=web") == ["c"]
    assert names(label_selector="tier in (front,back)") == ["a", "b"]
    assert names(label_selector="tier notin (front)") == ["b", "c", "d"]
    assert names(label_selector="tier") == ["a", "b"]
    assert names(label_selector="!tier") == ["c", "d"]
    assert names(field_selector="metadata.name=c") == ["c"]
    assert names(field_selector="metadata.namespace=other") == ["d"]
    assert names(field_selector="status.phase=Running") == ["a", "c"]
    assert names(field_selector="status.phase!=Running,metadata.namespace=default") == ["b"]
    assert sorted(p.metadata.name for p in core.list_namespaced_pod("default", label_selector="app=web").items) \
        == ["a", "b"]
    with pytest.raises(ApiException) as info:
        core.list_pod_for_all_namespaces(field_selector="spec.bogus=1")
    assert info.value.status == 400
    assert [p["metadata"]["name"] for p in store.list("v1", "Pod", labels={"app": "web"})] == ["a", "b", "d"]
    assert [p["metadata"]["name"] for p in store.list("v1", "Pod", "other")] == ["d"]


def test_list_paging_with_limit_and_continue(api_client):
    core = client.CoreV1Api(api_client)
    for index in range(5):
        core.create_namespaced_config_map("default", {"metadata": {"name": f"cm-{index}"}})
    first = core.list_namespaced_config_map("default", limit=2)
    assert [c.metadata.name for c in first.items] == ["cm-0", "cm-1"] and first.metadata._continue
    rest = core.list_namespaced_config_map("default", limit=10, _continue=first.metadata._continue)
    assert [c.metadata.name for c in rest.items] == ["cm-2", "cm-3", "cm-4"] and not rest.metadata._continue


# ----------------------------------------------------------------------------------------------------- watch

def test_watch_sends_added_for_existing_objects_then_changes(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "one"}})
    core.create_namespaced_config_map("default", {"metadata": {"name": "two"}})
    events = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, "default", timeout_seconds=10):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 2:
            store.patch("v1", "ConfigMap", "one", "default", {"data": {"k": "v"}})
            store.delete("v1", "ConfigMap", "two", "default")
        if len(events) == 4:
            w.stop()
    assert events == [("ADDED", "one"), ("ADDED", "two"), ("MODIFIED", "one"), ("DELETED", "two")]


def test_watch_resumes_from_resource_version(api_client, store):
    core = client.CoreV1Api(api_client)
    listing = core.list_namespaced_config_map("default")
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "later", "namespace": "default"}})
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, "default",
                          resource_version=listing.metadata.resource_version, timeout_seconds=10):
        seen.append((event["type"], event["object"].metadata.name))
        w.stop()
    assert seen == [("ADDED", "later")]


def test_watch_too_old_resource_version_is_gone():
    store = Store(history_size=5)
    with ApiServer(store) as server:
        core = client.CoreV1Api(make_client(server.url))
        old = core.list_namespaced_config_map("default").metadata.resource_version
        for index in range(10):
            store.create({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": f"c{index}", "namespace": "default"}})
        with pytest.raises(ApiException) as info:
            for _ in watch.Watch().stream(core.list_namespaced_config_map, "default", resource_version=old,
                                          timeout_seconds=5):
                pass
        assert info.value.status == 410
        # a fresh list + watch from its resourceVersion works again
        fresh = core.list_namespaced_config_map("default").metadata.resource_version
        store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new", "namespace": "default"}})
        w = watch.Watch()
        seen = []
        for event in w.stream(core.list_namespaced_config_map, "default", resource_version=fresh,
                              timeout_seconds=5):
            seen.append((event["type"], event["object"].metadata.name))
            w.stop()
        assert seen == [("ADDED", "new")]
    store.close()


def test_watch_honours_timeout_seconds(api_client, server):
    core = client.CoreV1Api(api_client)
    # no events after the initial ones: the stream ends because the server closes it at timeoutSeconds
    # (the raw watch runs meanwhile: both last the whole second)
    raw = concurrent.futures.ThreadPoolExecutor(1).submit(
        raw_request, server.url + "/api/v1/namespaces?watch=true&timeoutSeconds=1")
    events = list(watch.Watch().stream(core.list_namespaced_secret, "default", timeout_seconds=1))
    assert events == []
    code, headers, body = raw.result(timeout=30)
    assert code == 200 and headers["Content-Type"] == "application/json"
    assert headers.get("Transfer-Encoding") == "chunked"
    lines = [json.loads(line) for line in body.splitlines()]
    assert {line["type"] for line in lines} == {"ADDED"} and len(lines) == 4


def test_watch_with_label_selector_sees_objects_leaving_the_selection(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespaced_config_map("default", {"metadata": {"name": "x", "labels": {"keep": "yes"}}})
    w = watch.Watch()
    seen = []
    for event in w.stream(core.list_namespaced_config_map, "default", label_selector="keep=yes",
                          timeout_seconds=10):
        seen.append(event["type"])
        if len(seen) == 1:
            store.patch("v1", "ConfigMap", "x", "default", {"metadata": {"labels": {"keep": "no"}}})
        else:
            w.stop()
    assert seen == ["ADDED", "DELETED"]


# ------------------------------------------------------------------------------------------------------ CRDs

def test_crd_establishes_and_serves_its_kind(api_client, server):
    ext = client.ApiextensionsV1Api(api_client)
    ext.create_custom_resource_definition(crd())
    established = ext.read_custom_resource_definition("widgets.example.com")
    conditions = {c.type: c.status for c in established.status.conditions}
    assert conditions == {"NamesAccepted": "True", "Established": "True"}
    assert established.status.accepted_names.kind == "Widget"
    groups = {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    assert "example.com" in groups
    code, _, body = raw_request(server.url + "/apis/example.com/v1")
    resources = {r["name"]: r for r in json.loads(body)["resources"]}
    assert resources["widgets"]["kind"] == "Widget" and resources["widgets"]["shortNames"] == ["wi"]
    assert "widgets/status" in resources

    objects = client.CustomObjectsApi(api_client)
    widget = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w1"}, "spec": {"size": 1}}
    created = objects.create_namespaced_custom_object("example.com", "v1", "default", "widgets", widget)
    assert created["metadata"]["generation"] == 1
    patched = objects.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w1",
                                                     {"spec": {"size": 2}})
    assert patched["spec"]["size"] == 2 and patched["metadata"]["generation"] == 2
    status = objects.patch_namespaced_custom_object_status(
        "example.com", "v1", "default", "widgets", "w1",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert status["status"]["conditions"][0]["type"] == "Ready" and status["metadata"]["generation"] == 2
    listing = objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert listing["kind"] == "WidgetList" and [i["metadata"]["name"] for i in listing["items"]] == ["w1"]

    ext.delete_custom_resource_definition("widgets.example.com")
    with pytest.raises(ApiException) as info:
        objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
    assert info.value.status == 404
    assert "example.com" not in {g.name for g in client.ApisApi(api_client).get_api_versions().groups}


def test_crd_with_establish_delay_is_404_until_established():
    store = Store(crd_establish_delay=0.3)
    with ApiServer(store) as server:
        api_client = make_client(server.url)
        ext = client.ApiextensionsV1Api(api_client)
        objects = client.CustomObjectsApi(api_client)
        created = ext.create_custom_resource_definition(crd())
        assert not created.status.conditions
        with pytest.raises(ApiException) as info:
            objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")
        assert info.value.status == 404
        assert "example.com" not in {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
        w = watch.Watch()
        for event in w.stream(ext.list_custom_resource_definition, timeout_seconds=10,
                              resource_version=created.metadata.resource_version):
            conditions = {c.type: c.status for c in event["object"].status.conditions or []}
            if conditions.get("Established") == "True":
                w.stop()
        assert objects.list_namespaced_custom_object("example.com", "v1", "default", "widgets")["items"] == []
        assert "example.com" in {g.name for g in client.ApisApi(api_client).get_api_versions().groups}
    store.close()


def test_dynamic_client_lists_builtin_and_custom_kinds(api_client, store):
    store.create(crd())
    store.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}})
    dyn = dynamic.DynamicClient(api_client)
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    store.create(node("n1", ready=True))
    assert [n.metadata.name for n in nodes.get().items] == ["n1"]
    widgets = dyn.resources.get(api_version="example.com/v1", kind="Widget")
    listing = widgets.get(namespace="default")
    assert listing.kind == "WidgetList" and [w.metadata.name for w in listing.items] == ["w"]
    assert [(w.kind, w.apiVersion) for w in listing.items] == [("Widget", "example.com/v1")]


# ------------------------------------------------------------------------------------------------ namespaces

def test_deleting_a_namespace_deletes_its_objects(api_client, store):
    core = client.CoreV1Api(api_client)
    core.create_namespace(ns_body("doomed"))
    core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    client.AppsV1Api(api_client).create_namespaced_deployment("doomed", deployment(namespace="doomed"))
    core.delete_namespace("doomed")
    assert store.get("v1", "ConfigMap", "c", "doomed") is None
    assert store.list("apps/v1", "Deployment", "doomed") == []
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("doomed", {"metadata": {"name": "c"}})
    assert info.value.status == 404


# ---------------------------------------------------------------------------------------------- tables

def test_table_output_for_nodes_pods_and_fallback(store, server):
    store.create(node("cp-1", ready=True, roles=("control-plane",)))
    store.create(node("w-1", ready=False))
    code, headers, body = raw_request(server.url + "/api/v1/nodes", headers={"Accept": TABLE})
    table = json.loads(body)
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == \
        ["Name", "Status", "Roles", "Age", "Version"]
    rows = {row["cells"][0]: row["cells"] for row in table["rows"]}
    assert rows["cp-1"][1:3] == ["Ready", "control-plane"] and rows["cp-1"][4] == "v1.31.4"
    assert rows["w-1"][1:3] == ["NotReady", "<none>"]

    store.create({**pod("p"), "status": {"phase": "Running", "containerStatuses": [
        {"name": "main", "ready": True, "restartCount": 2, "state": {"running": {}}}]}})
    table = json.loads(raw_request(server.url + "/api/v1/namespaces/default/pods/p", headers={"Accept": TABLE})[2])
    assert table["rows"][0]["cells"][:4] == ["p", "1/1", "Running", "2"]
    table = json.loads(raw_request(server.url + "/api/v1/namespaces/default/serviceaccounts",
                                   headers={"Accept": TABLE})[2])
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]


# ---------------------------------------------------------------------------------------------- gate, fault

def test_gate_answers_every_api_request_but_version_and_healthz():
    store = Store()
    verdict = {"value": (503, "etcd is not bootstrapped yet")}
    with ApiServer(store, gate=lambda: verdict["value"]) as server:
        core = client.CoreV1Api(make_client(server.url))
        with pytest.raises(ApiException) as info:
            core.list_namespace()
        assert info.value.status == 503
        status = status_body(info.value)
        assert status["reason"] == "ServiceUnavailable" and status["message"] == "etcd is not bootstrapped yet"
        assert raw_request(server.url + "/apis")[0] == 503
        assert raw_request(server.url + "/version")[0] == 200
        assert raw_request(server.url + "/healthz")[0] == 200
        verdict["value"] = None
        assert [n.metadata.name for n in core.list_namespace().items][:1] == ["default"]
    store.close()


def test_fault_hook_answers_status_codes_and_holds_requests():
    store = Store()
    calls = []

    def fault(method: str, path: str):
        calls.append((method, path))
        if path.endswith("/configmaps/broken"):
            return 500
        if path.endswith("/configmaps/slow"):
            return "timeout"
        return None
    with ApiServer(store, fault=fault) as server:
        core = client.CoreV1Api(make_client(server.url))
        with pytest.raises(ApiException) as info:
            core.read_namespaced_config_map("broken", "default")
        assert info.value.status == 500 and status_body(info.value)["reason"] == "InternalError"
        before = store.request_count
        core.list_namespace()
        assert store.request_count == before + 1
        with pytest.raises((urllib3.exceptions.ReadTimeoutError, urllib3.exceptions.MaxRetryError)):
            core.read_namespaced_config_map("slow", "default", _request_timeout=0.3)
        assert ("GET", "/api/v1/namespaces/default/configmaps/slow") in calls
        assert core.list_namespace().items                         # the server still serves others
    store.close()


def test_tls_with_self_signed_certificate(tmp_path):
    cert, key = self_signed_cert(tmp_path)
    store = Store()
    with ApiServer(store, tls=(str(cert), str(key))) as server:
        assert server.url.startswith("https://127.0.0.1:")
        core = client.CoreV1Api(make_client(server.url, ca_file=str(cert)))
        assert "default" in {n.metadata.name for n in core.list_namespace().items}
    store.close()


# ------------------------------------------------------------------------------------------ Python interface

def test_python_interface_returns_copies_and_raises_api_errors():
    store = Store()
    created = store.create({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c", "namespace": "default"}, "data": {"a": "1"}})
    created["data"]["a"] = "changed"
    fetched = store.get("v1", "ConfigMap", "c", "default")
    assert fetched["data"] == {"a": "1"}
    fetched["data"]["a"] = "changed too"
    assert store.get("v1", "ConfigMap", "c", "default")["data"] == {"a": "1"}
    with pytest.raises(ApiError) as info:
        store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"}})
    assert (info.value.code, info.value.reason) == (409, "AlreadyExists")
    with pytest.raises(ApiError) as info:
        store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "nowhere"}})
    assert (info.value.code, info.value.message) == (404, 'namespaces "nowhere" not found')
    with pytest.raises(ApiError) as info:
        store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}})
    assert (info.value.code, info.value.reason) == (422, "Invalid")
    assert store.get("v1", "ConfigMap", "ghost", "default") is None
    assert store.delete("v1", "ConfigMap", "ghost", "default") is None
    assert store.delete("v1", "ConfigMap", "c", "default")["metadata"]["name"] == "c"
    store.close()


def test_python_apply_patch_set_status_and_subscribe():
    store = Store()
    events: list[tuple[str, str, str]] = []
    unsubscribe = store.subscribe(lambda kind, obj: events.append((kind, obj["kind"], obj["metadata"]["name"])))
    applied = store.apply(node("n1", ready=False))
    assert applied["metadata"]["resourceVersion"]
    store.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "labels": {"zone": "a"}}})
    merged = store.get("v1", "Node", "n1")
    assert merged["metadata"]["labels"] == {"zone": "a"} and merged["status"]["conditions"][0]["status"] == "False"
    rv = int(merged["metadata"]["resourceVersion"])
    ready = store.set_status("v1", "Node", "n1", None, {"conditions": [{"type": "Ready", "status": "True"}],
                                                        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]})
    assert int(ready["metadata"]["resourceVersion"]) > rv and "generation" not in ready["metadata"]
    condition = ready["status"]["conditions"][0]
    assert condition["status"] == "True" and condition["reason"] == "KubeletNotReady" and condition["lastTransitionTime"]
    same = store.set_status("v1", "Node", "n1", None, {"conditions": [{"type": "Ready", "status": "True"}]})
    assert same["metadata"]["resourceVersion"] == ready["metadata"]["resourceVersion"]   # no-op write
    patched = store.patch("v1", "Node", "n1", None, {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})
    assert patched["spec"]["taints"][0]["key"] == "k" and "generation" not in patched["metadata"]
    store.delete("v1", "Node", "n1")
    unsubscribe()
    store.create(node("n2"))
    assert events == [("ADDED", "Node", "n1"), ("MODIFIED", "Node", "n1"), ("MODIFIED", "Node", "n1"),
                      ("MODIFIED", "Node", "n1"), ("DELETED", "Node", "n1")]
    store.close()


def test_subscriber_writing_to_the_store_sees_events_in_order():
    store = Store()
    seen: list[tuple[str, str]] = []

    def controller(kind: str, obj: dict) -> None:
        seen.append((kind, obj["metadata"]["name"]))
        if kind == "ADDED" and obj["kind"] == "Pod":
            store.set_status("v1", "Pod", obj["metadata"]["name"], "default", {"phase": "Running"})
    store.subscribe(controller)
    store.create(pod("p1"))
    assert seen == [("ADDED", "p1"), ("MODIFIED", "p1")]
    assert store.get("v1", "Pod", "p1", "default")["status"]["phase"] == "Running"
    store.close()


def test_snapshot_and_restore_round_trip():
    store = Store()
    store.create(crd())
    store.create({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w", "namespace": "default"}})
    store.create(pod("p"))
    store.set_pod_log("default", "p", "hello\n")
    data = json.loads(json.dumps(store.snapshot()))
    store.close()
    restored = Store.restore(data)
    widget = restored.get("example.com/v1", "Widget", "w", "default")
    saved = next(o for o in data["objects"] if o["kind"] == "Widget")
    assert widget["metadata"] == saved["metadata"]
    assert restored.get_pod_log("default", "p") == "hello\n"
    assert {n["metadata"]["name"] for n in restored.list("v1", "Namespace")} == \
        {"default", "kube-node-lease", "kube-public", "kube-system"}
    created = restored.create({"apiVersion": "v1", "kind": "ConfigMap",
                               "metadata": {"name": "after", "namespace": "default"}})
    assert int(created["metadata"]["resourceVersion"]) > data["resourceVersion"]
    restored.close()


def test_request_count_counts_http_requests(api_client, store):
    before = store.request_count
    core = client.CoreV1Api(api_client)
    for _ in range(5):
        core.list_namespace()
    assert store.request_count == before + 5


def test_concurrent_writers_get_unique_increasing_versions(store):
    versions: list[int] = []
    lock = threading.Lock()

    def writer(prefix: str) -> None:
        for index in range(50):
            obj = store.create({"apiVersion": "v1", "kind": "ConfigMap",
                                "metadata": {"name": f"{prefix}-{index}", "namespace": "default"}})
            with lock:
                versions.append(int(obj["metadata"]["resourceVersion"]))
    threads = [threading.Thread(target=writer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(versions)) == 200


# ------------------------------------------------------------------------------------------------- protobuf

def _pb_varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        out.append(low | (0x80 if number else 0))
        if not number:
            return bytes(out)


def _pb(number: int, payload: bytes) -> bytes:
    return _pb_varint(number << 3 | 2) + _pb_varint(len(payload)) + payload


def _pb_envelope(kind: str, raw: bytes) -> bytes:
    return (b"k8s\x00" + _pb(1, _pb(1, b"v1") + _pb(2, kind.encode())) + _pb(2, raw)
            + _pb(4, b"application/vnd.kubernetes.protobuf"))


def test_protobuf_create_bodies_of_kubectl_1_32(server, store):
    """kubectl >= 1.32 sends `kubectl create namespace|secret|configmap|serviceaccount` as protobuf."""
    headers = {"Content-Type": "application/vnd.kubernetes.protobuf",
               "Accept": "application/vnd.kubernetes.protobuf,application/json"}
    namespace = _pb_envelope("Namespace", _pb(1, _pb(1, b"proto-ns") + _pb(11, _pb(1, b"team") + _pb(2, b"a"))))
    code, _, body = raw_request(server.url + "/api/v1/namespaces", "POST", namespace, headers)
    assert code == 201 and json.loads(body)["metadata"]["labels"]["team"] == "a"
    secret = _pb_envelope("Secret", _pb(1, _pb(1, b"token") + _pb(3, b"proto-ns"))
                          + _pb(2, _pb(1, b"key") + _pb(2, b"\x00\xffbinary")) + _pb(3, b"Opaque"))
    code, _, body = raw_request(server.url + "/api/v1/namespaces/proto-ns/secrets", "POST", secret, headers)
    assert code == 201
    stored = store.get("v1", "Secret", "token", "proto-ns")
    assert stored["type"] == "Opaque" and stored["data"] == {"key": "AP9iaW5hcnk="}
    unknown = b"k8s\x00" + _pb(1, _pb(1, b"apps/v1") + _pb(2, b"Deployment")) + _pb(2, b"")
    code, _, body = raw_request(server.url + "/apis/apps/v1/namespaces/default/deployments", "POST", unknown,
                                headers)
    assert code == 415 and json.loads(body)["reason"] == "UnsupportedMediaType"


def test_table_output_for_workloads(store, server):
    store.create({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "cilium", "namespace": "default"},
                  "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}},
                           "template": {"metadata": {"labels": {"k8s-app": "cilium"}},
                                        "spec": {"containers": [{"name": "agent", "image": "cilium:1.16"}]}}}})
    store.set_status("apps/v1", "DaemonSet", "cilium", "default", {"desiredNumberScheduled": 3, "numberReady": 2})
    table = json.loads(raw_request(server.url + "/apis/apps/v1/daemonsets", headers={"Accept": TABLE})[2])
    assert [c["name"] for c in table["columnDefinitions"] if c["priority"] == 0] == \
        ["Name", "Desired", "Current", "Ready", "Up-to-date", "Available", "Node Selector", "Age"]
    assert table["rows"][0]["cells"][:4] == ["cilium", 3, 0, 2]
    assert table["rows"][0]["object"]["metadata"]["namespace"] == "default"
    # the typed client reads the DaemonSet: fields Go always serialises are present
    ds = client.AppsV1Api(make_client(server.url)).read_namespaced_daemon_set("cilium", "default")
    assert ds.status.number_misscheduled == 0 and ds.status.number_ready == 2


def test_required_fields_are_validated_and_zero_values_filled(api_client, store):
    with pytest.raises(ApiException) as info:
        client.CoreV1Api(api_client).create_namespaced_pod("default", {"metadata": {"name": "empty"},
                                                                       "spec": {"containers": []}})
    assert status_body(info.value)["message"] == 'Pod "empty" is invalid: spec.containers: Required value'
    bad = deployment()
    bad["spec"]["template"]["metadata"]["labels"] = {"app": "other"}
    with pytest.raises(ApiError) as err:
        store.create(bad)
    assert err.value.code == 422 and "`selector` does not match template `labels`" in err.value.message
    svc = client.CoreV1Api(api_client).create_namespaced_service("default", {
        "metadata": {"name": "web"}, "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}})
    assert svc.spec.type == "ClusterIP" and svc.spec.cluster_ip.startswith("10.96.")
    assert (svc.spec.ports[0].protocol, svc.spec.ports[0].target_port) == ("TCP", 80)
    made = store.create(deployment())
    assert made["spec"]["template"]["spec"]["containers"][0]["ports"][0]["protocol"] == "TCP"
    store.create(node("bare"))
    bare = client.CoreV1Api(api_client).read_node("bare")
    assert bare.status.node_info.kubelet_version == "v1.31.4" and bare.status.node_info.machine_id == ""
    assert bare.status.daemon_endpoints.kubelet_endpoint.port == 0
