"""hops.lab.kustomize on small fixture trees and on the project's own infrastructure/ tree."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
import yaml

from hops.lab import kustomize

REPO = Path(__file__).resolve().parents[2]
# each fixture tree is built by the real kustomize (kubectl's) and by the lab's fallback builder, which must agree
ENGINES = pytest.mark.parametrize("real", [pytest.param(True, id="kubectl-kustomize", marks=pytest.mark.skipif(
    kustomize.kubectl() is None, reason="no kubectl on PATH")), pytest.param(False, id="fallback")])


def write(root: Path, files: dict[str, object]) -> Path:
    for rel, content in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content if isinstance(content, str) else yaml.safe_dump_all(content)
                          if isinstance(content, list) else yaml.safe_dump(content))
    return root


def deploy(name: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "app", "image": "nginx:1"}]}}}}


@ENGINES
def test_resources_namespace_labels_and_folders(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {
        "base/kustomization.yaml": {"resources": ["deploy.yaml", "extra"], "namespace": "web",
                                    "commonLabels": {"team": "a"}, "labels": [{"pairs": {"tier": "front"}}]},
        "base/deploy.yaml": deploy("web"),
        "base/extra/kustomization.yaml": {"resources": ["ns.yaml", "svc.yaml"]},
        "base/extra/ns.yaml": {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "web"}},
        "base/extra/svc.yaml": {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
                                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}]}}})
    objects = {o["kind"]: o for o in kustomize.build(root / "base", real)}
    assert objects["Deployment"]["metadata"]["namespace"] == "web"
    assert "namespace" not in objects["Namespace"]["metadata"]
    assert objects["Deployment"]["metadata"]["labels"] == {"team": "a", "tier": "front"}
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"] == {"app": "web", "team": "a"}
    assert objects["Service"]["spec"]["selector"] == {"app": "web", "team": "a"}
    assert "tier" not in objects["Service"]["spec"]["selector"]


@ENGINES
def test_generators_with_and_without_hash_suffix(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": {"configMapGenerator": [{"name": "values", "files": ["values.yaml"]}],
                               "secretGenerator": [{"name": "creds", "literals": ["user=admin"],
                                                    "options": {"disableNameSuffixHash": False}}]},
        "values.yaml": "replicas: 2\n"})
    first = {o["kind"]: o for o in kustomize.build(root, real)}
    assert first["ConfigMap"]["metadata"]["name"].startswith("values-")
    assert first["ConfigMap"]["data"] == {"values.yaml": "replicas: 2\n"}
    assert base64.b64decode(first["Secret"]["data"]["user"]) == b"admin"
    (root / "values.yaml").write_text("replicas: 3\n")
    second = {o["kind"]: o for o in kustomize.build(root, real)}
    assert second["ConfigMap"]["metadata"]["name"] != first["ConfigMap"]["metadata"]["name"]
    spec = yaml.safe_load((root / "kustomization.yaml").read_text())
    spec["generatorOptions"] = {"disableNameSuffixHash": True}
    (root / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    names = {o["kind"]: o["metadata"]["name"] for o in kustomize.build(root, real)}
    assert names["ConfigMap"] == "values"


@ENGINES
def test_strategic_merge_patches_file_inline_and_targeted(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {
        "kustomization.yaml": {"resources": ["a.yaml", "b.yaml"], "patches": [
            {"path": "replicas.yaml"},
            {"patch": "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: any\nspec:\n  template:\n"
                      "    spec:\n      containers:\n        - name: app\n          image: nginx:2\n",
             "target": {"kind": "Deployment"}}]},
        "a.yaml": deploy("a"), "b.yaml": deploy("b"),
        "replicas.yaml": {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "a"},
                          "spec": {"replicas": 3}}})
    objects = {o["metadata"]["name"]: o for o in kustomize.build(root, real)}
    assert objects["a"]["spec"]["replicas"] == 3 and objects["b"]["spec"]["replicas"] == 1
    for obj in objects.values():
        containers = obj["spec"]["template"]["spec"]["containers"]
        assert containers == [{"name": "app", "image": "nginx:2"}]


@ENGINES
def test_errors_name_the_problem(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {"kustomization.yaml": {"resources": ["missing.yaml"]}})
    with pytest.raises(kustomize.KustomizeError, match="missing.yaml"):
        kustomize.build(root, real)
    with pytest.raises(kustomize.KustomizeError, match="no such file or directory"):
        kustomize.build(tmp_path / "nowhere", real)
    dup = write(tmp_path / "dup", {"kustomization.yaml": {"resources": ["a.yaml", "b.yaml"]},
                                   "a.yaml": deploy("x"), "b.yaml": deploy("x")})
    with pytest.raises(kustomize.KustomizeError, match="already registered id"):
        kustomize.build(dup, real)


@ENGINES
def test_folder_without_kustomization_takes_every_yaml(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {"one.yaml": [deploy("a"), deploy("b")], "sub/two.yaml": deploy("c"),
                            "sub/kust/kustomization.yaml": {"resources": ["d.yaml"], "namespace": "x"},
                            "sub/kust/d.yaml": deploy("d")})
    objects = {o["metadata"]["name"]: o for o in kustomize.build(root, real)}
    assert set(objects) == {"a", "b", "c", "d"}
    assert objects["d"]["metadata"]["namespace"] == "x"


def test_the_projects_infrastructure_tree_builds() -> None:
    cluster = kustomize.build(REPO / "infrastructure/clusters/home-ops")
    assert {o["metadata"]["name"] for o in cluster if o["kind"] == "Kustomization"} >= {"sources", "cilium"}
    for ks in cluster:
        if ks["kind"] == "Kustomization":
            built = kustomize.build(REPO / ks["spec"]["path"])
            assert built, ks["spec"]["path"]
    cilium = {o["kind"]: o for o in kustomize.build(REPO / "infrastructure/networking/cilium")}
    assert cilium["ConfigMap"]["metadata"] == {"name": "cilium-values", "namespace": "kube-system"}
    assert "kubeProxyReplacement" in cilium["ConfigMap"]["data"]["values.yaml"]


def _keyed(objects: list[dict]) -> dict[tuple, dict]:
    return {(o["apiVersion"], o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
            for o in objects}


def _flux_paths() -> list[str]:
    """The cluster folder and every spec.path its Kustomizations name: what the lab's Flux builds."""
    cluster = "infrastructure/clusters/home-ops"
    built = kustomize.build(REPO / cluster, False)
    return [cluster, *sorted({o["spec"]["path"].removeprefix("./") for o in built if o["kind"] == "Kustomization"})]


@pytest.mark.skipif(kustomize.kubectl() is None, reason="no kubectl on PATH")
@pytest.mark.parametrize("folder", _flux_paths())
def test_every_infrastructure_folder_builds_the_same_with_the_real_kustomize(folder: str) -> None:
    real, fallback = _keyed(kustomize.build(REPO / folder, True)), _keyed(kustomize.build(REPO / folder, False))
    assert real and sorted(real) == sorted(fallback)
    assert real == fallback


@pytest.mark.skipif(kustomize.kubectl() is None, reason="no kubectl on PATH")
def test_the_lab_builds_with_the_real_kustomize_when_kubectl_is_there(tmp_path: Path) -> None:
    # namePrefix and images are kustomize features the fallback does not have: the default build has them
    root = write(tmp_path, {"kustomization.yaml": {"resources": ["d.yaml"], "namePrefix": "lab-",
                                                    "images": [{"name": "nginx", "newTag": "2"}]},
                            "d.yaml": deploy("web")})
    (built,) = kustomize.build(root)
    assert built["metadata"]["name"] == "lab-web"
    assert built["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:2"


@ENGINES
def test_a_remote_base_is_refused_without_fetching_it(tmp_path: Path, real: bool) -> None:
    root = write(tmp_path, {"kustomization.yaml": {"resources": ["https://github.com/example/repo//base?ref=v1"]}})
    with pytest.raises(kustomize.KustomizeError, match="accumulating resources"):
        kustomize.build(root, real)
