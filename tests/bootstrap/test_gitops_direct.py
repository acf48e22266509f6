"""Phases 5 and 6 called directly (no doit, no phases 2-4) on a lab brought up by hand with the emulated tools:
Talos nodes, Cilium through helm with the repository's values, the Connect secrets. One converged lab is shared
by every assertion of this module; each live check is shown true and then false."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import pytest

from hops.components import applications, gitops
from hops.context import Context
from hops.errors import StepError, WaitTimeout
from hops.lab import lifecycle
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

REPO = Path(__file__).resolve().parents[2]
CP1 = "172.29.51.11"


def _run(env: dict, tool: str, *args: str, input: str | None = None) -> str:
    done = subprocess.run([tool, *args], env=env, capture_output=True, text=True, input=input, timeout=120)
    assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stderr}"
    return done.stdout


def _manual_cluster(env: dict, layout: LabLayout, info: dict) -> None:
    """What phases 2-4 do, by hand: Talos up, kubeconfig, Cilium with the repository's values, Connect secrets."""
    out = layout.cluster_dir
    _run(env, "talhelper", "genconfig", "-o", str(out))
    for name, node in info["nodes"].items():
        _run(env, "talosctl", "apply-config", "--insecure", "-n", node["address"], "-f", str(out / f"home-ops-{name}.yaml"))
    for name in info["nodes"]:
        assert lifecycle.wait_node(info, name, "running", 30)
    _run(env, "talosctl", "--talosconfig", str(out / "talosconfig"), "-n", CP1, "bootstrap")
    _run(env, "talosctl", "--talosconfig", str(out / "talosconfig"), "-n", CP1, "kubeconfig", str(out / "kubeconfig"))
    for name in info["nodes"]:
        assert lifecycle.wait_registered(info, name, 30)
    kenv = {**env, "KUBECONFIG": str(out / "kubeconfig")}
    _run(kenv, "helm", "repo", "add", "cilium", "https://helm.cilium.io")
    _run(kenv, "helm", "upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system", "--version", "1.16.5",
         "-f", str(layout.root.parent / "project/infrastructure/networking/cilium/values.yaml"), "--wait")


def _connect_secrets(ctx: Context) -> None:
    creds = base64.b64encode(base64.b64encode(json.dumps({"version": "2", "deviceUuid": "lab"}).encode())).decode()
    ns = "onepassword-connect"
    ctx.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    ctx.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "op-credentials", "namespace": ns},
                    "data": {"1password-credentials.json": creds}})
    ctx.kube.apply({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "onepassword-connect-token",
                                                                       "namespace": ns}, "data": {"token": "dA=="}})


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Context, dict, LabLayout]]:
    tmp = tmp_path_factory.mktemp("gitops")
    project = tmp / "project"
    project.mkdir()
    for name in ("dodo.py", "bootstrap-config.yaml", "talconfig.yaml", ".mise.toml"):
        shutil.copy(REPO / name, project / name)
    for name in ("talos", "infrastructure"):
        shutil.copytree(REPO / name, project / name)
    (tmp / "home").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HOPS_", "OP_", "KUBECONFIG", "TALOSCONFIG",
                                                                     "GITHUB_TOKEN"))}
    env.update(HOPS_LAB="1", HOPS_LAB_DIR=str(tmp / "lab"), HOPS_LAB_SPEED="1000", HOME=str(tmp / "home"),
               KUBECACHEDIR=str(tmp / "kubecache"))
    layout = LabLayout(tmp / "lab")
    old = dict(os.environ)
    os.environ.update({k: env[k] for k in ("HOPS_LAB_DIR", "HOPS_LAB_SPEED", "HOME")})
    info = lifecycle.up(layout, project)
    ctx = Context(project, env)
    tool_env = dict(ctx.runner.env)
    try:
        _manual_cluster(tool_env, layout, info)
        _connect_secrets(ctx)
        yield ctx, env, layout
    finally:
        lifecycle.down(layout)
        os.environ.clear()
        os.environ.update(old)


def test_phase5_and_phase6_converge_and_token_stays_secret(lab, capsys) -> None:
    ctx, env, layout = lab
    assert not gitops.sync_configured(ctx) and not gitops.controllers_ready(ctx)  # false before bootstrap
    gitops.validate_prerequisites(ctx)
    gitops.bootstrap(ctx)
    gitops.wait_controllers(ctx)
    gitops.verify_sync(ctx)
    assert gitops.sync_configured(ctx) and gitops.controllers_ready(ctx) and gitops.sync_verified(ctx)
    applications.wait_infrastructure(ctx)
    assert applications.infrastructure_ready(ctx)
    assert "apps" not in applications.infrastructure_names(ctx)
    assert set(applications.infrastructure_names(ctx)) >= {"sources", "cilium", "longhorn", "cluster-secret-store"}
    applications.deploy(ctx)
    applications.wait_ready(ctx)
    assert applications.apps_applied(ctx) and applications.all_ready(ctx)

    token = _lab_token(env)
    assert any("bootstrap" in c["argv"] for c in read_calls(layout, "flux"))
    assert token not in json.dumps(read_calls(layout))
    assert token not in ctx.log.path.read_text()
    assert token not in capsys.readouterr().out


def _lab_token(env: dict) -> str:
    return _run(env | {"PATH": f"{env['HOPS_LAB_DIR']}/bin:{env['PATH']}"}, "op", "read", "--no-newline",
                "op://homelab/github-token/token", "--account", "my.1password.com")


def test_live_checks_turn_false_when_the_world_breaks(lab) -> None:
    ctx, env, layout = lab
    ns = ctx.config.gitops.namespace
    assert applications.apps_applied(ctx)
    ctx.kube.request("PATCH", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps",
                     body={"spec": {"suspend": True}}, content_type="application/merge-patch+json")
    assert not applications.apps_applied(ctx) and not applications.all_ready(ctx)
    ctx.kube.request("PATCH", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/apps",
                     body={"spec": {"suspend": False}}, content_type="application/merge-patch+json")
    ctx.kube.request("PATCH", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/longhorn",
                     body={"spec": {"suspend": True}}, content_type="application/merge-patch+json")
    assert not applications.infrastructure_ready(ctx)
    ctx.kube.request("PATCH", "/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/flux-system/kustomizations/longhorn",
                     body={"spec": {"suspend": False}}, content_type="application/merge-patch+json")
    applications.wait_infrastructure(ctx)
    assert ctx.kube.delete("Deployment", "helm-controller", ns)
    assert not gitops.controllers_ready(ctx)


def test_blocked_podinfo_fails_at_the_deadline_naming_it(lab) -> None:
    ctx, env, layout = lab
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", "add", "block:podinfo"], env=env, check=True,
                   capture_output=True)
    ctx.kube.delete("HelmRelease", "podinfo", "podinfo")  # the apps Kustomization re-creates it: blocked now
    config = ctx.root / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("applications: 1200", "applications: 3"))
    ctx = Context(ctx.root, env)
    with pytest.raises(WaitTimeout) as failure:
        applications.deploy(ctx)
        applications.wait_ready(ctx)
    text = str(failure.value)
    assert "podinfo" in text and "HelmRelease podinfo/podinfo: Ready=" in text, text
    with pytest.raises(StepError):
        applications.health(ctx)
