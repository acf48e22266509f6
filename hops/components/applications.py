"""Phase 6 — applications: wait for the infrastructure Kustomizations (in dependsOn order), ask Flux to apply the
apps now, then wait until every Kustomization and HelmRelease is Ready and their workloads are available.

Which Kustomizations are "infrastructure" and which are "apps" is read from the cluster folder (gitops.path):
the ones declared in apps.yaml are the apps, every other one is infrastructure. A passed deadline fails naming
every object that is not Ready with its condition message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hops import flux_failures, helmrelease
from hops.context import Context
from hops.errors import StepError, WaitTimeout, fail_all, problem_list
from hops.flux import REQUESTED, SYNC_NAME, TAIL_PARAM, error_logs, request_reconcile, source_revision
from hops.kube import describe_condition, is_true, observed
from hops.taskmodel import Check, Component, Operation, Step
from hops.waiting import deadline_for
from hops.workloads import daemonset_counts, print_pod_logs, replica_counts, workload_ready

APPS_FILE = "apps.yaml"
WORKLOAD_KINDS = ("Deployment", "DaemonSet", "StatefulSet")
MANAGED_BY = ("helm.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/name")
NAME_PARAM = {"name": "name", "long": "name", "type": str, "default": "",
              "help": "also force this HelmRelease (namespace/name or name)"}


# --- what the repository declares ---------------------------------------------------------------------------
def declared(ctx: Context) -> dict[str, list[dict]]:
    """Kustomizations declared in the cluster folder, by file name."""
    folder = ctx.root / ctx.config.gitops.path
    out: dict[str, list[dict]] = {}
    for file in sorted(folder.glob("*.y*ml")):
        out[file.name] = [d for d in helmrelease.documents(file) if d.get("kind") == "Kustomization" and
                          str(d.get("apiVersion", "")).startswith("kustomize.toolkit.fluxcd.io/")]
        for doc in out[file.name]:
            helmrelease.name_of(doc, file)  # every declared Kustomization is named, or one clear error
    return out


# (cluster folder, (name, mtime_ns, size) of each file) -> Kustomization names by file: checks and steps ask for
# the names many times per process; a changed file is a new key.
_names: dict[tuple, dict[str, list[str]]] = {}


def declared_names(ctx: Context) -> dict[str, list[str]]:
    """Names of the Kustomizations declared in the cluster folder, by file name (read again when a file changed;
    kept between processes while nothing in the folder changed: hops.tree_cache)."""
    folder = ctx.root / ctx.config.gitops.path
    try:
        key = (folder, tuple((f.name, st.st_mtime_ns, st.st_size)
                             for f in sorted(folder.glob("*.y*ml")) for st in [f.stat()]))
    except FileNotFoundError:  # a file went away meanwhile: read what is there now, uncached
        return _read_names(ctx)
    if key not in _names:
        from hops import tree_cache

        def compute() -> tree_cache.Computed:
            return tree_cache.Computed(_read_names(ctx), [folder], [])

        code = [Path(__file__).resolve(), Path(helmrelease.__file__).resolve()]
        _names[key] = dict(tree_cache.answer("kustomization-names", [str(folder.resolve())], code, compute))
    return _names[key]


def _read_names(ctx: Context) -> dict[str, list[str]]:
    return {file: [d["metadata"]["name"] for d in docs] for file, docs in declared(ctx).items()}


def infrastructure_names(ctx: Context) -> list[str]:
    """Names of the infrastructure Kustomizations: every one declared outside apps.yaml."""
    return [name for file, names in declared_names(ctx).items() if file != APPS_FILE for name in names]


def apps_names(ctx: Context) -> list[str]:
    """Names of the apps Kustomizations (declared in apps.yaml)."""
    return list(declared_names(ctx).get(APPS_FILE, []))


# --- readiness ----------------------------------------------------------------------------------------------
def flux_ready(obj: dict) -> bool:
    """Ready for the object's current generation, and not suspended."""
    return is_true(obj) and observed(obj) and not (obj.get("spec") or {}).get("suspend")


def why_not(obj: dict) -> str:
    """Why a Flux object is not Ready, in one line (suspended, or its Ready condition)."""
    if (obj.get("spec") or {}).get("suspend"):
        return "suspended"
    return describe_condition(obj)


def kustomizations_state(objects: dict[str, dict], names: list[str]) -> tuple[bool, str]:
    """Every named Kustomization Ready; problems listed dependencies first (those whose dependsOn are Ready
    are the ones actually in progress)."""
    problems: list[str] = []
    blocked: list[str] = []
    for name in names:
        obj = objects.get(name)
        if obj is None:
            problems.append(f"Kustomization {name}: not created yet (flux-system has not applied it)")
        elif not flux_ready(obj):
            deps = [d["name"] for d in (obj.get("spec") or {}).get("dependsOn") or []]
            waiting = [d for d in deps if not (objects.get(d) and flux_ready(objects[d]))]
            line = f"Kustomization {name}: {why_not(obj)}"
            (blocked if waiting else problems).append(line)
    listed = problems + blocked
    return (not listed), "; ".join(listed) or f"{len(names)} Kustomizations Ready"


def wait_kustomizations(ctx: Context, names: list[str], what: str, group: str = "applications") -> None:
    """Watch the named Kustomizations until every one is Ready; a passed deadline names every problem, a
    manifest Flux cannot apply fails at once naming its file (hops.flux_failures)."""
    judge = flux_failures.Judge(ctx, deadline_for(ctx, group))  # stops at once on a manifest Flux cannot apply
    with full_report(ctx):
        judge.wait(what, lambda objs: kustomizations_state(objs, names), names, ctx.config.gitops.namespace)


@contextmanager
def full_report(ctx: Context) -> Iterator[None]:
    """At a passed deadline, name every object not Ready with its condition message (a Kustomization's own
    message may only say it is running health checks; the HelmRelease behind it says why)."""
    try:
        yield
    except WaitTimeout as exc:
        try:
            found = problems(ctx)
        except StepError:
            raise exc from None
        if not found:  # nothing else is wrong: the wait's own detail says it all
            raise exc from None
        raise WaitTimeout(f"{exc}\n{problem_list('not ready', found)}") from None


def infrastructure(ctx: Context) -> None:
    """The `infrastructure` step: wait until every infrastructure Kustomization is Ready."""
    names = infrastructure_names(ctx)
    ctx.log.say(f"  infrastructure Kustomizations: {', '.join(names)}")
    wait_kustomizations(ctx, names, f"the infrastructure Kustomizations ({len(names)}) to be Ready")
    ctx.log.say(f"  {len(names)} infrastructure Kustomizations Ready")


def infrastructure_ready(ctx: Context) -> bool:
    """Every infrastructure Kustomization is Ready (the verdict without its detail)."""
    return infrastructure_ready_verdict(ctx)[0]


def infrastructure_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `infrastructure Kustomizations Ready` live check, naming those that are not."""
    objects = {k["metadata"]["name"]: k for k in ctx.kube.list("Kustomization", ctx.config.gitops.namespace,
                                                                fresh=True)}
    return kustomizations_state(objects, infrastructure_names(ctx))


# --- deploy -------------------------------------------------------------------------------------------------
def deploy(ctx: Context) -> dict:
    """The `deploy` step: ask Flux to fetch the repository and apply every apps Kustomization now."""
    ns = ctx.config.gitops.namespace
    names = apps_names(ctx)
    if not names:
        raise StepError(f"no Kustomization declared in {ctx.config.gitops.path}/{APPS_FILE}: nothing to deploy")
    request_reconcile(ctx, "GitRepository", SYNC_NAME, ns)
    existing = {k["metadata"]["name"] for k in ctx.kube.list("Kustomization", ns, fresh=True)}  # one request
    missing = [name for name in names if name not in existing]
    for name in names:
        if name in existing:
            request_reconcile(ctx, "Kustomization", name, ns)
    if missing:
        raise StepError(f"Kustomization(s) {', '.join(missing)} declared in {APPS_FILE} do not exist in {ns}: "
                        f"has flux-system applied {ctx.config.gitops.path}? (`doit gitops_debug`)")
    ctx.log.say(f"  requested reconciliation of GitRepository {SYNC_NAME} and {', '.join(names)}")
    return {"apps": names}


def apps_applied(ctx: Context) -> bool:
    """Every apps Kustomization exists, is not suspended, and applied the source's current revision."""
    ns = ctx.config.gitops.namespace
    revision, _ = source_revision(ctx)
    names = apps_names(ctx)
    objects = {k["metadata"]["name"]: k for k in ctx.kube.list("Kustomization", ns)}  # one list for every app
    for name in names:
        obj = objects.get(name)
        if obj is None or (obj.get("spec") or {}).get("suspend") or revision is None or \
                (obj.get("status") or {}).get("lastAppliedRevision") != revision:
            return False
    return bool(names)


# --- everything ready ---------------------------------------------------------------------------------------
def _key(obj: dict) -> str:
    return f"{obj['metadata'].get('namespace', '')}/{obj['metadata']['name']}"


def releases_state(objects: dict[str, dict]) -> tuple[bool, str]:
    """Every HelmRelease Ready, else the ones that are not with their conditions."""
    problems = [f"HelmRelease {key}: {why_not(obj)}" for key, obj in sorted(objects.items()) if not flux_ready(obj)]
    return (not problems), "; ".join(problems) or f"{len(objects)} HelmReleases Ready"


def workload_problem(obj: dict) -> str | None:
    """Why a Deployment/DaemonSet/StatefulSet is not available (hops.workloads decides; this names the counts)."""
    if workload_ready(obj):
        return None
    kind = obj["kind"]
    if kind == "DaemonSet":
        desired, ready, updated = daemonset_counts(obj)
        return f"{kind} {_key(obj)}: {min(ready, updated)}/{desired} pods ready"
    have, want = replica_counts(obj)
    return f"{kind} {_key(obj)}: {have}/{want} replicas available"


def managed(obj: dict) -> bool:
    """The workload was applied by Flux (a helm-controller or kustomize-controller label)."""
    labels = obj["metadata"].get("labels") or {}
    return any(label in labels for label in MANAGED_BY)


def workloads_state(objects: dict[str, dict]) -> tuple[bool, str]:
    """Every Flux-managed workload available, else the ones that are not with their counts."""
    problems = [p for _, obj in sorted(objects.items()) if managed(obj) for p in [workload_problem(obj)] if p]
    count = sum(managed(o) for o in objects.values())
    return (not problems), "; ".join(problems) or f"{count} workloads available"


def ready(ctx: Context) -> dict:
    """The `ready` step: wait for every Kustomization, HelmRelease and Flux-managed workload."""
    ns = ctx.config.gitops.namespace
    names = [k["metadata"]["name"] for k in ctx.kube.list("Kustomization", ns, fresh=True)]
    names = sorted(set(names) | set(infrastructure_names(ctx)) | set(apps_names(ctx)))
    wait_kustomizations(ctx, names, f"every Kustomization ({len(names)}) to be Ready")
    deadline = deadline_for(ctx, "applications")
    with full_report(ctx):
        releases = ctx.kube.wait("HelmRelease", "every HelmRelease to be Ready", releases_state, deadline)
        for kind in WORKLOAD_KINDS:
            ctx.kube.wait(kind, f"every Flux-managed {kind} to be available", workloads_state, deadline)
    ctx.log.say(f"  {len(names)} Kustomizations and {len(releases)} HelmReleases Ready; workloads available")
    return {"kustomizations": len(names), "helmreleases": len(releases)}


def problems(ctx: Context) -> list[str]:
    """Every Flux object not Ready and every Flux-managed workload not available."""
    found: list[str] = []
    for kind in ("GitRepository", "HelmRepository", "Kustomization", "HelmRelease"):
        found += [f"{kind} {_key(o)}: {why_not(o)}" for o in ctx.kube.list(kind, fresh=True) if not flux_ready(o)]
    for kind in WORKLOAD_KINDS:
        found += [p for o in ctx.kube.list(kind, fresh=True) if managed(o) for p in [workload_problem(o)] if p]
    return found


def all_ready(ctx: Context) -> bool:
    """Every Flux object Ready and workload available (the verdict without its detail)."""
    return all_ready_verdict(ctx)[0]


def all_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `every Flux object Ready and workload available` live check, listing what is not."""
    if not ctx.kube.list("Kustomization", fresh=True):
        return False, "no Flux Kustomization exists"
    found = problems(ctx)
    return not found, "; ".join(found) or "every Flux object Ready, every workload available"


# --- operations ---------------------------------------------------------------------------------------------
def health(ctx: Context) -> None:
    """Flux objects and their workloads: problems first, then a count of what is healthy."""
    found = problems(ctx)
    for line in found:
        print(f"PROBLEM {line}")
    counts = {kind: len(ctx.kube.list(kind)) for kind in ("Kustomization", "HelmRelease")}
    print(f"{counts['Kustomization']} Kustomizations, {counts['HelmRelease']} HelmReleases; "
          f"{len(found)} problems")
    fail_all("applications are not healthy", found)


def redeploy(ctx: Context, name: str = "") -> None:
    """Ask Flux to fetch the repository and re-apply the apps now (and force one HelmRelease with --name)."""
    namespace, _, release = name.rpartition("/")
    ns = namespace or release
    if name and ctx.kube.get("HelmRelease", release, ns) is None:  # before asking Flux for anything
        raise StepError(f"HelmRelease {ns}/{release} not found (use --name namespace/name); nothing was requested")
    deploy(ctx)
    if name:
        stamp = request_reconcile(ctx, "HelmRelease", release, ns)
        ctx.kube.annotate("HelmRelease", release, ns, {"reconcile.fluxcd.io/forceAt": stamp})
    ready(ctx)


def app_namespaces(ctx: Context) -> dict[str, str]:
    """`Kustomization/HelmRelease name: namespace` of what the apps Kustomizations applied (their workloads'
    namespaces, from the kustomize-controller's labels), in name order."""
    apps = set(apps_names(ctx))
    found: dict[str, str] = {}
    for kind in ("HelmRelease", *WORKLOAD_KINDS):
        for obj in ctx.kube.list(kind):
            meta = obj["metadata"]
            if (meta.get("labels") or {}).get("kustomize.toolkit.fluxcd.io/name") in apps:
                found.setdefault(f"{kind} {meta['name']}", meta["namespace"])
    return dict(sorted(found.items()))


def logs(ctx: Context, tail: int = 100) -> None:
    """The applications' own logs: every container of the pods in the namespaces the apps Kustomizations
    deployed to (--tail N per container). Flux's controller logs are `doit gitops_logs`."""
    namespaces = app_namespaces(ctx)
    if not namespaces:
        raise StepError(f"the apps Kustomizations ({', '.join(apps_names(ctx)) or 'none declared'}) have applied "
                        "nothing yet: `doit applications` deploys them")
    print_pod_logs(ctx.kube, namespaces, tail)


def debug(ctx: Context) -> None:
    """Every problem, then the recent events of the namespaces that have one, then Flux's error logs."""
    found = problems(ctx)
    for line in found or ["no problems: every Flux object Ready, every workload available"]:
        print(line)
    namespaces = {line.split(" ", 2)[1].partition("/")[0] for line in found} - {""}
    for event in ctx.kube.list("Event", fresh=True):
        if event["metadata"].get("namespace") in namespaces and event.get("type") == "Warning":
            obj = event.get("involvedObject") or {}
            print(f"EVENT {event['metadata']['namespace']} {obj.get('kind')}/{obj.get('name')}: "
                  f"{event.get('reason')}: {event.get('message')}")
    error_logs(ctx)


def node_problems(ctx: Context) -> tuple[list[str], int]:
    """Nodes not Ready, and a mismatch with the configured node count; with the number registered."""
    nodes = ctx.kube.list("Node", fresh=True)
    found = [f"Node {n['metadata']['name']}: {describe_condition(n)}" for n in nodes if not is_true(n)]
    expected = len(ctx.config.network.nodes)
    if len(nodes) != expected:
        found.append(f"{len(nodes)} nodes registered, bootstrap-config.yaml lists {expected}")
    return found, len(nodes)


def cluster_health(ctx: Context) -> None:
    """The whole cluster at a glance: problems first, then nodes, Flux objects and workloads."""
    found_nodes, node_count = node_problems(ctx)
    found = found_nodes + problems(ctx)
    print("PROBLEMS" if found else "no problems")
    for line in found:
        print(f"  - {line}")
    print(f"nodes: {node_count - len(found_nodes)}/{len(ctx.config.network.nodes)} Ready")
    for kind in ("GitRepository", "HelmRepository", "Kustomization", "HelmRelease"):
        objects = ctx.kube.list(kind)
        print(f"{kind}: {sum(flux_ready(o) for o in objects)}/{len(objects)} Ready")
    for kind in WORKLOAD_KINDS:
        objects = ctx.kube.list(kind)
        print(f"{kind}: {sum(workload_problem(o) is None for o in objects)}/{len(objects)} available")
    if found:  # the problems are listed above, first: say so once instead of listing them again
        raise StepError(f"the cluster is not healthy: {len(found)} problem(s), listed above")


# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def infrastructure_intent(ctx: Context) -> list[str]:
    """The infrastructure wait."""
    return [f"wait until the Kustomizations {', '.join(infrastructure_names(ctx))} are Ready (in dependsOn order)"]


def deploy_intent(ctx: Context) -> list[str]:
    """The reconcile request."""
    return [f"annotate GitRepository {SYNC_NAME} and the Kustomizations {', '.join(apps_names(ctx))} with "
            f"{REQUESTED} so Flux applies them now"]


def ready_intent(ctx: Context) -> list[str]:
    """The final wait."""
    return ["wait until every Kustomization and HelmRelease is Ready and their Deployments, DaemonSets and "
            "StatefulSets are available"]


COMPONENT = Component(
    group="applications",
    needs=("gitops",),
    title="applications",
    steps=(
        Step("infrastructure", "Every infrastructure Kustomization is Ready (in dependsOn order)",
             infrastructure, marker="infrastructure-ready", would_do=infrastructure_intent,
             status=(Check("infrastructure Kustomizations Ready", infrastructure_ready_verdict),)),
        Step("deploy", "Ask Flux to fetch the repository and apply the apps Kustomization now", deploy,
             marker="applications-deployed", would_do=deploy_intent, deps=("infrastructure",),
             status=(Check("apps applied the current revision", apps_applied),)),
        Step("ready", "Every Kustomization and HelmRelease Ready, their workloads available", ready,
             marker="applications-ready", would_do=ready_intent, deps=("deploy",),
             status=(Check("every Flux object Ready and workload available", all_ready_verdict),)),
    ),
    operations=(
        Operation("health", "Flux objects and workloads: problems first (fails when there are any)", health,
                  read_only=True),
        Operation("redeploy", "Fetch and re-apply the apps now (--name ns/release also forces a HelmRelease)",
                  redeploy, (NAME_PARAM,)),
        Operation("logs", "The applications' pod logs (--tail N per container; Flux's own: gitops_logs)", logs,
                  (TAIL_PARAM,), read_only=True),
        Operation("debug", "Every problem, Warning events of the affected namespaces, Flux error logs", debug,
                  read_only=True),
        Operation("cluster_health", "Whole-cluster report: nodes, Flux objects, workloads (problems first)",
                  cluster_health, read_only=True, top_level=True),
    ),
)
