"""Emulated `flux` CLI (Flux 2) acting on the lab's Kubernetes API.

In the lab "GitHub" is the project's working tree: `bootstrap github` installs the controllers (the flux2 entry
of hops.lab.charts), the GitRepository and Kustomization `flux-system`, and waits like the real bootstrap; the
lab's Flux controllers (hops.lab.controllers.flux) then reconcile the tree. Like the real CLI, progress lines
(► ✔ ✗ ◎) go to stderr and tables to stdout. Wait timeouts are simulated time, scaled by the lab's speed."""

from __future__ import annotations

import base64
import hashlib
import os
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from hops.lab import flux_log
from hops.lab.readiness import check, condition, is_true
from hops.lab.tools import kubetools
from hops.lab.tools.common import ToolExit, layout, run_tool

if TYPE_CHECKING:  # the API client is imported by the commands that talk to the cluster: `--version` never does
    from hops.lab.tools.kubeapi import KubeClient

SOURCE = "source.toolkit.fluxcd.io/v1"
KS = "kustomize.toolkit.fluxcd.io/v1"
HR = "helm.toolkit.fluxcd.io/v2"
REQUESTED = "reconcile.fluxcd.io/requestedAt"
MIN_KUBERNETES = "1.28.0-0"
VALUES = {"-n": "namespace", "--namespace": "namespace", "--kubeconfig": "kubeconfig", "--context": "context",
          "--owner": "owner", "--repository": "repository", "--branch": "branch", "--path": "path",
          "--components-extra": "components_extra", "--timeout": "timeout", "--level": "level", "--kind": "kind",
          "--name": "name", "--hostname": "hostname", "--interval": "interval", "--tail": "tail",
          "--visibility": "visibility", "--secret-name": "secret_name", "--components": "components"}
SWITCHES = {"--personal": "personal", "--private": "private", "--token-auth": "token_auth", "--pre": "pre",
            "-A": "all_namespaces", "--all-namespaces": "all_namespaces", "--with-source": "with_source",
            "--silent": "silent", "-s": "silent", "--client": "client", "--version": "version", "-v": "version",
            "--read-write-key": "rw_key", "--keep-namespace": "keep_namespace", "--verbose": "verbose",
            "--force": "force", "--all": "all", "--follow": "follow", "-f": "follow"}
KINDS = {"kustomization": ("Kustomization", KS), "kustomizations": ("Kustomization", KS),
         "ks": ("Kustomization", KS), "helmrelease": ("HelmRelease", HR), "helmreleases": ("HelmRelease", HR),
         "hr": ("HelmRelease", HR)}
SOURCES = {"git": ("GitRepository", SOURCE), "helm": ("HelmRepository", SOURCE), "chart": ("HelmChart", SOURCE)}


def main(argv: list[str] | None = None) -> int:
    return run_tool("flux", _dispatch, argv)


def say(symbol: str, text: str) -> None:
    print(f"{symbol} {text}", file=sys.stderr, flush=True)


def _dispatch(argv: list[str]) -> int:
    p = kubetools.parse(argv, VALUES, SWITCHES)
    if p.get("version") and not p.args:
        print(f"flux version {_version()}")
        return 0
    if not p.args:
        print("Command line utility for assembling Kubernetes CD pipelines the GitOps way.\n\nUsage:\n  flux [command]")
        return 0
    handlers = {"version": _cmd_version, "check": _check, "bootstrap": _bootstrap, "get": _get,
                "reconcile": _reconcile, "suspend": _suspend, "resume": _resume, "logs": _logs}
    command = p.args[0]
    if command not in handlers:
        raise ToolExit(f'Error: unknown command "{command}" for "flux"\nRun \'flux --help\' for usage.')
    return handlers[command](p.args[1:], p) or 0


def _version() -> str:
    return kubetools.tool_version("flux", "2.4.0")


def _cmd_version(args: list[str], p: kubetools.Parsed) -> int:
    from hops.lab import charts
    print(f"flux: v{_version()}")
    if not p.get("client"):
        kube = _client(p)
        ctrl = kube.get("apps/v1", "Deployment", "source-controller", _ns(p))
        if ctrl is not None:
            print(f"distribution: flux-v{_version()}")
            for name in charts.FLUX_CONTROLLERS:
                print(f"{name}: {charts.FLUX_IMAGE_TAGS[name]}")
    return 0


def _client(p: kubetools.Parsed) -> KubeClient:
    return kubetools.client(p.get("kubeconfig"), p.get("context"))


def _ns(p: kubetools.Parsed) -> str:
    return p.get("namespace") or "flux-system"


def _timeout(p: kubetools.Parsed, default: float = 300.0) -> float:
    return flux_log.parse_duration(p.get("timeout"), default) / kubetools.speed()


def _fail(message: str) -> ToolExit:
    return ToolExit(f"✗ {message}", 1)


# -- check -------------------------------------------------------------------------------------------------------
def _check(args: list[str], p: kubetools.Parsed) -> int:
    from hops.lab import charts
    from hops.lab.tools.kubeapi import KubeError
    kube = _client(p)
    say("►", "checking prerequisites")
    try:
        version = kube.version().get("gitVersion", "v0").lstrip("v")
    except KubeError as exc:
        raise _fail(f"Kubernetes API call failed: {exc.message}") from None
    if tuple(int(x) for x in version.split("+")[0].split(".")[:2]) < (1, 28):
        raise _fail(f"Kubernetes {version} <{MIN_KUBERNETES} (the minimum supported version is {MIN_KUBERNETES})")
    say("✔", f"Kubernetes {version} >={MIN_KUBERNETES}")
    if p.get("pre"):
        say("✔", "prerequisites checks passed")
        return 0
    ns = _ns(p)
    say("►", "checking version in cluster")
    say("✔", f"distribution: flux-v{_version()}")
    say("►", "checking controllers")
    healthy = True
    for name in charts.FLUX_CONTROLLERS:
        deploy = kube.get("apps/v1", "Deployment", name, ns)
        if deploy is not None and check(deploy)[0]:
            say("✔", f"{name}: deployment ready")
            say("►", f"ghcr.io/fluxcd/{name}:{charts.FLUX_IMAGE_TAGS[name]}")
        else:
            healthy = False
            say("✗", f"{name}: deployment not ready" if deploy else f'{name}: deployments.apps "{name}" not found')
    say("►", "checking crds")
    for group, _kind, plural, versions, _ in charts.FLUX_CRDS:
        if kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", f"{plural}.{group}") is not None:
            say("✔", f"{plural}.{group}/{versions[-1]}")
        else:
            healthy = False
    if not healthy:
        raise _fail("check failed")
    say("✔", "all checks passed")
    return 0


# -- bootstrap ---------------------------------------------------------------------------------------------------
def _token() -> str:
    token = os.environ.get("GITHUB_TOKEN", "")
    if token:
        return token
    print("Please enter your GitHub personal access token (PAT): ", end="", file=sys.stderr, flush=True)
    line = sys.stdin.readline() if not sys.stdin.isatty() else ""
    if not line.strip():
        print(file=sys.stderr)
        raise _fail("could not read token from stdin: EOF")
    return line.strip()


def _bootstrap(args: list[str], p: kubetools.Parsed) -> int:
    from hops.lab import charts
    if args[:1] != ["github"]:
        raise ToolExit(f'Error: unknown command "{args[0] if args else ""}" for "flux bootstrap"')
    if not p.get("owner") or not p.get("repository"):
        raise ToolExit('Error: required flag(s) "owner", "repository" not set')
    token = _token()
    kube = _client(p)
    owner, repo, ns = p.get("owner"), p.get("repository"), _ns(p)
    branch, path = p.get("branch") or "main", (p.get("path") or ".").strip("/")
    https = f"https://github.com/{owner}/{repo}.git"
    rerun = kube.get(SOURCE, "GitRepository", "flux-system", ns) is not None
    deadline = time.monotonic() + _timeout(p)
    say("►", "connecting to github.com")
    say("►", f'cloning branch "{branch}" from Git repository "{https}"')
    say("✔", "cloned repository")
    _components(kube, ns, p, https, branch, rerun, deadline)
    _source_secret(kube, ns, p, token, owner, repo, branch, path)
    _sync(kube, ns, p, owner, repo, branch, path, https, rerun)
    _wait_synced(kube, ns, deadline)
    say("►", "confirming components are healthy")
    for name in sorted(charts.FLUX_CONTROLLERS):
        say("✔", f"{name}: deployment ready")
    say("✔", "all components are healthy")
    return 0


def _commit_hash(*parts: str) -> str:
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


def _components(kube: KubeClient, ns: str, p: kubetools.Parsed, https: str, branch: str, rerun: bool,
                deadline: float) -> None:
    from hops.lab import charts
    say("►", "generating component manifests")
    extra = [c for c in (p.get("components_extra") or "").split(",") if c]
    objects = charts.render(charts.CATALOG["flux2"], "flux", ns, {"extraComponents": extra})
    say("✔", "generated component manifests")
    if rerun:
        say("✔", "component manifests are up to date")
    else:
        say("✔", f'committed component manifests to "{branch}" ("{_commit_hash("components", ns)}")')
        say("►", f'pushing component manifests to "{https}"')
    say("►", f'installing components in "{ns}" namespace')
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns,
                                                                      "labels": {"app.kubernetes.io/part-of": "flux"}}})
    for obj in sorted(objects, key=lambda o: o["kind"] != "CustomResourceDefinition"):
        obj["metadata"]["labels"] = {**obj["metadata"].get("labels", {}),
                                     "kustomize.toolkit.fluxcd.io/name": "flux-system",
                                     "kustomize.toolkit.fluxcd.io/namespace": ns}
        obj["metadata"].pop("annotations", None)
        kube.apply(obj)
    say("✔", "installed components")
    for obj in objects:
        if obj["kind"] == "CustomResourceDefinition":
            _wait_object(kube, "apiextensions.k8s.io/v1", "CustomResourceDefinition", obj["metadata"]["name"], None,
                         deadline, lambda o: is_true(o, "Established"),
                         f'timeout waiting for CustomResourceDefinition "{obj["metadata"]["name"]}" to be established')
    for obj in objects:
        if obj["kind"] == "Deployment":
            _wait_object(kube, "apps/v1", "Deployment", obj["metadata"]["name"], ns, deadline,
                         lambda o: check(o)[0], f'timeout waiting for Deployment "{ns}/{obj["metadata"]["name"]}"')
    say("✔", "reconciled components")


def _source_secret(kube: KubeClient, ns: str, p: kubetools.Parsed, token: str, owner: str, repo: str, branch: str,
                   path: str) -> None:
    say("►", f'determining if source secret "{ns}/flux-system" exists')
    if kube.get("v1", "Secret", "flux-system", ns) is not None:
        say("✔", "source secret up to date")
        return
    if p.get("token_auth"):
        data = {"username": "git", "password": token}
    else:
        say("►", "generating source secret")
        key = "AAAAE2VjZHNhLXNoYTItbmlzdHAzODQ" + hashlib.sha256(f"{owner}/{repo}".encode()).hexdigest()[:40]
        say("✔", f"public key: ecdsa-sha2-nistp384 {key}")
        say("✔", f'configured deploy key "flux-system-{branch}-{ns}-./{path}" for "https://github.com/{owner}/{repo}"')
        data = {"identity": f"hops-lab-fake-private-key-{owner}-{repo}", "identity.pub": f"ecdsa-sha2-nistp384 {key}",
                "known_hosts": "github.com ecdsa-sha2-nistp256 hops-lab-fake-host-key"}
    say("►", f'applying source secret "{ns}/flux-system"')
    kube.apply({"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": {"name": "flux-system", "namespace": ns},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}})
    say("✔", "reconciled source secret")


def _sync(kube: KubeClient, ns: str, p: kubetools.Parsed, owner: str, repo: str, branch: str, path: str,
          https: str, rerun: bool) -> None:
    from hops.lab.tools.kubeapi import KubeError
    say("►", "generating sync manifests")
    url = https if p.get("token_auth") else f"ssh://git@github.com/{owner}/{repo}"
    git = {"apiVersion": SOURCE, "kind": "GitRepository", "metadata": {"name": "flux-system", "namespace": ns},
           "spec": {"interval": "1m0s", "ref": {"branch": branch}, "secretRef": {"name": "flux-system"}, "url": url}}
    ks = {"apiVersion": KS, "kind": "Kustomization", "metadata": {"name": "flux-system", "namespace": ns},
          "spec": {"interval": "10m0s", "path": f"./{path}" if path != "." else "./", "prune": True,
                   "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}
    say("✔", "generated sync manifests")
    if rerun:
        say("✔", "sync manifests are up to date")
    else:
        say("✔", f'committed sync manifests to "{branch}" ("{_commit_hash("sync", url, path)}")')
        say("►", f'pushing sync manifests to "{https}"')
    say("►", "applying sync manifests")
    try:
        kube.apply(git)
        kube.apply(ks)
    except KubeError as exc:
        raise _fail(f"sync manifests apply failed: {exc.message}") from None
    say("✔", "reconciled sync configuration")


def _wait_synced(kube: KubeClient, ns: str, deadline: float) -> None:
    for kind, api_version in (("GitRepository", SOURCE), ("Kustomization", KS)):
        say("◎", f'waiting for {kind} "{ns}/flux-system" to be reconciled')
        obj = _wait_object(kube, api_version, kind, "flux-system", ns, deadline, _settled,
                           f'timeout waiting for {kind} "{ns}/flux-system" to be reconciled: context deadline exceeded')
        if not is_true(obj, "Ready"):
            raise _fail(f"{kind} reconciliation failed: {(condition(obj, 'Ready') or {}).get('message', '')}")
        say("✔", f"{kind} reconciled successfully")


def _settled(obj: dict) -> bool:
    """Ready, or failed for a reason other than still waiting on something."""
    ready = condition(obj, "Ready") or {}
    if ready.get("status") == "True":
        return True
    return ready.get("status") == "False" and ready.get("reason") not in ("DependencyNotReady", "Progressing",
                                                                          "ArtifactFailed")


def _wait_object(kube: KubeClient, api_version: str, kind: str, name: str, ns: str | None, deadline: float,
                 done: Any, timeout_message: str) -> dict:
    holder: dict = {}

    def current() -> tuple[bool, Any]:
        holder["obj"] = kube.get(api_version, kind, name, ns)
        return bool(holder["obj"]) and done(holder["obj"]), None

    ok, _ = kubetools.wait_until(current, lambda s: kube.watch(api_version, kind, ns, name, s),
                                 max(0.0, deadline - time.monotonic()))
    if not ok:
        raise _fail(timeout_message)
    return holder["obj"]


# -- get ---------------------------------------------------------------------------------------------------------
def _get(args: list[str], p: kubetools.Parsed) -> int:
    kube = _client(p)
    if not args:
        raise ToolExit('Error: "flux get" requires a subcommand')
    if args[0] == "all":
        for kind, api_version in (SOURCES["git"], SOURCES["helm"], SOURCES["chart"], KINDS["ks"], KINDS["hr"]):
            rows = _rows(kube, kind, api_version, p, prefix=True)
            if rows:
                _print_table(kind, rows, p)
                print()
        return 0
    if args[0] == "sources":
        if len(args) < 2 or args[1] not in SOURCES:
            raise ToolExit('Error: "flux get sources" requires a subcommand: git, helm, chart')
        kind, api_version = SOURCES[args[1]]
    elif args[0] in KINDS:
        kind, api_version = KINDS[args[0]]
    else:
        raise ToolExit(f'Error: unknown command "{args[0]}" for "flux get"')
    rows = _rows(kube, kind, api_version, p)
    if not rows:
        where = "any" if p.get("all_namespaces") else f'"{_ns(p)}"'
        print(f"no {kind} objects found in {where} namespace", file=sys.stderr)
        return 0
    _print_table(kind, rows, p)
    return 0


def _revision(obj: dict) -> str:
    status = obj.get("status") or {}
    if obj["kind"] == "Kustomization":
        return status.get("lastAppliedRevision", "")
    if obj["kind"] == "HelmRelease":
        return status.get("lastAttemptedRevision", "")
    return (status.get("artifact") or {}).get("revision", "")


def _rows(kube: KubeClient, kind: str, api_version: str, p: kubetools.Parsed, prefix: bool = False) -> list[list[str]]:
    ns = None if p.get("all_namespaces") else _ns(p)
    rows = []
    for obj in kube.list(api_version, kind, ns):
        ready = condition(obj, "Ready") or {}
        name = f"{kind.lower()}/{obj['metadata']['name']}" if prefix else obj["metadata"]["name"]
        row = [name, _revision(obj), str(bool((obj.get("spec") or {}).get("suspend"))),
               ready.get("status", "Unknown"), ready.get("message", "waiting to be reconciled")]
        rows.append(([obj["metadata"]["namespace"]] if p.get("all_namespaces") else []) + row)
    return rows


def _print_table(kind: str, rows: list[list[str]], p: kubetools.Parsed) -> None:
    headers = ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    if p.get("all_namespaces"):
        headers = ["NAMESPACE", *headers]
    print(kubetools.table(headers, rows))


# -- reconcile / suspend / resume --------------------------------------------------------------------------------
def _target(args: list[str]) -> tuple[str, str, str]:
    if args[:1] == ["source"] and len(args) >= 3 and args[1] in SOURCES:
        kind, api_version = SOURCES[args[1]]
        return kind, api_version, args[2]
    if len(args) >= 2 and args[0] in KINDS:
        kind, api_version = KINDS[args[0]]
        return kind, api_version, args[1]
    raise ToolExit("Error: name is required" if args else "Error: a kind and a name are required")


def _existing(kube: KubeClient, api_version: str, kind: str, name: str, ns: str) -> dict:
    obj = kube.get(api_version, kind, name, ns)
    if obj is None:
        group = api_version.split("/")[0]
        raise _fail(f'{kind}.{group} "{name}" not found')
    return obj


def _reconcile(args: list[str], p: kubetools.Parsed) -> int:
    kind, api_version, name = _target(args)
    kube, ns = _client(p), _ns(p)
    obj = _existing(kube, api_version, kind, name, ns)
    if (obj.get("spec") or {}).get("suspend"):
        raise _fail("resource is suspended")
    deadline = time.monotonic() + _timeout(p)
    if p.get("with_source") and kind in ("Kustomization", "HelmRelease"):
        ref = (obj.get("spec") or {}).get("sourceRef") or \
            (((obj.get("spec") or {}).get("chart") or {}).get("spec") or {}).get("sourceRef") or {}
        _annotate_and_wait(kube, SOURCE, ref.get("kind", "GitRepository"), ref.get("name", ""),
                           ref.get("namespace") or ns, deadline)
    _annotate_and_wait(kube, api_version, kind, name, ns, deadline)
    return 0


def _annotate_and_wait(kube: KubeClient, api_version: str, kind: str, name: str, ns: str, deadline: float) -> None:
    stamp = datetime.now(UTC).isoformat(timespec="microseconds")
    say("►", f"annotating {kind} {name} in {ns} namespace")
    kube.patch(api_version, kind, name, ns, {"metadata": {"annotations": {REQUESTED: stamp}}})
    say("✔", f"{kind} annotated")
    say("◎", f"waiting for {kind} reconciliation")

    def handled(obj: dict) -> bool:
        return (obj.get("status") or {}).get("lastHandledReconcileAt") == stamp and _settled(obj)

    obj = _wait_object(kube, api_version, kind, name, ns, deadline, handled,
                       f"{kind} reconciliation failed: timeout waiting for reconciliation: context deadline exceeded")
    if not is_true(obj, "Ready"):
        raise _fail((condition(obj, "Ready") or {}).get("message", "reconciliation failed"))
    verb = "fetched" if api_version == SOURCE else "applied"
    say("✔", f"{verb} revision {_revision(obj)}")


def _suspend(args: list[str], p: kubetools.Parsed) -> int:
    return _set_suspend(args, p, True)


def _resume(args: list[str], p: kubetools.Parsed) -> int:
    return _set_suspend(args, p, False)


def _set_suspend(args: list[str], p: kubetools.Parsed, suspend: bool) -> int:
    kind, api_version, name = _target(args)
    kube, ns = _client(p), _ns(p)
    _existing(kube, api_version, kind, name, ns)
    word = kind.lower()
    say("►", f"{'suspending' if suspend else 'resuming'} {word} {name} in {ns} namespace")
    kube.patch(api_version, kind, name, ns, {"spec": {"suspend": suspend}})
    say("✔", f"{word} {'suspended' if suspend else 'resumed'}")
    if not suspend:
        _annotate_and_wait(kube, api_version, kind, name, ns, time.monotonic() + _timeout(p))
    return 0


# -- logs --------------------------------------------------------------------------------------------------------
def _logs(args: list[str], p: kubetools.Parsed) -> int:
    entries = flux_log.read(layout())
    level, kind, name = p.get("level"), p.get("kind"), p.get("name")
    ns = None if p.get("all_namespaces") else _ns(p)
    for entry in entries:
        if level and entry["level"] != level:
            continue
        if kind and entry["kind"].lower() != kind.lower():
            continue
        if name and entry["name"] != name:
            continue
        if ns and entry["namespace"] != ns:
            continue
        print(f"{entry['ts']} {entry['level']} {entry['kind']}/{entry['name']}.{entry['namespace']} - {entry['msg']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
