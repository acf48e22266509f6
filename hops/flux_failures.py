"""A Kustomization that cannot apply its manifests: recognised in a wait, confirmed against the source's current
revision, and reported with the file in the repository that holds the object the API refused.

Flux retries such a Kustomization every retryInterval, but a manifest the apiserver refuses (a typo: an unknown
field, a value against the CRD's schema) fails the same way until the repository changes, so waiting out the
phase deadline only hides it. A failure seen may be stale though: the fix may be pushed and not fetched yet. So
before giving up, hops asks Flux to fetch the source and to reconcile the Kustomization (what `flux reconcile
kustomization --with-source` does) and trusts only a failure Flux reports for that request.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from hops import gitops_tree
from hops.errors import StepError
from hops.flux import request_reconcile

if TYPE_CHECKING:
    from hops.context import Context

# what kustomize-controller writes when the API refuses a manifest or kustomize cannot build the folder;
# "no matches for kind" and webhook errors are left out: a dependency still installing heals them
MANIFEST_ERROR = re.compile(r"dry-run failed \((Invalid|BadRequest)\)|field not declared in schema|"
                            r"strict decoding error|kustomize build failed")
REFUSED_OBJECT = re.compile(r"(?P<kind>[A-Za-z0-9]+)/(?:(?P<namespace>[^/\s]+)/)?(?P<name>[^/\s]+) dry-run failed")
FAILED_REASONS = ("ReconciliationFailed", "BuildFailed")


def _ready(obj: dict) -> dict:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"), {})


def manifest_error(obj: dict | None) -> str | None:
    """The Flux message when the Kustomization's current generation failed on its manifests, else None."""
    if obj is None:
        return None
    ready = _ready(obj)
    current = ready.get("observedGeneration", (obj.get("status") or {}).get("observedGeneration")) == \
        obj["metadata"].get("generation")
    message = str(ready.get("message") or "")
    if ready.get("status") == "False" and ready.get("reason") in FAILED_REASONS and current and \
            MANIFEST_ERROR.search(message):
        return message
    return None


@dataclass
class Judge:
    """Per wait: which Kustomizations hops asked to reconcile after seeing them fail, with the request's stamp."""

    ctx: Context
    deadline: float
    asked: dict[str, str] = field(default_factory=dict)

    def wait(self, what: str, state: Callable[[dict[str, dict]], tuple[bool, str]], names: list[str],
             namespace: str, name: str | None = None) -> dict[str, dict]:
        """ctx.kube.wait on the Kustomizations of namespace (or the one named) until state holds, stopping at once
        (StepError) when one of `names` cannot apply its manifests."""
        def judged(objects: dict[str, dict]) -> tuple[bool, str]:
            self.check([objects[n] for n in names if n in objects])
            return state(objects)

        while True:
            try:
                return self.ctx.kube.wait("Kustomization", what, judged, self.deadline, namespace=namespace,
                                          name=name)
            except Suspect as suspect:
                self.confirm(suspect.ks)

    def check(self, kustomizations: list[dict]) -> None:
        """Raise StepError for a confirmed manifest failure; Suspect for one not confirmed yet."""
        for obj in kustomizations:
            message = manifest_error(obj)
            if message is None:
                continue
            name = obj["metadata"]["name"]
            if name not in self.asked:
                raise Suspect(obj)
            if (obj.get("status") or {}).get("lastHandledReconcileAt") == self.asked[name]:
                raise StepError(report(self.ctx, obj, message))

    def confirm(self, ks: dict) -> None:
        """Have Flux fetch the Kustomization's source, then reconcile it; the next failure it reports is current."""
        meta, spec = ks["metadata"], ks.get("spec") or {}
        source = spec.get("sourceRef") or {}
        kind, name = source.get("kind", "GitRepository"), source.get("name", "")
        namespace = source.get("namespace") or meta["namespace"]
        stamp = request_reconcile(self.ctx, kind, name, namespace)

        def fetched(objects: dict[str, dict]) -> tuple[bool, str]:
            handled = (objects.get(name, {}).get("status") or {}).get("lastHandledReconcileAt")
            return handled == stamp, f"{kind} {namespace}/{name}: fetching the latest revision"

        self.ctx.log.say(f"  Kustomization {meta['name']} failed to apply its manifests; fetching {kind} {name} "
                         "and reconciling it once more to see whether that is still so")
        self.ctx.kube.wait(kind, f"{kind} {namespace}/{name} to fetch the latest revision", fetched, self.deadline,
                           namespace=namespace, name=name)
        self.asked[meta["name"]] = request_reconcile(self.ctx, "Kustomization", meta["name"], meta["namespace"])


class Suspect(Exception):  # noqa: N818 - a signal inside a wait, never shown
    """A Kustomization failed on its manifests, maybe for an old revision: confirm before reporting."""

    def __init__(self, ks: dict) -> None:
        super().__init__(ks["metadata"]["name"])
        self.ks = ks


def report(ctx: Context, ks: dict, message: str) -> str:
    """Flux's message, the file holding the refused object, and what to do."""
    meta, status = ks["metadata"], ks.get("status") or {}
    revision = status.get("lastAttemptedRevision") or "the current revision"
    folder = gitops_tree.folder_of(ctx.root, (ks.get("spec") or {}).get("path"))
    lines = [f"Kustomization {meta['namespace']}/{meta['name']} cannot apply {revision}: {message}"]
    found = REFUSED_OBJECT.search(message)
    if found:
        what = "/".join(p for p in found.group("kind", "namespace", "name") if p)
        file = gitops_tree.defining_file(folder, found["kind"], found["namespace"] or "", found["name"])
        lines.append(f"{what} is defined in {gitops_tree.relative(ctx.root, file)}" if file else
                     f"no file under {gitops_tree.relative(ctx.root, folder)} defines {what} "
                     "(a kustomize generator or patch makes it)")
    else:
        lines.append(f"the Kustomization applies {gitops_tree.relative(ctx.root, folder)}")
    lines.append("correct the manifest, commit and push it, then re-run the same command "
                 "(Flux retries on its own too)")
    return "\n".join(lines)
