"""The review resources kubectl asks about the caller (`kubectl auth can-i`, `kubectl auth can-i --list`,
`kubectl auth whoami`): created, answered, never stored. The lab's kubeconfig user is Talos' admin (its client
certificate says CN=admin, O=system:masters), whom RBAC allows everything."""

from __future__ import annotations

from hops.lab.apiserver import errors
from hops.lab.apiserver.resources import ResourceType

USERNAME = "admin"
GROUPS = ["system:masters", "system:authenticated"]
REVIEW_KEYS = {("authentication.k8s.io", "selfsubjectreviews"), ("authorization.k8s.io", "selfsubjectaccessreviews"),
               ("authorization.k8s.io", "selfsubjectrulesreviews")}


def is_review(rt: ResourceType) -> bool:
    return rt.key in REVIEW_KEYS


def answer(rt: ResourceType, body: object, namespace: str | None) -> dict:
    """The review with its status filled in, as kube-apiserver answers a POST (201 Created)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the object provided is not a JSON object")
    given = body.get("spec")
    spec: dict = given if isinstance(given, dict) else {}
    out: dict = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": {"creationTimestamp": None}}
    if rt.plural == "selfsubjectreviews":
        out["status"] = {"userInfo": {"username": USERNAME, "groups": list(GROUPS)}}
    elif rt.plural == "selfsubjectaccessreviews":
        if not (spec.get("resourceAttributes") or spec.get("nonResourceAttributes")):
            raise errors.invalid(rt.group, rt.kind, "", [
                ("FieldValueRequired", "spec.resourceAttributes",
                 "Required value: exactly one of nonResourceAttributes or resourceAttributes must be specified")])
        out["spec"] = spec
        out["status"] = {"allowed": True}
    else:
        out["spec"] = {**spec, "namespace": spec.get("namespace") or namespace or ""}
        out["status"] = {"resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                         "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}], "incomplete": False}
    return out
