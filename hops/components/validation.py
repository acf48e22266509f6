"""Phase 1 — environment validation: tools, mise, overrides, 1Password, connectivity, repository.

Each step reports every problem it finds, not only the first."""

from __future__ import annotations

import json
import re

from hops import gitops_tree, parallel
from hops.context import Context
from hops.errors import ToolFailed, fail_all
from hops.port_probe import tcp_reachable_all
from hops.taskmodel import Check, Component, NoProblems, Step

VERSION_ARGS = {  # how each tool reports its own version
    "talosctl": ["version", "--client", "--short"],
    "talhelper": ["--version"],
    "kubectl": ["version", "--client"],
    "helm": ["version", "--short"],
    "flux": ["--version"],
    "cilium": ["version", "--client"],
    "op": ["--version"],
    "mise": ["--version"],
}
REQUIRED_FILES = ("bootstrap-config.yaml", "talconfig.yaml", ".mise.toml")
MISE_NAMES = {"flux": ("flux", "flux2"), "cilium": ("cilium", "cilium-cli"), "op": ("op", "1password-cli", "1password")}


# --- tools ----------------------------------------------------------------------------------------------------
def tool_problems(ctx: Context) -> list[str]:
    """Every required tool must be on PATH and report the configured version. The tools are asked at once (each
    answer is a separate process, `mise exec` ones take a while): the problems come in tools.required order."""
    ctx.runner  # noqa: B018 - created here, once, before the threads share it
    answers = parallel.each(lambda item: tool_problem(ctx, *item), list(ctx.config.tools.required.items()))
    return [problem for problem in answers if problem]


def tool_problem(ctx: Context, tool: str, wanted: str) -> str | None:
    """Why `tool` is not usable at version `wanted`, or None."""
    from hops.errors import ToolMissing

    try:
        result = ctx.runner.run(tool, VERSION_ARGS.get(tool, ["--version"]), check=False, timeout=30)
    except ToolMissing as exc:
        return str(exc)
    text = result.stdout + result.stderr
    if result.code != 0:
        return f"`{tool}` failed to report its version (exit {result.code}): {text.strip()[:200]}"
    if not _version_matches(text, wanted):
        return (f"`{tool}` reports {_first_version(text) or text.strip()[:60]!r}, "
                f"bootstrap-config.yaml tools.required.{tool} wants {wanted}")
    return None


# a version with its pre-release suffix (semver's `-beta.0`, `-rc.1`): v1.8.3-beta.0 is not the release 1.8.3;
# build metadata (`+g1a2b3c`, helm prints it) does not make another version
_VERSION = r"v?(\d+\.\d+(?:\.\d+)?(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?)"


def _first_version(text: str) -> str | None:
    match = re.search(_VERSION, text)
    return match.group(1) if match else None


def _version_matches(text: str, wanted: str) -> bool:
    return wanted.lstrip("v") in re.findall(_VERSION, text)


def tools(ctx: Context) -> None:
    """Every required tool present at its configured version."""
    fail_all("tools are missing or at the wrong version", tool_problems(ctx))
    ctx.log.say(f"  {len(ctx.config.tools.required)} tools present at the configured versions")


# --- mise -----------------------------------------------------------------------------------------------------
def mise_problems(ctx: Context) -> list[str]:
    """.mise.toml pins the same versions as bootstrap-config.yaml, and mise resolves them."""
    import tomllib

    path = ctx.root / ".mise.toml"
    try:
        pinned = tomllib.loads(path.read_text()).get("tools", {})
    except FileNotFoundError:
        return [f"{path.name} is missing: create it with a [tools] table pinning the tools in bootstrap-config.yaml"]
    except tomllib.TOMLDecodeError as exc:
        return [f"{path.name}: not valid TOML ({exc})"]
    problems = []
    for tool, wanted in ctx.config.tools.required.items():
        names = MISE_NAMES.get(tool, (tool,))
        got = next((str(pinned[n]).lstrip("v") for n in names if n in pinned), "")
        if not got:
            problems.append(f".mise.toml [tools] has no {tool} (bootstrap-config.yaml wants {wanted})")
        elif got != wanted.lstrip("v"):
            problems.append(f".mise.toml pins {tool} = {got}, bootstrap-config.yaml tools.required.{tool} = {wanted}")
    result = ctx.runner.run("mise", ["--version"], check=False, timeout=30)
    if result.code != 0:
        problems.append(f"`mise --version` failed (exit {result.code}): {(result.stderr or result.stdout).strip()[:200]}")
    return problems


def mise(ctx: Context) -> None:
    """mise present and .mise.toml pinning the configured versions."""
    fail_all("mise is not set up as configured", mise_problems(ctx))
    ctx.log.say("  mise present; .mise.toml matches bootstrap-config.yaml")


def uses_mise(ctx: Context) -> bool:
    """tools.use_mise: tools run through `mise exec --`."""
    return bool(ctx.config.tools.use_mise)


# --- env-vars -------------------------------------------------------------------------------------------------
def env_problems(ctx: Context) -> list[str]:
    """Overrides were applied by loading the configuration (which rejects bad values); here: the values a
    bootstrap needs are present after all overrides."""
    cfg = ctx.config
    needed = {
        "onepassword.account (OP_ACCOUNT)": cfg.onepassword.account,
        "onepassword.vault (OP_VAULT)": cfg.onepassword.vault,
        "gitops.owner (GITHUB_OWNER)": cfg.gitops.owner,
        "gitops.repository (GITHUB_REPOSITORY)": cfg.gitops.repository,
    }
    return [f"{name} is empty: set it in bootstrap-config.yaml or the environment" for name, v in needed.items() if not v]


def env_vars(ctx: Context) -> None:
    """Every required setting present after the overrides; says which ones were overridden."""
    fail_all("required settings are missing", env_problems(ctx))
    overridden = {k: v for k, v in ctx.settings.sources.items() if not v.endswith("bootstrap-config.yaml") and v != "default"}
    for field, source in sorted(overridden.items()):
        ctx.log.say(f"  {field} from {source}")


# --- 1Password ------------------------------------------------------------------------------------------------
def onepassword_problems(ctx: Context) -> list[str]:
    """Signed in to the configured account, the vault exists, the required items exist (titles only: no values).
    The three reads run at once (each is an op process); the first that fails, in this order, is the answer."""
    op = ctx.config.onepassword
    account = ["--account", op.account]
    reads = [["whoami", *account], ["vault", "get", op.vault, *account, "--format", "json"],
             ["item", "list", "--vault", op.vault, *account, "--format", "json"]]
    who, vault, listing = parallel.each(lambda args: ctx.runner.run("op", args, check=False, timeout=30, retry=True),
                                        reads)
    if who.code != 0:
        return [f"1Password CLI is not signed in to {op.account}: run `eval $(op signin --account {op.account})` "
                f"or set OP_SERVICE_ACCOUNT_TOKEN ({(who.stderr or who.stdout).strip()[:200]})"]
    if vault.code != 0:
        return [f"1Password vault {op.vault!r} (onepassword.vault) not found: {(vault.stderr or vault.stdout).strip()[:200]}"]
    if listing.code != 0:
        raise ToolFailed(listing.argv, listing.code, listing.stdout, listing.stderr)
    titles = {item.get("title") for item in json.loads(listing.stdout or "[]")}
    required = {"connect_credentials": op.items.connect_credentials, "connect_token": op.items.connect_token,
                "github_token": op.items.github_token}
    return [f"1Password item {title!r} (onepassword.items.{key}) is not in vault {op.vault!r}"
            for key, title in required.items() if title not in titles]


def onepassword(ctx: Context) -> None:
    """Signed in to 1Password; the vault and the configured items exist."""
    fail_all("1Password is not ready", onepassword_problems(ctx))
    ctx.log.say(f"  signed in to {ctx.config.onepassword.account}; vault and items present")


# --- connectivity ---------------------------------------------------------------------------------------------
def connectivity_problems(ctx: Context) -> list[str]:
    """Every node's Talos API port and, once a kubeconfig exists, the Kubernetes API: all probed at once, so an
    unreachable one costs CONNECT_TIMEOUT_S, not N of them."""
    nodes = list(ctx.config.network.nodes)
    ports = [ctx.endpoints.talos_api(node.name) for node in nodes]
    api = ctx.endpoints.kubernetes_api()
    answers = tcp_reachable_all(ports + ([api] if api is not None else []))
    problems = [f"node {node.name} ({node.address}): Talos API port {port[1]} unreachable: {why}"
                for node, port, why in zip(nodes, ports, answers, strict=False) if why]
    if api is not None and answers[-1]:
        problems.append(f"Kubernetes API {api[0]}:{api[1]} (from {ctx.endpoints.kubeconfig}) unreachable: "
                        f"{answers[-1]}")
    return problems


def connectivity(ctx: Context) -> None:
    """Every node's Talos API port (and the Kubernetes API once it exists) accepts TCP."""
    fail_all("nodes are unreachable", connectivity_problems(ctx))
    ctx.log.say(f"  {len(ctx.config.network.nodes)} nodes answer on the Talos API port")


# --- repository -----------------------------------------------------------------------------------------------
def repository_problems(ctx: Context) -> list[str]:
    """Required files exist; both config files already loaded valid and consistent (ctx.settings raised if not)."""
    cfg = ctx.config
    needed = [*REQUIRED_FILES, str(cfg.networking.cilium_values), cfg.gitops.path]
    return [f"{rel} is missing from the repository" for rel in needed
            if not ctx.cluster.repository_file(ctx.root, rel).exists()]  # the pair: the cluster's (hops.clusters)


def manifest_problems(ctx: Context) -> list[str]:
    """Mistakes in the HelmReleases Flux will apply (gitops.path and the folders its Kustomizations name), each
    with its file, object and field: caught here, before anything is installed (hops.gitops_tree)."""
    if not (ctx.root / ctx.config.gitops.path).is_dir():
        return []  # repository_problems names the missing folder
    return gitops_tree.helmrelease_problems(ctx.root, ctx.config.gitops.path)


def repository(ctx: Context) -> None:
    """The files the bootstrap needs are in the repository, and its HelmReleases are well-formed."""
    fail_all("the repository is incomplete", repository_problems(ctx))
    fail_all("HelmReleases in the repository have mistakes Flux would refuse (correct them, then re-run)",
             manifest_problems(ctx))
    ctx.log.say("  repository files present; bootstrap-config.yaml and talconfig.yaml valid and consistent; "
                "HelmReleases well-formed")


# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def tools_intent(ctx: Context) -> list[str]:
    """One version check per required tool."""
    return [f"run `{tool} {' '.join(VERSION_ARGS.get(tool, ['--version']))}` and expect {wanted}"
            for tool, wanted in ctx.config.tools.required.items()]


def mise_intent(ctx: Context) -> list[str]:
    """Compare .mise.toml with tools.required."""
    return ["run `mise --version`; compare the pins in .mise.toml with tools.required in bootstrap-config.yaml"]


def env_vars_intent(ctx: Context) -> list[str]:
    """Check the settings that must be present."""
    return ["check that every required setting is present after the overrides (`python -m hops.config overrides`)"]


def onepassword_intent(ctx: Context) -> list[str]:
    """Sign-in, vault and items."""
    op = ctx.config.onepassword
    return [f"run `op whoami --account {op.account}`", f"check vault {op.vault!r} and its items "
            + ", ".join(repr(item) for item in vars(op.items).values())]


def connectivity_intent(ctx: Context) -> list[str]:
    """One TCP connection per node (and the API once a kubeconfig exists)."""
    return [f"open a TCP connection to {n.name} ({n.address}) on the Talos API port" for n in ctx.config.network.nodes]


def repository_intent(ctx: Context) -> list[str]:
    """The files that must be present and agree."""
    return [f"check that {', '.join(REQUIRED_FILES)} exist and that both configuration files agree",
            f"check the fields of every HelmRelease under {ctx.config.gitops.path} and the folders its "
            "Kustomizations apply"]


COMPONENT = Component(
    group="validation",
    title="environment validation",
    steps=(
        Step("tools", "Required tools are installed at the configured versions", tools,
             marker="tools-validated", would_do=tools_intent, sources=("bootstrap-config.yaml",)),
        Step("mise", "mise is present and .mise.toml pins the configured versions", mise,
             marker="mise-validated",
             would_do=mise_intent, sources=("bootstrap-config.yaml", ".mise.toml"), when=uses_mise),
        Step("env-vars", "Required settings are present after overrides", env_vars,
             marker="env-vars-validated", would_do=env_vars_intent, sources=("bootstrap-config.yaml",)),
        Step("onepassword", "Signed in to 1Password; the vault and required items exist", onepassword,
             marker="onepassword-validated", would_do=onepassword_intent, sources=("bootstrap-config.yaml",)),
        Step("connectivity", "Each node's Talos API (and the Kubernetes API once it exists) accepts TCP",
             connectivity, marker="connectivity-validated", would_do=connectivity_intent,
             status=(Check("nodes reachable", NoProblems(connectivity_problems)),)),
        Step("repository", "Required files present; both configuration files valid and consistent",
             repository, marker="repository-validated", would_do=repository_intent,
             sources=("bootstrap-config.yaml", "talconfig.yaml"),
             status=(Check("files present", NoProblems(repository_problems)),
                     Check("HelmReleases well-formed", NoProblems(manifest_problems)))),
    ),
)
