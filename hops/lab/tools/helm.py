"""Emulated `helm` (Helm 3) acting on the lab's Kubernetes API.

Charts come from the lab's catalog (hops.lab.charts); repositories are kept in `<lab>/helm/repositories.yaml`;
releases are stored like Helm 3's (hops.lab.helm_releases). `--wait` watches the release's workloads; its
`--timeout` is simulated time, scaled by the lab's speed like every lab duration."""

from __future__ import annotations

import json
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from hops.lab import charts, faults, helm_releases, readiness
from hops.lab.flux_log import parse_duration
from hops.lab.tools import kubetools
from hops.lab.tools.common import ToolExit, layout, run_tool
from hops.lab.tools.kubeapi import KubeClient, KubeError

GLOBAL_VALUES = {"-n": "namespace", "--namespace": "namespace", "--kubeconfig": "kubeconfig",
                 "--kube-context": "context", "-o": "output", "--output": "output", "--version": "version",
                 "-f": "values", "--values": "values", "--set": "set", "--set-string": "set", "--timeout": "timeout",
                 "--template": "template", "--repo": "repo", "--description": "description", "--revision": "revision",
                 "--max": "max", "--history-max": "history_max"}
GLOBAL_SWITCHES = {"--install": "install", "-i": "install", "--create-namespace": "create_namespace",
                   "--wait": "wait", "--atomic": "atomic", "--force-update": "force_update", "-A": "all_namespaces",
                   "--all-namespaces": "all_namespaces", "--short": "short", "--all": "all", "-a": "all",
                   "--debug": "debug", "--reuse-values": "reuse_values", "--reset-values": "reset_values",
                   "--wait-for-jobs": "wait_jobs", "--client": "client", "-c": "client", "--dry-run": "dry_run",
                   "--cleanup-on-fail": "cleanup", "--skip-crds": "skip_crds", "--no-hooks": "no_hooks",
                   "--pending": "pending", "--deployed": "deployed", "--failed": "failed", "--superseded": "superseded",
                   "--uninstalled": "uninstalled", "--uninstalling": "uninstalling"}
# `helm list` state filters: without any, Helm lists the releases whose latest revision is deployed or failed
LIST_STATES = {"deployed": ("deployed",), "failed": ("failed",), "superseded": ("superseded",),
               "uninstalled": ("uninstalled",), "uninstalling": ("uninstalling",),
               "pending": ("pending-install", "pending-upgrade", "pending-rollback")}
BUILD = 'GitCommit:"{commit}", GitTreeState:"clean", GoVersion:"go1.22.7"'
# Helm's errPending: `helm upgrade [--install]` refuses a release whose latest revision is pending-*
IN_PROGRESS = "another operation (install/upgrade/rollback) is in progress"


def main(argv: list[str] | None = None) -> int:
    return run_tool("helm", _dispatch, argv)


def _dispatch(argv: list[str]) -> int:
    p = kubetools.parse(argv, GLOBAL_VALUES, GLOBAL_SWITCHES, repeated=("values", "set"))
    if not p.args:
        print("The Kubernetes package manager\n\nUsage:\n  helm [command]")
        return 0
    command, rest = p.args[0], p.args[1:]
    handlers = {"version": _version, "repo": _repo, "upgrade": _upgrade, "install": _install, "status": _status,
                "list": _list, "ls": _list, "get": _get, "uninstall": _uninstall, "delete": _uninstall,
                "history": _history, "hist": _history, "template": _template, "rollback": _rollback}
    if command not in handlers:
        raise ToolExit(f'Error: unknown command "{command}" for "helm"\nRun \'helm --help\' for usage.')
    return handlers[command](rest, p) or 0


def _version_text() -> str:
    return "v" + kubetools.tool_version("helm", "3.17.2")


def _version(args: list[str], p: kubetools.Parsed) -> int:
    version = _version_text()
    if p.get("template"):
        print(p.get("template").replace("{{.Version}}", version).replace("{{ .Version }}", version))
    elif p.get("short"):
        print(f"{version}+gcfd0749")
    else:
        print(f'version.BuildInfo{{Version:"{version}", ' + BUILD.format(commit="cfd07493f46efc9debd9cc1b02a0961186df7fdf") + "}")
    return 0


# -- repositories ----------------------------------------------------------------------------------------------
def _repo_file() -> Path:
    return layout().root / "helm" / "repositories.yaml"


def _repos() -> list[dict]:
    try:
        return (yaml.safe_load(_repo_file().read_text()) or {}).get("repositories") or []
    except FileNotFoundError:
        return []


def _save_repos(repos: list[dict]) -> None:
    _repo_file().parent.mkdir(parents=True, exist_ok=True)
    _repo_file().write_text(yaml.safe_dump({"apiVersion": "", "generated": _now().isoformat(),
                                            "repositories": repos}, sort_keys=False))


def _known_urls() -> set[str]:
    return {c.repo_url.rstrip("/") for c in charts.CATALOG.values()}


def _upstream(url: str) -> str:
    """The upstream repository a URL of the lab's chart repository stands for (hops.endpoints maps to it)."""
    from hops.lab.chart_repo import upstream_url

    return upstream_url(url).rstrip("/")


def _repo(args: list[str], p: kubetools.Parsed) -> int:
    sub = args[0] if args else ""
    if sub == "add" and len(args) == 3:
        return _repo_add(args[1], args[2], bool(p.get("force_update")))
    if sub == "update":
        repos = _repos()
        if not repos:
            raise ToolExit("Error: no repositories found. You must add one before updating")
        print("Hang tight while we grab the latest from your chart repositories...")
        for repo in repos:
            print(f'...Successfully got an update from the "{repo["name"]}" chart repository')
        print("Update Complete. ⎈Happy Helming!⎈")
        return 0
    if sub == "list":
        repos = _repos()
        if not repos:
            raise ToolExit("Error: no repositories to show")
        print(kubetools.table(["NAME", "URL"], [[r["name"], r["url"]] for r in repos]))
        return 0
    if sub == "remove" and len(args) == 2:
        repos = _repos()
        if not any(r["name"] == args[1] for r in repos):
            raise ToolExit(f'Error: no repo named "{args[1]}" found')
        _save_repos([r for r in repos if r["name"] != args[1]])
        print(f'"{args[1]}" has been removed from your repositories')
        return 0
    raise ToolExit(f'Error: "helm repo {sub}" requires arguments\n\nUsage:  helm repo [command]')


def _repo_add(name: str, url: str, force: bool) -> int:
    if _upstream(url) not in _known_urls():
        raise ToolExit(f'Error: looks like "{url}" is not a valid chart repository or cannot be reached: '
                       f'failed to fetch {url.rstrip("/")}/index.yaml : 404 Not Found')
    repos = _repos()
    existing = next((r for r in repos if r["name"] == name), None)
    if existing and existing["url"] == url:
        print(f'"{name}" already exists with the same configuration, skipping')
        return 0
    if existing and not force:
        raise ToolExit(f"Error: repository name ({name}) already exists, please specify a different name")
    repos = [r for r in repos if r["name"] != name] + [{"name": name, "url": url, "username": "", "password": "",
                                                        "insecure_skip_tls_verify": False, "pass_credentials_all": False}]
    _save_repos(repos)
    print(f'"{name}" has been added to your repositories')
    return 0


def _resolve_chart(ref: str, version: str | None, repo_url: str | None) -> charts.Chart:
    """`repo/chart` through repositories.yaml (or --repo URL), as Helm's downloader resolves it, with its texts."""
    if repo_url:
        url, index = repo_url, None
    elif "/" in ref:
        index = ref.split("/")[0]
        repo = next((r for r in _repos() if r["name"] == index), None)
        if repo is None:
            raise ToolExit(f"repo {index} not found")
        url = repo["url"]
    else:
        raise ToolExit(f'non-absolute URLs should be in form of repo_name/path_to_chart, got: {ref}')
    name = ref.split("/")[-1]
    chart = charts.CATALOG.get(name)
    if chart is None or chart.repo_url.rstrip("/") != _upstream(url):
        raise ToolExit(_not_found(name, version, url, index, "no chart name found"))
    if version and version.lstrip("v") != chart.version:
        # the earlier versions the lab's chart repository serves too (hops.lab.chart_repo)
        from hops.lab.chart_repo import versions

        chart = next((c for c in versions(chart) if c.version == version.lstrip("v")), None)
        if chart is None:
            raise ToolExit(_not_found(name, version, url, index, f"no chart version found for {name}-{version}"))
    return chart


def _not_found(name: str, version: str | None, url: str, index: str | None, why: str) -> str:
    """Helm's two texts: a repository's local index (`repo/chart`) or a --repo URL."""
    if index is not None:
        return f"chart \"{name}\" matching {version or ''} not found in {index} index. (try 'helm repo update'): {why}"
    return f'chart "{name}"{f" version {json.dumps(version)}" if version else ""} not found in {url} repository'


# -- values ----------------------------------------------------------------------------------------------------
def _values(p: kubetools.Parsed) -> dict:
    merged: dict = {}
    for file in p.get("values", []) or []:
        try:
            merged = charts.deep_merge(merged, yaml.safe_load(Path(file).read_text()) or {})
        except FileNotFoundError:
            raise ToolExit(f"Error: open {file}: no such file or directory") from None
    for item in p.get("set", []) or []:
        for pair in item.split(","):
            key, _, raw = pair.partition("=")
            merged = charts.deep_merge(merged, _nested(key, _scalar(raw)))
    return merged


def _nested(dotted: str, value: Any) -> dict:
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def _scalar(raw: str) -> Any:
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return int(raw)
    except ValueError:
        return raw


# -- install / upgrade -----------------------------------------------------------------------------------------
def _install(args: list[str], p: kubetools.Parsed) -> int:
    if len(args) != 2:
        raise ToolExit('Error: "helm install" requires at least 1 argument')
    kube = _client(p)
    if helm_releases.latest(kube, args[0], _ns(p, kube)):
        raise ToolExit("Error: INSTALLATION FAILED: cannot re-use a name that is still in use")
    return _deploy(kube, args[0], args[1], p, "INSTALLATION FAILED", intro="", command="install")


def _upgrade(args: list[str], p: kubetools.Parsed) -> int:
    if len(args) != 2:
        raise ToolExit('Error: "helm upgrade" requires 2 arguments\n\nUsage:  helm upgrade [RELEASE] [CHART] [flags]')
    kube = _client(p)
    name = args[0]
    previous = helm_releases.latest(kube, name, _ns(p, kube))
    if previous is None or (p.get("install") and previous["info"]["status"] == "uninstalled"):
        if not p.get("install"):
            raise ToolExit(f'Error: UPGRADE FAILED: "{name}" has no deployed releases')
        # helm upgrade passes the errors of this install on unwrapped (measured with Helm 3.17.2)
        return _deploy(kube, name, args[1], p, "", intro=f'Release "{name}" does not exist. Installing it now.')
    if helm_releases.is_pending(previous):
        # Helm's upgrade takes a pending latest revision as the lock of an operation still running
        raise ToolExit(f"Error: UPGRADE FAILED: {IN_PROGRESS}")
    if helm_releases.base_release(helm_releases.history(kube, name, _ns(p, kube))) is None:
        # e.g. an interrupted uninstall left it uninstalling: nothing deployed, failed or superseded to build on
        raise ToolExit(f'Error: UPGRADE FAILED: "{name}" has no deployed releases')
    return _deploy(kube, name, args[1], p, "UPGRADE FAILED", intro=f'Release "{name}" has been upgraded. Happy Helming!',
                   previous=previous)


def _history_max(p: kubetools.Parsed) -> int:
    """`--history-max N` (helm upgrade's default: 10; 0 keeps every revision)."""
    given = p.get("history_max")
    try:
        return 10 if given is None else int(given)
    except ValueError:
        raise ToolExit(f'Error: invalid argument "{given}" for "--history-max" flag: strconv.ParseInt: parsing '
                       f'"{given}": invalid syntax') from None


def _deploy(kube: KubeClient, name: str, ref: str, p: kubetools.Parsed, failure: str, intro: str,
            previous: dict | None = None, command: str = "upgrade") -> int:
    ns = _ns(p, kube)
    try:
        chart = _resolve_chart(ref, p.get("version"), p.get("repo"))
    except ToolExit as exc:   # only `helm install` wraps a chart it cannot locate (measured with Helm 3.17.2)
        raise ToolExit(_error(failure if command == "install" else "", exc.message)) from None
    values = _values(p)
    if p.get("reuse_values") and previous is not None:
        values = charts.deep_merge(previous.get("config") or {}, values)
    hang = faults.take_tool_failure(layout(), "helm", [command], action="hang") is not None
    try:
        applied = helm_releases.begin(kube, name, ns, chart, values, create_namespace=bool(p.get("create_namespace")),
                                      history_max=_history_max(p))
    except helm_releases.HelmError as exc:
        raise ToolExit(_error(failure, str(exc))) from None
    except KubeError as exc:
        raise ToolExit(_error(failure, exc.message)) from None
    if hang:
        _hang(command)
    try:
        helm_releases.apply(kube, applied)
    except KubeError as exc:   # the objects could not be created: the revision is recorded as failed
        helm_releases.finish(kube, applied, exc.message)
        raise ToolExit(_error(failure, exc.message)) from None
    if p.get("wait") or p.get("atomic"):
        ok, why = _wait(kube, applied.objects, _timeout(p))
        if not ok:
            helm_releases.finish(kube, applied, "context deadline exceeded")
            raise ToolExit(_error(failure, f"{_atomic(kube, applied, p)}context deadline exceeded"))
    rel = helm_releases.finish(kube, applied)
    if intro:
        print(intro)
    _print_status(rel)
    return 0


def _error(failure: str, message: str) -> str:
    """Helm's `Error: [<FAILURE>: ]<message>` (`failure` is e.g. "INSTALLATION FAILED", or "" for none)."""
    return f"Error: {failure}: {message}" if failure else f"Error: {message}"


def _hang(subcommand: str) -> None:
    """The hang fault (taken before the record is written, so whoever sees the pending record can kill us): block
    (no CPU, no timer) until a signal ends us, as a helm killed mid-operation would leave the release."""
    sys.stderr.write(f"helm {subcommand}: hanging (hops lab fault) until killed\n")
    sys.stderr.flush()
    while True:
        signal.pause()


def _atomic(kube: KubeClient, applied: helm_releases.Applied, p: kubetools.Parsed) -> str:
    """With --atomic a failed install is uninstalled and a failed upgrade rolled back to the newest successful
    (deployed or superseded) revision, as a new revision."""
    if not p.get("atomic"):
        return ""
    name, ns = applied.release["name"], applied.release["namespace"]
    if applied.installed:
        helm_releases.uninstall(kube, name, ns)
        return f"release {name} failed, and has been uninstalled due to atomic being set: "
    good = [r for r in helm_releases.history(kube, name, ns) if r["info"]["status"] in ("deployed", "superseded")]
    if not good:
        return "unable to find a previously successful release when attempting to rollback. original upgrade error: "
    helm_releases.rollback(kube, name, ns, good[-1]["version"])
    return f"release {name} failed, and has been rolled back due to atomic being set: "


def _timeout(p: kubetools.Parsed) -> float:
    return parse_duration(p.get("timeout"), 300.0) / kubetools.speed()


def _wait(kube: KubeClient, objects: list[dict], timeout: float) -> tuple[bool, str]:
    """Watch each workload of the release until it is ready; False when the (shared) deadline passes."""
    deadline = time.monotonic() + timeout
    for obj in objects:
        if obj["kind"] not in readiness.WORKLOAD_KINDS:
            continue
        ok, why = _wait_one(kube, obj, max(0.0, deadline - time.monotonic()))
        if not ok:
            return False, why
    return True, ""


def _wait_one(kube: KubeClient, obj: dict, timeout: float) -> tuple[bool, str]:
    """Watch one workload until it is ready or `timeout` passes; (ready, why not)."""
    meta = obj["metadata"]

    def current() -> tuple[bool, str]:
        live = kube.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        return readiness.check(live) if live else (False, f"{obj['kind']} {meta['name']} not found")

    return kubetools.wait_until(current, lambda s: kube.watch(obj["apiVersion"], obj["kind"],
                                                              meta.get("namespace"), meta["name"], s), timeout)


# -- inspection ------------------------------------------------------------------------------------------------
def _client(p: kubetools.Parsed) -> KubeClient:
    return kubetools.client(p.get("kubeconfig"), p.get("context"))


def _ns(p: kubetools.Parsed, kube: KubeClient) -> str:
    return p.get("namespace") or kube.namespace


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(iso: str, style: str = "ansic") -> str:
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if style == "ansic":
        return when.strftime("%a %b ") + f"{when.day:2d}" + when.strftime(" %H:%M:%S %Y")
    return when.strftime("%Y-%m-%d %H:%M:%S.%f") + " +0000 UTC"


def _print_status(rel: dict) -> None:
    print(f"NAME: {rel['name']}\nLAST DEPLOYED: {_stamp(rel['info']['last_deployed'])}\n"
          f"NAMESPACE: {rel['namespace']}\nSTATUS: {rel['info']['status']}\nREVISION: {rel['version']}\n"
          f"TEST SUITE: None")


def _release_or_fail(kube: KubeClient, name: str, ns: str) -> dict:
    rel = helm_releases.latest(kube, name, ns)
    if rel is None:
        raise ToolExit("Error: release: not found")
    return rel


def _revision_or_fail(kube: KubeClient, name: str, ns: str, revision: str | None) -> dict:
    """The latest release, or the one numbered `revision` (`helm get values --revision N`)."""
    if not revision:
        return _release_or_fail(kube, name, ns)
    found = next((r for r in helm_releases.history(kube, name, ns) if str(r["version"]) == str(revision)), None)
    if found is None:
        raise ToolExit(f"Error: release: not found (revision {revision} of {name})")
    return found


def _status(args: list[str], p: kubetools.Parsed) -> int:
    if not args:
        raise ToolExit('Error: "helm status" requires 1 argument')
    kube = _client(p)
    rel = _revision_or_fail(kube, args[0], _ns(p, kube), p.get("revision"))
    output = p.get("output", "table")
    shown = {k: v for k, v in rel.items() if k != "chart"}  # Helm 3.17's status leaves the chart out
    shown["info"] = {k: v for k, v in rel["info"].items() if v or k != "notes"}  # Go's omitempty
    if output == "json":
        print(json.dumps(shown))
    elif output == "yaml":
        print(yaml.safe_dump(shown, sort_keys=False), end="")
    else:
        _print_status(rel)
    return 0


def _printed_as_data(data: Any, p: kubetools.Parsed) -> bool:
    """`-o json` / `-o yaml`: print `data` that way and say so; False for the command's own table."""
    output = p.get("output", "table")
    if output == "json":
        print(json.dumps(data))
    elif output == "yaml":
        print(yaml.safe_dump(data, sort_keys=False), end="")
    return output in ("json", "yaml")


def _list(args: list[str], p: kubetools.Parsed) -> int:
    kube = _client(p)
    ns = None if p.get("all_namespaces") else _ns(p, kube)
    wanted = {s for flag, states in LIST_STATES.items() if p.get(flag) for s in states} or {"deployed", "failed"}
    releases = [r for r in helm_releases.list_releases(kube, ns) if p.get("all") or r["info"]["status"] in wanted]
    rows = [{"name": r["name"], "namespace": r["namespace"], "revision": str(r["version"]),
             "updated": _stamp(r["info"]["last_deployed"], "list"), "status": r["info"]["status"],
             "chart": f"{r['chart']['metadata']['name']}-{r['chart']['metadata']['version']}",
             "app_version": r["chart"]["metadata"].get("appVersion", "")} for r in releases]
    if not _printed_as_data(rows, p):
        headers = ["NAME", "NAMESPACE", "REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION"]
        print(kubetools.table(headers, [list(r.values()) for r in rows]))
    return 0


def _get(args: list[str], p: kubetools.Parsed) -> int:
    if len(args) != 2 or args[0] not in ("values", "manifest", "all"):
        raise ToolExit('Error: "helm get" requires a subcommand: values, manifest, all')
    kube = _client(p)
    rel = _revision_or_fail(kube, args[1], _ns(p, kube), p.get("revision"))
    if args[0] == "manifest":
        print(rel.get("manifest", ""))
        return 0
    values = helm_releases.all_values(rel) if p.get("all") else (rel.get("config") or {})
    if not _printed_as_data(values, p):
        print("COMPUTED VALUES:" if p.get("all") else "USER-SUPPLIED VALUES:")
        print(yaml.safe_dump(values, sort_keys=False) if values else "null")
    return 0


def _uninstall(args: list[str], p: kubetools.Parsed) -> int:
    if not args:
        raise ToolExit('Error: "helm uninstall" requires at least 1 argument')
    kube = _client(p)
    try:
        helm_releases.uninstall(kube, args[0], _ns(p, kube))
    except helm_releases.HelmError as exc:
        raise ToolExit(f"Error: {exc}") from None
    print(f'release "{args[0]}" uninstalled')
    return 0


def _history(args: list[str], p: kubetools.Parsed) -> int:
    """`helm history NAME [--max N] [-o table|json|yaml]`: the newest N revisions (default 256), oldest first."""
    if not args:
        raise ToolExit('Error: "helm history" requires 1 argument')
    kube = _client(p)
    revisions = helm_releases.history(kube, args[0], _ns(p, kube))
    if not revisions:
        raise ToolExit("Error: release: not found")
    keep = _int_flag(p.get("max"), 256)
    rows = [{"revision": r["version"], "updated": _rfc3339(r["info"]["last_deployed"]), "status": r["info"]["status"],
             "chart": f"{r['chart']['metadata']['name']}-{r['chart']['metadata']['version']}",
             "app_version": r["chart"]["metadata"].get("appVersion", ""), "description": r["info"]["description"]}
            for r in revisions[-keep:]]
    if not _printed_as_data(rows, p):
        table = [[str(r["revision"]), _stamp(rel["info"]["last_deployed"]), r["status"], r["chart"], r["app_version"],
                  r["description"]] for r, rel in zip(rows, revisions[-keep:], strict=True)]
        print(kubetools.table(["REVISION", "UPDATED", "STATUS", "CHART", "APP VERSION", "DESCRIPTION"], table))
    return 0


def _int_flag(raw: str | None, default: int) -> int:
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ToolExit(f'Error: invalid argument "{raw}" for "--max" flag: strconv.ParseInt: parsing "{raw}": '
                       "invalid syntax") from None


def _rfc3339(iso: str) -> str:
    """Helm's JSON time: RFC 3339 with the fraction and an explicit offset."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return when.isoformat().replace("+00:00", "Z")


def _rollback(args: list[str], p: kubetools.Parsed) -> int:
    """`helm rollback NAME [REVISION]`: like Helm it works on a pending latest revision too (that is the way out
    of "another operation ... is in progress"); without REVISION it goes back one revision."""
    if not args:
        raise ToolExit('Error: "helm rollback" requires at least 1 argument\n\n'
                       "Usage:  helm rollback <RELEASE> [REVISION] [flags]")
    revision = 0
    if len(args) > 1:
        try:
            revision = int(args[1])
        except ValueError:
            raise ToolExit(f'Error: strconv.Atoi: parsing "{args[1]}": invalid syntax') from None
    kube = _client(p)
    try:
        helm_releases.rollback(kube, args[0], _ns(p, kube), revision)
    except helm_releases.HelmError as exc:
        raise ToolExit(f"Error: {exc}") from None
    except KubeError as exc:
        raise ToolExit(f"Error: {exc.message}") from None
    print("Rollback was a success! Happy Helming!")
    return 0


def _template(args: list[str], p: kubetools.Parsed) -> int:
    if len(args) != 2:
        raise ToolExit('Error: "helm template" requires 2 arguments')
    chart = _resolve_chart(args[1], p.get("version"), p.get("repo"))
    for obj in charts.render(chart, args[0], p.get("namespace") or "default", _values(p)):
        sys.stdout.write("---\n" + yaml.safe_dump(obj, sort_keys=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
