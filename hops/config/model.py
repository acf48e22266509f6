"""pydantic v2 models of bootstrap-config.yaml.

Every optional field has a default (stated in its description) so a minimal file works:

    cluster: {name: home-ops}
    network: {nodes: [{name: cp-1, address: 192.168.1.11}]}
    gitops: {owner: me}

Cross-field rules that need exact list indexes (unique names/addresses, a control plane) live in
`cross_field_problems`, which works on the raw mapping so they are reported even when other fields are invalid.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from hops.config import checks
from hops.config.custom import Checks, Hooks
from hops.config.errors import BOOTSTRAP_FILE, Problem, did_you_mean, join_path
from hops.config.snapshot import NodeBehaviour, TimeoutsBehaviour  # shared with the cached records

IPAddress = Annotated[str, BeforeValidator(checks.ip_address)]
CIDR = Annotated[str, BeforeValidator(checks.cidr)]
HttpsEndpoint = Annotated[str, BeforeValidator(checks.https_endpoint)]
DnsLabel = Annotated[str, BeforeValidator(checks.dns_label)]
DnsName = Annotated[str, BeforeValidator(checks.dns_subdomain)]
Version = Annotated[str, BeforeValidator(checks.version)]
Text = Annotated[str, BeforeValidator(checks.non_empty)]
FilePath = Annotated[Path, BeforeValidator(checks.file_path)]
Seconds = Annotated[float, Field(gt=0)]

DEFAULT_TOOLS: dict[str, str] = {
    "talosctl": "1.8.3", "talhelper": "3.0.12", "kubectl": "1.31.4", "helm": "3.17.2",
    "flux": "2.4.0", "cilium": "0.16.20", "op": "2.30.3",
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Cluster(_Model):
    name: DnsLabel = Field(description="Cluster name, a DNS-1123 label. Required.")
    endpoint: HttpsEndpoint = Field(description="Kubernetes API URL https://host:port. Default: "
                                                "https://<network.vip>:6443, else the first controlplane node.")
    domain: DnsName = Field("cluster.local", description="Cluster DNS domain. Default: cluster.local.")


class Node(NodeBehaviour, _Model):
    name: DnsLabel = Field(description="Hostname, a DNS-1123 label, unique. Required.")
    address: IPAddress = Field(description="The node's IP address, unique. Required.")
    role: Literal["controlplane", "worker"] = Field("controlplane", description="Default: controlplane.")


class Network(_Model):
    vip: IPAddress | None = Field(None, description="Shared control-plane virtual IP. Default: none.")
    pod_cidr: CIDR = Field("10.244.0.0/16", description="Pod network. Default: 10.244.0.0/16.")
    service_cidr: CIDR = Field("10.96.0.0/12", description="Service network. Default: 10.96.0.0/12.")
    nodes: list[Node] = Field(min_length=1, description="The machines; at least one controlplane. Required.")


class OnePasswordItems(_Model):
    talos_secrets: Text = Field("talos-secrets", description="Item with the talhelper secrets bundle "
                                                             "(field 'secrets'). Default: talos-secrets.")
    connect_credentials: Text = Field("1password-connect-credentials",
                                      description="Item with 1password-credentials.json (field 'credentials'). "
                                                  "Default: 1password-connect-credentials.")
    connect_token: Text = Field("1password-connect-token", description="Item with the Connect token "
                                                                       "(field 'token'). Default: 1password-connect-token.")
    github_token: Text = Field("github-token", description="Item with the GitHub token for flux bootstrap "
                                                           "(field 'token'). Default: github-token.")


class OnePassword(_Model):
    account: Text = Field("my.1password.com", description="1Password account. Default: my.1password.com.")
    vault: Text = Field("homelab", description="Vault holding the cluster secrets. Default: homelab.")
    items: OnePasswordItems = Field(default_factory=OnePasswordItems, description="Item names; defaults as shown.")


class Talos(_Model):
    version: Version = Field("v1.8.3", description="Talos version. Default: v1.8.3.")
    kubernetes_version: Version = Field("v1.31.4", description="Kubernetes version. Default: v1.31.4.")
    config_dir: FilePath = Field(Path("clusterconfig"), description="talhelper genconfig output. "
                                                                    "Default: clusterconfig.")
    talosconfig: FilePath = Field(description="Default: <config_dir>/talosconfig.")
    kubeconfig: FilePath = Field(description="Default: <config_dir>/kubeconfig.")
    secrets_file: FilePath = Field(description="Local copy of the secrets bundle (mode 0600). "
                                               "Default: <config_dir>/talsecret.yaml.")
    patches_dir: FilePath = Field(Path("talos/patches"), description="Talos patches. Default: talos/patches.")

    @model_validator(mode="before")
    @classmethod
    def _files_follow_config_dir(cls, data: Any) -> Any:
        """Files inside config_dir default relative to it, so changing config_dir alone moves them all."""
        if not isinstance(data, dict):
            return data
        base = data.get("config_dir") or "clusterconfig"
        defaults = {"talosconfig": "talosconfig", "kubeconfig": "kubeconfig", "secrets_file": "talsecret.yaml"}
        filled = dict(data)
        for key, name in defaults.items():
            filled.setdefault(key, f"{str(base).rstrip('/')}/{name}")
        return filled


def _default_talos() -> Talos:
    """Talos with every default. Not `Talos()`: its file fields are required to the type checker and filled in
    by _files_follow_config_dir, which model_validate runs just as the constructor does."""
    return Talos.model_validate({})


class Networking(_Model):
    cilium_values: FilePath = Field(Path("infrastructure/networking/cilium/values.yaml"),
                                    description="Helm values for Cilium. "
                                                "Default: infrastructure/networking/cilium/values.yaml.")
    kube_proxy_replacement: bool = Field(True, description="Cilium replaces kube-proxy. Default: true.")


class GitOps(_Model):
    owner: Annotated[str, BeforeValidator(checks.github_owner)] = Field(
        description="GitHub user or organisation. Required.")
    repository: Annotated[str, BeforeValidator(checks.github_repository)] = Field(
        "home-ops", description="Repository name. Default: home-ops.")
    branch: Annotated[str, BeforeValidator(checks.git_branch)] = Field("main", description="Default: main.")
    path: Annotated[str, BeforeValidator(checks.repo_path)] = Field(
        description="Flux cluster path in the repository. Default: infrastructure/clusters/<cluster.name>.")
    namespace: DnsLabel = Field("flux-system", description="Flux namespace. Default: flux-system.")
    personal: bool = Field(True, description="Owner is a user, not an organisation. Default: true.")


class Timeouts(TimeoutsBehaviour, _Model):
    validation: Seconds = Field(120, description="Default: 120 s.")
    talos: Seconds = Field(1800, description="Default: 1800 s.")
    networking: Seconds = Field(600, description="Default: 600 s.")
    services: Seconds = Field(900, description="Default: 900 s.")
    gitops: Seconds = Field(600, description="Default: 600 s.")
    applications: Seconds = Field(1200, description="Default: 1200 s.")


class Retry(_Model):
    """How a transient failure (hops.failures) of a retry-safe command or API request is retried. Inside a
    bootstrap step it is retried until the phase's deadline (bootstrap.timeouts); `attempts` bounds the tries
    only outside a step (status and other operations, up-to-date checks)."""

    attempts: int = Field(3, gt=0, description="Tries per retried command or API request outside a bootstrap step "
                          "(inside one: until the phase deadline). Default: 3.")
    delay: Seconds = Field(5, description="Seconds before a command's first retry, doubling up to 8 times this "
                           "delay, at most 30 (5: 5, 10, 20, 30, 30, ...). Default: 5.")


class Bootstrap(_Model):
    timeouts: Timeouts = Field(default_factory=Timeouts, description="Seconds per phase.")
    retry: Retry = Field(default_factory=Retry)
    check_interval: Seconds = Field(5, description="Seconds between re-checks without a watch. Default: 5.")
    command_timeout: Seconds = Field(300, description="Seconds for one external command. Default: 300.")
    log_dir: FilePath = Field(Path("logs"), description="Per-run logs, inside the state dir. Default: logs.")
    metrics_file: FilePath | None = Field(None, description="Prometheus text file (node_exporter textfile collector) "
                                          "written at the end of every run; relative: inside the state dir. "
                                          "Default: none.")
    interactive: bool = Field(False, description="bootstrap_phased/bootstrap_resume show each phase's plan and ask "
                              "before running it, as with --interactive (needs a terminal). Default: false.")


class Tools(_Model):
    use_mise: bool = Field(False, description="Run tools as `mise exec -- <tool>`. Default: false (PATH).")
    required: dict[Annotated[str, BeforeValidator(checks.non_empty)], Version] = Field(
        default_factory=lambda: dict(DEFAULT_TOOLS), description="Tool -> version. Default: the example's set.")


class BootstrapConfig(_Model):
    cluster: Cluster = Field(description="expected at least cluster.name")
    network: Network = Field(description="expected at least network.nodes")
    onepassword: OnePassword = Field(default_factory=OnePassword, description="1Password account, vault, items")
    talos: Talos = Field(default_factory=_default_talos, description="Talos versions and generated file locations")
    networking: Networking = Field(default_factory=Networking, description="Cilium settings")
    gitops: GitOps = Field(description="expected at least gitops.owner")
    bootstrap: Bootstrap = Field(default_factory=Bootstrap, description="timeouts, retries, intervals, logs")
    tools: Tools = Field(default_factory=Tools, description="tool versions and how to run them")
    hooks: dict[str, Hooks] = Field(default_factory=dict, description="commands run before/after/on failure of "
                                    "a phase or step (hops.config.custom). Default: none.")
    checks: dict[str, Checks] = Field(default_factory=dict, description="extra preconditions and status checks of "
                                      "a phase or step (hops.config.custom). Default: none.")

    @model_validator(mode="before")
    @classmethod
    def _derived_defaults(cls, data: Any) -> Any:
        """cluster.endpoint and gitops.path default from other fields; only filled when those are usable."""
        if not isinstance(data, dict):
            return data
        filled = dict(data)
        cluster, gitops = filled.get("cluster"), filled.get("gitops")
        if isinstance(cluster, dict) and "endpoint" not in cluster:
            host = _endpoint_host(filled.get("network"))
            if host:
                filled["cluster"] = {**cluster, "endpoint": f"https://{host}:6443"}
        if isinstance(gitops, dict) and "path" not in gitops and isinstance(cluster, dict):
            name = cluster.get("name")
            if isinstance(name, str) and name:
                filled["gitops"] = {**gitops, "path": f"infrastructure/clusters/{name}"}
        return filled


def _endpoint_host(network: Any) -> str | None:
    """The VIP, else the first controlplane address; bracketed for IPv6. None if not a valid IP."""
    if not isinstance(network, dict):
        return None
    candidate = network.get("vip")
    if candidate is None:
        nodes = network.get("nodes")
        cps = [n for n in nodes if isinstance(n, dict) and n.get("role", "controlplane") == "controlplane"] \
            if isinstance(nodes, list) else []
        candidate = cps[0].get("address") if cps else None
    try:
        address = ipaddress.ip_address(str(candidate))
    except ValueError:
        return None
    return f"[{address}]" if address.version == 6 else str(address)


def cross_field_problems(data: Mapping[str, Any]) -> list[tuple[tuple[str | int, ...], str]]:
    """(path, message) for rules spanning several nodes; tolerant of any shape (shape errors come from pydantic)."""
    network = data.get("network")
    nodes = network.get("nodes") if isinstance(network, dict) else None
    if not isinstance(nodes, list):
        return []
    found: list[tuple[tuple[str | int, ...], str]] = []
    for key, label in (("name", "node name"), ("address", "node address")):
        found += _duplicates(nodes, key, label)
    entries = [n for n in nodes if isinstance(n, dict)]
    if entries and not any(n.get("role", "controlplane") == "controlplane" for n in entries):
        found.append((("network", "nodes"), "no node has role controlplane (expected at least one)"))
    vip = network.get("vip") if isinstance(network, dict) else None
    for index, node in enumerate(nodes):
        if vip is not None and isinstance(node, dict) and _same_ip(node.get("address"), vip):
            found.append((("network", "vip"), f"{vip} is also network.nodes[{index}].address "
                                              "(expected a free address shared by the control plane)"))
    return found


def _duplicates(nodes: list[Any], key: str, label: str) -> list[tuple[tuple[str | int, ...], str]]:
    first_seen: dict[str, int] = {}
    found: list[tuple[tuple[str | int, ...], str]] = []
    for index, node in enumerate(nodes):
        if not isinstance(node, dict) or node.get(key) is None:
            continue
        value = _canonical(node[key])
        if value in first_seen:
            found.append((("network", "nodes", index, key),
                          f"duplicate {label} {node[key]!s} (also network.nodes[{first_seen[value]}].{key}; "
                          "expected each node to have its own)"))
        else:
            first_seen[value] = index
    return found


def _canonical(value: Any) -> str:
    try:
        return str(ipaddress.ip_address(str(value)))
    except ValueError:
        return str(value)


def _same_ip(a: Any, b: Any) -> bool:
    return a is not None and _canonical(a) == _canonical(b)


# --- turning pydantic errors into Problems -------------------------------------------------------------------

def validate_config(data: Mapping[str, Any], override_sources: Mapping[str, str] | None = None
                    ) -> tuple[BootstrapConfig | None, list[Problem]]:
    """Validate the merged mapping; every problem names bootstrap-config.yaml, the dotted field and the override."""
    from pydantic import ValidationError

    sources = override_sources or {}
    problems: list[Problem] = []
    config: BootstrapConfig | None = None
    try:
        config = BootstrapConfig.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors(include_url=False):
            problems.append(_problem(tuple(error["loc"]), _message(error), sources))
    for loc, message in cross_field_problems(data):
        problems.append(_problem(loc, message, sources))
    if config is not None:
        from hops.config import network_rules  # rules a real cluster would break on (overlapping networks, …)

        problems += [_problem(loc, message, sources) for loc, message in network_rules.problems(config)]
    return (config if not problems else None), problems


def _problem(loc: tuple[str | int, ...], message: str, sources: Mapping[str, str]) -> Problem:
    field = join_path(loc)
    source = sources.get(field)
    if source:
        message = f"{message} (from {source})"
    return Problem(BOOTSTRAP_FILE, field, message)


def _message(error: Any) -> str:
    kind, value, loc = error["type"], error.get("input"), tuple(error["loc"])
    ctx = error.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    if kind == "extra_forbidden":
        return f"unknown key{did_you_mean(str(loc[-1]), _allowed_keys(loc[:-1]))}"
    if kind == "missing":
        return f"is required but missing ({_description(loc) or 'no default'})"
    simple = {
        "model_type": "expected a mapping of keys to values", "dict_type": "expected a mapping of keys to values",
        "model_attributes_type": "expected a mapping of keys to values", "list_type": "expected a list",
        "bool_type": "expected true or false", "bool_parsing": "expected true or false",
        "int_type": "expected a whole number", "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number", "float_type": "expected a number of seconds",
        "float_parsing": "expected a number of seconds", "string_type": "expected a string",
    }
    if kind in simple:
        return f"is empty ({simple[kind]})" if value is None else f"{value!r} is invalid ({simple[kind]})"
    if kind in ("greater_than", "greater_than_equal"):
        return f"{value!r} is not positive (expected a number greater than {ctx.get('gt', ctx.get('ge'))})"
    if kind == "too_short":
        return f"is empty (expected at least {ctx.get('min_length', 1)} entry)"
    if kind == "literal_error":
        return f"{value!r} is not one of {ctx.get('expected')}"
    return f"{value!r} is invalid ({error['msg']})"


def _field_at(loc: tuple[str | int, ...]) -> Any:
    """The pydantic FieldInfo addressed by a loc, or None (walks models, lists and dicts)."""
    from pydantic.fields import FieldInfo

    current: Any = BootstrapConfig
    info: FieldInfo | None = None
    for part in loc:
        model = _model_of(current)
        if isinstance(part, int) or model is None:
            current = _inner(current)
            continue
        info = model.model_fields.get(part)
        if info is None:
            return None
        current = info.annotation
    return info


def _allowed_keys(loc: tuple[str | int, ...]) -> list[str]:
    current: Any = BootstrapConfig
    for part in loc:
        model = _model_of(current)
        if isinstance(part, int) or model is None:
            current = _inner(current)
        elif part in model.model_fields:
            current = model.model_fields[part].annotation
    model = _model_of(current)
    return list(model.model_fields) if model else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _inner(annotation: Any) -> Any:
    """list[X] -> X, dict[K, V] -> V, Annotated/Optional unwrapped."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    return args[-1] if args else annotation


def _description(loc: tuple[str | int, ...]) -> str:
    info = _field_at(loc)
    return (info.description or "") if info is not None else ""
