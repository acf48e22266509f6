"""Injected faults look like the real failures they stand for: a `fail:...:transient|:permanent` tool call prints
the real tool's error text of that kind (hops.failures classifies it the same way), and the API faults answer
like kube-apiserver (a Status body; a hung request ends in the apiserver's own 504 Timeout)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from hops import failures
from hops.lab import faults
from lab_helpers import apply_insecure, wait_running

CP1 = "172.29.51.11"


@pytest.mark.parametrize("severity, transient", [("transient", True), ("permanent", False)])
def test_a_failing_talosctl_call_prints_the_real_text_of_its_kind(lab, lab_layout, run_tool, severity: str,
                                                                  transient: bool) -> None:
    faults.add(lab_layout, f"fail:talosctl version:1:{severity}")
    failed = run_tool("talosctl", "version", "--insecure", "-n", CP1)
    assert failed.returncode == 1 and "injected" not in failed.stderr
    assert failures.classify("talosctl", ["version"], failed.returncode, failed.stdout, failed.stderr).transient \
        is transient
    assert run_tool("talosctl", "version", "--insecure", "-n", CP1).returncode == 0


@pytest.mark.parametrize("tool, args", [("helm", ("upgrade", "--install", "x", "y")), ("op", ("read", "op://v/i/f")),
                                        ("flux", ("check", "--pre")), ("cilium", ("status",))])
@pytest.mark.parametrize("severity, transient", [("transient", True), ("permanent", False)])
def test_every_tool_prints_a_classifiable_error(lab, lab_layout, run_tool, tool: str, args: tuple, severity: str,
                                                transient: bool) -> None:
    faults.add(lab_layout, f"fail:{tool} {args[0]}:1:{severity}")
    failed = run_tool(tool, *args)
    verdict = failures.classify(tool, list(args), failed.returncode, failed.stdout, failed.stderr)
    assert failed.returncode == 1 and verdict.transient is transient, (failed.stderr, verdict)


def test_without_a_severity_the_lab_says_it_injected_the_failure(lab, lab_layout, run_tool) -> None:
    faults.add(lab_layout, "fail:talosctl version:1")
    failed = run_tool("talosctl", "version", "--insecure", "-n", CP1)
    assert "injected failure" in failed.stderr
    assert not failures.classify("talosctl", ["version"], 1, failed.stdout, failed.stderr).transient


def test_a_severity_must_be_known() -> None:
    with pytest.raises(faults.FaultSpecError):
        faults.parse("fail:helm upgrade:1:sometimes")
    assert faults.parse("fail:helm upgrade:2:permanent")["tools"] == [
        {"tool": "helm", "subcommand": "upgrade", "remaining": 2, "severity": "permanent"}]


def _answer(url: str) -> tuple[int, dict, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status, json.loads(reply.read()), dict(reply.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), dict(exc.headers)


def _bootstrapped(start_lab, lab_layout, run_tool, spec: str) -> dict:
    lab = start_lab(spec)
    configs = lab_layout.cluster_dir
    assert run_tool("talhelper", "genconfig", "-o", str(configs)).returncode == 0
    apply_insecure(run_tool, configs, lab)
    wait_running(lab)
    assert run_tool("talosctl", "--talosconfig", str(configs / "talosconfig"), "-n", CP1, "bootstrap").returncode == 0
    return lab


def test_api_faults_answer_like_kube_apiserver(start_lab, lab_layout, run_tool) -> None:
    lab = _bootstrapped(start_lab, lab_layout, run_tool, "api-errors:1.0")
    code, status, headers = _answer(lab["api_url"] + "/api/v1/nodes")
    assert (code, status["kind"], status["reason"]) == (503, "Status", "ServiceUnavailable")
    assert status["message"] == "the server is currently unable to handle the request"
    assert status["details"]["retryAfterSeconds"] == 1 and headers["Retry-After"] == "1"
    faults.clear(lab_layout)
    faults.add(lab_layout, "api-timeouts:1.0")
    code, status, headers = _answer(lab["api_url"] + "/api/v1/nodes")  # held for the apiserver's 60 s (lab time)
    assert (code, status["reason"]) == (504, "Timeout") and "context deadline exceeded" in status["message"]
    assert "Retry-After" not in headers
    assert failures.classify("helm", ["upgrade"], 1, "", f"Error: UPGRADE FAILED: {status['message']}").transient
    faults.clear(lab_layout)
    assert _answer(lab["api_url"] + "/api/v1/nodes")[0] == 200


def test_the_tools_retry_an_answer_that_asks_them_to_like_client_go(start_lab, lab_layout, run_tool) -> None:
    """helm, flux and cilium are Go programs on client-go, which retries a 429/5xx carrying Retry-After (up to 10
    times) by itself: under api-errors:0.5 a helm call still gets through; under api-errors:1.0 it fails with
    the apiserver's message."""
    _bootstrapped(start_lab, lab_layout, run_tool, "")
    kubeconfig = ["--kubeconfig", str(lab_layout.cluster_dir / "kubeconfig")]
    assert run_tool("talosctl", "--talosconfig", str(lab_layout.cluster_dir / "talosconfig"), "-n", CP1,
                    "kubeconfig", str(lab_layout.cluster_dir / "kubeconfig"), "--force").returncode == 0
    faults.add(lab_layout, "api-errors:0.5")
    assert run_tool("helm", "list", "-A", *kubeconfig).returncode == 0
    faults.add(lab_layout, "api-errors:1.0")
    failed = run_tool("helm", "list", "-A", *kubeconfig)
    assert failed.returncode == 1 and "the server is currently unable to handle the request" in failed.stderr
