"""Flux's source-, kustomize- and helm-controller, as the lab runs them.

Each acts only while its Deployment (installed by `flux bootstrap`) is available. "GitHub" is the project's
working tree (settings.root): a GitRepository's revision is `<branch>@sha1:<hash of the watched files>`, and a
Kustomization builds `spec.path` from the working tree with hops.lab.kustomize. HelmReleases install charts from
hops.lab.charts through hops.lab.helm_releases, so a release first installed by the `helm` tool is adopted
(upgraded to a new revision with the same objects), never fought over.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from hops.lab import charts, flux_log, helm_releases, kustomize
from hops.lab.apiserver import validation
from hops.lab.apiserver.errors import ApiError
from hops.lab.apiserver.store import APPLY
from hops.lab.clock import HELM_CONCURRENT
from hops.lab.controllers.loop import LoopController, soonest
from hops.lab.controllers.pods import stamp
from hops.lab.readiness import check, condition, is_true, kstatus

SOURCE = "source.toolkit.fluxcd.io/v1"
KS = "kustomize.toolkit.fluxcd.io/v1"
HR = "helm.toolkit.fluxcd.io/v2"
REQUESTED = "reconcile.fluxcd.io/requestedAt"
READY_KINDS = {"HelmRelease", "Kustomization", "GitRepository", "HelmRepository", "HelmChart", "OCIRepository",
               "ClusterSecretStore", "SecretStore", "ExternalSecret"}
SKIP_DIRS = {".git", ".lab", ".venv", "__pycache__", "node_modules", ".bootstrap-state"}


def ready(obj: dict | None) -> bool:
    """Ready the way Flux judges a dependency or health check: a Ready condition for the observed generation."""
    if obj is None:
        return False
    if obj.get("kind") not in READY_KINDS:
        return check(obj)[0]
    observed = (obj.get("status") or {}).get("observedGeneration", 0) >= obj["metadata"].get("generation", 1)
    return is_true(obj, "Ready") and (observed or obj["kind"] not in ("HelmRelease", "Kustomization"))


def _obj_kstatus(obj: dict | None) -> str:
    if obj is None:
        return "NotFound"
    if obj.get("kind") in READY_KINDS:
        if ready(obj):
            return "Current"
        cond = condition(obj, "Ready")
        return "Failed" if cond and cond.get("status") == "False" and cond.get("reason") not in \
            ("DependencyNotReady", "Progressing") else "InProgress"
    return kstatus(obj)


# kustomize builds run beside the controller's loop (each mostly waits for a `kubectl kustomize` process)
_BUILDERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="lab-kustomize")


class FluxController(LoopController):
    kinds = frozenset({"GitRepository", "HelmRepository", "HelmChart", "Kustomization", "HelmRelease", "Deployment",
                       "DaemonSet", "StatefulSet", "CustomResourceDefinition", "ConfigMap", "Secret",
                       "ClusterSecretStore", "ExternalSecret"})

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self.root = Path(getattr(lab.settings, "root", ".") or ".")
        self._helm: dict[tuple[str, str], dict] = {}       # helm-controller actions in progress
        self._ks_done: dict[tuple[str, str], tuple] = {}    # kustomizations applied for (revision, generation)
        self._builds: dict[tuple, Future[list[dict]]] = {}  # kustomize builds started with their reconcile
        self._workers = HELM_CONCURRENT                       # helm-controller's, read on each pass
        self._busy = 0                                        # its workers installing or upgrading a release

    def reconcile(self) -> float | None:
        wait: float | None = None
        if self._running("source-controller"):
            for repo in self.store.list(SOURCE, "GitRepository"):
                wait = soonest(wait, self._git(repo))
            for repo in self.store.list(SOURCE, "HelmRepository"):
                wait = soonest(wait, self._helm_repo(repo))
        # Kustomizations and HelmReleases as stored, not copied (200 apps: hundreds of copies a pass): the
        # handlers below only read them and write through the store, which keeps every version it hands out intact
        if self._running("kustomize-controller"):
            for ks in self.store.peek(KS, "Kustomization"):
                wait = soonest(wait, self._kustomization(ks))
        workers = self._helm_workers() if self._running("helm-controller") else None
        if workers is not None:
            releases = self.store.peek(HR, "HelmRelease")
            self._keep_actions_of(releases)
            self._workers = workers
            self._busy = sum(1 for action in self._helm.values() if not action["done"])
            for hr in releases:
                wait = soonest(wait, self._helmrelease(hr))
        return wait

    def _keep_actions_of(self, releases: list[dict]) -> None:
        """Forget the helm actions of releases deleted or suspended since: they hold no worker any more."""
        live = {(hr["metadata"]["namespace"], hr["metadata"]["name"]) for hr in releases
                if not (hr.get("spec") or {}).get("suspend")}
        for ident in [i for i, action in self._helm.items() if i not in live and not action["done"]]:
            del self._helm[ident]

    def _helm_workers(self) -> int | None:
        """helm-controller's --concurrent (4 unless its Deployment's args say otherwise): how many releases it
        installs or upgrades at once. Each holds its worker until the release is ready or fails (helm's --wait).
        None when the flag is not a positive number: the real controller exits at start and reconciles nothing."""
        for deploy in self.store.peek("apps/v1", "Deployment"):
            if deploy["metadata"]["name"] == "helm-controller":
                for container in deploy["spec"]["template"]["spec"].get("containers") or []:
                    return concurrent_flag(container.get("args") or [])
        return HELM_CONCURRENT

    def _running(self, controller: str) -> bool:
        return any(d["metadata"]["name"] == controller and check(d)[0] for d in self.store.peek("apps/v1", "Deployment"))

    def log(self, controller: str, obj: dict, msg: str, level: str = "info") -> None:
        meta = obj["metadata"]
        flux_log.write(self.lab.layout, controller, level, obj["kind"], meta.get("namespace", ""), meta["name"], msg)

    def _status(self, obj: dict, ready_state: str, reason: str, message: str, **fields: Any) -> None:
        """Set Ready (and Reconciling/Stalled like kstatus expects) only when something changed."""
        meta = obj["metadata"]
        status = {"observedGeneration": meta.get("generation", 1), **fields}
        conds = [{"type": "Ready", "status": ready_state, "reason": reason, "message": message,
                  "observedGeneration": meta.get("generation", 1), "lastTransitionTime": stamp()}]
        conds.append({"type": "Reconciling", "status": "True" if ready_state == "Unknown" else "False",
                      "reason": "Progressing" if ready_state == "Unknown" else reason, "message": message,
                      "lastTransitionTime": stamp()})
        current = obj.get("status") or {}
        old = condition(obj, "Ready") or {}
        same_fields = all(current.get(k) == v for k, v in status.items())
        if same_fields and (old.get("status"), old.get("reason"), old.get("message")) == (ready_state, reason, message):
            return
        self.store.set_status(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"),
                              {**status, "conditions": conds})

    # -- source-controller ----------------------------------------------------------------------------------
    def _git(self, repo: dict) -> float | None:
        meta, status = repo["metadata"], repo.get("status") or {}
        requested = (meta.get("annotations") or {}).get(REQUESTED, "")
        key = ("git", meta["namespace"], meta["name"], meta.get("generation"), requested)
        if is_true(repo, "Ready") and status.get("lastHandledReconcileAt", "") == requested and \
                status.get("observedGeneration") == meta.get("generation"):
            return None
        left = self.remaining(key, self.duration("flux.fetch"))
        if left > 0:
            if not is_true(repo, "Ready"):
                self._status(repo, "Unknown", "Progressing", "building artifact")
            return left
        branch = ((repo.get("spec") or {}).get("ref") or {}).get("branch", "main")
        revision = f"{branch}@sha1:{self.tree_hash()}"
        artifact = {"revision": revision, "digest": f"sha256:{hashlib.sha256(revision.encode()).hexdigest()}",
                    "lastUpdateTime": stamp(), "path": f"gitrepository/{meta['namespace']}/{meta['name']}/x.tar.gz",
                    "url": f"http://source-controller.{meta['namespace']}.svc.cluster.local./gitrepository/"
                           f"{meta['namespace']}/{meta['name']}/x.tar.gz"}
        self._status(repo, "True", "Succeeded", f"stored artifact for revision '{revision}'",
                     artifact=artifact, lastHandledReconcileAt=requested)
        self.log("source-controller", repo, f"stored artifact for commit '{revision}'")
        return None

    def tree_hash(self) -> str:
        """sha1 over the working tree's files (paths and contents), skipping tool and state folders."""
        digest = hashlib.sha1()
        for file in sorted(self._tree_files()):
            digest.update(str(file.relative_to(self.root)).encode())
            digest.update(file.read_bytes())
        return digest.hexdigest()

    def _tree_files(self) -> list[Path]:
        out: list[Path] = []
        for top in sorted(self.root.iterdir()) if self.root.is_dir() else []:
            if top.name in SKIP_DIRS or top.name.startswith("."):
                continue
            if top.is_file() and top.suffix in (".yaml", ".yml"):
                out.append(top)
            elif top.is_dir() and top.name in self._watched_dirs():
                out.extend(f for f in top.rglob("*") if f.is_file() and not (SKIP_DIRS & set(f.parts)))
        return out

    def _watched_dirs(self) -> set[str]:
        """Top-level folders holding Kustomization paths (the repository's GitOps content)."""
        dirs = {"infrastructure"}
        for ks in self.store.list(KS, "Kustomization"):
            path = Path(str((ks.get("spec") or {}).get("path", "./")).lstrip("./"))
            if path.parts:
                dirs.add(path.parts[0])
        return dirs

    def _helm_repo(self, repo: dict) -> float | None:
        meta = repo["metadata"]
        if is_true(repo, "Ready") and (repo.get("status") or {}).get("observedGeneration") == meta.get("generation"):
            return None
        left = self.remaining(("helmrepo", meta["namespace"], meta["name"], meta.get("generation")),
                              self.duration("flux.fetch"))
        if left > 0:
            return left
        url = (repo.get("spec") or {}).get("url", "")
        if (repo.get("spec") or {}).get("type") == "oci":
            self._status(repo, "True", "Succeeded", "Helm repository is Ready")
        else:
            digest = hashlib.sha256(url.encode()).hexdigest()
            self._status(repo, "True", "Succeeded", f"stored artifact: revision 'sha256:{digest}'",
                         artifact={"revision": f"sha256:{digest}", "digest": f"sha256:{digest}",
                                   "lastUpdateTime": stamp(), "url": url})
        self.log("source-controller", repo, "stored fetched index of unknown size")
        return None

    # -- kustomize-controller -------------------------------------------------------------------------------
    def _kustomization(self, ks: dict) -> float | None:
        meta, spec = ks["metadata"], ks.get("spec") or {}
        if spec.get("suspend"):
            return None
        ns = meta["namespace"]
        source_ref = spec.get("sourceRef") or {}
        source = self.store.get(SOURCE, source_ref.get("kind", "GitRepository"), source_ref.get("name", ""),
                                source_ref.get("namespace") or ns)
        if source is None or not is_true(source, "Ready"):
            self._status(ks, "False", "ArtifactFailed", "Source artifact not found, retrying in 30s")
            return None
        revision = source["status"]["artifact"]["revision"]
        requested = (meta.get("annotations") or {}).get(REQUESTED, "")
        key = (ns, meta["name"], revision, meta.get("generation"), requested)
        for dep in spec.get("dependsOn", []) or []:
            dep_obj = self.store.get(KS, "Kustomization", dep["name"], dep.get("namespace") or ns)
            if not ready(dep_obj):
                self.forget(key)
                self._builds.pop(key, None)
                self._status(ks, "False", "DependencyNotReady",
                             f"dependency '{dep.get('namespace') or ns}/{dep['name']}' is not ready")
                return None
        if self._ks_done.get((ns, meta["name"])) == key:
            return self._ks_health(ks, key, revision)
        left = self.remaining(key, self.duration("flux.kustomization"))
        if left > 0:
            self._start_build(key, spec)
            if not is_true(ks, "Ready") or requested:
                self._status(ks, "Unknown", "Progressing", "Reconciliation in progress",
                             lastAttemptedRevision=revision)
            return left
        error, inventory = self._apply(ks, key)
        if error:
            self._fail(ks, key, revision, "ReconciliationFailed", error)
            return self._retry_left(ks, key)
        self._ks_done[(ns, meta["name"])] = key
        self.forget(("health",) + key)
        self.log("kustomize-controller", ks, f"server-side apply for revision {revision} completed")
        self.store.set_status(KS, "Kustomization", meta["name"], ns, {"inventory": {"entries": inventory}})
        return self._ks_health(self.store.get(KS, "Kustomization", meta["name"], ns) or ks, key, revision)

    def _fail(self, ks: dict, key: tuple, revision: str, reason: str, message: str) -> None:
        self._status(ks, "False", reason, message, lastAttemptedRevision=revision,
                     lastHandledReconcileAt=key[4])
        self.log("kustomize-controller", ks, message, level="error")
        self._since.setdefault(("failed",) + key, time.monotonic())

    def _retry_left(self, obj: dict, key: tuple) -> float:
        """After a failure, try again once retryInterval (simulated) has passed."""
        spec = obj.get("spec") or {}
        retry = flux_log.parse_duration(spec.get("retryInterval") or spec.get("interval"), 60.0) / self.lab.speed
        left = self.remaining(("failed",) + key, retry)
        if left <= 0:
            self.forget(("failed",) + key)
            self.forget(key)
            self.forget(("health",) + key)
            self._ks_done.pop((obj["metadata"]["namespace"], obj["metadata"]["name"]), None)
            return 0.0
        return left

    def _ks_health(self, ks: dict, key: tuple, revision: str) -> float | None:
        spec, meta = ks.get("spec") or {}, ks["metadata"]
        status = ks.get("status") or {}
        if is_true(ks, "Ready") and status.get("lastAppliedRevision") == revision and \
                status.get("observedGeneration") == meta.get("generation"):  # a spec change (resume) is observed
            return None
        targets = self._health_targets(ks)
        pending = [(t, _obj_kstatus(self._lookup(t))) for t in targets]
        pending = [(t, s) for t, s in pending if s != "Current"]
        timeout = flux_log.parse_duration(spec.get("timeout") or spec.get("interval"), 300.0)
        if not pending:
            self._status(ks, "True", "ReconciliationSucceeded", f"Applied revision: {revision}",
                         lastAppliedRevision=revision, lastAttemptedRevision=revision,
                         lastHandledReconcileAt=key[4])
            self.log("kustomize-controller", ks, f"Reconciliation finished, next run in {spec.get('interval', '10m')}")
            return None
        left = self.remaining(("health",) + key, timeout / self.lab.speed)
        if left > 0:
            self._status(ks, "Unknown", "Progressing", f"Running health checks for revision {revision} with a "
                         f"timeout of {flux_log.format_duration(timeout)}", lastAttemptedRevision=revision)
            return left
        waiting = ", ".join(f"{t['kind']}/{t.get('namespace', '')}/{t['name']} status: '{s}'" for t, s in pending)
        self._fail(ks, key, revision, "HealthCheckFailed",
                   f"health check failed after {flux_log.format_duration(timeout)}: timeout waiting for: [{waiting}]")
        return self._retry_left(ks, key)

    def _health_targets(self, ks: dict) -> list[dict]:
        spec = ks.get("spec") or {}
        if spec.get("wait"):
            out = []
            for entry in (ks.get("status") or {}).get("inventory", {}).get("entries", []) or []:
                ns, name, group, kind = entry["id"].split("_", 3)
                api_version = f"{group}/{entry['v']}" if group else entry["v"]
                out.append({"apiVersion": api_version, "kind": kind, "name": name, "namespace": ns})
            return [t for t in out if t["kind"] in READY_KINDS or t["kind"] in ("Deployment", "DaemonSet",
                                                                                 "StatefulSet", "Job")]
        return list(spec.get("healthChecks", []) or [])

    def _lookup(self, target: dict) -> dict | None:
        api_version = target.get("apiVersion") or ""
        if not api_version and target["kind"] == "HelmRelease":
            api_version = HR
        return self.store.get(api_version, target["kind"], target["name"], target.get("namespace") or None)

    def _start_build(self, key: tuple, spec: dict) -> None:
        """Start the kustomize build when the reconcile starts: the simulated duration stands for the whole
        reconcile, the build included (kustomize-controller builds in-process in milliseconds; the lab's
        `kubectl kustomize` process takes ~0.1 s, which would otherwise be added to every link of the chain)."""
        if key not in self._builds:
            for stale in [k for k in self._builds if k[:2] == key[:2]]:  # an older revision or generation's
                del self._builds[stale]
            path = self.root / str(spec.get("path", "./"))
            self._builds[key] = _BUILDERS.submit(kustomize.build, path)

    def _apply(self, ks: dict, key: tuple | None = None) -> tuple[str, list[dict]]:
        """Build (or take the build started with the reconcile) and apply; (error message or '', inventory
        entries). As kustomize-controller's staged apply: Namespaces and CRDs first, then the rest; each stage is
        dry-run whole before any of it is applied, so a manifest the apiserver refuses leaves that stage
        untouched and is named in the Flux message."""
        spec = ks.get("spec") or {}
        started = self._builds.pop(key, None) if key is not None else None
        try:
            objects = started.result() if started is not None else \
                kustomize.build(self.root / str(spec.get("path", "./")))
        except (kustomize.KustomizeError, OSError) as exc:
            return f"kustomize build failed: {exc}", []
        objects = [self._decorate(o, ks) for o in objects]
        first = [o for o in objects if o["kind"] in ("Namespace", "CustomResourceDefinition")]
        rest = [o for o in objects if o["kind"] not in ("Namespace", "CustomResourceDefinition")]
        for stage in (sorted(first, key=lambda o: o["kind"] != "Namespace"), rest):
            error = self._dry_run(stage) or self._apply_stage(stage)
            if error:
                return error, []
        inventory = [_inventory_entry(o) for o in first + rest]
        if spec.get("prune"):
            self._prune(ks, {e["id"] for e in inventory})
        return "", inventory

    def _dry_run(self, stage: list[dict]) -> str:
        """The first object of the stage the apiserver would refuse, in Flux's words ('' when none)."""
        for obj in stage:
            rt = self.store.registry.by_kind(obj["apiVersion"], obj["kind"])
            if rt is None:
                return f"{_ref(obj)} dry-run failed: no matches for kind \"{obj['kind']}\" in version " \
                       f"\"{obj['apiVersion']}\""
            meta = obj["metadata"]
            namespace = (meta.get("namespace") or "default") if rt.namespaced else ""
            try:
                with validation.request(validation.STRICT, http=False, manager="kustomize-controller", force=True):
                    self.store.patch_in(rt, namespace, meta["name"], APPLY, copy.deepcopy(obj), None, dry_run=True)
            except ApiError as exc:
                return _dry_run_failed(obj, exc)
        return ""

    def _apply_stage(self, stage: list[dict]) -> str:
        for obj in stage:
            try:
                # kustomize-controller applies server-side with its own field manager, forcing ownership
                self.store.server_side_apply(obj, "kustomize-controller")
            except ApiError as exc:  # changed between the dry-run and now: reported the same way
                return _dry_run_failed(obj, exc)
        return ""

    def _decorate(self, obj: dict, ks: dict) -> dict:
        spec, meta = ks.get("spec") or {}, ks["metadata"]
        obj = _substitute(obj, ((spec.get("postBuild") or {}).get("substitute") or {}))
        if spec.get("targetNamespace") and obj["kind"] not in kustomize.CLUSTER_SCOPED:
            obj["metadata"]["namespace"] = spec["targetNamespace"]
        labels = obj["metadata"].setdefault("labels", {})
        labels["kustomize.toolkit.fluxcd.io/name"] = meta["name"]
        labels["kustomize.toolkit.fluxcd.io/namespace"] = meta["namespace"]
        return obj

    def _prune(self, ks: dict, keep: set[str]) -> None:
        for entry in (ks.get("status") or {}).get("inventory", {}).get("entries", []) or []:
            if entry["id"] in keep:
                continue
            ns, name, group, kind = entry["id"].split("_", 3)
            self.store.delete(f"{group}/{entry['v']}" if group else entry["v"], kind, name, ns or None)
            self.log("kustomize-controller", ks, f"{kind}/{ns}/{name} deleted")

    # -- helm-controller ------------------------------------------------------------------------------------
    def _helmrelease(self, hr: dict) -> float | None:
        meta, spec = hr["metadata"], hr.get("spec") or {}
        if spec.get("suspend"):
            return None
        ns = meta["namespace"]
        for dep in spec.get("dependsOn", []) or []:
            dep_obj = self.store.get(HR, "HelmRelease", dep["name"], dep.get("namespace") or ns)
            if not ready(dep_obj):
                self._status(hr, "False", "DependencyNotReady",
                             f"dependency '{dep.get('namespace') or ns}/{dep['name']}' is not ready")
                return None
        if (ns, meta["name"]) not in self._helm and not ready(hr) and self._busy >= self._workers:
            return None  # queued for a worker: one that finishes changes its release's status, which wakes this loop
        chart, problem = self._chart(hr)
        if chart is None:
            self._status(hr, "False", "ArtifactFailed", problem)
            return None
        values, problem = self._values(hr)
        if values is None:
            self._status(hr, "False", "InitFailed", problem)
            return None
        return self._release(hr, chart, values)

    def _chart(self, hr: dict) -> tuple[charts.Chart | None, str]:
        meta = hr["metadata"]
        chart_spec = ((hr.get("spec") or {}).get("chart") or {}).get("spec") or {}
        ref = chart_spec.get("sourceRef") or {}
        source_ns = ref.get("namespace") or meta["namespace"]
        chart_name = f"{meta['namespace']}-{meta['name']}"
        repo = self.store.get(SOURCE, ref.get("kind", "HelmRepository"), ref.get("name", ""), source_ns)
        if repo is None or not is_true(repo, "Ready"):
            return None, f"HelmChart '{source_ns}/{chart_name}' is not ready: latest generation of object has not " \
                         f"been reconciled"
        try:
            chart = charts.lookup(chart_spec.get("chart", ""), chart_spec.get("version"))
        except charts.ChartNotFoundError:
            return None, (f"HelmChart '{source_ns}/{chart_name}' is not ready: invalid chart reference: failed to get "
                          f"chart version for remote reference: no '{chart_spec.get('chart')}' chart with version "
                          f"matching '{chart_spec.get('version', '*')}' found")
        self._helm_chart(chart_name, source_ns, chart_spec, chart)
        return chart, ""

    def _helm_chart(self, name: str, ns: str, chart_spec: dict, chart: charts.Chart) -> None:
        """The HelmChart object the source-controller keeps for every HelmRelease (`flux get sources chart`)."""
        existing = self.store.get(SOURCE, "HelmChart", name, ns)
        if existing is not None and is_true(existing, "Ready"):
            return
        obj = self.store.apply({"apiVersion": SOURCE, "kind": "HelmChart", "metadata": {"name": name, "namespace": ns},
                                "spec": {"chart": chart.name, "version": chart_spec.get("version", "*"),
                                         "sourceRef": chart_spec.get("sourceRef", {}), "interval": "12h",
                                         "reconcileStrategy": "ChartVersion"}})
        self._status(obj, "True", "ChartPullSucceeded", f"pulled '{chart.name}' chart with version '{chart.version}'",
                     artifact={"revision": chart.version, "lastUpdateTime": stamp()})

    def _values(self, hr: dict) -> tuple[dict | None, str]:
        spec, ns = hr.get("spec") or {}, hr["metadata"]["namespace"]
        merged: dict = {}
        for ref in spec.get("valuesFrom", []) or []:
            kind, key = ref.get("kind", "ConfigMap"), ref.get("valuesKey", "values.yaml")
            obj = self.store.get("v1", kind, ref.get("name", ""), ns)
            raw = ((obj or {}).get("data") or {}).get(key)
            if raw is None:
                if ref.get("optional"):
                    continue
                return None, (f"could not resolve {kind} chart values reference '{ns}/{ref.get('name')}' with key "
                              f"'{key}'")
            if kind == "Secret":
                raw = base64.b64decode(raw).decode()
            parsed = yaml.load(raw, Loader=helm_releases.LOADER)  # every pass over the release: libyaml
            if ref.get("targetPath"):
                parsed = _at_path(ref["targetPath"], parsed)
            merged = charts.deep_merge(merged, parsed or {})
        return charts.deep_merge(merged, spec.get("values") or {}), ""

    def _release(self, hr: dict, chart: charts.Chart, values: dict) -> float | None:
        meta, spec, status = hr["metadata"], hr.get("spec") or {}, hr.get("status") or {}
        target_ns = spec.get("targetNamespace") or meta["namespace"]
        name = spec.get("releaseName") or (f"{spec['targetNamespace']}-{meta['name']}" if spec.get("targetNamespace")
                                           else meta["name"])
        digest = "sha256:" + hashlib.sha256(json.dumps([chart.name, chart.version, values], sort_keys=True)
                                            .encode()).hexdigest()
        ident = (meta["namespace"], meta["name"])
        action = self._helm.get(ident)
        if action is None or action["digest"] != digest or action["generation"] != meta.get("generation"):
            current = helm_releases.latest(self.store, name, target_ns)
            history = status.get("history") or [{}]
            in_sync = current is not None and current["info"]["status"] == "deployed" and \
                history[0].get("version") == current["version"] and status.get("lastAttemptedConfigDigest") == digest
            if in_sync and ready(hr):
                self._mark_handled(hr)
                return None
            needs_worker = not in_sync and (action is None or action["done"])  # a running one keeps its worker
            if needs_worker and self._busy >= self._workers:
                return None  # queued for a worker
            self._busy += needs_worker
            action = {"digest": digest, "generation": meta.get("generation"), "applied": None,
                      "started": time.monotonic(), "failures": 0, "done": in_sync}
            self._helm[ident] = action
        if action["done"]:
            self._mark_handled(hr)
            return None
        timeout = flux_log.parse_duration(spec.get("timeout"), 300.0) / self.lab.speed
        if action["applied"] is None:
            left = action["started"] + self.duration("flux.helmrelease") - time.monotonic()
            if left > 0:
                return left
            return self._helm_apply(hr, action, chart, name, target_ns, values, digest)
        return self._helm_wait(hr, action, chart, timeout)

    def _mark_handled(self, hr: dict) -> None:
        """A reconcile request on a release that is already in sync is handled without a new revision."""
        requested = (hr["metadata"].get("annotations") or {}).get(REQUESTED, "")
        if requested and (hr.get("status") or {}).get("lastHandledReconcileAt") != requested:
            meta = hr["metadata"]
            self.store.set_status(HR, "HelmRelease", meta["name"], meta["namespace"],
                                  {"lastHandledReconcileAt": requested})

    def _helm_apply(self, hr: dict, action: dict, chart: charts.Chart, name: str, target_ns: str, values: dict,
                    digest: str) -> float | None:
        meta, spec = hr["metadata"], hr.get("spec") or {}
        create_ns = bool((spec.get("install") or {}).get("createNamespace"))
        try:
            applied = helm_releases.upgrade_install(
                self.store, name, target_ns, chart, values, create_namespace=create_ns,
                extra_labels={"helm.toolkit.fluxcd.io/name": meta["name"],
                              "helm.toolkit.fluxcd.io/namespace": meta["namespace"]})
        except helm_releases.HelmError as exc:
            self._status(hr, "False", "InstallFailed", f"Helm install failed for release {target_ns}/{name} with "
                         f"chart {chart.name}@{chart.version}: {exc}")
            action["done"] = True
            return None
        action.update(applied=applied, applied_at=time.monotonic())
        verb = "install" if applied.installed else "upgrade"
        self._status(hr, "Unknown", "Progressing", f"Running '{verb}' action with timeout of "
                     f"{flux_log.format_duration(flux_log.parse_duration(spec.get('timeout'), 300.0))}",
                     lastAttemptedRevision=chart.version, lastAttemptedConfigDigest=digest,
                     lastAttemptedReleaseAction=verb, storageNamespace=target_ns,
                     helmChart=f"{(((spec.get('chart') or {}).get('spec') or {}).get('sourceRef') or {}).get('namespace') or meta['namespace']}/{meta['namespace']}-{meta['name']}")
        self.log("helm-controller", hr, f"release {target_ns}/{name}: running '{verb}' action")
        return 0.0

    def _helm_wait(self, hr: dict, action: dict, chart: charts.Chart, timeout: float) -> float | None:
        applied: helm_releases.Applied = action["applied"]
        rel = applied.release
        verb = "install" if applied.installed else "upgrade"
        ref = f"{rel['namespace']}/{rel['name']}.v{rel['version']}"
        waiting = [o for o in applied.objects if o["kind"] in ("Deployment", "DaemonSet", "StatefulSet")]
        not_ready = [o for o in waiting if not check(self.store.get(o["apiVersion"], o["kind"], o["metadata"]["name"],
                                                                    o["metadata"].get("namespace")) or o)[0]]
        if not not_ready:
            helm_releases.finish(self.store, applied)
            message = f"Helm {verb} succeeded for release {ref} with chart {chart.name}@{chart.version}"
            self._status(hr, "True", f"{verb.title()}Succeeded", message, history=[_snapshot(rel, chart, action)],
                         lastHandledReconcileAt=(hr["metadata"].get("annotations") or {}).get(REQUESTED, ""))
            self.log("helm-controller", hr, message)
            action["done"] = True
            return None
        left = action["applied_at"] + timeout - time.monotonic()
        if left > 0:
            return left
        helm_releases.finish(self.store, applied, "context deadline exceeded")
        action["failures"] += 1
        message = (f"Helm {verb} failed for release {rel['namespace']}/{rel['name']} with chart "
                   f"{chart.name}@{chart.version}: context deadline exceeded")
        counter = "installFailures" if applied.installed else "upgradeFailures"
        self._status(hr, "False", f"{verb.title()}Failed", message, **{counter: action["failures"]},
                     history=[_snapshot(rel, chart, action, "failed")])
        self.log("helm-controller", hr, message, level="error")
        retries = int((hr.get("spec", {}).get(verb) or {}).get("remediation", {}).get("retries", 0))
        if action["failures"] <= retries:
            action.update(applied=None, started=time.monotonic())
            return 0.0
        action["done"] = True
        return None


def concurrent_flag(args: list) -> int | None:
    """The value of a controller's --concurrent flag as Go's flag package reads it (`--concurrent=N`,
    `--concurrent N`, one dash or two; the last one wins), the default when absent, None when it is not a
    positive integer."""
    value: str | None = None
    words = [str(a) for a in args]
    for i, word in enumerate(words):
        name, eq, given = word.lstrip("-").partition("=")
        if word.startswith("-") and name == "concurrent":
            value = given if eq else (words[i + 1] if i + 1 < len(words) else "")
    if value is None:
        return HELM_CONCURRENT
    return int(value) if value.isdigit() and int(value) > 0 else None


def _snapshot(rel: dict, chart: charts.Chart, action: dict, state: str = "deployed") -> dict:
    return {"name": rel["name"], "namespace": rel["namespace"], "version": rel["version"], "status": state,
            "chartName": chart.name, "chartVersion": chart.version, "appVersion": chart.app_version,
            "configDigest": action["digest"], "firstDeployed": rel["info"]["first_deployed"],
            "lastDeployed": rel["info"]["last_deployed"], "digest": action["digest"]}


def _ref(obj: dict) -> str:
    """Kind/namespace/name (Kind/name when cluster-scoped), as Flux names an object in its messages."""
    meta = obj["metadata"]
    return f"{obj['kind']}/{meta['namespace']}/{meta['name']}" if meta.get("namespace") else \
        f"{obj['kind']}/{meta['name']}"


def _dry_run_failed(obj: dict, exc: ApiError) -> str:
    """fluxcd/pkg/ssa's DryRunErr text: the object, the Status reason in parentheses when there is one, the
    apiserver's message."""
    reason = f" ({exc.reason})" if exc.reason else ""
    return f"{_ref(obj)} dry-run failed{reason}: {exc.message}"


def _inventory_entry(obj: dict) -> dict:
    group, _, version = obj["apiVersion"].rpartition("/")
    meta = obj["metadata"]
    return {"id": f"{meta.get('namespace', '')}_{meta['name']}_{group}_{obj['kind']}", "v": version}


def _substitute(obj: dict, variables: dict) -> dict:
    """postBuild.substitute: ${VAR} and ${VAR:=default}, as Flux's envsubst does."""
    if not variables:
        return obj
    text = json.dumps(obj)
    for key, value in variables.items():
        text = text.replace("${" + key + "}", str(value))
    text = re.sub(r"\$\{([A-Za-z0-9_]+):=([^}]*)\}", lambda m: str(variables.get(m.group(1), m.group(2))), text)
    return json.loads(text)


def _at_path(path: str, value: Any) -> dict:
    out: Any = value
    for part in reversed(path.split(".")):
        out = {part: out}
    return out
