"""Files hops reads from the repository and the cluster folder: the HelmReleases it installs from, and the
kubeconfig it finds the API in. A mistake in one is one message naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from hops import helmrelease
from hops.config import load_settings
from hops.endpoints import Endpoints
from hops.errors import StepError
from tests.projects import REPO, write_config

CILIUM = "infrastructure/networking/cilium"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "infrastructure", tmp_path / "infrastructure")
    return tmp_path


def edit_release(repo: Path, change) -> Path:
    path = repo / CILIUM / "helmrelease.yaml"
    docs = list(yaml.safe_load_all(path.read_text()))
    change(next(d for d in docs if d and d.get("kind") == "HelmRelease"))
    path.write_text(yaml.safe_dump_all(docs))
    return path


def test_release_is_read_from_the_helmrelease_and_its_repository(repo: Path) -> None:
    release = helmrelease.load(repo, CILIUM)
    assert (release.name, release.namespace, release.chart) == ("cilium", "kube-system", "cilium")
    assert release.repo_url == "https://helm.cilium.io" and release.version == "1.16.5"


@pytest.mark.parametrize("change,field", [
    (lambda d: d["spec"].update(chart="cilium"), "spec.chart must be a mapping (with spec), got str 'cilium'"),
    (lambda d: d["spec"]["chart"].update(spec=["cilium"]), "spec.chart.spec must be a mapping (with chart, version "
                                                           "and sourceRef), got list"),
    (lambda d: d["spec"]["chart"]["spec"].pop("version"), "spec.chart.spec.version is required (hops installs"),
    (lambda d: d["spec"]["chart"]["spec"].update(sourceRef="cilium"), "spec.chart.spec.sourceRef must be a mapping"),
    (lambda d: d["spec"]["chart"]["spec"].update(chrat=d["spec"]["chart"]["spec"].pop("chart")),
     "HelmRelease kube-system/cilium is not valid:\n"
     "  - spec.chart.spec.chrat is not a field of a HelmRelease (did you mean spec.chart.spec.chart?)\n"
     "  - spec.chart.spec.chart is required"),
    (lambda d: d["spec"].update(interval="five"), "spec.interval 'five' is not a duration: digits followed by ms, s,"),
])
def test_a_broken_helmrelease_names_its_file_object_and_field(repo: Path, change, field: str) -> None:
    path = edit_release(repo, change)
    with pytest.raises(StepError) as failed:
        helmrelease.load(repo, CILIUM)
    where = f"{path}: " if field.startswith("HelmRelease ") else f"{path}: HelmRelease kube-system/cilium: "
    assert str(failed.value).startswith(where + field), failed.value


def test_a_release_without_a_name_names_its_file(repo: Path) -> None:
    path = edit_release(repo, lambda d: (d["metadata"].pop("name"), d["spec"].pop("releaseName")))
    with pytest.raises(StepError) as failed:
        helmrelease.load(repo, CILIUM)
    assert str(failed.value) == f"{path}: metadata.name (or spec.releaseName) is required"


def test_unparsable_or_missing_manifest_names_the_file(repo: Path) -> None:
    path = repo / CILIUM / "helmrelease.yaml"
    path.write_text("kind: [HelmRelease\n")
    with pytest.raises(StepError, match=f"^{path}: not valid YAML"):
        helmrelease.load(repo, CILIUM)
    path.unlink()
    with pytest.raises(StepError, match=f"^{path} is missing from the repository"):
        helmrelease.load(repo, CILIUM)


def test_a_nameless_manifest_is_named_by_its_file(tmp_path: Path) -> None:
    with pytest.raises(StepError, match="store.yaml: a ClusterSecretStore has no metadata.name"):
        helmrelease.name_of({"kind": "ClusterSecretStore", "metadata": {}}, tmp_path / "store.yaml")
    assert helmrelease.name_of({"kind": "ClusterSecretStore", "metadata": {"name": "onepassword"}},
                               tmp_path / "store.yaml") == "onepassword"


def endpoints_for(project: Path) -> Endpoints:
    write_config(project)
    return Endpoints(project, load_settings(project, env={}), {})


def test_kubernetes_api_comes_from_the_kubeconfig(tmp_path: Path) -> None:
    endpoints = endpoints_for(tmp_path)
    assert endpoints.kubernetes_api() is None  # no cluster yet
    endpoints.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    endpoints.kubeconfig.write_text(yaml.safe_dump({"clusters": [{"cluster": {"server": "https://127.0.51.10:6443"}}]}))
    assert endpoints.kubernetes_api() == ("127.0.51.10", 6443)


@pytest.mark.parametrize("text", ["clusters: [", "clusters: [{name: home-ops}]", "clusters: just-a-string"])
def test_a_damaged_kubeconfig_is_named_with_the_way_out(tmp_path: Path, text: str) -> None:
    endpoints = endpoints_for(tmp_path)
    endpoints.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
    endpoints.kubeconfig.write_text(text)
    with pytest.raises(StepError) as failed:
        endpoints.kubernetes_api()
    message = str(failed.value)
    assert message.startswith(f"{endpoints.kubeconfig}: not a usable kubeconfig")
    assert "doit talos_recover_kubeconfig" in message
