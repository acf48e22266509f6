"""The emulated flux CLI and the lab's Flux controllers: bootstrap over the project's infrastructure/ tree,
dependsOn ordering and failure messages, adoption of a helm-installed release, reconcile/suspend/resume, logs."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from kube_lab import KubeLab

from hops.lab import charts, faults, helm_releases
from hops.lab.controllers.flux import concurrent_flag
from hops.lab.readiness import condition, is_true
from tests.projects import copy_project

KS = "kustomize.toolkit.fluxcd.io/v1"
HR = "helm.toolkit.fluxcd.io/v2"
BOOTSTRAP = ["bootstrap", "github", "--owner", "example-homelab", "--repository", "home-ops", "--branch", "main",
             "--personal", "--private", "--timeout", "10m"]
TOKEN = "hops-lab-fake-github-token"


def credentials() -> str:
    text = json.dumps({"version": "2", "deviceUuid": "hops-lab-fake"})
    return base64.b64encode(base64.b64encode(text.encode())).decode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


@pytest.fixture
def kl(tmp_path: Path, project: Path):
    lab = KubeLab(tmp_path, root=project).start()
    lab.add_nodes(3)
    lab.layout.vault_file.parent.mkdir(parents=True)
    lab.layout.vault_file.write_text(json.dumps({"vaults": [{"id": "v", "name": "homelab", "items": [
        {"id": "t", "title": "1password-connect-token", "fields": [{"id": "token", "label": "token", "value": "tok"}]},
        {"id": "p", "title": "podinfo-example", "fields": [{"id": "m", "label": "message", "value": "hi"}]}]}]}))
    yield lab
    lab.close()


def ok(done) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def install_cni(kl: KubeLab) -> None:
    """Flux's controllers are ordinary pods: without a CNI they never start (as on a real cluster)."""
    values = kl.root / "infrastructure/networking/cilium/values.yaml"
    ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io"))
    ok(kl.run("helm", "upgrade", "--install", "cilium", "cilium/cilium", "-n", "kube-system", "--version", "1.16.5",
              "-f", str(values), "--wait"))
    kl.wait_for(lambda: all(kl.nodes_ready()), what="nodes Ready")


def prepare_cluster(kl: KubeLab) -> None:
    """What hops does before flux bootstrap: Cilium via helm with the repository's values, Connect secrets."""
    install_cni(kl)
    for ns in ("onepassword-connect",):
        kl.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    kl.store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "op-credentials",
                                                                        "namespace": "onepassword-connect"},
                     "data": {"1password-credentials.json": credentials()}})
    kl.store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "onepassword-connect-token",
                                                                        "namespace": "onepassword-connect"},
                     "data": {"token": base64.b64encode(b"tok").decode()}})


def test_version_and_check_pre(kl: KubeLab) -> None:
    assert ok(kl.run("flux", "--version")).strip() == "flux version 2.4.0"
    assert ok(kl.run("flux", "version", "--client")).strip() == "flux: v2.4.0"
    out = ok(kl.run("flux", "check", "--pre"))
    assert "► checking prerequisites" in out and "✔ Kubernetes 1.31.4 >=1.28.0-0" in out
    assert "✔ prerequisites checks passed" in out
    full = kl.run("flux", "check")
    assert full.returncode == 1 and "source-controller" in full.stderr


def test_bootstrap_without_cni_times_out_on_the_controllers(kl: KubeLab) -> None:
    done = kl.run("flux", *BOOTSTRAP[:-2], "--timeout", "2m", "--path", "infrastructure/clusters/home-ops",
                  GITHUB_TOKEN=TOKEN)
    assert done.returncode == 1
    assert '✗ timeout waiting for Deployment "flux-system/source-controller"' in done.stderr


def test_bootstrap_needs_a_token(kl: KubeLab) -> None:
    done = kl.run("flux", *BOOTSTRAP, "--path", "infrastructure/clusters/home-ops")
    assert done.returncode == 1
    assert "Please enter your GitHub personal access token (PAT):" in done.stderr
    assert "✗ could not read token from stdin: EOF" in done.stderr
    assert kl.store.get("v1", "Namespace", "flux-system") is None


def test_bootstrap_reconciles_the_whole_tree_in_dependency_order(kl: KubeLab) -> None:
    prepare_cluster(kl)
    order: list[str] = []
    kl.store.subscribe(lambda _t, o: order.append(o["metadata"]["name"])
                       if o["kind"] == "Kustomization" and is_true(o, "Ready")
                       and o["metadata"]["name"] not in order else None)
    out = ok(kl.run("flux", *BOOTSTRAP, "--path", "infrastructure/clusters/home-ops", GITHUB_TOKEN=TOKEN))
    for line in ("► installing components in \"flux-system\" namespace", "✔ installed components",
                 "◎ waiting for Kustomization \"flux-system/flux-system\" to be reconciled",
                 "✔ Kustomization reconciled successfully", "✔ all components are healthy"):
        assert line in out
    assert TOKEN not in out
    git = kl.store.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
    assert git["spec"]["url"] == "ssh://git@github.com/example-homelab/home-ops"
    assert git["status"]["artifact"]["revision"].startswith("main@sha1:")
    # wait for the subscriber to have seen it, not only for the store to hold it (events reach subscribers later)
    kl.wait_for(lambda: "apps" in order, timeout=60, what="apps Ready")
    assert order.index("sources") < order.index("cilium") < order.index("apps")
    assert order.index("external-secrets") < order.index("onepassword-connect") < order.index("cluster-secret-store")
    cilium = helm_releases.latest(kl.store, "cilium", "kube-system")
    assert cilium["version"] == 2 and cilium["info"]["status"] == "deployed"    # adopted, not reinstalled
    hr = kl.store.get(HR, "HelmRelease", "cilium", "kube-system")
    assert condition(hr, "Ready")["message"] == ("Helm upgrade succeeded for release kube-system/cilium.v2 with "
                                                 "chart cilium@1.16.5")
    podinfo = kl.store.get(HR, "HelmRelease", "podinfo", "podinfo")
    assert condition(podinfo, "Ready")["message"].startswith("Helm install succeeded for release podinfo/podinfo.v1")
    table = ok(kl.run("flux", "get", "ks")).splitlines()
    assert table[0].split() == ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    rows = [[cell.strip() for cell in row.split("\t")] for row in table[1:]]
    assert {r[0] for r in rows} >= {"flux-system", "sources", "cilium", "apps"}
    assert all(r[3] == "True" and r[4].startswith("Applied revision: main@sha1:") for r in rows), table
    helm_list = ok(kl.run("helm", "list", "-A"))
    assert "longhorn-system" in helm_list and "onepassword-connect" in helm_list
    # a second bootstrap finds everything in place: nothing committed/pushed, no object re-created or re-specced
    installed = flux_system_identity(kl)
    releases = {name: helm_releases.latest(kl.store, name, ns)["version"]
                for name, ns in (("cilium", "kube-system"), ("podinfo", "podinfo"))}
    again = kl.run("flux", *BOOTSTRAP, "--path", "infrastructure/clusters/home-ops", GITHUB_TOKEN=TOKEN)
    assert again.returncode == 0, again.stderr
    for line in ("✔ component manifests are up to date", "✔ source secret up to date",
                 "✔ sync manifests are up to date", "✔ Kustomization reconciled successfully",
                 "✔ all components are healthy"):
        assert line in again.stderr
    for absent in ("committed component manifests", "committed sync manifests", "pushing",
                   "generating source secret", "applying source secret"):
        assert absent not in again.stderr
    assert flux_system_identity(kl) == installed
    assert {name: helm_releases.latest(kl.store, name, ns)["version"]
            for name, ns in (("cilium", "kube-system"), ("podinfo", "podinfo"))} == releases


def flux_system_identity(kl: KubeLab) -> dict:
    """uid + generation of what `flux bootstrap` installs (unchanged unless re-created or its spec changed), and
    the source secret's resourceVersion (bootstrap leaves an existing secret untouched)."""
    identity = {}
    for api_version, kind, name in [("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system"),
                                    (KS, "Kustomization", "flux-system"),
                                    *[("apps/v1", "Deployment", c) for c in charts.FLUX_CONTROLLERS]]:
        meta = kl.store.get(api_version, kind, name, "flux-system")["metadata"]
        identity[(kind, name)] = (meta["uid"], meta["generation"])
    secret = kl.store.get("v1", "Secret", "flux-system", "flux-system")["metadata"]
    identity[("Secret", "flux-system")] = (secret["uid"], secret["resourceVersion"])
    return identity


def test_blocked_component_shows_dependency_and_health_messages(kl: KubeLab) -> None:
    prepare_cluster(kl)
    faults.add(kl.layout, "block:external-secrets")
    ok(kl.run("flux", *BOOTSTRAP, "--path", "infrastructure/clusters/home-ops", GITHUB_TOKEN=TOKEN))

    def message(name: str) -> str:
        obj = kl.store.get(KS, "Kustomization", name, "flux-system")
        return (condition(obj, "Ready") or {}).get("message", "") if obj else ""

    kl.wait_for(lambda: message("onepassword-connect") == "dependency 'flux-system/external-secrets' is not ready",
                timeout=30, what="dependency message")
    kl.wait_for(lambda: message("external-secrets").startswith("health check failed after 10m0s"), timeout=30,
                what="health check failure")
    assert "HelmRelease/external-secrets/external-secrets status:" in message("external-secrets")
    table = ok(kl.run("flux", "get", "ks", "-A"))
    assert "dependency 'flux-system/external-secrets' is not ready" in table
    errors = ok(kl.run("flux", "logs", "--level", "error", "--kind", "Kustomization"))
    assert "health check failed" in errors


def test_missing_crd_fails_with_no_matches_for_kind(kl: KubeLab, project: Path) -> None:
    cluster = project / "clusters/test"
    cluster.mkdir(parents=True)
    (cluster / "store.yaml").write_text(yaml.safe_dump({
        "apiVersion": KS, "kind": "Kustomization", "metadata": {"name": "store", "namespace": "flux-system"},
        "spec": {"interval": "10m", "path": "./clusters/store", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}))
    (project / "clusters/store").mkdir()
    (project / "clusters/store/css.yaml").write_text(
        (project / "infrastructure/services/cluster-secret-store/clustersecretstore.yaml").read_text())
    install_cni(kl)
    ok(kl.run("flux", *BOOTSTRAP, "--path", "clusters/test", GITHUB_TOKEN=TOKEN))
    obj = kl.wait_for(lambda: (k := kl.store.get(KS, "Kustomization", "store", "flux-system")) and
                      (condition(k, "Ready") or {}).get("reason") == "ReconciliationFailed" and k, what="failure")
    assert condition(obj, "Ready")["message"] == ('ClusterSecretStore/onepassword dry-run failed: no matches for kind '
                                                  '"ClusterSecretStore" in version "external-secrets.io/v1beta1"')


def test_reconcile_suspend_resume(kl: KubeLab, project: Path) -> None:
    cluster = project / "clusters/small"
    cluster.mkdir(parents=True)
    (cluster / "cm.yaml").write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                                     "metadata": {"name": "hello", "namespace": "default"},
                                                     "data": {"a": "1"}}))
    install_cni(kl)
    ok(kl.run("flux", *BOOTSTRAP, "--path", "clusters/small", GITHUB_TOKEN=TOKEN))
    before = kl.store.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
    (cluster / "cm.yaml").write_text((cluster / "cm.yaml").read_text().replace("a: '1'", "a: '2'"))
    out = ok(kl.run("flux", "reconcile", "ks", "flux-system", "--with-source"))
    assert "► annotating GitRepository flux-system in flux-system namespace" in out
    assert "✔ applied revision main@sha1:" in out
    after = kl.store.get("source.toolkit.fluxcd.io/v1", "GitRepository", "flux-system", "flux-system")
    assert after["status"]["artifact"]["revision"] != before["status"]["artifact"]["revision"]
    assert kl.store.get("v1", "ConfigMap", "hello", "default")["data"] == {"a": "2"}
    assert "✔ kustomization suspended" in ok(kl.run("flux", "suspend", "ks", "flux-system"))
    suspended = kl.run("flux", "reconcile", "ks", "flux-system")
    assert suspended.returncode == 1 and "✗ resource is suspended" in suspended.stderr
    row = ok(kl.run("flux", "get", "ks")).splitlines()[1]
    assert [cell.strip() for cell in row.split("\t")][2] == "True"
    resumed = ok(kl.run("flux", "resume", "ks", "flux-system"))
    assert "✔ kustomization resumed" in resumed and "✔ applied revision" in resumed
    missing = kl.run("flux", "reconcile", "ks", "nope")
    assert missing.returncode == 1 and 'Kustomization.kustomize.toolkit.fluxcd.io "nope" not found' in missing.stderr


def podinfo_release(kl: KubeLab, name: str) -> None:
    kl.store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    kl.store.create({"apiVersion": HR, "kind": "HelmRelease", "metadata": {"name": name, "namespace": name},
                     "spec": {"interval": "30m", "chart": {"spec": {
                         "chart": "podinfo", "version": "6.7.1", "interval": "12h",
                         "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}})


def most_at_once(kl: KubeLab, names: list[str]) -> int:
    """Create a podinfo HelmRelease per name at once; once all are Ready, how many were being installed at the
    same time at most (Ready Unknown: helm's install running, a worker held until the release is ready)."""
    installing: set[str] = set()
    most = [0]

    def seen(_type: str, obj: dict) -> None:
        if obj["kind"] != "HelmRelease" or obj["metadata"]["name"] not in names:
            return
        if (condition(obj, "Ready") or {}).get("status") == "Unknown":
            installing.add(obj["metadata"]["name"])
        else:
            installing.discard(obj["metadata"]["name"])
        most[0] = max(most[0], len(installing))

    kl.store.subscribe(seen)
    for name in names:
        podinfo_release(kl, name)
    kl.wait_for(lambda: all(is_true(kl.store.get(HR, "HelmRelease", n, n) or {}, "Ready") for n in names),
                timeout=60, what="every release Ready")
    return most[0]


def test_helm_controller_installs_four_releases_at_a_time_or_its_concurrent_flag(kl: KubeLab) -> None:
    # helm-controller's default --concurrent=4: 200 releases applied at once install four at a time, each worker
    # held until its release is ready (the lab installing all at once was kinder than a real cluster)
    prepare_cluster(kl)
    ok(kl.run("flux", *BOOTSTRAP, "--path", "infrastructure/clusters/home-ops", GITHUB_TOKEN=TOKEN))
    kl.wait_for(lambda: is_true(kl.store.get(KS, "Kustomization", "apps", "flux-system") or {}, "Ready"),
                timeout=60, what="apps Ready")
    assert most_at_once(kl, [f"many-{n}" for n in range(7)]) == 4
    deploy = kl.store.get("apps/v1", "Deployment", "helm-controller", "flux-system")
    deploy["spec"]["template"]["spec"]["containers"][0]["args"] = ["--watch-all-namespaces", "--concurrent=2"]
    kl.store.apply(deploy)
    assert most_at_once(kl, [f"few-{n}" for n in range(5)]) == 2


def test_concurrent_flag_is_read_as_go_flags_reads_it() -> None:
    assert concurrent_flag([]) == 4 and concurrent_flag(["--watch-all-namespaces", "--log-level=info"]) == 4
    assert concurrent_flag(["--concurrent=8"]) == 8 and concurrent_flag(["--concurrent", "2"]) == 2
    assert concurrent_flag(["-concurrent=3"]) == 3 and concurrent_flag(["--concurrent=2", "--concurrent=6"]) == 6
    assert concurrent_flag(["--concurrent=many"]) is None and concurrent_flag(["--concurrent=0"]) is None
    assert concurrent_flag(["--concurrent"]) is None  # no value: flag parsing fails, the controller exits
