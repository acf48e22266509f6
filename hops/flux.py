"""Flux helpers shared by the GitOps and applications phases: the sync objects' name, the source revision, a
reconcile request, and the Flux CLI's log and status output."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from hops.kube import describe_condition, is_true
from hops.taskmodel import TAIL_PARAM

__all__ = ["REQUESTED", "SYNC_NAME", "TAIL_PARAM", "error_logs", "logs", "request_reconcile", "show",
           "source_revision"]

if TYPE_CHECKING:
    from hops.context import Context
    from hops.runner import Result

SYNC_NAME = "flux-system"  # the GitRepository and Kustomization `flux bootstrap` creates
REQUESTED = "reconcile.fluxcd.io/requestedAt"  # Flux copies it to status.lastHandledReconcileAt once handled


def request_reconcile(ctx: Context, kind: str, name: str, namespace: str) -> str:
    """Annotate a Flux object so its controller reconciles it now; returns the annotation's timestamp."""
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    ctx.kube.annotate(kind, name, namespace, {REQUESTED: stamp})
    return stamp


def show(result: Result) -> None:
    """A CLI's whole answer, as it printed it (check=False callers show failures too)."""
    print((result.stdout + result.stderr).rstrip())


def source_revision(ctx: Context) -> tuple[str | None, str]:
    """(revision of the flux-system GitRepository's artifact when Ready, else None; why not)."""
    ns = ctx.config.gitops.namespace
    repo = ctx.kube.get("GitRepository", SYNC_NAME, ns)
    if repo is None:
        return None, f"GitRepository {ns}/{SYNC_NAME} does not exist"
    if not is_true(repo):
        return None, f"GitRepository {ns}/{SYNC_NAME}: {describe_condition(repo)}"
    return ((repo.get("status") or {}).get("artifact") or {}).get("revision"), ""


def logs(ctx: Context, tail: int = 100) -> None:
    """The Flux controllers' recent logs (`flux logs -A --tail N`)."""
    show(ctx.runner.run("flux", ["logs", "--all-namespaces", "--tail", str(tail)], check=False))


def error_logs(ctx: Context) -> None:
    """The Flux controllers' error lines."""
    show(ctx.runner.run("flux", ["logs", "--all-namespaces", "--level", "error"], check=False))
