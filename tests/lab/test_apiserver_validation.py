"""Contract tests: field validation (`fieldValidation=Strict|Warn|Ignore`, kubectl's --validate) of built-in kinds,
and structural-schema validation of the lab's Flux / External Secrets custom resources, as a real apiserver does.
The repository's own infrastructure/ manifests must pass the strictest of them."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from hops.lab import helm_releases, kustomize
from hops.lab.apiserver import validation
from hops.lab.charts import lookup
from tests.lab.apiserver_fixtures import api_client, kubectl, raw_request, server, status_body, store  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
HR = "helm.toolkit.fluxcd.io/v2"
INTERVAL = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
# appended by the apiserver after a blocking error when the CRD declares CEL rules (HelmRelease v2 does)
NOT_CHECKED = ('<nil>: Invalid value: "null": some validation rules were not checked because the object was '
               'invalid; correct the existing errors to complete validation')


def deployment(**extra_spec) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]}},
                     **extra_spec}}


def post(server, path: str, obj: dict, query: str = "", method: str = "POST",
         content_type: str = "application/json") -> tuple[int, dict, dict]:
    code, headers, body = raw_request(f"{server.url}{path}{query}", method, json.dumps(obj).encode(),
                                      {"Content-Type": content_type})
    return code, headers, json.loads(body)


def install_crds(store) -> None:
    for chart, release, namespace in (("flux2", "flux", "flux-system"),
                                      ("external-secrets", "external-secrets", "external-secrets")):
        applied = helm_releases.upgrade_install(store, release, namespace, lookup(chart), {}, create_namespace=True)
        helm_releases.finish(store, applied)


def helmrelease(**spec) -> dict:
    base = {"interval": "30m", "chart": {"spec": {"chart": "cilium", "version": "1.16.5",
                                                  "sourceRef": {"kind": "HelmRepository", "name": "cilium"}}}}
    return {"apiVersion": HR, "kind": "HelmRelease", "metadata": {"name": "cilium", "namespace": "default"},
            "spec": {**base, **spec}}


# ------------------------------------------------------------------------------------------ built-in kinds

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def test_strict_refuses_unknown_fields_with_the_real_message(server, store):
    bad = deployment(replica=2)
    bad["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    code, _, status = post(server, DEPLOYMENTS, bad, "?fieldValidation=Strict")
    assert code == 400 and status["reason"] == "BadRequest"
    # in the order the fields come in the document, as the Go decoder meets them
    assert status["message"] == ('Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
                                 'unknown field "spec.template.spec.containers[0].imagePullPolicyy", '
                                 'unknown field "spec.replica"')
    assert store.get("apps/v1", "Deployment", "web", "default") is None
    code, headers, created = post(server, DEPLOYMENTS, deployment(), "?fieldValidation=Strict")
    assert code == 201 and created["metadata"]["name"] == "web" and "Warning" not in headers


def test_warn_is_the_default_and_drops_the_field(server, store):
    code, headers, created = post(server, DEPLOYMENTS, deployment(replica=2))
    assert code == 201 and "replica" not in created["spec"]
    assert headers["Warning"] == '299 - "unknown field \\"spec.replica\\""'
    assert "replica" not in store.get("apps/v1", "Deployment", "web", "default")["spec"]


def test_ignore_drops_silently_and_bad_directives_are_refused(server):
    code, headers, created = post(server, DEPLOYMENTS, deployment(replica=2), "?fieldValidation=Ignore")
    assert code == 201 and "replica" not in created["spec"] and "Warning" not in headers
    code, _, status = post(server, DEPLOYMENTS, deployment(), "?fieldValidation=Loud")
    assert code == 400 and status["message"] == "invalid field validation directive: Loud"


def test_python_client_writes_keep_known_fields_of_every_checked_kind(api_client, store):
    core = client.CoreV1Api(api_client)
    secret = {"metadata": {"name": "s"}, "type": "Opaque", "stringData": {"a": "b"}, "immutable": False}
    core.create_namespaced_secret("default", secret)
    assert store.get("v1", "Secret", "s", "default")["stringData"] == {"a": "b"}
    svc = {"metadata": {"name": "svc"}, "spec": {"selector": {"a": "b"}, "ports": [{"port": 80, "name": "http"}],
                                                 "publishNotReadyAddresses": True}}
    core.create_namespaced_service("default", svc)
    assert store.get("v1", "Service", "svc", "default")["spec"]["publishNotReadyAddresses"] is True


def test_kubectl_validate_strict_and_warn(kubectl, store):
    manifest = yaml.safe_dump(deployment(replica=2))
    refused = kubectl("apply", "-f", "-", input=manifest, check=False)      # --validate=strict is the default
    assert refused.returncode != 0
    assert ('Error from server (BadRequest): error when creating "STDIN": Deployment in version "v1" cannot be '
            'handled as a Deployment: strict decoding error: unknown field "spec.replica"') in refused.stderr
    warned = kubectl("apply", "--validate=warn", "-f", "-", input=manifest)
    assert 'unknown field "spec.replica"' in warned.stderr and "deployment.apps/web created" in warned.stdout


def test_server_side_apply_refuses_undeclared_fields(kubectl, store):
    bad = deployment()
    bad["spec"]["template"]["spec"]["containers"][0]["colour"] = "blue"
    refused = kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert refused.returncode != 0
    assert ('failed to create typed patch object (default/web; apps/v1, Kind=Deployment): '
            '.spec.template.spec.containers[name="web"].colour: field not declared in schema') in refused.stderr
    assert store.get("apps/v1", "Deployment", "web", "default") is None
    kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(deployment()))
    assert store.get("apps/v1", "Deployment", "web", "default") is not None


# ------------------------------------------------------------------------------------------ custom resources

@pytest.fixture
def crds(store):
    install_crds(store)
    return store


@pytest.mark.parametrize("spec, message", [
    ({"interval": "five"},
     f"spec.interval: Invalid value: \"five\": spec.interval in body should match '{INTERVAL}'"),
    ({"install": {"remediation": {"retries": "three"}}},
     '[spec.install.remediation.retries: Invalid value: "string": spec.install.remediation.retries in body must be '
     f'of type integer: "string", {NOT_CHECKED}]'),
    ({"upgrade": {"crds": "Sometimes"}},
     '[spec.upgrade.crds: Unsupported value: "Sometimes": supported values: "Skip", "Create", "CreateReplace", '
     f'{NOT_CHECKED}]'),
    ({"releaseName": "x" * 54}, f"[spec.releaseName: Too long: may not be longer than 53, {NOT_CHECKED}]"),
    ({"valuesFrom": [{"name": "v"}]}, f"[spec.valuesFrom[0].kind: Required value, {NOT_CHECKED}]"),
])
def test_invalid_helmreleases_are_refused(api_client, crds, spec, message):
    api = client.CustomObjectsApi(api_client)
    with pytest.raises(ApiException) as info:
        api.create_namespaced_custom_object("helm.toolkit.fluxcd.io", "v2", "default", "helmreleases",
                                            helmrelease(**spec))
    status = status_body(info.value)
    assert info.value.status == 422 and status["reason"] == "Invalid"
    assert status["message"] == f'HelmRelease.helm.toolkit.fluxcd.io "cilium" is invalid: {message}'
    assert crds.get(HR, "HelmRelease", "cilium", "default") is None


def test_a_helmrelease_without_interval_is_refused(api_client, crds):
    body = helmrelease()
    del body["spec"]["interval"]
    with pytest.raises(ApiException) as info:
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            "helm.toolkit.fluxcd.io", "v2", "default", "helmreleases", body)
    assert status_body(info.value)["message"] == \
        f'HelmRelease.helm.toolkit.fluxcd.io "cilium" is invalid: [spec.interval: Required value, {NOT_CHECKED}]'


def test_valid_custom_resources_are_defaulted_and_pruned(api_client, crds):
    api = client.CustomObjectsApi(api_client)
    body = helmrelease(colour="blue")
    created = api.create_namespaced_custom_object("helm.toolkit.fluxcd.io", "v2", "default", "helmreleases", body)
    assert "colour" not in created["spec"]
    assert created["spec"]["chart"]["spec"]["reconcileStrategy"] == "ChartVersion"
    assert created["metadata"]["generation"] == 1


def test_strict_refuses_unknown_custom_resource_fields(server, crds):
    code, _, status = post(server, "/apis/helm.toolkit.fluxcd.io/v2/namespaces/default/helmreleases",
                           helmrelease(colour="blue"), "?fieldValidation=Strict")
    assert code == 400
    assert status["message"] == ('HelmRelease in version "v2" cannot be handled as a HelmRelease: strict decoding '
                                 'error: unknown field "spec.colour"')


def test_helm_values_are_free_form(crds):
    with validation.request(validation.STRICT):
        created = crds.create(helmrelease(values={"anything": {"goes": [1, "two"]}}))
    assert created["spec"]["values"] == {"anything": {"goes": [1, "two"]}}


def test_clustersecretstore_provider_is_checked(crds):
    store_obj = {"apiVersion": "external-secrets.io/v1beta1", "kind": "ClusterSecretStore",
                 "metadata": {"name": "onepassword"},
                 "spec": {"provider": {"onepassword": {"connectHost": "http://connect:8080",
                                                       "vaults": {"homelab": "first"}}}}}
    with pytest.raises(Exception) as info:
        crds.create(store_obj)
    message = info.value.message
    assert 'spec.provider.onepassword.vaults.homelab: Invalid value: "string"' in message
    assert "spec.provider.onepassword.auth: Required value" in message


def _infrastructure_objects() -> list[dict]:
    objects = []
    for kustomization in sorted((REPO / "infrastructure").rglob("kustomization.yaml")):
        objects += kustomize.build(kustomization.parent)
    for cluster_file in sorted((REPO / "infrastructure" / "clusters").rglob("*.yaml")):
        objects += [doc for doc in yaml.safe_load_all(cluster_file.read_text()) if doc]
    return objects


def _contains(big: object, small: object) -> bool:
    if isinstance(small, dict):
        return isinstance(big, dict) and all(k in big and _contains(big[k], v) for k, v in small.items())
    if isinstance(small, list):
        return isinstance(big, list) and len(big) == len(small) and all(map(_contains, big, small))
    return big == small


def test_the_repository_manifests_pass_strict_validation(crds):
    objects = _infrastructure_objects()
    custom = [o for o in objects if "." in o["apiVersion"].split("/")[0]]
    assert {o["kind"] for o in custom} >= {"HelmRelease", "HelmRepository", "Kustomization", "ClusterSecretStore",
                                          "ExternalSecret"}
    for obj in sorted(objects, key=lambda o: o["kind"] != "Namespace"):
        obj = copy.deepcopy(obj)
        if obj["kind"] != "Namespace":
            namespace = obj["metadata"].get("namespace")
            if namespace and crds.get("v1", "Namespace", namespace) is None:
                crds.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        with validation.request(validation.STRICT):
            crds.apply(obj)
        kept = crds.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace"))
        assert _contains(kept, obj), obj          # nothing pruned (defaults may have been added)


def test_kubectl_get_shows_the_crds_printer_columns(kubectl, crds):
    crds.create(helmrelease())
    crds.set_status(HR, "HelmRelease", "cilium", "default",
                    {"conditions": [{"type": "Ready", "status": "False", "reason": "InstallFailed",
                                     "message": "install retries exhausted"}]})
    lines = kubectl("get", "helmreleases").stdout.splitlines()
    assert lines[0].split() == ["NAME", "AGE", "READY", "STATUS"]
    assert lines[1].split()[2:] == ["False", "install", "retries", "exhausted"]
    crds.create({"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
                 "metadata": {"name": "app", "namespace": "default"},
                 "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "onepassword"},
                          "data": [{"secretKey": "k", "remoteRef": {"key": "item"}}]}})
    header = kubectl("get", "externalsecrets").stdout.splitlines()[0]
    assert header.split() == ["NAME", "STORE", "REFRESH", "INTERVAL", "STATUS", "READY"]
