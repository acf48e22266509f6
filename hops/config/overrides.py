"""Override variables: doit command line > environment > bootstrap-config.yaml > defaults.

The table (OVERRIDES) is data so the README and `doit info` can print it. Overrides are applied to the raw
YAML mapping *before* validation, so an overridden value is validated exactly like a value from the file.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hops.config import characters
from hops.config.errors import BOOTSTRAP_FILE, Problem, did_you_mean, join_path


@dataclass(frozen=True)
class Override:
    """One row of the override table. `<n>` in variable/field stands for the 1-based node number."""

    variable: str
    field: str
    kind: str  # "str" or "bool"
    description: str


OVERRIDES: tuple[Override, ...] = (
    Override("CLUSTER_NAME", "cluster.name", "str", "cluster name (DNS-1123 label)"),
    Override("CLUSTER_ENDPOINT", "cluster.endpoint", "str", "Kubernetes API URL, https://host:port"),
    Override("CLUSTER_DOMAIN", "cluster.domain", "str", "cluster DNS domain"),
    Override("CLUSTER_VIP", "network.vip", "str", "shared control-plane virtual IP"),
    Override("NODE_<n>_IP", "network.nodes[<n-1>].address", "str", "address of node n (1-based)"),
    Override("NODE_<n>_NAME", "network.nodes[<n-1>].name", "str", "hostname of node n (1-based)"),
    Override("OP_ACCOUNT", "onepassword.account", "str", "1Password account"),
    Override("OP_VAULT", "onepassword.vault", "str", "1Password vault holding the cluster secrets"),
    Override("GITHUB_OWNER", "gitops.owner", "str", "GitHub user or organisation of the GitOps repo"),
    Override("GITHUB_REPOSITORY", "gitops.repository", "str", "GitOps repository name"),
    Override("GITOPS_BRANCH", "gitops.branch", "str", "branch Flux follows"),
    Override("HOPS_USE_MISE", "tools.use_mise", "bool", "run tools through `mise exec --` (true/false/1/0)"),
)

_FIXED: dict[str, Override] = {o.variable: o for o in OVERRIDES if "<n>" not in o.variable}
_NODE_VAR = re.compile(r"^NODE_(\d+)_(IP|NAME)$")
_NODE_FIELD = {"IP": "address", "NAME": "name"}
_BOOLS = {"true": True, "1": True, "false": False, "0": False}

ORIGIN_CLI = "command line"
ORIGIN_ENV = "environment"
# Spaces and line ends around a value are dropped (a value pasted with its newline); str.strip() would also drop
# control characters such as U+001F, which must be reported instead.
_EDGES = " \t\r\n"


@dataclass(frozen=True)
class AppliedOverride:
    """An override variable that was set, where it came from and which field it targets."""

    variable: str
    value: str
    origin: str  # ORIGIN_CLI or ORIGIN_ENV
    path: tuple[str | int, ...]
    given: str = field(default="", compare=False)  # the value as set, before _EDGES were stripped

    @property
    def source(self) -> str:
        return f"{self.origin} {self.variable}"

    @property
    def field(self) -> str:
        return join_path(self.path)


def is_override_variable(name: str) -> bool:
    """The name is an override variable: a fixed one or NODE_<n>_IP / NODE_<n>_NAME."""
    return name in _FIXED or _NODE_VAR.match(name) is not None


# Variables that are not overrides but that users write by analogy with other tools: their right form.
_NOT_VARIABLES = {"PHASE": "the phase is a task option: `doit force_phase --phase 3` (or validate_phase)"}


def unknown_variables(names: Iterable[str]) -> list[str]:
    """One message per name that is not an override variable (a typo would be silently ignored and could
    bootstrap the wrong cluster), with the closest variable or the list of them."""
    messages = []
    for name in names:
        if is_override_variable(name):
            continue
        hint = _NOT_VARIABLES.get(name.upper())
        if hint is None:
            number = re.match(r"^NODE_?(\d+)", name.upper())
            nodes = [f"NODE_{number.group(1)}_IP", f"NODE_{number.group(1)}_NAME"] if number else []
            choices = [*_FIXED, *nodes] if nodes else [*_FIXED, "NODE_<n>_IP", "NODE_<n>_NAME"]
            hint = "not an override variable" + did_you_mean(name.upper(), choices)
        messages.append(f"{name}: {hint}")
    return messages


def _target(variable: str) -> tuple[str | int, ...]:
    """Field path of a known variable; node numbers are 1-based (NODE_0_* maps to index -1)."""
    if variable in _FIXED:
        return tuple(_FIXED[variable].field.split("."))
    match = _NODE_VAR.match(variable)
    assert match, variable
    return ("network", "nodes", int(match.group(1)) - 1, _NODE_FIELD[match.group(2)])


def collect(cli_vars: Mapping[str, str] | None, env: Mapping[str, str]) -> list[AppliedOverride]:
    """The override variables in effect, command line winning over environment. Empty values count as unset."""
    chosen: dict[str, AppliedOverride] = {}
    for origin, source in ((ORIGIN_ENV, env), (ORIGIN_CLI, cli_vars or {})):
        for name, value in source.items():
            if is_override_variable(name) and str(value).strip(_EDGES) != "":
                chosen[name] = AppliedOverride(name, str(value).strip(_EDGES), origin, _target(name), str(value))
    return sorted(chosen.values(), key=lambda o: o.variable)


def apply(raw: Mapping[str, Any], applied: list[AppliedOverride]) -> tuple[dict[str, Any], list[Problem]]:
    """A copy of the raw file mapping with overrides written in, plus problems with the overrides themselves."""
    data: dict[str, Any] = copy.deepcopy(dict(raw))
    problems: list[Problem] = []
    for override in applied:
        value: Any = override.value
        unusable = character_problem(override)
        if unusable:
            problems.append(unusable)
            continue
        if _kind(override.variable) == "bool":
            if value.lower() not in _BOOLS:
                problems.append(Problem(BOOTSTRAP_FILE, override.field,
                                        f"{value!r} (from {override.source}) is not a boolean (expected true, false, 1 or 0)"))
                continue
            value = _BOOLS[value.lower()]
        problem = _set(data, override, value)
        if problem:
            problems.append(problem)
    return data, problems


def character_problem(override: AppliedOverride) -> Problem | None:
    """A value with control characters or undecodable bytes would reach talconfig.yaml through ${VAR} (where YAML
    refuses it or a line break adds lines) and Talos names; reported with the variable, its origin and the index."""
    given = override.given or override.value
    message = characters.value_message(override.value, offset=len(given) - len(given.lstrip(_EDGES)))
    if message is None:
        return None
    return Problem(f"{override.origin} variable {override.variable}", "",
                   f"{message}; {characters.VALUE_ADVICE} (it sets {BOOTSTRAP_FILE} {override.field})")


def _kind(variable: str) -> str:
    return _FIXED[variable].kind if variable in _FIXED else "str"


def _set(data: dict[str, Any], override: AppliedOverride, value: Any) -> Problem | None:
    """Write value at override.path, creating missing mappings. Wrong shapes are left for validation to report."""
    node: Any = data
    path = override.path
    for position, step in enumerate(path[:-1]):
        if isinstance(step, int):
            if not isinstance(node, list):
                return None
            if step < 0 or step >= len(node):
                return _no_such_node(override, step, len(node))
            node = node[step]
        elif not isinstance(node, dict):
            return None
        elif step not in node and isinstance(path[position + 1], int):
            return _no_such_node(override, int(path[position + 1]), 0)   # a list we must not invent
        else:
            node = node.setdefault(step, {})
    if isinstance(node, dict):
        node[override.path[-1]] = value
    return None


def _no_such_node(override: AppliedOverride, index: int, count: int) -> Problem:
    if index < 0:
        why = "node numbers start at 1"
    else:
        why = f"network.nodes has {count} node{'s' if count != 1 else ''}; add node {index + 1} to the file first"
    return Problem(BOOTSTRAP_FILE, "network.nodes",
                   f"{override.variable}={override.value} (from {override.origin}) refers to node {index + 1} but {why}")


def variable_for(field: str) -> str | None:
    """The override variable that sets a dotted field: 'network.nodes[0].address' -> 'NODE_1_IP'."""
    for override in OVERRIDES:
        if override.field == field:
            return override.variable
    match = re.match(r"^network\.nodes\[(\d+)\]\.(address|name)$", field)
    if match:
        kind = "IP" if match.group(2) == "address" else "NAME"
        return f"NODE_{int(match.group(1)) + 1}_{kind}"
    return None


def resolved_variables(config: Any) -> dict[str, str]:
    """Every override variable with its final value (whatever level it came from), for talhelper's envsubst."""
    out: dict[str, str] = {}
    for override in OVERRIDES:
        if override.variable in _FIXED:
            value = _lookup(config, override.field.split("."))
            if value is not None:
                out[override.variable] = _render(value)
    for number, node in enumerate(config.network.nodes, start=1):
        out[f"NODE_{number}_IP"] = str(node.address)
        out[f"NODE_{number}_NAME"] = str(node.name)
    return out


def raw_variables(data: Mapping[str, Any]) -> dict[str, str]:
    """Best-effort override variables from an unvalidated (merged) mapping: scalar values only."""
    out: dict[str, str] = {}
    for override in OVERRIDES:
        if override.variable in _FIXED:
            value = _dig(data, override.field.split("."))
            if isinstance(value, (str, int, float, bool)):
                out[override.variable] = _render(value)
    nodes = _dig(data, ["network", "nodes"])
    for number, node in enumerate(nodes if isinstance(nodes, list) else [], start=1):
        for key, kind in (("address", "IP"), ("name", "NAME")):
            value = node.get(key) if isinstance(node, dict) else None
            if isinstance(value, (str, int, float)):
                out[f"NODE_{number}_{kind}"] = str(value)
    return out


def _dig(data: Any, parts: list[str]) -> Any:
    for part in parts:
        if not isinstance(data, Mapping):
            return None
        data = data.get(part)
    return data


def _lookup(obj: Any, parts: list[str]) -> Any:
    for part in parts:
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _render(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def describe() -> list[tuple[str, str, str]]:
    """(variable, field, description) rows for printing the table."""
    return [(o.variable, o.field, o.description) for o in OVERRIDES]
