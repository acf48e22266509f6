"""`kustomize build` for the lab's kustomize-controller: the real kustomize inside kubectl when kubectl is on PATH
(`kubectl kustomize DIR`, offline: every resource must be a local path, and a dead loopback proxy catches anything
else), else the small builder below. A folder without kustomization.yaml is built the way Flux does either way:
every YAML file below it, recursively, a sub-folder with its own kustomization built as one.

The builder here covers what Flux repositories use: resources (files and folders, recursively), namespace, commonLabels / labels,
configMapGenerator / secretGenerator (files, literals, envs, generatorOptions.disableNameSuffixHash) and patches
(strategic merge, as files or inline, with an optional target). A folder without kustomization.yaml is built the
way Flux does: every YAML file below it, recursively.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
CLUSTER_SCOPED = {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "StorageClass",
                  "PriorityClass", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
                  "PersistentVolume", "ClusterSecretStore", "APIService", "Node", "IngressClass"}


class KustomizeError(Exception):
    """A build that cannot complete; the message names the file, like kustomize's own errors."""


def build(path: Path, real: bool | None = None) -> list[dict]:
    """Render the objects of the kustomization (or plain folder / file) at `path`; `real`: the real kustomize
    (True), this module's builder (False), or the real one when kubectl is on PATH (None)."""
    path = Path(path)
    if not path.exists():
        raise KustomizeError(f"kustomization path not found: stat {path}: no such file or directory")
    if path.is_file():
        return _load_documents(path)
    kfile = next((path / n for n in KUSTOMIZATION_FILES if (path / n).is_file()), None)
    if kfile is None:
        return _plain_folder(path, real)
    if real or (real is None and kubectl() is not None):
        return _real_build(path)
    return _build_kustomization(kfile)


# --- the real kustomize (kubectl kustomize) -------------------------------------------------------------------
DEAD_PROXY = "http://127.0.0.1:9"  # nothing listens there: a remote base kustomize tried to fetch fails at once
_cache: dict[tuple, list[dict]] = {}  # (folder, its files' stats) -> objects: reconciles rebuild only after edits


def kubectl() -> str | None:
    """The kubectl whose kustomize builds for the lab, or None."""
    return shutil.which("kubectl")


def _real_build(folder: Path) -> list[dict]:
    folders = _local_tree(folder)
    key = (str(folder.resolve()), _stats(folders))
    if key not in _cache:
        _cache[key] = _run_kustomize(folder)
    return copy.deepcopy(_cache[key])


def _run_kustomize(folder: Path) -> list[dict]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), "HTTPS_PROXY": DEAD_PROXY,
           "HTTP_PROXY": DEAD_PROXY, "https_proxy": DEAD_PROXY, "http_proxy": DEAD_PROXY, "NO_PROXY": ""}
    done = subprocess.run([kubectl() or "kubectl", "kustomize", str(folder)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    if done.returncode != 0:
        raise KustomizeError(_error_text(done.stderr) or f"kubectl kustomize exit {done.returncode}")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # kustomize's own output: libyaml parses it ~10x faster
    return [d for d in yaml.load_all(done.stdout, Loader=loader) if d]


def _error_text(stderr: str) -> str:
    """kustomize's error without its deprecation warnings and kubectl's log prefix (`E1202 ... err="..."`)."""
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("# Warning")]
    text = "\n".join(lines)
    quoted = re.search(r'"command failed" err="(.*)"\s*$', text, re.S)
    return (quoted.group(1).replace('\\"', '"') if quoted else text).removeprefix("error: ").strip()


def _local_tree(folder: Path) -> list[Path]:
    """Every kustomization folder the build reads (resources, components, bases); a remote one is refused before
    kustomize could fetch it: the lab reaches nothing outside 127.0.0.1."""
    seen: list[Path] = []
    pending = [folder.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.append(current)
        kfile = next((current / n for n in KUSTOMIZATION_FILES if (current / n).is_file()), None)
        spec = (yaml.safe_load(kfile.read_text()) or {}) if kfile else {}
        for entry in [*(spec.get("resources") or []), *(spec.get("components") or []), *(spec.get("bases") or [])]:
            target = (current / str(entry)).resolve()
            if "://" in str(entry) or not target.exists():
                raise KustomizeError(f"accumulating resources: accumulation err='accumulating resources from "
                                     f"'{entry}': open {target}: no such file or directory' (the lab builds "
                                     "local paths only: a remote base is never fetched)")
            if target.is_dir():
                pending.append(target)
    return seen


def _stats(folders: list[Path]) -> tuple:
    return tuple(sorted((str(p), p.stat().st_mtime_ns, p.stat().st_size)
                        for folder in folders for p in folder.rglob("*") if p.is_file()))


def _plain_folder(folder: Path, real: bool | None = None) -> list[dict]:
    """Flux's generated kustomization: YAML files here, sub-folders recursively (a sub-folder with its own
    kustomization.yaml is built as a kustomization)."""
    objects: list[dict] = []
    for entry in sorted(folder.iterdir()):
        if entry.is_dir() and not entry.name.startswith("."):
            objects.extend(build(entry, real))
        elif entry.suffix in (".yaml", ".yml") and entry.is_file():
            objects.extend(_load_documents(entry))
    return objects


def _load_documents(file: Path) -> list[dict]:
    try:
        docs = list(yaml.safe_load_all(file.read_text()))
    except yaml.YAMLError as exc:
        raise KustomizeError(f"{file}: invalid YAML: {exc}") from None
    out = []
    for doc in docs:
        if not doc:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            raise KustomizeError(f"{file}: missing Resource metadata (apiVersion/kind)")
        if doc["kind"].endswith("List") and "items" in doc:
            out.extend(doc["items"])
        else:
            out.append(doc)
    return out


def _build_kustomization(kfile: Path) -> list[dict]:
    base = kfile.parent
    spec = yaml.safe_load(kfile.read_text()) or {}
    objects: list[dict] = []
    for entry in spec.get("resources", []) or []:
        target = (base / entry).resolve()
        if not target.exists():
            raise KustomizeError(f"accumulating resources: accumulation err='accumulating resources from "
                                 f"'{entry}': open {target}: no such file or directory'")
        if target.is_dir() and not any((target / n).is_file() for n in KUSTOMIZATION_FILES):
            raise KustomizeError(f"accumulating resources: accumulation err='accumulating resources from '{entry}': "
                                 f"'{target}' must resolve to a file': couldn't make target for path '{target}': "
                                 "unable to find one of 'kustomization.yaml', 'kustomization.yml' or "
                                 f"'Kustomization' in directory '{target}'")
        objects.extend(build(target, False))
    objects.extend(_generated(base, spec))
    for patch in spec.get("patches", []) or []:
        _apply_patch_entry(base, patch, objects)
    for patch_file in spec.get("patchesStrategicMerge", []) or []:
        _apply_patch_entry(base, {"path": patch_file}, objects)
    _set_namespace(objects, spec.get("namespace"))
    _set_labels(objects, spec)
    _check_unique(objects, kfile)
    return objects


def _generated(base: Path, spec: dict) -> list[dict]:
    options = spec.get("generatorOptions", {}) or {}
    out = []
    for gen in spec.get("configMapGenerator", []) or []:
        out.append(_generate(base, gen, options, "ConfigMap"))
    for gen in spec.get("secretGenerator", []) or []:
        out.append(_generate(base, gen, options, "Secret"))
    return out


def _generate(base: Path, gen: dict, options: dict, kind: str) -> dict:
    data: dict[str, str] = {}
    for item in gen.get("files", []) or []:
        key, _, rel = item.partition("=") if "=" in item else (Path(item).name, "", item)
        data[key] = (base / rel).read_text()
    for item in gen.get("literals", []) or []:
        key, _, value = item.partition("=")
        data[key] = value
    for env_file in gen.get("envs", []) or []:
        for line in (base / env_file).read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                data[key.strip()] = value
    meta: dict[str, Any] = {"name": gen["name"]}
    if gen.get("namespace"):
        meta["namespace"] = gen["namespace"]
    labels = {**(options.get("labels") or {}), **((gen.get("options") or {}).get("labels") or {})}
    annotations = {**(options.get("annotations") or {}), **((gen.get("options") or {}).get("annotations") or {})}
    if labels:
        meta["labels"] = labels
    if annotations:
        meta["annotations"] = annotations
    obj: dict[str, Any] = {"apiVersion": "v1", "kind": kind, "metadata": meta}
    if kind == "Secret":
        obj["type"] = gen.get("type", "Opaque")
        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    else:
        obj["data"] = data
    disable = (gen.get("options") or {}).get("disableNameSuffixHash", options.get("disableNameSuffixHash"))
    if not disable:
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
        meta["name"] = f"{gen['name']}-{_suffix(digest)}"
    return obj


def _suffix(digest: str) -> str:
    """Kustomize-like 10 character suffix (consonants and digits, so it never spells a word)."""
    alphabet = "bcdfghkmt2456789"
    return "".join(alphabet[int(c, 16)] for c in digest[:10])


def _apply_patch_entry(base: Path, entry: dict, objects: list[dict]) -> None:
    if entry.get("path"):
        docs = _load_patch_docs((base / entry["path"]).read_text())
    else:
        docs = _load_patch_docs(entry.get("patch", ""))
    for doc in docs:
        if isinstance(doc, list):
            raise KustomizeError("JSON6902 patches are not supported by the hops lab's kustomize")
        matched = [o for o in objects if _matches(o, entry.get("target"), doc)]
        if not matched:
            raise KustomizeError(f"no resource matches strategic merge patch \"{_describe(doc)}\"")
        for obj in matched:
            patch = copy.deepcopy(doc)
            if entry.get("target"):
                patch.get("metadata", {}).pop("name", None)
            merged = strategic_merge(obj, patch)
            obj.clear()
            obj.update(merged)


def _load_patch_docs(text: str) -> list[Any]:
    return [d for d in yaml.safe_load_all(text) if d]


def _describe(doc: dict) -> str:
    meta = doc.get("metadata", {})
    return f"{doc.get('kind')}.{doc.get('apiVersion')}/{meta.get('name')}.{meta.get('namespace', '[noNs]')}"


def _matches(obj: dict, target: dict | None, patch: dict) -> bool:
    meta = obj.get("metadata", {})
    if target:
        checks = {"kind": obj.get("kind"), "name": meta.get("name"), "namespace": meta.get("namespace")}
        if any(target.get(k) not in (None, v) for k, v in checks.items()):
            return False
        selector = target.get("labelSelector")
        if selector:
            labels = meta.get("labels", {}) or {}
            pairs = [p.split("=", 1) for p in selector.split(",") if "=" in p]
            return all(labels.get(k.strip()) == v.strip() for k, v in pairs)
        return True
    pmeta = patch.get("metadata", {})
    return obj.get("kind") == patch.get("kind") and meta.get("name") == pmeta.get("name") and \
        (pmeta.get("namespace") in (None, meta.get("namespace")))


def strategic_merge(base: Any, patch: Any) -> Any:
    """Strategic merge: maps merge, `$patch: delete` removes, lists of maps merge by `name` (containers, ports,
    env, volumes) when every item has one; other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        if patch.get("$patch") == "replace":
            return {k: v for k, v in patch.items() if k != "$patch"}
        out = copy.deepcopy(base)
        for key, value in patch.items():
            if (isinstance(value, dict) and value.get("$patch") == "delete") or value is None:
                out.pop(key, None)
            else:
                out[key] = strategic_merge(out.get(key), value)
        return out
    if isinstance(base, list) and isinstance(patch, list) and _keyed(base) and _keyed(patch):
        merged = copy.deepcopy(base)
        index = {item["name"]: i for i, item in enumerate(merged)}
        for item in patch:
            if item.get("$patch") == "delete":
                merged = [o for o in merged if o["name"] != item["name"]]
                index = {o["name"]: i for i, o in enumerate(merged)}
            elif item["name"] in index:
                merged[index[item["name"]]] = strategic_merge(merged[index[item["name"]]], item)
            else:
                merged.append(copy.deepcopy(item))
        return merged
    return copy.deepcopy(patch)


def _keyed(items: list) -> bool:
    return bool(items) and all(isinstance(i, dict) and "name" in i for i in items)


def _set_namespace(objects: list[dict], namespace: str | None) -> None:
    if not namespace:
        return
    for obj in objects:
        if obj["kind"] not in CLUSTER_SCOPED:
            obj.setdefault("metadata", {})["namespace"] = namespace
        for subject in obj.get("subjects", []) if obj["kind"] in ("RoleBinding", "ClusterRoleBinding") else []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace


def _set_labels(objects: list[dict], spec: dict) -> None:
    common = dict(spec.get("commonLabels") or {})
    plain: dict[str, str] = {}
    for entry in spec.get("labels", []) or []:
        target = common if entry.get("includeSelectors") else plain
        target.update(entry.get("pairs") or {})
    for obj in objects:
        meta = obj.setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **common, **plain}
        if not meta["labels"]:
            del meta["labels"]
        if common:
            _label_selectors(obj, common)


def _label_selectors(obj: dict, labels: dict) -> None:
    """commonLabels also go into selectors and pod templates, as kustomize does."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    if obj["kind"] == "Service":
        spec["selector"] = {**(spec.get("selector") or {}), **labels}
    elif obj["kind"] in ("Deployment", "DaemonSet", "StatefulSet", "ReplicaSet", "Job"):
        if obj["kind"] != "Job":
            selector = spec.setdefault("selector", {})
            selector["matchLabels"] = {**(selector.get("matchLabels") or {}), **labels}
        meta = spec.setdefault("template", {}).setdefault("metadata", {})
        meta["labels"] = {**(meta.get("labels") or {}), **labels}


def _check_unique(objects: list[dict], kfile: Path) -> None:
    seen: set[tuple] = set()
    for obj in objects:
        meta = obj.get("metadata", {})
        key = (obj.get("apiVersion", "").split("/")[0] if "/" in obj.get("apiVersion", "") else "",
               obj["kind"], meta.get("namespace"), meta.get("name"))
        if key in seen:
            raise KustomizeError(f"{kfile}: may not add resource with an already registered id: "
                                 f"{obj['kind']}.{obj['apiVersion']}/{meta.get('name')}.{meta.get('namespace', '')}")
        seen.add(key)
