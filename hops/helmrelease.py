"""Bootstrap-time Helm installs that match the Flux HelmReleases in infrastructure/ exactly.

The chart name, version, release name and namespace are read from the HelmRelease that GitOps manages afterwards,
the repository URL from its HelmRepository under infrastructure/sources/, and the values from the values.yaml that
Flux's ConfigMap is generated from: one source of truth, so the bootstrap and Flux never fight (lesson 11)."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hops import helmrelease_fields
from hops.errors import StepError, ToolFailed, fail_all
from hops.helmrelease_fields import metadata

if TYPE_CHECKING:
    from hops.context import Context

SOURCES_DIR = "infrastructure/sources"


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str
    chart: str
    version: str
    repo_url: str
    folder: Path  # the HelmRelease's folder under infrastructure/

    @property
    def namespace_manifest(self) -> Path:
        return self.folder / "namespace.yaml"


# path -> ((mtime_ns, size), documents): each repository file is parsed once per process however many steps
# and checks read it; a changed file (another mtime or size) is parsed again.
_parsed: dict[Path, tuple[tuple[int, int], list[dict]]] = {}
parses = 0  # files actually parsed in this process (tests: "parsed once")


def documents(path: Path) -> list[dict]:
    """The YAML documents (mappings) of a repository file; a missing file or bad YAML is a StepError naming it.
    Callers get their own copy (they may edit it); the parse is shared."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise StepError(f"{path} is missing from the repository") from None
    version = (stat.st_mtime_ns, stat.st_size)
    cached = _parsed.get(path)
    if cached is None or cached[0] != version:
        cached = _parsed[path] = (version, _parse(path))
    return copy.deepcopy(cached[1])


def _parse(path: Path) -> list[dict]:
    import yaml  # only when a step runs: the task list never reads manifests

    global parses
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: the same safe semantics
    try:
        text = path.read_text()
        parses += 1
        return [d for d in yaml.load_all(text, Loader=loader) if isinstance(d, dict)]
    except FileNotFoundError:
        raise StepError(f"{path} is missing from the repository") from None
    except yaml.YAMLError as exc:
        raise StepError(f"{path}: not valid YAML ({exc})") from None


def name_of(doc: dict, where: Path) -> str:
    """metadata.name of a manifest read from `where`; a StepError naming the file when it has none."""
    meta = doc.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not name:
        raise StepError(f"{where}: a {doc.get('kind', 'manifest')} has no metadata.name")
    return str(name)


def repository_url(root: Path, name: str) -> str:
    """The URL of HelmRepository `name` among infrastructure/sources/*.yaml."""
    for path in sorted((root / SOURCES_DIR).glob("*.yaml")):
        for doc in documents(path):
            if doc.get("kind") == "HelmRepository" and (doc.get("metadata") or {}).get("name") == name:
                return str((doc.get("spec") or {}).get("url", ""))
    raise StepError(f"no HelmRepository named {name!r} in {SOURCES_DIR}/ (referenced by a HelmRelease)")


def load(root: Path, folder: str) -> Release:
    """The Release described by `<folder>/helmrelease.yaml` (relative to the project root). A mistake in it is one
    StepError naming the file, the HelmRelease and every field at fault (hops.helmrelease_fields)."""
    path = root / folder / "helmrelease.yaml"
    doc = next((d for d in documents(path) if d.get("kind") == "HelmRelease"), None)
    if doc is None:
        raise StepError(f"{path} holds no HelmRelease")
    meta, spec = metadata(doc), _mapping(doc.get("spec"))
    name = spec.get("releaseName") or meta.get("name")
    if not name:
        raise StepError(f"{path}: metadata.name (or spec.releaseName) is required")
    found = helmrelease_fields.problems(doc)
    chart = _mapping(_mapping(spec.get("chart")).get("spec"))
    if not found and spec.get("chartRef") is not None:
        found.append("spec.chartRef: hops installs bootstrap releases from spec.chart (chart, version, sourceRef)")
    if not found and not chart.get("version"):
        found.append("spec.chart.spec.version is required (hops installs that exact chart version)")
    where = f"{path}: {helmrelease_fields.label(doc)}"
    if len(found) == 1:
        raise StepError(f"{where}: {found[0]}")
    fail_all(f"{where} is not valid", found)
    return Release(name=str(name), namespace=spec.get("targetNamespace") or meta.get("namespace", "default"),
                   chart=str(chart["chart"]), version=str(chart["version"]),
                   repo_url=repository_url(root, chart["sourceRef"]["name"]), folder=root / folder)


def _mapping(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def describe_upgrade(ctx: Context, release: Release, values: Path) -> str:
    """What upgrade_install would run, in one line (for `doit plan`)."""
    return (f"run `helm upgrade --install {release.name} {release.chart} --version {release.version} --repo "
            f"{release.repo_url} --namespace {release.namespace} --values {values.relative_to(ctx.root)}` (a release "
            "an interrupted run left pending is freed first)")


def upgrade_install(ctx: Context, release: Release, values: Path, group: str | None = None) -> None:
    """`helm upgrade --install` of the release with its values file (idempotent). Readiness is watched by the
    caller through the Kubernetes API, so no --wait here. The release's namespace.yaml (labels such as the Pod
    Security level) is applied first when the folder has one.

    A release an interrupted run left pending is freed first, one that someone else is working on is waited for
    until the deadline of phase `group` (default: the phase folder of the release, networking or services); see
    hops.helm_recovery."""
    if not values.exists():
        raise StepError(f"values file {values} is missing (the same file Flux uses for {release.name})")
    if release.namespace_manifest.exists():
        for doc in documents(release.namespace_manifest):
            ctx.kube.apply(doc)
    from hops import helm_recovery
    from hops.waiting import deadline_for

    deadline = deadline_for(ctx, group or _phase_of(release))
    revision = helm_recovery.prepare(ctx, release.namespace, release.name, deadline)
    ctx.log.say(f"  helm upgrade --install {release.name} ({release.chart} {release.version} from "
                f"{release.repo_url}) in {release.namespace} with {values.relative_to(ctx.root)}")
    started = time.monotonic()
    repo = ctx.endpoints.chart_repository(release.repo_url)  # in lab mode the lab's own, on 127.0.0.1
    args = ["upgrade", "--install", release.name, release.chart, "--repo", repo, "--version",
            release.version, "--namespace", release.namespace, "--create-namespace", "--values", str(values),
            "--kubeconfig", str(ctx.endpoints.kubeconfig)]
    first = [revision]

    def attempt() -> Any:
        # a try that failed transiently may have left its revision pending (helm could not mark it failed):
        # free it before the next try, as for an interrupted run
        number = first.pop() if first else helm_recovery.prepare(ctx, release.namespace, release.name, deadline)
        with helm_recovery.in_flight(ctx, release.namespace, release.name, number) as flight:
            return flight.ended(ctx.runner.run("helm", args, check=False))

    try:
        done = ctx.runner.retrying("helm", args, attempt)  # idempotent: retried on a transient failure
        if done.code != 0:
            raise ToolFailed(done.argv, done.code, done.stdout, done.stderr)
    except StepError as exc:
        raise StepError(f"installing {release.chart} {release.version} (release {release.namespace}/{release.name})"
                        f" with helm failed: {exc}") from None
    ctx.log.write(f"  helm release {release.name} applied in {time.monotonic() - started:.1f}s")


def _phase_of(release: Release) -> str:
    """The phase whose deadline bounds waiting on this release: Cilium's folder is under networking/, every other
    bootstrap-time release (external-secrets, 1Password Connect, Longhorn) belongs to the services phase."""
    return "networking" if release.folder.parent.name == "networking" else "services"
