"""Checks of the GitOps repository content under infrastructure/ (Flux + Helm + Kustomize).

Offline only: `kubectl kustomize` builds every folder that has a kustomization.yaml, the built-in kinds of each
build are validated against the Kubernetes 1.31 schemas shipped by the `kubernetes-validate` package, and the
cross-references (HelmRelease -> HelmRepository, Kustomization dependsOn / path, configMapGenerator -> values.yaml)
are checked by reading the YAML files directly.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
INFRA = REPO / "infrastructure"
CLUSTER_DIR = INFRA / "clusters" / "home-ops"
SOURCES_DIR = INFRA / "sources"
K8S_VERSION = "1.31"  # matches talos.kubernetes_version (v1.31.x) in bootstrap-config.yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FLUX_KS_API = "kustomize.toolkit.fluxcd.io/v1"
HELMRELEASE_API = "helm.toolkit.fluxcd.io/v2"
HELMREPO_API = "source.toolkit.fluxcd.io/v1"


# ----------------------------------------------------------------------------------------------- helpers


def kustomization_file(folder: Path) -> Path | None:
    return next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)


def kustomize_dirs() -> list[Path]:
    dirs = {p.parent for name in KUSTOMIZATION_FILES for p in INFRA.rglob(name)}
    return sorted(dirs)


def rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def load_docs(path: Path) -> list[dict]:
    with path.open() as fh:
        return [d for d in yaml.safe_load_all(fh) if d is not None]


def generated_values_files() -> dict[Path, Path]:
    """Every file named by a configMapGenerator -> the kustomization.yaml naming it."""
    files: dict[Path, Path] = {}
    for folder in kustomize_dirs():
        kfile = kustomization_file(folder)
        for doc in load_docs(kfile):
            for gen in doc.get("configMapGenerator") or []:
                for entry in gen.get("files") or []:
                    # "key=path" form names the key explicitly
                    files[(folder / entry.split("=", 1)[-1]).resolve()] = kfile
    return files


@functools.lru_cache(maxsize=None)
def manifests() -> tuple[tuple[Path, dict], ...]:
    """Every Kubernetes object written in a YAML file under infrastructure/ (not kustomize config, not values)."""
    skip = set(generated_values_files())
    found = []
    for path in sorted(INFRA.rglob("*.y*ml")):
        if path.name in KUSTOMIZATION_FILES or path.resolve() in skip:
            continue
        for doc in load_docs(path):
            if isinstance(doc, dict) and "apiVersion" in doc and "kind" in doc:
                found.append((path, doc))
    return tuple(found)


def objects(kind: str, api_version: str | None = None) -> list[tuple[Path, dict]]:
    return [(p, d) for p, d in manifests()
            if d["kind"] == kind and (api_version is None or d["apiVersion"] == api_version)]


def flux_kustomizations() -> dict[str, dict]:
    found = {}
    for path, doc in objects("Kustomization", FLUX_KS_API):
        name = doc["metadata"]["name"]
        assert name not in found, f"Flux Kustomization {name} defined twice ({rel(path)})"
        found[name] = doc
    return found


def helmreleases() -> dict[str, tuple[Path, dict]]:
    return {d["metadata"]["name"]: (p, d) for p, d in objects("HelmRelease")}


def kubectl_path() -> str | None:
    if os.access("/usr/bin/kubectl", os.X_OK):
        return "/usr/bin/kubectl"
    return shutil.which("kubectl")


@functools.lru_cache(maxsize=None)
def build(folder: Path) -> str:
    kubectl = kubectl_path()
    if kubectl is None:
        pytest.skip("kubectl not found (/usr/bin/kubectl missing): cannot run `kubectl kustomize`")
    env = dict(os.environ, KUBECONFIG=os.devnull)  # kustomize never needs a cluster
    proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120,
                          env=env, cwd=REPO)
    assert proc.returncode == 0, f"`kubectl kustomize {rel(folder)}` failed:\n{proc.stderr}"
    return proc.stdout


DIRS = kustomize_dirs()
DIR_IDS = [rel(d) for d in DIRS]


# ----------------------------------------------------------------------------------------------- builds


def test_layout_has_kustomization_folders():
    expected = {
        "infrastructure/sources", "infrastructure/networking/cilium",
        "infrastructure/services/external-secrets", "infrastructure/services/onepassword-connect",
        "infrastructure/services/cluster-secret-store", "infrastructure/storage/longhorn",
        "infrastructure/apps", "infrastructure/apps/podinfo",
    }
    assert expected <= set(DIR_IDS)
    # flux bootstrap writes flux-system/ itself; a committed copy would go stale
    assert not (CLUSTER_DIR / "flux-system").exists()


@pytest.mark.parametrize("folder", DIRS, ids=DIR_IDS)
def test_kustomize_build(folder: Path):
    out = build(folder)
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    assert docs, f"{rel(folder)} builds to nothing"
    for doc in docs:
        assert doc.get("apiVersion") and doc.get("kind") and doc.get("metadata", {}).get("name"), doc


@pytest.mark.parametrize("folder", DIRS, ids=DIR_IDS)
def test_builtin_kinds_validate(folder: Path):
    kv = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed (.venv/bin/pip install kubernetes-validate)")
    out = build(folder)
    validated, errors = 0, []
    for doc in yaml.safe_load_all(out):
        if doc is None:
            continue
        try:
            kv.validate(doc, K8S_VERSION, strict=True)
            validated += 1
        except kv.SchemaNotFoundError:
            continue  # custom kind (Flux, External Secrets): no schema shipped, checked below instead
        except kv.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {str(exc).splitlines()[0]}")
    assert not errors, "\n".join(errors)
    # sanity: the validator really ran on the folders that hold built-in kinds
    if any(d.get("kind") in ("Namespace", "ConfigMap") for d in yaml.safe_load_all(out) if d):
        assert validated


def test_no_secret_objects_anywhere():
    assert not objects("Secret"), "Secrets are created by hops from 1Password, never committed"
    for folder in DIRS:
        if kubectl_path():
            assert "kind: Secret\n" not in build(folder), rel(folder)


# ----------------------------------------------------------------------------------------------- values files


def test_configmap_generator_values_exist_and_parse():
    files = generated_values_files()
    assert files, "no configMapGenerator found"
    for path, kfile in files.items():
        assert path.is_file(), f"{rel(kfile)} names missing file {path}"
        data = yaml.safe_load(path.read_text())
        assert isinstance(data, dict) and data, f"{rel(path)} is not a non-empty YAML mapping"


def test_generators_do_not_hash_names():
    """HelmReleases refer to the values ConfigMaps by fixed name."""
    for folder in DIRS:
        doc = load_docs(kustomization_file(folder))[0]
        if doc.get("configMapGenerator"):
            opts = doc.get("generatorOptions") or {}
            per_gen = all((g.get("options") or {}).get("disableNameSuffixHash") for g in doc["configMapGenerator"])
            assert opts.get("disableNameSuffixHash") or per_gen, rel(folder)


@pytest.mark.parametrize("name, values_file", [
    ("cilium", "networking/cilium/values.yaml"),
    ("external-secrets", "services/external-secrets/values.yaml"),
    ("onepassword-connect", "services/onepassword-connect/values.yaml"),
    ("longhorn", "storage/longhorn/values.yaml"),
])
def test_helmrelease_values_come_from_generated_configmap(name: str, values_file: str):
    path, hr = helmreleases()[name]
    folder = path.parent
    kdoc = load_docs(kustomization_file(folder))[0]
    gens = {g["name"]: g for g in kdoc.get("configMapGenerator") or []}
    refs = hr["spec"].get("valuesFrom") or []
    assert refs, f"HelmRelease {name} has no valuesFrom"
    assert "values" not in hr["spec"], f"HelmRelease {name}: values.yaml must be the one source of values"
    for ref in refs:
        assert ref["kind"] == "ConfigMap"
        assert ref["name"] in gens, f"{name}: valuesFrom {ref['name']} is not generated in {rel(folder)}"
        # configMapGenerator files: "path" (key = file name) or "key=path"
        entries = {}
        for entry in gens[ref["name"]]["files"]:
            key, _, src = entry.rpartition("=")
            entries[key or Path(src).name] = (folder / src).resolve()
        key = ref.get("valuesKey", "values.yaml")
        assert entries.get(key) == (INFRA / values_file).resolve(), f"{name}: valuesKey {key} is not {values_file}"
    # the ConfigMap lands in the HelmRelease's own namespace (valuesFrom is namespace-local)
    assert kdoc.get("namespace") == hr["metadata"]["namespace"]


def test_cilium_values_fit_talos():
    v = yaml.safe_load((INFRA / "networking/cilium/values.yaml").read_text())
    assert v["kubeProxyReplacement"] is True
    assert v["k8sServiceHost"] == "localhost" and v["k8sServicePort"] == 7445
    assert v["ipam"]["mode"] == "kubernetes"
    assert v["cgroup"]["autoMount"]["enabled"] is False
    assert v["cgroup"]["hostRoot"] == "/sys/fs/cgroup"
    caps = v["securityContext"]["capabilities"]
    assert "SYS_MODULE" not in caps["ciliumAgent"] and "SYS_ADMIN" in caps["ciliumAgent"]
    assert set(caps["cleanCiliumState"]) == {"NET_ADMIN", "SYS_ADMIN", "SYS_RESOURCE"}
    assert v["operator"]["replicas"] in (1, 2)


def test_bootstrap_config_points_at_cilium_values():
    cfg = yaml.safe_load((REPO / "bootstrap-config.yaml").read_text())
    assert (REPO / cfg["networking"]["cilium_values"]).resolve() == (INFRA / "networking/cilium/values.yaml").resolve()
    assert (REPO / cfg["gitops"]["path"]).resolve() == CLUSTER_DIR.resolve()


def test_onepassword_connect_values_hold_no_secret():
    v = yaml.safe_load((INFRA / "services/onepassword-connect/values.yaml").read_text())
    assert v["connect"]["credentialsName"] == "op-credentials"
    assert not v["connect"].get("credentials") and not v["connect"].get("credentials_base64")
    assert v["operator"]["create"] is False
    assert not (v["operator"].get("token") or {}).get("value")


def test_other_values():
    es = yaml.safe_load((INFRA / "services/external-secrets/values.yaml").read_text())
    assert es["installCRDs"] is True
    lh = yaml.safe_load((INFRA / "storage/longhorn/values.yaml").read_text())
    assert lh["persistence"]["defaultClass"] is True
    assert lh["persistence"]["defaultClassReplicaCount"] == 3


# ----------------------------------------------------------------------------------------------- Helm objects


def test_helmrepositories():
    repos = {d["metadata"]["name"]: (p, d) for p, d in objects("HelmRepository")}
    expected = {
        "cilium": "https://helm.cilium.io",
        "external-secrets": "https://charts.external-secrets.io",
        "1password": "https://1password.github.io/connect-helm-charts",
        "longhorn": "https://charts.longhorn.io",
        "podinfo": "https://stefanprodan.github.io/podinfo",
    }
    assert set(repos) == set(expected)
    for name, (path, doc) in repos.items():
        assert path.parent == SOURCES_DIR, f"HelmRepository {name} must live in infrastructure/sources/"
        assert doc["apiVersion"] == HELMREPO_API
        assert doc["metadata"]["namespace"] == "flux-system"
        assert doc["spec"]["url"].rstrip("/") == expected[name]
        assert doc["spec"].get("interval")


EXPECTED_RELEASES = {
    # name: (namespace, chart, version, HelmRepository)
    "cilium": ("kube-system", "cilium", "1.16.5", "cilium"),
    "external-secrets": ("external-secrets", "external-secrets", "0.10.7", "external-secrets"),
    "onepassword-connect": ("onepassword-connect", "connect", "1.16.0", "1password"),
    "longhorn": ("longhorn-system", "longhorn", "1.7.2", "longhorn"),
    "podinfo": ("podinfo", "podinfo", "6.7.1", "podinfo"),
}


def test_helmreleases_match_the_plan():
    releases = helmreleases()
    assert set(releases) == set(EXPECTED_RELEASES)
    for name, (namespace, chart, version, repo) in EXPECTED_RELEASES.items():
        _, hr = releases[name]
        spec = hr["spec"]
        assert hr["apiVersion"] == HELMRELEASE_API, name
        assert spec.get("releaseName") == name
        # where helm stores the release = where hops' `helm upgrade --install -n` put it (adoption at hand-over)
        assert spec.get("targetNamespace", hr["metadata"]["namespace"]) == namespace
        assert spec.get("storageNamespace", hr["metadata"]["namespace"]) == namespace
        assert spec["interval"]
        cs = spec["chart"]["spec"]
        assert (cs["chart"], str(cs["version"])) == (chart, version), name
        assert cs["sourceRef"]["name"] == repo
        for phase in ("install", "upgrade"):
            assert spec[phase]["remediation"]["retries"] >= 1, f"{name}: {phase} remediation retries"


def test_helmrelease_sources_exist():
    repos = {(d["metadata"]["name"], d["metadata"].get("namespace")) for p, d in objects("HelmRepository")
             if p.parent == SOURCES_DIR}
    for name, (path, hr) in helmreleases().items():
        ref = hr["spec"]["chart"]["spec"]["sourceRef"]
        assert ref["kind"] == "HelmRepository", name
        key = (ref["name"], ref.get("namespace", hr["metadata"].get("namespace")))
        assert key in repos, f"HelmRelease {name} ({rel(path)}) refers to unknown HelmRepository {key}"


def test_namespaces_exist_for_namespaced_releases():
    namespaces = {d["metadata"]["name"] for _, d in objects("Namespace")}
    for name, (_, hr) in helmreleases().items():
        ns = hr["metadata"]["namespace"]
        assert ns == "kube-system" or ns in namespaces, f"namespace {ns} of {name} is not declared"
    labels = next(d for _, d in objects("Namespace") if d["metadata"]["name"] == "longhorn-system")["metadata"]
    assert labels["labels"]["pod-security.kubernetes.io/enforce"] == "privileged"


def test_cluster_secret_store():
    stores = objects("ClusterSecretStore")
    assert len(stores) == 1
    _, store = stores[0]
    assert store["apiVersion"] == "external-secrets.io/v1beta1"
    assert store["metadata"]["name"] == "onepassword"
    op = store["spec"]["provider"]["onepassword"]
    assert op["connectHost"] == "http://onepassword-connect.onepassword-connect.svc.cluster.local:8080"
    assert op["vaults"] == {"homelab": 1}
    assert op["auth"]["secretRef"]["connectTokenSecretRef"] == {
        "name": "onepassword-connect-token", "key": "token", "namespace": "onepassword-connect"}


def test_external_secrets_use_known_store():
    stores = {d["metadata"]["name"] for _, d in objects("ClusterSecretStore")}
    examples = objects("ExternalSecret")
    assert examples
    for path, es in examples:
        ref = es["spec"]["secretStoreRef"]
        assert ref["kind"] == "ClusterSecretStore" and ref["name"] in stores, rel(path)


# ----------------------------------------------------------------------------------------------- Flux graph


EXPECTED_DEPENDS = {
    "sources": set(),
    "cilium": {"sources"},
    "external-secrets": {"sources"},
    "onepassword-connect": {"external-secrets"},
    "cluster-secret-store": {"onepassword-connect"},
    "longhorn": {"sources"},
    "apps": {"cilium", "cluster-secret-store", "longhorn"},
}


def depends(ks: dict) -> set[str]:
    return {d["name"] for d in ks["spec"].get("dependsOn") or []}


def test_cluster_entry_point_has_no_kustomization_file():
    # kustomize-controller then generates one over every manifest below the path, including the flux-system/
    # folder `flux bootstrap` commits there, so Flux also manages itself (a listed kustomization.yaml would not)
    assert kustomization_file(CLUSTER_DIR) is None
    for path, _ in objects("Kustomization", FLUX_KS_API):
        assert path.parent == CLUSTER_DIR, f"{rel(path)}: Flux Kustomizations live in {rel(CLUSTER_DIR)}"


def test_flux_kustomizations_match_the_plan():
    ks = flux_kustomizations()
    assert set(ks) == set(EXPECTED_DEPENDS)
    for name, doc in ks.items():
        assert depends(doc) == EXPECTED_DEPENDS[name], name
        spec = doc["spec"]
        assert doc["metadata"]["namespace"] == "flux-system"
        assert spec["sourceRef"] == {"kind": "GitRepository", "name": "flux-system"}
        assert spec["prune"] is True
        assert spec["interval"] and spec["timeout"]
    # whatever another Kustomization depends on must report ready only once its workloads are
    needed = set().union(*EXPECTED_DEPENDS.values())
    for name in needed:
        assert ks[name]["spec"].get("wait") is True or ks[name]["spec"].get("healthChecks"), name


def test_flux_dependencies_exist_and_are_acyclic():
    ks = flux_kustomizations()
    for name, doc in ks.items():
        for dep in doc["spec"].get("dependsOn") or []:
            assert dep["name"] in ks, f"{name} depends on unknown Kustomization {dep['name']}"
            assert dep.get("namespace", "flux-system") == "flux-system"
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(name: str, trail: list[str]) -> None:
        if state.get(name) == 2:
            return
        assert state.get(name) != 1, "dependsOn cycle: " + " -> ".join(trail + [name])
        state[name] = 1
        for dep in sorted(depends(ks[name])):
            visit(dep, trail + [name])
        state[name] = 2

    for name in sorted(ks):
        visit(name, [])


def test_flux_kustomization_paths_exist():
    built = {rel(d) for d in DIRS}
    for name, doc in flux_kustomizations().items():
        path = doc["spec"]["path"]
        assert path.startswith("./"), f"{name}: path {path} should be relative to the repository root"
        target = (REPO / path).resolve()
        assert target.is_dir(), f"{name}: path {path} does not exist"
        assert rel(target) in built, f"{name}: {path} has no kustomization.yaml"


def test_storage_is_not_blocked_by_later_phases():
    ks = flux_kustomizations()

    def ancestors(name: str) -> set[str]:
        out: set[str] = set()
        for dep in depends(ks[name]):
            out |= {dep} | ancestors(dep)
        return out

    assert ancestors("longhorn") == {"sources"}
