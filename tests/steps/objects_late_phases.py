"""What the cluster holds in phases 4-6 (services, gitops, applications), for the in-process step tests: the
objects the lab's charts render (hops.lab.charts, the same the emulated helm/flux create) with the status their
controllers write when they are ready or not, the Flux objects as flux bootstrap and the Flux controllers leave
them, and the tools' answers (helm history -o json, op, flux) in the texts the real tools print."""

from __future__ import annotations

import base64
import copy
import functools
import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from hops.lab import charts
from tests.steps.harness import World

REVISION = "main@sha1:5d7a7604c37a86510106cf82195c54a463a99716"
OLD_REVISION = "main@sha1:fe5c023b9cce38fe420ba7c01d29fbd47f8699fd"
FLUX_NS = "flux-system"
SYNC_URL = "ssh://git@github.com/example-homelab/home-ops"
CLUSTER_PATH = "infrastructure/clusters/home-ops"
INFRASTRUCTURE = ["cilium", "external-secrets", "onepassword-connect", "cluster-secret-store", "sources", "longhorn"]


# --- deadlines and changes while a step waits ------------------------------------------------------------------
def expire_quickly(world: World, seconds: float = 0.3) -> None:
    """Every phase's timeout `seconds`, and the API server ends each watch after 0.2 s (the client lists again
    and resumes, as after any early end of a watch), so a wait that cannot succeed notices its passed deadline
    soon instead of at the end of a whole-second watch. Only for waits that must time out: a relist can only
    add what a watch missed, never hide a timeout, while a "becomes ready" test must see the change through
    the watch alone, as on a real apiserver."""
    world.server.watch_timeout = 0.2
    path = world.root / "bootstrap-config.yaml"
    data = yaml.safe_load(path.read_text())
    data["bootstrap"]["timeouts"].update(dict.fromkeys(data["bootstrap"]["timeouts"], seconds))
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    world.ctx.__dict__.pop("settings", None)


class Later:
    """Writes objects into the cluster once the step watches `kind` (it is then past its first list and sees them
    through its watch, or its next list when the watch has just ended): the "becomes ready while waiting" case,
    without sleeping."""

    def __init__(self, world: World, api_version: str, kind: str, *objects: dict,
                 change: Callable[[], object] | None = None) -> None:
        self.watched: bool | None = None
        self.error: BaseException | None = None

        def run() -> None:
            try:
                self.watched = world.store.wait_for_watch(api_version, kind)
                if self.watched:
                    for obj in objects:
                        world.store.apply(obj)
                    if change:
                        change()
            except BaseException as exc:  # noqa: BLE001 - reported by done()
                self.error = exc

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()

    def done(self) -> None:
        """Assert the objects were written while the step watched."""
        self.thread.join(15)
        assert self.error is None, self.error
        assert self.watched, "the step never watched"


# --- workloads ---------------------------------------------------------------------------------------------------
def rendered(chart: str, release: str, namespace: str) -> list[dict]:
    """The objects `helm upgrade --install` of the lab's chart creates (CRDs first, as Helm installs them)."""
    return copy.deepcopy(_rendered(chart, release, namespace))


@functools.cache
def _rendered(chart: str, release: str, namespace: str) -> list[dict]:
    objects = charts.render(charts.CATALOG[chart], release, namespace, {})
    return sorted(objects, key=lambda o: o["kind"] != "CustomResourceDefinition")


def of_kind(objects: list[dict], kind: str, name: str | None = None) -> list[dict]:
    return [o for o in objects if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]


def one(objects: list[dict], kind: str, name: str) -> dict:
    found = of_kind(objects, kind, name)
    assert len(found) == 1, f"{kind} {name}: {len(found)} found"
    return found[0]


def with_status(obj: dict, ready: int | None = None, desired: int | None = None) -> dict:
    """A copy of the Deployment/DaemonSet/StatefulSet with the status its controller writes when `ready` of
    `desired` pods are ready (default: all), for the current generation."""
    obj = copy.deepcopy(obj)
    kind = obj["kind"]
    want = desired if desired is not None else (3 if kind == "DaemonSet" else obj["spec"].get("replicas", 1))
    have = want if ready is None else ready
    obj["metadata"].setdefault("generation", 1)
    gen = obj["metadata"]["generation"]
    if kind == "DaemonSet":
        obj["status"] = {"observedGeneration": gen, "desiredNumberScheduled": want, "currentNumberScheduled": want,
                         "updatedNumberScheduled": want, "numberReady": have, "numberAvailable": have,
                         "numberMisscheduled": 0, "numberUnavailable": want - have}
    elif kind == "StatefulSet":
        obj["status"] = {"observedGeneration": gen, "replicas": want, "readyReplicas": have,
                         "availableReplicas": have, "currentReplicas": want, "updatedReplicas": want}
    else:
        obj["status"] = {"observedGeneration": gen, "replicas": want, "updatedReplicas": want, "readyReplicas": have,
                         "availableReplicas": have, "unavailableReplicas": want - have,
                         "conditions": deployment_conditions(obj["metadata"]["name"], have >= want)}
    return obj


def deployment_conditions(name: str, available: bool) -> list[dict]:
    """Available/Progressing as the Deployment controller words them."""
    stamp = "2026-12-02T05:00:00Z"
    rs = f"{name}-7d9f8b6c5"
    if available:
        conds = [("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability."),
                 ("Progressing", "True", "NewReplicaSetAvailable", f'ReplicaSet "{rs}" has successfully progressed.')]
    else:
        conds = [("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability."),
                 ("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs}" is progressing.')]
    return [{"type": t, "status": s, "reason": r, "message": m, "lastUpdateTime": stamp, "lastTransitionTime": stamp}
            for t, s, r, m in conds]


def ready_all(objects: list[dict]) -> list[dict]:
    """The rendered objects with every workload ready."""
    return [with_status(o) if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet") else o for o in objects]


def crashing_pod(namespace: str, name: str, container: str, message: str = "") -> dict:
    """A pod whose container waits in CrashLoopBackOff, as the kubelet reports it."""
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"containers": [{"name": container, "image": "busybox"}]},
            "status": {"phase": "Running", "containerStatuses": [{
                "name": container, "ready": False, "restartCount": 5, "image": "busybox",
                "state": {"waiting": {"reason": "CrashLoopBackOff",
                                      "message": message or f"back-off 2m40s restarting failed container={container} "
                                                            f"pod={name}_{namespace}"}}}]}}


def crd_not_established(crd: dict) -> dict:
    """A CRD the apiserver has not established (its names are not accepted)."""
    crd = copy.deepcopy(crd)
    crd["status"] = {"conditions": [
        {"type": "NamesAccepted", "status": "False", "reason": "NameConflict",
         "message": f'"{crd["spec"]["names"]["plural"]}" is already in use'},
        {"type": "Established", "status": "False", "reason": "NotAccepted", "message": "not all names are accepted"}]}
    return crd


def held(world: World, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict:
    """The object as the cluster holds it now (the test fails when there is none)."""
    obj = world.get(api_version, kind, name, namespace)
    assert obj is not None, f"{kind} {namespace or ''}/{name} does not exist"
    return obj


def namespace(name: str, labels: dict | None = None) -> dict:
    meta: dict[str, Any] = {"name": name, **({"labels": labels} if labels else {})}
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": meta}


def repo_documents(world: World, relative: str) -> list[dict]:
    """The YAML documents of a file of the copied project."""
    return [d for d in yaml.safe_load_all((world.root / relative).read_text()) if isinstance(d, dict)]


# --- helm --------------------------------------------------------------------------------------------------------
def history(chart: str, version: str, app_version: str, *rows: tuple[int, str, str], age_s: float = 60.0) -> str:
    """`helm history NAME -o json`: (revision, status, description) rows, oldest first, last changed `age_s` ago."""
    when = (datetime.now(UTC) - timedelta(seconds=age_s)).isoformat(timespec="microseconds")
    return json.dumps([{"revision": number, "updated": when.replace("+00:00", "Z"), "status": status,
                        "chart": f"{chart}-{version}", "app_version": app_version, "description": description}
                       for number, status, description in rows])


def helm_status(release: str, namespace: str, revision: int) -> str:
    """What `helm upgrade --install` prints when it is done."""
    return (f'Release "{release}" has been upgraded. Happy Helming!\nNAME: {release}\nLAST DEPLOYED: '
            f"Wed Dec  2 05:40:00 2026\nNAMESPACE: {namespace}\nSTATUS: deployed\nREVISION: {revision}\n"
            "TEST SUITE: None")


def helm_record(name: str, namespace: str, version: int, status: str) -> dict:
    """Helm 3's storage Secret of one revision (`sh.helm.release.v1.<name>.v<n>`; its labels carry the status)."""
    from hops.lab import helm_releases

    release = {"name": name, "namespace": namespace, "version": version, "info": {"status": status}}
    return {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
            "metadata": {"name": f"sh.helm.release.v1.{name}.v{version}", "namespace": namespace,
                         "labels": {"name": name, "owner": "helm", "status": status, "version": str(version)}},
            "data": {"release": helm_releases.encode(release)}}


# --- 1Password -----------------------------------------------------------------------------------------------------
def connect_credentials(version: Any = "2") -> str:
    """A 1password-credentials.json in the shape 1Password writes it (random-looking values, version as given)."""
    return json.dumps({"verifier": {"salt": "k2Hq0Z8yVx4mWc1nRt7uPa", "localHash": "Q9vR2sT4uW6xY8zA0bC2dE4fG6hI8jK"},
                       "encCredentials": {"kid": "localauthv2keykid", "enc": "A256GCM", "cty": "b5+jwk+json",
                                          "iv": "Zx8Cv7Bn6Mq5Wl4E", "data": "TmV2ZXJMb2dNZUluUGxhaW5UZXh0UGxlYXNl"
                                                                          "SXRzQVNlY3JldFZhbHVlMTIzNDU2Nzg5MA"},
                       "version": version, "deviceUuid": "vk3mzq7d5xq2hbd4nrpj6wfyta",
                       "uniqueKey": {"alg": "A256GCM", "ext": True, "k": "8bQz3Lw9Nd2Xr5Tv7Ym1Kp4Hs6Jc0Fg2",
                                     "key_ops": ["decrypt", "encrypt"], "kty": "oct",
                                     "kid": "u3wr6pgyqdx7mhhv3ybq2k4z7e"}})


CONNECT_TOKEN = "eyJhbGciOiJFUzI1NiIsImtpZCI6Im5vdGFyZWFsdG9rZW4ifQ.connect-token-body.c2lnbmF0dXJlLXBhcnQ"
GITHUB_TOKEN = "ghp_R3alLyS3cretT0kenV4lue0123456789ab"


def op_error(text: str) -> str:
    """op's error line: `[ERROR] YYYY/MM/DD HH:MM:SS <text>`."""
    return f"[ERROR] 2026/12/02 05:40:00 {text}"


def op_item_list(*titles: str) -> str:
    """`op item list --vault homelab --format json`."""
    return json.dumps([{"id": f"id{i:024d}", "title": title, "version": 1,
                        "vault": {"id": "vaultid0000000000000000000", "name": "homelab"},
                        "category": "SECURE_NOTE", "last_edited_by": "USERID00000000000000000000",
                        "created_at": "2026-11-30T10:00:00Z", "updated_at": "2026-11-30T10:00:00Z"}
                       for i, title in enumerate(titles)], indent=2)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def state_texts(world: World) -> dict[str, str]:
    """Every file hops wrote under the state folder (markers, run log, diagnostics, notes), by relative path."""
    root = world.ctx.state_dir
    return {str(p.relative_to(root)): p.read_text(errors="replace") for p in root.rglob("*") if p.is_file()}


def log_text(world: World) -> str:
    """Everything the step wrote to the run log ("" when it wrote nothing)."""
    path: Path = world.ctx.log.path
    return path.read_text() if path.exists() else ""


# --- Flux ------------------------------------------------------------------------------------------------------------
def flux_install(ready: bool = True) -> list[dict]:
    """What `flux bootstrap` installs in flux-system (CRDs, controllers, services), controllers ready or not."""
    objects = rendered("flux2", "flux", FLUX_NS)
    objects = [with_status(o, None if ready else 0) if o["kind"] == "Deployment" else o for o in objects]
    return [namespace(FLUX_NS, {"app.kubernetes.io/part-of": "flux"}), *objects]


def flux_crds() -> list[dict]:
    return of_kind(rendered("flux2", "flux", FLUX_NS), "CustomResourceDefinition")


def flux_condition(status: str, reason: str, message: str) -> list[dict]:
    stamp = "2026-12-02T05:00:00Z"
    return [{"type": "Ready", "status": status, "reason": reason, "message": message, "observedGeneration": 1,
             "lastTransitionTime": stamp},
            {"type": "Reconciling", "status": "True" if status == "Unknown" else "False",
             "reason": "Progressing" if status == "Unknown" else reason, "message": message,
             "lastTransitionTime": stamp}]


def git_repository(revision: str = REVISION, ready: bool = True, branch: str = "main", url: str = SYNC_URL,
                   failure: str = "") -> dict:
    """flux-system's GitRepository as flux bootstrap applies it and source-controller reports it."""
    obj: dict[str, Any] = {"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                           "metadata": {"name": "flux-system", "namespace": FLUX_NS, "generation": 1},
                           "spec": {"interval": "1m0s", "ref": {"branch": branch}, "secretRef": {"name": "flux-system"},
                                    "url": url}}
    if ready:
        obj["status"] = {"observedGeneration": 1, "artifact": {"revision": revision, "digest": "sha256:0c5b"},
                         "conditions": flux_condition("True", "Succeeded",
                                                      f"stored artifact for revision '{revision}'")}
    else:
        obj["status"] = {"observedGeneration": 1, "conditions": flux_condition(
            "False", "GitOperationFailed", failure or f"failed to checkout and determine revision: unable to list "
                                                      f"remote for '{url}': repository not found")}
    return obj


def sync_kustomization(applied: str | None = REVISION, path: str = f"./{CLUSTER_PATH}") -> dict:
    """flux-system's Kustomization as flux bootstrap applies it; `applied` is its lastAppliedRevision."""
    obj = {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
           "metadata": {"name": "flux-system", "namespace": FLUX_NS, "generation": 1},
           "spec": {"interval": "10m0s", "path": path, "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    return kustomization_status(obj, applied)


def kustomization_status(obj: dict, applied: str | None = REVISION, reason: str = "", message: str = "") -> dict:
    """A copy of a Kustomization with kustomize-controller's status: Ready for `applied`, else (reason, message);
    reason "Progressing" means health checks still running (Ready=Unknown)."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("generation", 1)
    if applied is not None and not reason:
        obj["status"] = {"observedGeneration": 1, "lastAppliedRevision": applied, "lastAttemptedRevision": applied,
                         "conditions": flux_condition("True", "ReconciliationSucceeded",
                                                      f"Applied revision: {applied}")}
    else:
        state = "Unknown" if reason == "Progressing" else "False"
        obj["status"] = {"observedGeneration": 1, "lastAttemptedRevision": REVISION,
                         **({"lastAppliedRevision": applied} if applied else {}),
                         "conditions": flux_condition(state, reason, message)}
    return obj


def declared_kustomizations(world: World) -> dict[str, dict]:
    """The Kustomizations of the copied project's cluster folder, by name (read once per world)."""
    folder = world.root / CLUSTER_PATH
    files = tuple((f, f.stat().st_mtime_ns) for f in sorted(folder.glob("*.yaml")))
    return copy.deepcopy(_declared(files))


@functools.lru_cache(maxsize=8)
def _declared(files: tuple[tuple[Path, int], ...]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for f, _ in files for d in yaml.safe_load_all(f.read_text())
            if isinstance(d, dict) and d.get("kind") == "Kustomization"}


def helm_release(name: str, namespace: str, ready: bool = True, reason: str = "InstallFailed",
                 message: str = "") -> dict:
    """A Flux HelmRelease as helm-controller reports it (managed by a Kustomization of the cluster folder)."""
    obj = {"apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
           "metadata": {"name": name, "namespace": namespace, "generation": 1,
                        "labels": {"kustomize.toolkit.fluxcd.io/name": name,
                                   "kustomize.toolkit.fluxcd.io/namespace": FLUX_NS}},
           "spec": {"interval": "30m", "chart": {"spec": {"chart": name, "sourceRef": {
               "kind": "HelmRepository", "name": name, "namespace": FLUX_NS}}}}}
    if ready:
        obj["status"] = {"observedGeneration": 1, "conditions": flux_condition(
            "True", "InstallSucceeded", f"Helm install succeeded for release {namespace}/{name}.v1")}
    else:
        obj["status"] = {"observedGeneration": 1, "conditions": flux_condition(
            "False", reason, message or f"Helm install failed for release {namespace}/{name} with chart "
                                        f"{name}@6.7.1: context deadline exceeded")}
    return obj


def managed(obj: dict, release: str) -> dict:
    """A copy of a workload labelled as helm-controller labels what it installs for HelmRelease `release`."""
    obj = copy.deepcopy(obj)
    obj["metadata"].setdefault("labels", {}).update({"helm.toolkit.fluxcd.io/name": release,
                                                     "helm.toolkit.fluxcd.io/namespace": obj["metadata"]["namespace"]})
    return obj
