"""Helm release records for tests: leave a release the way a helm killed mid-operation leaves it (a new revision
recorded pending-*, nothing else changed), and read a release's history. `client` is the lab Store or a
hops.lab.tools.kubeapi.KubeClient (any object with Helm storage's get/list/apply/delete)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from hops.lab import helm_releases


def leave_pending(client: Any, name: str, namespace: str, status: str = "pending-upgrade", age_s: float = 0.0) -> dict:
    """Record revision latest+1 as `status` with the latest's chart, values and manifest, last changed `age_s`
    seconds ago, as Helm's upgrade/rollback writes it before touching any object (and a killed helm leaves it)."""
    latest = helm_releases.latest(client, name, namespace)
    assert latest is not None, f"release {namespace}/{name} has no revision to build on"
    stamp = (datetime.now(timezone.utc) - timedelta(seconds=age_s)).isoformat(timespec="microseconds")
    rel = copy.deepcopy(latest)
    rel["version"] = latest["version"] + 1
    rel["info"].update(status=status, last_deployed=stamp.replace("+00:00", "Z"), deleted="",
                       description="Preparing upgrade" if status == "pending-upgrade" else f"{status} underway")
    helm_releases._write(client, rel)
    return rel


def mark(client: Any, rel: dict, status: str, description: str) -> dict:
    """What the other actor's helm does when it finishes: the pending revision deployed (or failed)."""
    if status == "deployed":
        for old in helm_releases.history(client, rel["name"], rel["namespace"]):
            if old["info"]["status"] == "deployed" and old["version"] != rel["version"]:
                helm_releases.set_status(client, old, "superseded", old["info"]["description"])
    return helm_releases.set_status(client, rel, status, description)


def statuses(client: Any, name: str, namespace: str) -> list[tuple[int, str]]:
    return [(r["version"], r["info"]["status"]) for r in helm_releases.history(client, name, namespace)]
