"""The emulated helm, run as a subprocess against an in-process API emulation with the lab's controllers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hops.lab import faults
from hops.lab.readiness import check
from kube_lab import KubeLab


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(3)
    yield lab
    lab.close()


def ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def add_repos(kl: KubeLab) -> None:
    ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io"))
    ok(kl.run("helm", "repo", "add", "podinfo", "https://stefanprodan.github.io/podinfo"))


def test_version_uses_the_configured_version(kl: KubeLab) -> None:
    assert ok(kl.run("helm", "version", "--short")).startswith("v3.16.3+g")
    assert ok(kl.run("helm", "version", "--template", "{{.Version}}")).strip() == "v3.16.3"
    assert 'Version:"v3.16.3"' in ok(kl.run("helm", "version"))


def test_repo_add_list_update_and_errors(kl: KubeLab) -> None:
    assert ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io")).strip() == \
        '"cilium" has been added to your repositories'
    assert "already exists with the same configuration" in ok(kl.run("helm", "repo", "add", "cilium",
                                                                     "https://helm.cilium.io"))
    clash = kl.run("helm", "repo", "add", "cilium", "https://charts.longhorn.io")
    assert clash.returncode == 1 and "repository name (cilium) already exists" in clash.stderr
    ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io", "--force-update"))
    assert "https://helm.cilium.io" in ok(kl.run("helm", "repo", "list"))
    assert 'Successfully got an update from the "cilium" chart repository' in ok(kl.run("helm", "repo", "update"))
    bad = kl.run("helm", "repo", "add", "nope", "https://example.invalid/charts")
    assert bad.returncode == 1 and "is not a valid chart repository or cannot be reached" in bad.stderr


def test_upgrade_install_twice_gives_revision_2(kl: KubeLab, tmp_path: Path) -> None:
    add_repos(kl)
    values = tmp_path / "values.yaml"
    values.write_text("kubeProxyReplacement: true\noperator:\n  replicas: 1\n")
    args = ["upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system", "--version", "1.16.5",
            "-f", str(values), "--wait", "--timeout", "5m0s"]
    first = ok(kl.run("helm", *args))
    assert 'Release "cilium" does not exist. Installing it now.' in first and "REVISION: 1" in first
    assert check(kl.store.get("apps/v1", "DaemonSet", "cilium", "kube-system"))[0]   # --wait waited
    second = ok(kl.run("helm", *args))
    assert 'Release "cilium" has been upgraded. Happy Helming!' in second and "REVISION: 2" in second
    listing = ok(kl.run("helm", "list", "-n", "kube-system"))
    header, row = listing.splitlines()
    assert header.split() == ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP", "VERSION"]
    assert row.split()[:3] == ["cilium", "kube-system", "2"] and "deployed" in row and "cilium-1.16.5" in row
    as_json = json.loads(ok(kl.run("helm", "list", "-A", "-o", "json")))
    assert [(r["name"], r["revision"], r["status"]) for r in as_json] == [("cilium", "2", "deployed")]
    history = ok(kl.run("helm", "history", "cilium", "-n", "kube-system")).splitlines()
    assert "superseded" in history[1] and "deployed" in history[2]
    secrets = kl.store.list("v1", "Secret", "kube-system", labels={"owner": "helm", "name": "cilium"})
    assert sorted(s["metadata"]["name"] for s in secrets) == ["sh.helm.release.v1.cilium.v1",
                                                              "sh.helm.release.v1.cilium.v2"]
    assert all(s["type"] == "helm.sh/release.v1" for s in secrets)
    values_out = json.loads(ok(kl.run("helm", "get", "values", "cilium", "-n", "kube-system", "-o", "json")))
    assert values_out == {"kubeProxyReplacement": True, "operator": {"replicas": 1}}
    status = ok(kl.run("helm", "status", "cilium", "-n", "kube-system"))
    assert "STATUS: deployed" in status and "REVISION: 2" in status and "NAMESPACE: kube-system" in status


def test_missing_namespace_and_unknown_chart_fail_like_helm(kl: KubeLab) -> None:
    add_repos(kl)
    missing = kl.run("helm", "upgrade", "--install", "podinfo", "podinfo/podinfo", "-n", "podinfo")
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error: create: failed to create: namespaces "podinfo" not found'  # as 3.17.2
    unknown = kl.run("helm", "upgrade", "--install", "x", "podinfo/nginx", "-n", "default")
    assert unknown.returncode == 1 and unknown.stderr.strip() == (
        'Error: chart "nginx" matching  not found in podinfo index. (try \'helm repo update\'): no chart name found')
    no_repo = kl.run("helm", "install", "x", "bitnami/nginx")
    assert no_repo.returncode == 1 and no_repo.stderr.strip() == "Error: INSTALLATION FAILED: repo bitnami not found"
    assert kl.run("helm", "status", "nope").stderr.strip() == "Error: release: not found"


def test_wait_times_out_on_a_blocked_component(kl: KubeLab) -> None:
    add_repos(kl)
    ok(kl.run("helm", "upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system", "--wait"))
    faults.add(kl.layout, "block:podinfo")
    # 60 simulated seconds at speed 500: the watch gives up after 0.12 s of wall time
    done = kl.run("helm", "upgrade", "--install", "podinfo", "podinfo/podinfo", "-n", "podinfo",
                  "--create-namespace", "--wait", "--timeout", "60s")
    assert done.returncode == 1
    assert done.stderr.strip() == "Error: context deadline exceeded"  # upgrade --install: unwrapped, as 3.17.2
    assert "failed" in ok(kl.run("helm", "list", "-n", "podinfo"))
    atomic = kl.run("helm", "upgrade", "--install", "podinfo", "podinfo/podinfo", "-n", "podinfo", "--atomic",
                    "--timeout", "60s")
    assert atomic.returncode == 1
    # the only earlier revision failed: like Helm, --atomic finds nothing successful to roll back to
    assert atomic.stderr.strip() == ("Error: UPGRADE FAILED: unable to find a previously successful release when "
                                     "attempting to rollback. original upgrade error: context deadline exceeded")


def test_uninstall_removes_objects_and_records(kl: KubeLab) -> None:
    add_repos(kl)
    ok(kl.run("helm", "install", "podinfo", "podinfo/podinfo", "-n", "podinfo", "--create-namespace"))
    assert kl.store.get("apps/v1", "Deployment", "podinfo", "podinfo")
    assert ok(kl.run("helm", "uninstall", "podinfo", "-n", "podinfo")).strip() == 'release "podinfo" uninstalled'
    assert kl.store.get("apps/v1", "Deployment", "podinfo", "podinfo") is None
    again = kl.run("helm", "uninstall", "podinfo", "-n", "podinfo")
    assert again.returncode == 1 and "Release not loaded: podinfo: release: not found" in again.stderr
