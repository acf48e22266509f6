"""hops.failures: every row of the classification table with an output it recognises and a near miss it must
not, using the real tools' error texts (helm, flux, talosctl, cilium, op, the Kubernetes API)."""

from __future__ import annotations

import pytest

from hops.failures import RULES, TIMEOUT_EXIT, classify, classify_http

# label -> (tool, an output of that kind, a similar output that is not of that kind)
ROWS: dict[str, tuple[str, str, str]] = {
    "usage error": ("helm", 'Error: unknown flag: --instal',
                    "Error: UPGRADE FAILED: flag values are fine but the server is currently unable to handle the request"),
    "helm operation in progress": ("helm", "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress",
                                   "Error: UPGRADE FAILED: an operation on release cilium finished"),
    "chart or version not found": ("helm", 'Error: chart "cilium" version "9.9.9" not found in https://helm.cilium.io repository',
                                   'Error: INSTALLATION FAILED: Get "https://helm.cilium.io/index.yaml": dial tcp 127.0.0.1:443: i/o timeout'),
    "validation error": ("helm", 'Error: UPGRADE FAILED: Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1',
                         "Error: UPGRADE FAILED: the deployment is valid but etcdserver: leader changed"),
    "not authorized": ("op", "[ERROR] 2024/05/01 10:00:00 You are not currently signed in. Please run `op signin --help`",
                       "[ERROR] 2024/05/01 10:00:00 signed in; read: context deadline exceeded"),
    "not found in 1Password": ("op", '[ERROR] 2024/05/01 10:00:00 "talos-secrets" isn\'t an item in the "homelab" vault',
                               "[ERROR] 2024/05/01 10:00:00 found item talos-secrets; connection reset by peer"),
    "already exists": ("talosctl", "error executing bootstrap: rpc error: code = AlreadyExists desc = etcd data directory is not empty",
                       "error executing bootstrap: rpc error: code = Unavailable desc = connection closed"),
    "API unavailable": ("helm", "Error: INSTALLATION FAILED: the server is currently unable to handle the request",
                        "Error: INSTALLATION FAILED: the server could not find the requested resource"),
    "webhook not ready": ("helm", 'Error: UPGRADE FAILED: Internal error occurred: failed calling webhook "webhook.cert-manager.io": '
                                  'Post "https://cert-manager-webhook.cert-manager.svc:443/mutate?timeout=10s": dial tcp 10.96.0.12:443: connect: connection refused',
                          'Error: UPGRADE FAILED: admission webhook "vpol.kyverno.svc" denied the request: policy violated'),
    "helm uninstall incomplete": ("helm", "Error: failed to delete release: longhorn",
                                  "Error: uninstall: Release not loaded: longhorn: release: not found"),
    "etcd busy": ("helm", "Error: UPGRADE FAILED: etcdserver: leader changed",
                  "Error: UPGRADE FAILED: etcdserver: mvcc: database space exceeded"),
    "Talos API not ready": ("talosctl", "error executing bootstrap: rpc error: code = FailedPrecondition desc = bootstrap is not available yet",
                            "error executing bootstrap: rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control plane node"),
    "timeout": ("cilium", "Error: Unable to determine status:  timeout while waiting for status to become successful: context deadline exceeded",
                "Error: Unable to determine status: cilium pods are not running"),
    "connection failed": ("flux", '✗ Kubernetes client initialization failed: Get "https://127.0.0.1:6443/api": dial tcp 127.0.0.1:6443: connect: connection refused',
                          '✗ Kubernetes client initialization failed: Get "https://127.0.0.1:6443/api": no such host known'),
}


def test_every_rule_has_a_row() -> None:
    assert {rule.label for rule in RULES} == set(ROWS)


@pytest.mark.parametrize("label", sorted(ROWS))
def test_rule_recognises_its_output(label: str) -> None:
    tool, output, _ = ROWS[label]
    verdict = classify(tool, ["some", "call"], 1, "", output)
    rule = next(r for r in RULES if r.label == label)
    assert verdict.reason.startswith(f"{label}: ")
    assert verdict.transient is rule.transient


@pytest.mark.parametrize("label", sorted(ROWS))
def test_rule_ignores_a_near_miss(label: str) -> None:
    tool, _, near_miss = ROWS[label]
    assert not classify(tool, ["some", "call"], 1, "", near_miss).reason.startswith(f"{label}: ")


def test_reason_names_the_matching_output_line() -> None:
    stderr = "walk.go:74: found symbolic link\nError: UPGRADE FAILED: etcdserver: leader changed\n"
    verdict = classify("helm", ["upgrade"], 1, "", stderr)
    assert verdict == verdict.__class__(True, "etcd busy: Error: UPGRADE FAILED: etcdserver: leader changed")


def test_permanent_sign_wins_over_a_transient_one() -> None:
    stderr = "error: You must be logged in to the server (Unauthorized); connection reset by peer"
    assert not classify("flux", ["check"], 1, "", stderr).transient


def test_unrecognised_failure_is_permanent() -> None:
    verdict = classify("talhelper", ["genconfig"], 1, "", "failed to do the thing")
    assert verdict.transient is False and "unrecognised" in verdict.reason


def test_runner_timeout_is_transient_and_other_codes_are_not() -> None:
    assert classify("flux", ["bootstrap"], TIMEOUT_EXIT, "", "timed out after 60s").transient
    assert not classify("flux", ["bootstrap"], 2, "", "timed out after 60s").transient


def test_output_on_stdout_counts_too() -> None:
    assert classify("talosctl", ["version"], 1, "rpc error: code = Unavailable desc = connection closed", "").transient


def test_tool_specific_rule_applies_only_to_its_tool() -> None:
    assert classify("op", ["read"], 1, "", '"x" isn\'t an item in the "v" vault').reason.startswith("not found in 1Password")
    assert classify("helm", ["get"], 1, "", '"x" isn\'t an item in the "v" vault').reason.startswith("unrecognised")


def test_success_is_not_a_failure() -> None:
    assert classify("helm", ["upgrade"], 0, "the server is currently unable to handle the request", "").transient is False


@pytest.mark.parametrize("status, reason, method, transient", [
    (503, "ServiceUnavailable", "GET", True),
    (429, "TooManyRequests", "PATCH", True),
    (500, "InternalError", "GET", True),
    (502, "", "GET", True),
    (504, "Timeout", "DELETE", True),
    (409, "Conflict", "PATCH", True),
    (409, "AlreadyExists", "POST", False),
    (409, "Conflict", "POST", False),
    (404, "NotFound", "GET", False),
    (422, "Invalid", "PATCH", False),
    (403, "Forbidden", "GET", False),
    (401, "Unauthorized", "GET", False),
])
def test_http_answers(status: int, reason: str, method: str, transient: bool) -> None:
    verdict = classify_http(status, reason, method)
    assert verdict.transient is transient and str(status) in verdict.reason


def test_a_schema_download_that_timed_out_is_not_a_validation_error() -> None:
    """helm's client-side validation could not fetch /openapi (the API did not answer in time): the api-timeouts
    soak failed Longhorn's install at once on it while it is as transient as its cause."""
    stderr = ('Error: UPGRADE FAILED: error validating "": error validating data: failed to download openapi: the '
              'server was unable to return a response in the time allotted, but may still be processing the request')
    verdict = classify("helm", ["upgrade"], 1, "", stderr)
    assert verdict.transient and verdict.reason.startswith("API unavailable: ")
    invalid = ('Error: error validating "deploy.yaml": error validating data: ValidationError(Deployment.spec): '
               'unknown field "replica" in io.k8s.api.apps.v1.DeploymentSpec')
    assert classify("helm", ["upgrade"], 1, "", invalid).reason.startswith("validation error: ")
