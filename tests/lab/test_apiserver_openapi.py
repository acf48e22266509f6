"""/openapi/v2 and /openapi/v3: `kubectl explain` (v3 by default, v2 with --output=plaintext-openapiv2) through the
real kubectl, kubectl's validation still left to the server, and the documents' own shape (refs that resolve,
caching, CRD updates, content negotiation)."""

from __future__ import annotations

import hashlib
import json

import pytest

from hops.lab import charts
from hops.lab.apiserver import openapi_proto

from tests.lab.apiserver_fixtures import kubectl, raw_request, server, store  # noqa: F401

HR = "helmreleases.helm.toolkit.fluxcd.io"
PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"


@pytest.fixture
def crds(store):
    """Every CRD the lab's chart catalog installs (Flux, External Secrets, Longhorn, Cilium...)."""
    count = 0
    for name in charts.CATALOG:
        for obj in charts.render(charts.lookup(name), name, "kube-system", {}):
            if obj.get("kind") == "CustomResourceDefinition":
                store.create(obj)
                count += 1
    assert count > 20
    return count


def _fields(output: str) -> dict[str, str]:
    """`name <type>` of the FIELDS block of kubectl explain."""
    found = {}
    for line in output.split("FIELDS:", 1)[-1].splitlines():
        parts = line.strip().split("\t")
        if len(parts) == 2 and line.startswith(("  ", "   ")) and not line.startswith("    "):
            found[parts[0]] = parts[1]
    return found


def test_explain_a_built_in_field(kubectl, crds):
    out = kubectl("explain", "deployment.spec.strategy").stdout
    assert out.startswith("GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n")
    assert "FIELD: strategy <DeploymentStrategy>" in out
    assert _fields(out) == {"rollingUpdate": "<RollingUpdateDeployment>", "type": "<string>"}
    assert "enum: Recreate, RollingUpdate" in out
    pod = _fields(kubectl("explain", "pod.spec.containers").stdout)
    assert pod["name"] == "<string> -required-" and pod["ports"] == "<[]ContainerPort>"
    assert pod["resources"] == "<ResourceRequirements>" and pod["env"] == "<[]EnvVar>"
    cm = _fields(kubectl("explain", "configmap").stdout)
    assert cm["data"] == "<map[string]string>" and cm["metadata"] == "<ObjectMeta>" and "status" not in cm


def test_explain_an_unknown_field_fails_like_the_real_one(kubectl, crds):
    missing = kubectl("explain", "deployment.spec.nothere", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'error: field "nothere" does not exist'
    v2 = kubectl("explain", "--output=plaintext-openapiv2", "deployment.spec.nothere", check=False)
    assert v2.returncode == 1 and v2.stderr.strip() == 'error: field "nothere" does not exist'


def test_explain_a_custom_resource_from_its_crd_schema(kubectl, crds):
    out = kubectl("explain", "helmrelease.spec.chart").stdout
    assert "GROUP:      helm.toolkit.fluxcd.io\nKIND:       HelmRelease\nVERSION:    v2\n" in out
    assert _fields(out) == {"metadata": "<Object>", "spec": "<Object> -required-"}
    spec = _fields(kubectl("explain", "helmrelease.spec.chart.spec").stdout)
    assert spec["chart"] == "<string> -required-" and spec["sourceRef"] == "<Object> -required-"
    assert _fields(kubectl("explain", "externalsecret.spec.data").stdout)["secretKey"] == "<string> -required-"
    top = _fields(kubectl("explain", "helmrelease").stdout)
    assert top["metadata"] == "<ObjectMeta>" and top["apiVersion"] == "<string>"
    missing = kubectl("explain", "helmrelease.spec.chart.nothere", check=False)
    assert missing.returncode == 1 and 'field "nothere" does not exist' in missing.stderr


def test_explain_from_the_swagger_document(kubectl, crds):
    # kubectl parses the whole protobuf document first: one bad definition anywhere fails every explain
    out = kubectl("explain", "--output=plaintext-openapiv2", "deployment.spec.strategy").stdout
    assert "KIND:     Deployment\nVERSION:  apps/v1\n" in out and "RESOURCE: strategy <Object>" in out
    assert "rollingUpdate\t<Object>" in out and "type\t<string>" in out
    hr = kubectl("explain", "--output=plaintext-openapiv2", "helmrelease.spec.chart.spec").stdout
    assert "VERSION:  helm.toolkit.fluxcd.io/v2" in hr and "sourceRef\t<Object> -required-" in hr


def test_validation_is_still_the_servers(kubectl, crds, tmp_path):
    manifest = tmp_path / "typo.yaml"
    manifest.write_text("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicaz: 2\n"
                        "  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n"
                        "    spec: {containers: [{name: web, image: nginx}]}\n")
    for flag in ("--validate=strict", "--validate=true"):
        refused = kubectl("apply", flag, "-f", str(manifest), check=False)
        assert refused.returncode == 1
        assert ('Error from server (BadRequest): error when creating "' + str(manifest) + '": Deployment in version '
                '"v1" cannot be handled as a Deployment: strict decoding error: unknown field "spec.replicaz"'
                ) in refused.stderr
    accepted = kubectl("apply", "--validate=false", "-f", str(manifest))
    assert accepted.stdout.strip() == "deployment.apps/web created"
    manifest.write_text(manifest.read_text().replace("replicaz: 2", "replicas: 3"))
    assert kubectl("apply", "--validate=strict", "-f", str(manifest)).stdout.strip() == "deployment.apps/web configured"


def test_a_crd_update_is_in_the_next_document(kubectl, store):
    store.create(charts.crd("helm.toolkit.fluxcd.io", "HelmRelease", "helmreleases", ["v2"], "flux", "flux-system"))
    assert "newField" not in _fields(kubectl("explain", "helmrelease.spec").stdout)
    crd = store.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", HR)
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"]["properties"]["newField"] = {"type": "integer"}
    store.patch("apiextensions.k8s.io/v1", "CustomResourceDefinition", HR, None, {"spec": crd["spec"]})
    assert _fields(kubectl("explain", "helmrelease.spec").stdout)["newField"] == "<integer>"


def _resolves(doc: dict, prefix: str, names: set[str]) -> list[str]:
    """Every $ref in doc that does not name a definition."""
    bad = []
    if isinstance(doc, dict):
        target = doc.get("$ref")
        if isinstance(target, str) and (not target.startswith(prefix) or target[len(prefix):] not in names):
            bad.append(target)
        for value in doc.values():
            bad += _resolves(value, prefix, names)
    elif isinstance(doc, list):
        for value in doc:
            bad += _resolves(value, prefix, names)
    return bad


def test_every_group_version_document_is_whole(server, crds):
    index = json.loads(raw_request(server.url + "/openapi/v3")[2])
    assert len(index["paths"]) > 20
    for key, entry in index["paths"].items():
        code, _, raw = raw_request(server.url + entry["serverRelativeURL"])
        assert code == 200, key
        assert entry["serverRelativeURL"].endswith("?hash=" + hashlib.sha512(raw).hexdigest().upper())
        doc = json.loads(raw)
        schemas = doc["components"]["schemas"]
        assert _resolves(doc, "#/components/schemas/", set(schemas)) == [], key
        for operation in doc["paths"].values():
            gvk = operation["patch"]["x-kubernetes-group-version-kind"]
            assert any(gvk in schema.get("x-kubernetes-group-version-kind", []) for schema in schemas.values()), gvk
    apps = json.loads(raw_request(server.url + "/openapi/v3/apis/apps/v1")[2])["components"]["schemas"]
    containers = apps["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"]
    assert containers["x-kubernetes-patch-merge-key"] == "name" and containers["x-kubernetes-list-map-keys"] == ["name"]
    assert apps["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert apps["io.k8s.api.apps.v1.DeploymentList"]["properties"]["metadata"]["allOf"][0]["$ref"].endswith(
        "meta.v1.ListMeta")
    assert raw_request(server.url + "/openapi/v3/apis/nothere/v1")[0] == 404


def test_swagger_document_negotiation(server, crds):
    code, headers, raw = raw_request(server.url + "/openapi/v2")
    assert (code, headers["Content-Type"]) == (200, "application/json")
    doc = json.loads(raw)
    assert doc["swagger"] == "2.0"
    definitions = doc["definitions"]
    assert _resolves(doc, "#/definitions/", set(definitions)) == []
    deployment = definitions["io.k8s.api.apps.v1.Deployment"]
    assert deployment["x-kubernetes-group-version-kind"] == [{"group": "apps", "version": "v1", "kind": "Deployment"}]
    assert deployment["properties"]["spec"] == {"$ref": "#/definitions/io.k8s.api.apps.v1.DeploymentSpec",
                                                "description": "Specification of the desired behavior of the object."}
    assert "io.fluxcd.toolkit.helm.v2.HelmRelease" in definitions
    code, headers, proto = raw_request(server.url + "/openapi/v2", headers={"Accept": PROTOBUF})
    assert (code, headers["Content-Type"]) == (200, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf")
    assert proto == openapi_proto.document(doc) and proto[:5] == b"\n\x032.0"
    code, _, body = raw_request(server.url + "/openapi/v2", headers={"Accept": "text/html"})
    assert (code, body) == (406, b"406 - Not Acceptable\n")
    again = raw_request(server.url + "/openapi/v2", headers={"Accept": f"text/html, {PROTOBUF}"})[2]
    assert again == proto


def test_protobuf_encoding_of_a_schema() -> None:
    encoded = openapi_proto.schema({"type": "array", "items": {"$ref": "#/definitions/x"}, "minItems": 1,
                                    "x-kubernetes-list-type": "set"})
    # type (22) TypeItem{"array"}, items (23) ItemsItem{Schema{_ref}}, min_items (15) = 1, vendor extension (31)
    assert encoded.startswith(b"\xb2\x01\x07\n\x05array")
    assert b"\xba\x01\x13\n\x11\n\x0f#/definitions/x" in encoded
    assert b"\x78\x01" in encoded
    assert encoded.endswith(b"\xfa\x01\x21\n\x16x-kubernetes-list-type\x12\x07\x12\x05\"set\"")
    assert openapi_proto.schema({"unknown": 1, "description": None}) == b""


def test_swagger_leaves_open_kinds_open(server, crds):
    # helm validates what it installs against /openapi/v2 and refuses any field a kind's definition does not list:
    # a kind the lab does not describe field by field (CustomResourceDefinition itself) must not list only
    # apiVersion/kind/metadata there ("ValidationError(CustomResourceDefinition): unknown field \"spec\"")
    definitions = json.loads(raw_request(server.url + "/openapi/v2")[2])["definitions"]
    crd_kind = definitions["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition"]
    assert "properties" not in crd_kind and crd_kind["type"] == "object"
    assert crd_kind["x-kubernetes-group-version-kind"][0]["kind"] == "CustomResourceDefinition"
    assert "spec" in definitions["io.k8s.api.apps.v1.Deployment"]["properties"]  # described kinds stay closed
    v3 = json.loads(raw_request(server.url + "/openapi/v3/apis/apiextensions.k8s.io/v1")[2])
    described = v3["components"]["schemas"]["io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1."
                                             "CustomResourceDefinition"]
    assert described["x-kubernetes-preserve-unknown-fields"] is True and "metadata" in described["properties"]
