"""Helm 3 release records and the install/upgrade/uninstall actions, shared by the emulated `helm` tool and the
lab's helm-controller so that both see (and adopt) the same releases.

Records are stored the way Helm 3 stores them: one Secret per revision, `sh.helm.release.v1.<name>.v<revision>`,
type `helm.sh/release.v1`, labels name/owner=helm/status/version, `data.release` = base64(gzip(JSON)) (and the
Secret's own base64 on top). `client` is anything with the Store methods get/list/create/apply/patch/delete:
the in-process `hops.lab.apiserver.Store` or `hops.lab.tools.kubeapi.KubeClient`.
"""

from __future__ import annotations

import base64
import gzip
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from hops.lab import charts

RELEASE_TYPE = "helm.sh/release.v1"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")
CRD_KIND = "CustomResourceDefinition"


class HelmError(Exception):
    """An action that failed; the message is Helm's text without the leading `Error: `."""


@dataclass
class Applied:
    """The outcome of an install/upgrade: the release record and the objects it applied."""

    release: dict
    objects: list[dict]
    installed: bool              # True: a first install; False: an upgrade
    current: dict | None = None  # the revision an upgrade builds on (superseded when it succeeds)


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode(release: dict) -> str:
    inner = base64.b64encode(gzip.compress(json.dumps(release).encode())).decode()
    return base64.b64encode(inner.encode()).decode()


def decode(secret: dict) -> dict:
    inner = base64.b64decode(secret["data"]["release"])
    return json.loads(gzip.decompress(base64.b64decode(inner)))


def secret_name(name: str, version: int) -> str:
    return f"sh.helm.release.v1.{name}.v{version}"


def history(client: Any, name: str, namespace: str) -> list[dict]:
    """All revisions of release `name`, oldest first."""
    secrets = client.list("v1", "Secret", namespace, labels={"owner": "helm", "name": name})
    releases = [decode(s) for s in secrets if s.get("type") == RELEASE_TYPE]
    return sorted(releases, key=lambda r: r["version"])


def latest(client: Any, name: str, namespace: str) -> dict | None:
    found = history(client, name, namespace)
    return found[-1] if found else None


def list_releases(client: Any, namespace: str | None = None) -> list[dict]:
    """The newest revision of every release (in `namespace`, or all namespaces when None)."""
    newest: dict[tuple[str, str], dict] = {}
    for secret in client.list("v1", "Secret", namespace, labels={"owner": "helm"}):
        if secret.get("type") != RELEASE_TYPE:
            continue
        rel = decode(secret)
        key = (rel["namespace"], rel["name"])
        if key not in newest or rel["version"] > newest[key]["version"]:
            newest[key] = rel
    return sorted(newest.values(), key=lambda r: (r["namespace"], r["name"]))


def _write(client: Any, rel: dict) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "type": RELEASE_TYPE,
              "metadata": {"name": secret_name(rel["name"], rel["version"]), "namespace": rel["namespace"],
                           "labels": {"name": rel["name"], "owner": "helm", "status": rel["info"]["status"],
                                      "version": str(rel["version"]), "modifiedAt": str(int(datetime.now().timestamp()))}},
              "data": {"release": encode(rel)}}
    client.apply(secret)


def set_status(client: Any, rel: dict, status: str, description: str) -> dict:
    """Record a new status for the revision (deployed, failed, superseded, ...)."""
    rel["info"]["status"] = status
    rel["info"]["description"] = description
    if status in ("deployed", "failed"):
        rel["info"]["last_deployed"] = now()
    _write(client, rel)
    return rel


def manifest_objects(rel: dict) -> list[dict]:
    """The objects of a release's manifest (rendered by the lab: libyaml parses it when present, ~10x faster)."""
    return [d for d in yaml.load_all(rel.get("manifest", ""), Loader=LOADER) if d]


def base_release(revisions: list[dict]) -> dict | None:
    """The revision an upgrade builds on, as Helm's upgrade picks it: the latest when deployed, else the newest
    deployed one, else the latest when it failed or was superseded (None: nothing to upgrade from)."""
    if not revisions:
        return None
    last = revisions[-1]
    if last["info"]["status"] == "deployed":
        return last
    deployed = [r for r in revisions if r["info"]["status"] == "deployed"]
    if deployed:
        return deployed[-1]
    return last if last["info"]["status"] in ("failed", "superseded") else None


def is_pending(rel: dict | None) -> bool:
    return rel is not None and rel["info"]["status"] in PENDING


def prune_history(client: Any, name: str, namespace: str, revisions: list[dict], keep: int) -> list[dict]:
    """Helm's storage limit (`--history-max N`, 10 by default for upgrades, 0 for none): before a new revision is
    written, the oldest ones go until `keep` = N - 1 remain — never the last deployed one, so a release that was
    ever deployed keeps that revision however many upgrades failed after it. Returns the revisions left."""
    if keep < 0 or len(revisions) <= keep:
        return revisions
    deployed = [r["version"] for r in revisions if r["info"]["status"] == "deployed"]
    last_deployed = deployed[-1] if deployed else None
    doomed: list[dict] = []
    for rel in revisions:
        if len(revisions) - len(doomed) <= keep:
            break
        if rel["version"] != last_deployed:
            doomed.append(rel)
    for rel in doomed:
        client.delete("v1", "Secret", secret_name(name, rel["version"]), namespace)
    return [r for r in revisions if r not in doomed]


def begin(client: Any, name: str, namespace: str, chart: charts.Chart, values: dict, *,
          create_namespace: bool = False, extra_labels: dict | None = None, history_max: int = 0) -> Applied:
    """Record the new revision as pending-install/-upgrade, before any object exists (as Helm 3 does); `apply`
    then creates the objects and `finish` marks the outcome. A process killed in between leaves it pending.
    `history_max` > 0 prunes the history first, as Helm's storage does (prune_history)."""
    revisions = history(client, name, namespace)
    if revisions and history_max > 0:
        revisions = prune_history(client, name, namespace, revisions, history_max - 1)
    previous = revisions[-1] if revisions else None
    if client.get("v1", "Namespace", namespace) is None:
        if not create_namespace:
            raise HelmError(f'create: failed to create: namespaces "{namespace}" not found')
        client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    objects = charts.render(chart, name, namespace, values)
    for obj in objects:
        if extra_labels:
            obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), **extra_labels}
    revision = (previous["version"] + 1) if previous else 1
    installing = previous is None or previous["info"]["status"] == "uninstalled"
    current = None if installing else (base_release(revisions) or previous)
    first = current["info"]["first_deployed"] if current else now()
    rel = {"name": name, "namespace": namespace, "version": revision,
           "info": {"first_deployed": first, "last_deployed": now(), "deleted": "", "notes": "",
                    "description": "Initial install underway" if installing else "Preparing upgrade",
                    "status": "pending-install" if installing else "pending-upgrade"},
           "chart": {"metadata": {"apiVersion": "v2", "name": chart.name, "version": chart.version,
                                  "appVersion": chart.app_version, "description": chart.description},
                     "values": chart.defaults},
           "config": values or {},
           "manifest": _manifest(objects)}
    _write(client, rel)
    return Applied(rel, objects, installing, current)


def apply(client: Any, applied: Applied) -> None:
    """Create/update the revision's objects and delete what the revision it builds on had and it no longer has."""
    _apply_all(client, applied.objects)
    if applied.current is not None:
        _prune(client, manifest_objects(applied.current), applied.objects)


def upgrade_install(client: Any, name: str, namespace: str, chart: charts.Chart, values: dict, *,
                    create_namespace: bool = False, extra_labels: dict | None = None) -> Applied:
    """`begin` + `apply`: the new revision, pending, with its objects applied; call `finish` afterwards.

    Every call is a new revision (like `helm upgrade --install`), rendering the same objects for the same values,
    so a release installed by the helm tool and later by the helm-controller never fights over its objects."""
    applied = begin(client, name, namespace, chart, values, create_namespace=create_namespace,
                    extra_labels=extra_labels)
    apply(client, applied)
    return applied


def finish(client: Any, applied: Applied, error: str | None = None) -> dict:
    """Mark the revision deployed, superseding the one it built on (Helm does that only on success), or failed
    with Helm's description (the revision it built on stays as it was, e.g. deployed)."""
    rel = applied.release
    if error is not None:
        what = "Release" if applied.installed else "Upgrade"
        return set_status(client, rel, "failed", f'{what} "{rel["name"]}" failed: {error}')
    if applied.current is not None and applied.current["info"]["status"] != "superseded":
        set_status(client, applied.current, "superseded", applied.current["info"]["description"])
    return set_status(client, rel, "deployed", "Install complete" if applied.installed else "Upgrade complete")


def rollback(client: Any, name: str, namespace: str, revision: int = 0) -> dict:
    """`helm rollback NAME [REVISION]`: a new revision (pending-rollback first) with REVISION's chart, values and
    manifest (0: the one before the latest). Like Helm it accepts a pending latest revision (that is how a stuck
    release is freed); on success every deployed revision is superseded and the new one is deployed."""
    revisions = history(client, name, namespace)
    if not revisions:
        raise HelmError("release: not found")
    current = revisions[-1]
    wanted = revision or current["version"] - 1
    target = next((r for r in revisions if r["version"] == wanted), None)
    if target is None:
        raise HelmError(f"release has no {wanted} version")
    rel = {"name": name, "namespace": namespace, "version": current["version"] + 1,
           "info": {"first_deployed": current["info"]["first_deployed"], "last_deployed": now(), "deleted": "",
                    "notes": target["info"].get("notes", ""), "description": f"Rollback to {wanted}",
                    "status": "pending-rollback"},
           "chart": target["chart"], "config": target.get("config") or {}, "manifest": target.get("manifest", "")}
    _write(client, rel)
    objects = manifest_objects(rel)
    _apply_all(client, objects)
    _prune(client, manifest_objects(current), objects)
    for old in history(client, name, namespace):
        if old["info"]["status"] == "deployed" and old["version"] != rel["version"]:
            set_status(client, old, "superseded", old["info"]["description"])
    rel["info"]["status"] = "deployed"
    _write(client, rel)
    return rel


# libyaml's emitter when PyYAML is built with it: the same text as safe_dump, five times faster (this was most of
# an install's cost in the lab, 200 of them at once at 200 apps)
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the same safe semantics


def _manifest(objects: list[dict]) -> str:
    return "\n".join("---\n" + yaml.dump(o, Dumper=_DUMPER, sort_keys=False) for o in objects)


def _apply_all(client: Any, objects: list[dict]) -> None:
    """CRDs first (Helm installs a chart's crds/ before its templates), then everything else."""
    for obj in sorted(objects, key=lambda o: 0 if o["kind"] == CRD_KIND else 1):
        client.apply(obj)


def _key(obj: dict) -> tuple:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")


def _prune(client: Any, old: list[dict], new: list[dict]) -> None:
    """Delete what the previous revision created and this one no longer does (Helm's upgrade does)."""
    keep = {_key(o) for o in new}
    for obj in old:
        if _key(obj) not in keep and obj["kind"] != CRD_KIND:     # Helm never deletes CRDs
            client.delete(*_key(obj))


def uninstall(client: Any, name: str, namespace: str) -> None:
    """Delete the release's objects (not its CRDs) and every revision record, whatever the latest status (Helm's
    uninstall accepts pending and failed releases too): the latest is marked uninstalling first."""
    revisions = history(client, name, namespace)
    if not revisions:
        raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
    last = revisions[-1]
    if last["info"]["status"] != "uninstalled":
        last["info"]["deleted"] = now()
        set_status(client, last, "uninstalling", "Deletion in progress (or silently failed)")
        for obj in manifest_objects(last):
            if obj["kind"] != CRD_KIND:
                client.delete(*_key(obj))
    for rel in revisions:
        client.delete("v1", "Secret", secret_name(name, rel["version"]), namespace)


def all_values(rel: dict) -> dict:
    """`helm get values --all`: chart defaults coalesced with the user-supplied values."""
    return charts.deep_merge(rel["chart"].get("values") or {}, rel.get("config") or {})
