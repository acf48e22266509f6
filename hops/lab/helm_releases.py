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
from datetime import datetime, timezone
from typing import Any

import yaml

from hops.lab import charts

RELEASE_TYPE = "helm.sh/release.v1"
CRD_KIND = "CustomResourceDefinition"


class HelmError(Exception):
    """An action that failed; the message is Helm's text without the leading `Error: `."""


@dataclass
class Applied:
    """The outcome of an install/upgrade: the release record and the objects it applied."""

    release: dict
    objects: list[dict]
    installed: bool              # True: a first install; False: an upgrade


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


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
    return [d for d in yaml.safe_load_all(rel.get("manifest", "")) if d]


def upgrade_install(client: Any, name: str, namespace: str, chart: charts.Chart, values: dict, *,
                    create_namespace: bool = False, extra_labels: dict | None = None) -> Applied:
    """Apply the chart as a new revision in status pending-install/-upgrade; call `finish` afterwards.

    Every call is a new revision (like `helm upgrade --install`), rendering the same objects for the same values,
    so a release installed by the helm tool and later by the helm-controller never fights over its objects."""
    previous = latest(client, name, namespace)
    if client.get("v1", "Namespace", namespace) is None:
        if not create_namespace:
            raise HelmError(f'create: failed to create: namespaces "{namespace}" not found')
        client.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    objects = charts.render(chart, name, namespace, values)
    for obj in objects:
        if extra_labels:
            obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}), **extra_labels}
    revision = (previous["version"] + 1) if previous else 1
    first = previous["info"]["first_deployed"] if previous else now()
    installing = previous is None or previous["info"]["status"] == "uninstalled"
    rel = {"name": name, "namespace": namespace, "version": revision,
           "info": {"first_deployed": first, "last_deployed": now(), "deleted": "", "notes": "",
                    "description": "Initial install underway" if installing else "Preparing upgrade",
                    "status": "pending-install" if installing else "pending-upgrade"},
           "chart": {"metadata": {"apiVersion": "v2", "name": chart.name, "version": chart.version,
                                  "appVersion": chart.app_version, "description": chart.description},
                     "values": chart.defaults},
           "config": values or {},
           "manifest": "\n".join("---\n" + yaml.safe_dump(o, sort_keys=False) for o in objects)}
    _write(client, rel)
    _apply_all(client, objects)
    if previous is not None:
        _prune(client, manifest_objects(previous), objects)
        if previous["info"]["status"] in ("deployed", "failed", "pending-install", "pending-upgrade"):
            set_status(client, previous, "superseded", previous["info"]["description"])
    return Applied(rel, objects, installing)


def finish(client: Any, applied: Applied, error: str | None = None) -> dict:
    """Mark the revision deployed (or failed with Helm's description)."""
    rel = applied.release
    if error is None:
        return set_status(client, rel, "deployed", "Install complete" if applied.installed else "Upgrade complete")
    return set_status(client, rel, "failed", f'Release "{rel["name"]}" failed: {error}')


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
    """Delete the release's objects (not its CRDs) and every revision record."""
    revisions = history(client, name, namespace)
    if not revisions:
        raise HelmError(f"uninstall: Release not loaded: {name}: release: not found")
    for obj in manifest_objects(revisions[-1]):
        if obj["kind"] != CRD_KIND:
            client.delete(*_key(obj))
    for rel in revisions:
        client.delete("v1", "Secret", secret_name(name, rel["version"]), namespace)


def all_values(rel: dict) -> dict:
    """`helm get values --all`: chart defaults coalesced with the user-supplied values."""
    return charts.deep_merge(rel["chart"].get("values") or {}, rel.get("config") or {})
