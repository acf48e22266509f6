"""The repository as Flux reads it: the cluster folder (gitops.path), the folders its Kustomizations apply
(spec.path), and the manifests in them. Used to check the HelmReleases before anything is applied, and to name
the file that holds an object Flux refused. Every file is parsed once per process (hops.helmrelease.documents).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hops import helmrelease, helmrelease_fields
from hops.errors import StepError

FLUX_KUSTOMIZATION = "kustomize.toolkit.fluxcd.io/"


def _yaml_files(folder: Path) -> list[Path]:
    return sorted(p for pattern in ("*.yaml", "*.yml") for p in folder.rglob(pattern) if p.is_file())


def manifests(folder: Path) -> Iterator[tuple[Path, dict]]:
    """(file, document) for every YAML document under folder; a file that does not parse is a StepError."""
    for file in _yaml_files(folder):
        for doc in helmrelease.documents(file):
            yield file, doc


def folder_of(root: Path, path: object) -> Path:
    """A Kustomization's spec.path as a folder of the repository (`./infrastructure/apps` -> root/infrastructure/apps)."""
    return (root / str(path or ".").strip()).resolve()


def applied_folders(root: Path, cluster_folder: str) -> list[Path]:
    """The cluster folder, then every existing folder a Kustomization declared there applies."""
    return [folder for folder in declared_folders(root, cluster_folder) if folder.is_dir()]


def declared_folders(root: Path, cluster_folder: str) -> list[Path]:
    """The cluster folder, then every folder a Kustomization declared there applies, whether it exists or not."""
    cluster = folder_of(root, cluster_folder)
    out = [cluster]
    for _, doc in manifests(cluster) if cluster.is_dir() else ():
        if doc.get("kind") == "Kustomization" and str(doc.get("apiVersion", "")).startswith(FLUX_KUSTOMIZATION):
            folder = folder_of(root, (doc.get("spec") or {}).get("path"))
            if folder not in out:
                out.append(folder)
    return out


def helmrelease_problems(root: Path, cluster_folder: str) -> list[str]:
    """Every mistake in the HelmReleases Flux will apply, one line each: file, HelmRelease ns/name, field. Kept
    between processes while no file or folder under those folders changed (hops.tree_cache)."""
    from hops import tree_cache

    def compute() -> tree_cache.Computed:
        declared = declared_folders(root, cluster_folder)
        return tree_cache.Computed(_helmrelease_problems(root, cluster_folder), [f for f in declared if f.is_dir()],
                                   declared)

    here = Path(__file__).resolve().parent
    code = [here / "gitops_tree.py", here / "helmrelease.py", here / "helmrelease_fields.py"]
    return list(tree_cache.answer("helmrelease-problems", [str(root.resolve()), cluster_folder], code, compute))


def _helmrelease_problems(root: Path, cluster_folder: str) -> list[str]:
    found: list[str] = []
    seen: set[Path] = set()
    for folder in applied_folders(root, cluster_folder):
        for file in _yaml_files(folder):
            if file in seen:
                continue
            seen.add(file)
            try:
                docs = helmrelease.documents(file)
            except StepError as exc:
                found.append(str(exc))
                continue
            rel = relative(root, file)
            found += [f"{rel}: {helmrelease_fields.label(doc)}: {problem}"
                      for doc in docs if helmrelease_fields.is_helmrelease(doc)
                      for problem in helmrelease_fields.problems(doc)]
    return found


def defining_file(folder: Path, kind: str, namespace: str, name: str) -> Path | None:
    """The file under folder whose manifest is kind/namespace/name (a manifest without a namespace, which
    kustomize or the Kustomization gives one, matches by kind and name)."""
    fallback = None
    for file, doc in manifests(folder) if folder.is_dir() else ():
        meta = helmrelease_fields.metadata(doc)
        if doc.get("kind") != kind or meta.get("name") != name:
            continue
        if meta.get("namespace") == (namespace or None):
            return file
        fallback = fallback or (file if not meta.get("namespace") else None)
    return fallback


def relative(root: Path, file: Path) -> str:
    """file as the user knows it: relative to the project root."""
    try:
        return str(file.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(file)
