"""On failure, a diagnostics bundle under the state dir: the failure, the commands this run ran and their
(redacted) output, and — when the cluster answers — nodes, pods, events and Flux objects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from hops import secrets

if TYPE_CHECKING:
    from hops.context import Context

CLUSTER_KINDS = (("Node", None), ("Pod", None), ("Event", None), ("Kustomization", None), ("HelmRelease", None),
                 ("GitRepository", None), ("Deployment", None), ("DaemonSet", None))


def collect_on_failure(ctx: Context, step_id: str, message: str) -> Path | None:
    """Write the bundle and return its folder (None if nothing could be written)."""
    folder = ctx.state_dir / "diagnostics" / f"{ctx.log.run_id}-{step_id.replace(':', '-')}"
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "failure.txt", message)
    if "runner" in ctx.__dict__:  # only what this run really executed; never start anything new here
        calls = [{"argv": c.argv, "exit": c.code, "stderr": c.stderr[-4000:], "duration_s": round(c.duration_s, 2)}
                 for c in ctx.runner.calls]
        _write(folder / "commands.json", json.dumps(calls, indent=1))
    _cluster_snapshot(ctx, folder)
    return folder


def _cluster_snapshot(ctx: Context, folder: Path) -> None:
    try:
        if not ctx.endpoints.kubeconfig.exists():
            return
        kube = ctx.kube
    except Exception:  # noqa: BLE001 - no cluster yet is a normal state for early failures
        return
    for kind, namespace in CLUSTER_KINDS:
        try:
            items = kube.list(kind, namespace, fresh=True)
        except Exception as exc:  # noqa: BLE001 - CRDs may not exist yet; record why
            _write(folder / f"{kind.lower()}s.txt", f"could not list: {type(exc).__name__}: {exc}")
            continue
        _write(folder / f"{kind.lower()}s.txt", "\n".join(_summary(kind, o) for o in items))


def _summary(kind: str, obj: dict) -> str:
    meta = obj.get("metadata", {})
    name = f"{meta.get('namespace', '')}/{meta.get('name')}".lstrip("/")
    if kind == "Event":  # type and the object it is about: a Flux Warning says which Kustomization failed and why
        involved = obj.get("involvedObject") or {}
        return (f"{name}: {obj.get('type', '')} {obj.get('reason', '')} {involved.get('kind', '')}/"
                f"{involved.get('name', '')}: {obj.get('message', '')}")
    status = obj.get("status") or {}
    conditions = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('reason', '')} {c.get('message', '')}".strip()
                           for c in status.get("conditions") or [])
    phase = status.get("phase", "")
    return f"{name}: {phase} {conditions}".strip()


def _write(path: Path, text: str) -> None:
    path.write_text(secrets.redact(text) + "\n")
