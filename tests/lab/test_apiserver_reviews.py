"""Contract tests: the review resources (`kubectl auth can-i`, `kubectl auth whoami`) and the discovery of the
authentication, authorization, autoscaling and apiregistration groups, as a real apiserver serves them."""

from __future__ import annotations

import json

from kubernetes import client

from tests.lab.apiserver_fixtures import api_client, kubectl, raw_request, server, store  # noqa: F401


def test_kubectl_auth_can_i_and_whoami(kubectl):
    assert kubectl("auth", "can-i", "create", "deployments", "-n", "kube-system").stdout.strip() == "yes"
    whoami = kubectl("auth", "whoami").stdout.splitlines()
    assert whoami[1].split() == ["Username", "admin"]
    assert whoami[2].split(None, 1) == ["Groups", "[system:masters system:authenticated]"]
    listed = kubectl("auth", "can-i", "--list").stdout.splitlines()
    assert listed[1].split() == ["*.*", "[]", "[]", "[*]"]


def test_reviews_are_answered_not_stored(server, store):
    url = f"{server.url}/apis/authorization.k8s.io/v1/selfsubjectaccessreviews"
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
              "spec": {"resourceAttributes": {"verb": "get", "resource": "secrets", "namespace": "default"}}}
    code, _, body = raw_request(url, "POST", json.dumps(review).encode(), {"Content-Type": "application/json"})
    answer = json.loads(body)
    assert code == 201 and answer["status"] == {"allowed": True} and answer["spec"] == review["spec"]
    assert raw_request(url)[0] == 405                               # nothing to list
    code, _, body = raw_request(url, "POST", json.dumps({"spec": {}}).encode(), {"Content-Type": "application/json"})
    assert code == 422 and "exactly one of nonResourceAttributes or resourceAttributes" in json.loads(body)["message"]


def test_discovery_lists_the_review_autoscaling_and_apiregistration_groups(api_client):
    groups = {g.name: [v.version for v in g.versions]
              for g in client.ApisApi(api_client).get_api_versions().groups}
    assert groups["autoscaling"] == ["v2", "v1"]
    assert {"authentication.k8s.io", "authorization.k8s.io", "apiregistration.k8s.io"} <= set(groups)
    resources = client.AutoscalingV2Api(api_client).get_api_resources().resources
    assert [r.name for r in resources if "/" not in r.name] == ["horizontalpodautoscalers"]
