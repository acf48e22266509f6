"""Contract tests: server-side apply with field managers (managedFields, conflicts, force, removal of fields a
manager stops applying), through the Python client, raw HTTP and the real kubectl."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from hops.lab.apiserver import ApiError
from tests.lab.apiserver_fixtures import api_client, kubectl, raw_request, server, status_body, store  # noqa: F401

APPLY = "application/apply-patch+yaml"
STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def config_map(**data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
            "data": data}


def deployment(containers: list[dict], replicas: int | None = None) -> dict:
    spec: dict = {"selector": {"matchLabels": {"app": "web"}},
                  "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": containers}}}
    if replicas is not None:
        spec["replicas"] = replicas
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": spec}


def apply(api_client, obj: dict, manager: str, force: bool = False) -> dict:
    core = client.CoreV1Api(api_client)
    apps = client.AppsV1Api(api_client)
    meta = obj["metadata"]
    if obj["kind"] == "ConfigMap":
        return core.patch_namespaced_config_map(meta["name"], meta["namespace"], obj, field_manager=manager,
                                                force=force, _content_type=APPLY).to_dict()
    return apps.patch_namespaced_deployment(meta["name"], meta["namespace"], obj, field_manager=manager, force=force,
                                            _content_type=APPLY).to_dict()


def entries(store, kind: str = "ConfigMap", api_version: str = "v1") -> dict[tuple[str, str], dict]:
    obj = store.get(api_version, kind, "settings" if kind == "ConfigMap" else "web", "default")
    return {(e["manager"], e["operation"]): e for e in obj["metadata"].get("managedFields") or []}


def test_managed_fields_per_manager(api_client, store):
    apply(api_client, deployment([{"name": "web", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]), "ci")
    entry = entries(store, "Deployment", "apps/v1")[("ci", "Apply")]
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1" and re.fullmatch(STAMP,
                                                                                                    entry["time"])
    container = entry["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"web"}']
    # ports are keyed by containerPort and protocol, the latter defaulted to TCP
    assert container == {".": {}, "f:image": {}, "f:name": {},
                         "f:ports": {'k:{"containerPort":80,"protocol":"TCP"}': {".": {}, "f:containerPort": {}}}}
    assert "f:replicas" not in entry["fieldsV1"]["f:spec"]          # defaulted, not applied
    # a plain write records an Update entry for the client's manager
    client.CoreV1Api(api_client).create_namespaced_config_map("default", {"metadata": {"name": "settings"},
                                                                          "data": {"a": "1"}})
    update = entries(store)[("OpenAPI-Generator", "Update")]
    assert update["fieldsV1"] == {"f:data": {"f:a": {}}}


def test_a_conflicting_apply_fails_unless_forced(api_client, store):
    apply(api_client, config_map(x="1"), "alpha")
    with pytest.raises(ApiException) as info:
        apply(api_client, config_map(x="2"), "beta")
    status = status_body(info.value)
    assert info.value.status == 409 and status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "alpha": .data.x'
    assert status["details"]["causes"] == [{"reason": "FieldManagerConflict", "message": 'conflict with "alpha"',
                                            "field": ".data.x"}]
    assert store.get("v1", "ConfigMap", "settings", "default")["data"] == {"x": "1"}

    forced = apply(api_client, config_map(x="2"), "beta", force=True)
    assert forced["data"] == {"x": "2"}
    owners = entries(store)
    assert ("alpha", "Apply") not in owners                        # lost its only field
    assert owners[("beta", "Apply")]["fieldsV1"] == {"f:data": {"f:x": {}}}


def test_applying_the_same_value_shares_ownership(api_client, store):
    apply(api_client, config_map(x="1", y="1"), "alpha")
    apply(api_client, config_map(x="1"), "beta")                   # same value: no conflict
    owners = entries(store)
    assert owners[("alpha", "Apply")]["fieldsV1"] == {"f:data": {"f:x": {}, "f:y": {}}}
    assert owners[("beta", "Apply")]["fieldsV1"] == {"f:data": {"f:x": {}}}
    # alpha stops applying x: beta still owns it, so it stays; y only alpha owned, so it goes with it
    apply(api_client, config_map(), "alpha")
    assert store.get("v1", "ConfigMap", "settings", "default").get("data") == {"x": "1"}


def test_a_manager_that_stops_applying_a_list_item_removes_it(api_client, store):
    web = {"name": "web", "image": "nginx:1.25"}
    sidecar = {"name": "sidecar", "image": "busybox:1.36"}
    apply(api_client, deployment([web, sidecar], replicas=2), "ci")
    apply(api_client, deployment([web]), "ci")
    spec = store.get("apps/v1", "Deployment", "web", "default")["spec"]
    assert [c["name"] for c in spec["template"]["spec"]["containers"]] == ["web"]
    assert spec["replicas"] == 1                                   # no longer applied: removed, then defaulted


def test_an_update_takes_ownership_and_the_applier_then_conflicts(api_client, store):
    apply(api_client, config_map(x="1"), "alpha")
    client.CoreV1Api(api_client).patch_namespaced_config_map("settings", "default", {"data": {"x": "edited"}},
                                                             field_manager="kubectl-edit")
    owners = entries(store)
    assert ("alpha", "Apply") not in owners and owners[("kubectl-edit", "Update")]["fieldsV1"] == \
        {"f:data": {"f:x": {}}}
    with pytest.raises(ApiException) as info:
        apply(api_client, config_map(x="1"), "alpha")
    message = status_body(info.value)["message"]
    assert re.fullmatch(rf'Apply failed with 1 conflict: conflict with "kubectl-edit" using v1 at {STAMP}: \.data\.x',
                        message), message


def test_several_conflicts_are_listed_by_manager(api_client, store):
    apply(api_client, config_map(a="1", b="1"), "alpha")
    with pytest.raises(ApiException) as info:
        apply(api_client, config_map(a="2", b="2"), "beta")
    assert status_body(info.value)["message"] == \
        'Apply failed with 2 conflicts: conflicts with "alpha":\n- .data.a\n- .data.b'


def test_apply_needs_a_field_manager(server):
    code, _, body = raw_request(f"{server.url}/api/v1/namespaces/default/configmaps/settings", "PATCH",
                                json.dumps(config_map(x="1")).encode(), {"Content-Type": APPLY})
    status = json.loads(body)
    assert code == 422 and status["message"] == ('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required '
                                                 'value: is required for apply patch')


def test_kubectl_server_side_apply_conflicts_and_force(kubectl, store):
    store.server_side_apply(config_map(x="1"), "hops")
    refused = kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(config_map(x="2")), check=False)
    assert refused.returncode != 0
    assert 'Apply failed with 1 conflict: conflict with "hops": .data.x' in refused.stderr
    kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump(config_map(x="2")))
    owners = entries(store)
    assert store.get("v1", "ConfigMap", "settings", "default")["data"] == {"x": "2"}
    assert owners[("kubectl", "Apply")]["fieldsV1"] == {"f:data": {"f:x": {}}} and ("hops", "Apply") not in owners
    shown = json.loads(kubectl("get", "configmap", "settings", "-o", "json", "--show-managed-fields").stdout)
    assert {e["manager"] for e in shown["metadata"]["managedFields"]} == {"kubectl"}


def test_the_lab_s_own_server_side_apply_is_strict(store):
    with pytest.raises(ApiError) as info:
        store.server_side_apply({**config_map(x="1"), "extra": True}, "kustomize-controller")
    assert info.value.code == 500
    assert info.value.message == ("failed to create typed patch object (default/settings; /v1, Kind=ConfigMap): "
                                  ".extra: field not declared in schema")
    assert store.get("v1", "ConfigMap", "settings", "default") is None
    created = store.server_side_apply(config_map(x="1"), "kustomize-controller")
    assert created["metadata"]["managedFields"][0]["manager"] == "kustomize-controller"
