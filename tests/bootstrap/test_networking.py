"""Phase 3 (networking) on the lab with a real doit: converge, skip, forget, a helm failure and resume, a blocked
Cilium timing out with its status, and every live check both holding and not."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.projects import executed

from hops.components import networking
from hops.context import Context

MARKERS = ("cilium-deployed", "cilium-ready", "nodes-cni-ready", "pod-networking-tested", "cilium-status-verified",
           "service-connectivity-tested", "kube-proxy-verified", "phase-3-complete")
STEPS = {f"networking:{s}" for s in ("deploy-cilium", "wait", "nodes", "pod-networking", "cilium-status",
                                     "service-connectivity", "kube-proxy", "complete")}


@pytest.fixture(autouse=True)
def _lab_dir(lab_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab layout (used by in-process checks) reads HOPS_LAB_DIR from the process environment."""
    monkeypatch.setenv("HOPS_LAB_DIR", lab_env["HOPS_LAB_DIR"])


def ctx_for(project: Path, lab_env: dict) -> Context:
    """A fresh context (no cached lists) on the tmp project and its lab."""
    return Context(project, lab_env)


def fault(lab_env: dict, spec: str) -> None:
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", "add", spec], env=lab_env, check=True,
                   capture_output=True)


def helm_upgrades(lab_env: dict) -> int:
    calls = Path(lab_env["HOPS_LAB_DIR"], "calls.jsonl").read_text().splitlines()
    return sum(1 for line in calls if (c := json.loads(line))["tool"] == "helm" and c["argv"][:1] == ["upgrade"])


def set_networking_timeout(project: Path, seconds: int) -> None:
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("    networking: 600", f"    networking: {seconds}"))


def test_converges_skips_forgets_and_checks_hold_then_break(doit, project: Path, lab_env: dict,
                                                           state_dir: Path) -> None:
    doit("networking")
    for marker in MARKERS:
        assert (state_dir / marker).exists(), marker
    ctx = ctx_for(project, lab_env)
    for check in (networking.cilium_installed, networking.cilium_ready, networking.nodes_ready,
                  networking.service_has_endpoints, networking.kube_proxy_replaced):
        assert check(ctx), check.__name__
    assert ctx.kube.list("Job", "hops-checks", fresh=True) == []  # the DNS check Job was deleted after use

    assert executed(doit("networking")) == []
    doit("forget", "networking", *sorted(STEPS))
    assert set(executed(doit("networking"))) == STEPS

    # break the world through the API: each check turns false
    kube_proxy = {"apiVersion": "apps/v1", "kind": "DaemonSet",
                  "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
                  "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                           "template": {"metadata": {"labels": {"k8s-app": "kube-proxy"}},
                                        "spec": {"containers": [{"name": "kube-proxy",
                                                                 "image": "registry.k8s.io/kube-proxy:v1.31.4"}]}}}}
    ctx.kube.apply(kube_proxy)
    assert not networking.kube_proxy_replaced(ctx_for(project, lab_env))
    assert networking.kube_proxy_problems(ctx_for(project, lab_env)) == [
        "DaemonSet kube-system/kube-proxy exists: disable it in Talos (cluster.proxy.disabled: true)"]
    assert ctx.kube.delete("DaemonSet", "kube-proxy", "kube-system")
    assert networking.kube_proxy_replaced(ctx_for(project, lab_env))
    cm = ctx.kube.get("ConfigMap", "cilium-config", "kube-system")
    ctx.kube.apply({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cilium-config",
                    "namespace": "kube-system"}, "data": {**cm["data"], "kube-proxy-replacement": "false"}})
    assert not networking.kube_proxy_replaced(ctx_for(project, lab_env))
    assert networking.kube_proxy_problems(ctx_for(project, lab_env))[0].startswith(
        "ConfigMap kube-system/cilium-config has kube-proxy-replacement='false'")
    endpoints = ctx.kube.get("Endpoints", "kubernetes", "default")
    ctx.kube.delete("Endpoints", "kubernetes", "default")
    assert not networking.service_has_endpoints(ctx_for(project, lab_env))
    ctx.kube.apply({k: v for k, v in endpoints.items() if k != "metadata"} |
                   {"metadata": {"name": "kubernetes", "namespace": "default"}})
    ctx.kube.delete("DaemonSet", "cilium", "kube-system")
    assert not networking.cilium_ready(ctx_for(project, lab_env))
    assert not networking.cilium_installed(ctx_for(project, lab_env))
    # without the CNI the kubelets report NotReady: watch for it, then the check is false
    ctx.kube.wait("Node", "a node NotReady", lambda objs: (any(not networking.is_true(n) for n in objs.values()), ""),
                  time.monotonic() + 30)
    assert not networking.nodes_ready(ctx_for(project, lab_env))

    # the next run re-deploys Cilium (its steps after that re-check the world, which may be ready by then)
    repaired = executed(doit("networking"))
    assert repaired[0] == "networking:deploy-cilium" and set(repaired) <= STEPS
    fresh = ctx_for(project, lab_env)
    assert networking.cilium_ready(fresh) and networking.nodes_ready(fresh) and networking.kube_proxy_replaced(fresh)
    status = doit("networking_status")
    assert "desiredNumberScheduled=3 numberReady=3 of 3 nodes" in status.stdout
    assert "node talos-cp-2: Ready=True" in status.stdout


def test_helm_failure_names_step_and_next_run_resumes_there(doit, lab_env: dict, state_dir: Path) -> None:
    doit("talos")
    fault(lab_env, "fail:helm upgrade:1")
    failed = doit("networking", check=False)
    assert failed.returncode != 0
    out = failed.stdout + failed.stderr
    assert "networking:deploy-cilium" in out
    assert "with helm failed" in out and "injected failure" in out
    assert not (state_dir / "cilium-deployed").exists()
    resumed = doit("networking")
    ran = executed(resumed)
    assert ran[0] == "networking:deploy-cilium" and set(ran) == STEPS
    assert (state_dir / "phase-3-complete").exists()


def test_blocked_cilium_fails_at_deadline_naming_the_daemonset(doit, project: Path, lab_env: dict,
                                                              state_dir: Path) -> None:
    # the deadline covers the helm call too (the real helm takes 1-3 s here): enough left for the DaemonSet's
    # status to say every pod is scheduled and none ready
    set_networking_timeout(project, 8)
    doit("talos")
    fault(lab_env, "block:cilium")
    started = time.monotonic()
    failed = doit("networking", check=False)
    assert failed.returncode != 0 and time.monotonic() - started < 60
    out = failed.stdout + failed.stderr
    assert "networking:wait" in out and "timed out waiting for Cilium agents ready on all 3 nodes" in out
    assert "DaemonSet kube-system/cilium: desiredNumberScheduled=3 numberReady=0 of 3 nodes" in out
    assert (state_dir / "cilium-deployed").exists() and not (state_dir / "cilium-ready").exists()
    assert not networking.cilium_ready(ctx_for(project, lab_env))
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", "clear"], env=lab_env, check=True, capture_output=True)
    ran = executed(doit("networking"))
    assert "networking:deploy-cilium" not in ran and ran[0] == "networking:wait"


def test_reset_state_forgets_only_networking(doit, state_dir: Path) -> None:
    doit("networking")
    doit("networking_reset_state", "--yes")
    assert not any((state_dir / m).exists() for m in MARKERS)
    assert (state_dir / "phase-2-complete").exists()
    assert set(executed(doit("networking"))) == STEPS

