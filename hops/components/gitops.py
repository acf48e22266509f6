"""Phase 5 — GitOps: `flux bootstrap github` with the token from 1Password, then wait until Flux runs and has
applied the repository's current revision.

The GitHub token goes to flux only through its environment (GITHUB_TOKEN): never on a command line, in a log,
a marker or stdout (hops.onepassword registers it for redaction as soon as it is read)."""

from __future__ import annotations

from hops import flux_failures, onepassword, parallel
from hops.context import Context
from hops.errors import fail_all
from hops.flux import SYNC_NAME, TAIL_PARAM, error_logs, logs, show, source_revision
from hops.kube import describe_condition, is_true
from hops.taskmodel import Check, Component, Operation, Step
from hops.waiting import deadline_for
from hops.workloads import deployment_available

CONTROLLERS = ("source-controller", "kustomize-controller", "helm-controller", "notification-controller")
NAME_PARAM = {"name": "name", "long": "name", "type": str, "default": SYNC_NAME,
              "help": "Kustomization name (default flux-system)"}


def _ns(ctx: Context) -> str:
    return ctx.config.gitops.namespace


# --- prerequisites ------------------------------------------------------------------------------------------
def settings_problems(ctx: Context) -> list[str]:
    """Empty gitops settings, and a gitops.path that is not a folder of this repository."""
    g = ctx.config.gitops
    problems = [f"gitops.{field} is empty: set it in bootstrap-config.yaml"
                for field in ("owner", "repository", "branch", "path", "namespace") if not getattr(g, field)]
    if g.path and not (ctx.root / g.path).is_dir():
        problems.append(f"gitops.path {g.path!r} is not a folder of this repository")
    return problems


def prerequisite_problems(ctx: Context) -> list[str]:
    """settings_problems, plus a failing `flux check --pre` and a missing GitHub token item in 1Password (the two
    tool calls at once)."""
    ctx.runner  # noqa: B018 - created here, once, before the threads share it
    asked = parallel.each(lambda ask: ask(ctx), (flux_pre_problem, token_item_problem))
    return settings_problems(ctx) + [problem for problem in asked if problem]


def flux_pre_problem(ctx: Context) -> str | None:
    """What `flux check --pre` says is wrong with the cluster (None: it passes)."""
    pre = ctx.runner.run("flux", ["check", "--pre"], check=False, timeout=120, retry=True)
    return None if pre.code == 0 else f"`flux check --pre` failed: {(pre.stderr or pre.stdout).strip()[-400:]}"


def token_item_problem(ctx: Context) -> str | None:
    """A missing GitHub token item in the vault (None: it is there)."""
    if onepassword.item_exists(ctx, "github_token"):
        return None
    return (f"1Password item {onepassword.item_title(ctx, 'github_token')!r} (onepassword.items.github_token) "
            f"is not in vault {ctx.config.onepassword.vault!r}")


def prerequisites(ctx: Context) -> None:
    """Fail naming every prerequisite problem; otherwise say what will be bootstrapped."""
    fail_all("GitOps prerequisites are not met", prerequisite_problems(ctx))
    g = ctx.config.gitops
    ctx.log.say(f"  flux prerequisites pass; will bootstrap github.com/{g.owner}/{g.repository} "
                f"branch {g.branch} path {g.path}")


# --- bootstrap ----------------------------------------------------------------------------------------------
def bootstrap_args(ctx: Context) -> list[str]:
    """The `flux bootstrap github` arguments from the gitops settings (never the token)."""
    g = ctx.config.gitops
    args = ["bootstrap", "github", "--owner", g.owner, "--repository", g.repository, "--branch", g.branch,
            "--path", g.path, "--namespace", g.namespace, "--timeout", f"{int(ctx.timeout('gitops'))}s"]
    return args + (["--personal"] if g.personal else [])


def bootstrap(ctx: Context) -> None:
    """flux bootstrap github, the token read from 1Password and given to flux only as GITHUB_TOKEN."""
    token = onepassword.read(ctx, "github_token", "token")  # registered for redaction by read()
    g = ctx.config.gitops
    ctx.log.say(f"  flux bootstrap github: {g.owner}/{g.repository}@{g.branch}, path {g.path}")
    ctx.runner.run("flux", bootstrap_args(ctx), env={"GITHUB_TOKEN": token}, timeout=ctx.timeout("gitops") + 60,
                   retry=True)


def sync_configured(ctx: Context) -> bool:
    """The flux-system GitRepository and Kustomization exist and point at the configured repository."""
    g, ns = ctx.config.gitops, _ns(ctx)
    repo = ctx.kube.get("GitRepository", SYNC_NAME, ns)
    ks = ctx.kube.get("Kustomization", SYNC_NAME, ns)
    if repo is None or ks is None:
        return False
    url = (repo.get("spec") or {}).get("url", "")
    branch = ((repo.get("spec") or {}).get("ref") or {}).get("branch")
    path = str((ks.get("spec") or {}).get("path", "")).strip("./")
    same_repository = repository_of(url) == f"{g.owner}/{g.repository}".lower()  # GitHub ignores case
    return same_repository and branch == g.branch and path == g.path.strip("./")


def repository_of(url: str) -> str:
    """`owner/repository` (lower case) of a Git URL as flux bootstrap github writes it: ssh://git@github.com/o/r,
    or https://github.com/o/r.git with --token-auth (a part of the path, such as o/r-staging, is another one)."""
    path = url.split("://", 1)[1].partition("/")[2] if "://" in url else url.rpartition(":")[2]
    return path.strip("/").removesuffix(".git").lower()


# --- controllers ready --------------------------------------------------------------------------------------
def controllers_state(deployments: dict[str, dict]) -> tuple[bool, str]:
    """(every Flux controller exists and every given Deployment is available, what is not) from
    Deployments keyed by name or ns/name."""
    by_name = {key.rpartition("/")[2]: d for key, d in deployments.items()}
    missing = [c for c in CONTROLLERS if c not in by_name]
    unavailable = [f"{name}: {describe_condition(d, 'Available')}" for name, d in sorted(by_name.items())
                   if not deployment_available(d)]
    problems = [f"{name}: not created yet" for name in missing] + unavailable
    return (not problems), "; ".join(problems) or f"{len(by_name)} Flux controllers available"


def ready(ctx: Context) -> None:
    """Wait until every Flux controller exists and every Deployment in the gitops namespace is Available."""
    ctx.kube.wait("Deployment", f"the Flux controllers in {_ns(ctx)} to be Available", controllers_state,
                  deadline_for(ctx, "gitops"), namespace=_ns(ctx))
    ctx.log.say(f"  Flux controllers available in {_ns(ctx)}")


def controllers_installed(ctx: Context) -> bool:
    """Every Flux controller Deployment exists (a deleted one needs `flux bootstrap` again, not just a wait)."""
    names = {d["metadata"]["name"] for d in ctx.kube.list("Deployment", _ns(ctx), fresh=True)}
    return set(CONTROLLERS) <= names


def controllers_ready(ctx: Context) -> bool:
    """Whether the Flux controllers are available (see controllers_ready_verdict)."""
    return controllers_ready_verdict(ctx)[0]


def controllers_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `Flux controllers available` live check, naming the controllers that are not."""
    items = ctx.kube.list("Deployment", _ns(ctx), fresh=True)
    return controllers_state({d["metadata"]["name"]: d for d in items})


# --- sync verified ------------------------------------------------------------------------------------------
def applied_state(ks: dict | None, revision: str | None, why: str) -> tuple[bool, str]:
    """Ready and applied exactly the source's current revision."""
    if revision is None:
        return False, why
    if ks is None:
        return False, f"Kustomization {SYNC_NAME} does not exist"
    applied = (ks.get("status") or {}).get("lastAppliedRevision")
    if not is_true(ks):
        return False, f"Kustomization {SYNC_NAME}: {describe_condition(ks)}"
    if applied != revision:
        return False, f"Kustomization {SYNC_NAME} applied {applied}, the source is at {revision}"
    return True, f"revision {revision} applied"


def sync(ctx: Context) -> dict:
    """Wait until the GitRepository is Ready at a revision, then until the Kustomization applied it; returns
    {"revision": the applied revision}."""
    def source_known(_: dict[str, dict]) -> tuple[bool, str]:
        revision, why = source_revision(ctx)
        return revision is not None, why or f"source at {revision}"

    def synced(objects: dict[str, dict]) -> tuple[bool, str]:
        return applied_state(objects.get(SYNC_NAME), *source_revision(ctx))

    what, deadline = f"Flux to apply {ctx.config.gitops.path}", deadline_for(ctx, "gitops")
    # the GitRepository first: its turning Ready is no event of the Kustomization's watch
    ctx.kube.wait("GitRepository", what, source_known, deadline, namespace=_ns(ctx), name=SYNC_NAME)
    # a manifest of gitops.path that Flux cannot apply stops the wait at once, naming its file
    judge = flux_failures.Judge(ctx, deadline)
    objects = judge.wait(what, synced, [SYNC_NAME], _ns(ctx), name=SYNC_NAME)
    revision = objects[SYNC_NAME]["status"]["lastAppliedRevision"]
    ctx.log.say(f"  Flux applied revision {revision}")
    return {"revision": revision}


def sync_verified(ctx: Context) -> bool:
    """Whether flux-system applied the source's current revision (see sync_verified_verdict)."""
    return sync_verified_verdict(ctx)[0]


def sync_verified_verdict(ctx: Context) -> tuple[bool, str]:
    """The `flux-system applied the current revision` live check, with the revisions it compared."""
    return applied_state(ctx.kube.get("Kustomization", SYNC_NAME, _ns(ctx)), *source_revision(ctx))


# --- operations ----------------------------------------------------
def status(ctx: Context) -> None:
    """Every Flux object with its readiness (`flux get all -A`)."""
    show(ctx.runner.run("flux", ["get", "all", "--all-namespaces"], check=False, retry=True))


def reconcile(ctx: Context) -> None:
    """Fetch the flux-system GitRepository now, then reconcile its Kustomization with the source."""
    ns = ["--namespace", _ns(ctx)]
    show(ctx.runner.run("flux", ["reconcile", "source", "git", SYNC_NAME, *ns], timeout=ctx.timeout("gitops"),
                        retry=True))
    show(ctx.runner.run("flux", ["reconcile", "kustomization", SYNC_NAME, "--with-source", *ns],
                         timeout=ctx.timeout("gitops"), retry=True))


def suspend(ctx: Context, name: str = SYNC_NAME) -> None:
    """`flux suspend kustomization <name>` in the gitops namespace."""
    show(ctx.runner.run("flux", ["suspend", "kustomization", name, "--namespace", _ns(ctx)], retry=True))


def resume(ctx: Context, name: str = SYNC_NAME) -> None:
    """`flux resume kustomization <name>` in the gitops namespace (flux waits for it to reconcile)."""
    show(ctx.runner.run("flux", ["resume", "kustomization", name, "--namespace", _ns(ctx)],
                         timeout=ctx.timeout("gitops"), retry=True))


def debug(ctx: Context) -> None:
    """What a person debugging Flux looks at first: controllers, the sync objects, failing objects, errors."""
    ns = _ns(ctx)
    deployments = {d["metadata"]["name"]: d for d in ctx.kube.list("Deployment", ns, fresh=True)}
    print(f"controllers: {controllers_state(deployments)[1]}")
    for kind in ("GitRepository", "Kustomization"):
        obj = ctx.kube.get(kind, SYNC_NAME, ns)
        print(f"{kind} {ns}/{SYNC_NAME}: " + (describe_condition(obj) if obj else "missing"))
    for kind in ("Kustomization", "HelmRelease", "HelmRepository"):
        for obj in ctx.kube.list(kind, fresh=True):
            if not is_true(obj):
                meta = obj["metadata"]
                print(f"NOT READY {kind} {meta.get('namespace')}/{meta['name']}: {describe_condition(obj)}")
    error_logs(ctx)


# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def prerequisites_intent(ctx: Context) -> list[str]:
    """The checks before flux bootstrap."""
    return ["run `flux check --pre`", "check the repository settings and that 1Password item "
            f"{ctx.config.onepassword.items.github_token!r} exists"]


def bootstrap_intent(ctx: Context) -> list[str]:
    """The flux bootstrap call."""
    return [f"run `flux {' '.join(bootstrap_args(ctx))}` with the GitHub token in its environment only"]


def ready_intent(ctx: Context) -> list[str]:
    """The controllers wait."""
    return [f"wait until the Deployments {', '.join(CONTROLLERS)} in {_ns(ctx)} are Available"]


def sync_intent(ctx: Context) -> list[str]:
    """The sync wait."""
    return [f"wait until Kustomization {_ns(ctx)}/{SYNC_NAME} applied the revision of GitRepository {SYNC_NAME} "
            f"({ctx.config.gitops.path})"]


COMPONENT = Component(
    group="gitops",
    needs=("services",),
    title="GitOps (Flux)",
    steps=(
        Step("prerequisites", "flux check --pre passes, repository settings complete, GitHub token item exists",
             prerequisites, marker="gitops-prerequisites-validated",
             would_do=prerequisites_intent, sources=("bootstrap-config.yaml",)),
        Step("bootstrap", "flux bootstrap github with the token from 1Password (through the environment only)",
             bootstrap, marker="flux-bootstrapped",
             would_do=bootstrap_intent, deps=("prerequisites",), sources=("bootstrap-config.yaml",),
             status=(Check("flux-system syncs the configured repository", sync_configured),
                     Check("Flux controllers installed", controllers_installed))),
        Step("ready", "Every Flux controller Deployment is Available", ready, marker="flux-ready",
             would_do=ready_intent,
             deps=("bootstrap",), status=(Check("Flux controllers available", controllers_ready_verdict),)),
        Step("sync", "flux-system applied the GitRepository's current revision", sync,
             marker="gitops-sync-verified", would_do=sync_intent, deps=("ready",),
             status=(Check("flux-system applied the current revision", sync_verified_verdict),)),
    ),
    operations=(
        Operation("status", "Every Flux object and its readiness (flux get all -A)", status, read_only=True),
        Operation("reconcile", "Fetch the repository now and apply it (flux reconcile ... --with-source)", reconcile),
        Operation("suspend", "Suspend a Kustomization (--name, default flux-system)", suspend, (NAME_PARAM,)),
        Operation("resume", "Resume a Kustomization and reconcile it (--name, default flux-system)", resume,
                  (NAME_PARAM,)),
        Operation("logs", "Flux controller logs (--tail N)", logs, (TAIL_PARAM,), read_only=True),
        Operation("debug", "Controllers, sync objects, every object not Ready, error logs", debug, read_only=True),
    ),
)
