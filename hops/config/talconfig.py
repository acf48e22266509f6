"""talhelper's talconfig.yaml: `${VAR}` substitution, parsing of the fields hops relies on, cross-check.

talhelper runs envsubst over the whole file before parsing YAML; we do the same, with the same variables
(the environment plus every resolved override variable, see Settings.env_for_tools), so what we check is what
talhelper will generate from. Unknown keys are kept in `raw`: talhelper has many and hops does not need them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hops.config import characters, checks
from hops.config.errors import BOOTSTRAP_FILE, TALCONFIG_FILE, Problem
from hops.config.overrides import variable_for

if TYPE_CHECKING:
    from hops.config.model import BootstrapConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


@dataclass(frozen=True)
class TalNode:
    hostname: str
    ip_address: str               # first address when talhelper's comma-separated form is used
    control_plane: bool
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class TalConfig:
    cluster_name: str
    endpoint: str
    talos_version: str | None     # None: talhelper would pick its own default
    kubernetes_version: str | None
    nodes: list[TalNode]
    patches: list[Any]
    domain: str | None = None
    pod_cidrs: list[str] = field(default_factory=list)
    service_cidrs: list[str] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict, compare=False)


# --- substitution ----------------------------------------------------------------------------------------------

def substitute(text: str, variables: Mapping[str, str],
               quiet: Callable[[str], bool] = lambda name: False) -> tuple[str, list[Problem]]:
    """Expand ${VAR}, ${VAR:-default} (unset or empty) and ${VAR-default} (unset) line by line.

    An unset ${VAR} without default becomes empty like envsubst does, but is reported as a problem unless it
    sits in a comment (or `quiet(name)`): talhelper would silently generate configs with an empty value.
    """
    problems: list[Problem] = []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        def expand(match: re.Match[str], number: int = number, line: str = line) -> str:
            name, operator, default = match.group(1), match.group(2), match.group(3)
            value = variables.get(name)
            if operator == ":-" and not value:
                return default or ""
            if operator == "-" and value is None:
                return default or ""
            if value is None:
                if not quiet(name) and not _in_comment(line, match.start()):
                    problems.append(Problem(TALCONFIG_FILE, f"line {number}",
                                            f"${{{name}}} is not set (set {name} in the environment or on the "
                                            f"command line, or write ${{{name}:-default}})"))
                return ""
            return value
        lines[number - 1] = _VAR.sub(expand, line)
    return "\n".join(lines), problems


def _in_comment(line: str, position: int) -> bool:
    """A '#' at line start or after whitespace before position starts a YAML comment (quotes ignored: rare)."""
    return re.search(r"(^|\s)#", line[:position]) is not None


# --- parsing ---------------------------------------------------------------------------------------------------

def parse_talconfig(text: str, variables: Mapping[str, str], quiet: Callable[[str], bool] = lambda name: False
                    ) -> tuple[TalConfig | None, list[Problem]]:
    """Substitute, parse and check talconfig.yaml; `quiet` names unset variables not worth reporting."""
    from hops.config.yamlio import parse_yaml

    refused = characters.file_problems(text, TALCONFIG_FILE) or _unusable_variables(text, variables)
    if refused:   # positions in the file as written, before substitution moves columns
        return None, refused
    expanded, problems = substitute(text, variables, quiet)
    data, yaml_problems = parse_yaml(expanded, TALCONFIG_FILE)
    problems += yaml_problems
    if data is None and not yaml_problems:
        problems.append(Problem(TALCONFIG_FILE, "", "file is empty (expected talhelper's configuration)"))
    if data is None:
        return None, problems
    if not isinstance(data, dict):
        return None, problems + [Problem(TALCONFIG_FILE, "", "expected a mapping at the top level")]
    fields = _Reader(data)
    config = TalConfig(
        cluster_name=fields.required("clusterName", checks.dns_label) or "",
        endpoint=fields.required("endpoint", checks.https_endpoint) or "",
        talos_version=fields.optional("talosVersion", checks.version),
        kubernetes_version=fields.optional("kubernetesVersion", checks.version),
        domain=fields.optional("domain", checks.dns_subdomain),
        pod_cidrs=fields.cidrs("clusterPodNets"),
        service_cidrs=fields.cidrs("clusterSvcNets"),
        nodes=fields.nodes(),
        patches=fields.list_of("patches"),
        raw=data,
    )
    problems += fields.problems
    return (config if not problems else None), problems


def _unusable_variables(text: str, variables: Mapping[str, str]) -> list[Problem]:
    """${VAR}s whose value holds control characters or undecodable bytes. envsubst substitutes comments too, so
    every reference counts; YAML would refuse the character, and a line break would add lines to the file."""
    problems = []
    for number, line in enumerate(text.split("\n"), start=1):
        for match in _VAR.finditer(line):
            name = match.group(1)
            message = characters.value_message(variables.get(name) or "")
            if message:
                problems.append(Problem(TALCONFIG_FILE, f"line {number}, column {match.start() + 1}",
                                        f"${{{name}}}: the environment variable {name} cannot be substituted: "
                                        f"{message}; {characters.VALUE_ADVICE}"))
    return problems


class _Reader:
    """Pulls typed fields out of the talconfig mapping, collecting problems instead of raising."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.problems: list[Problem] = []

    def _check(self, path: str, value: Any, check: Callable[[Any], str]) -> str | None:
        try:
            return check(value)
        except ValueError as exc:
            self.problems.append(Problem(TALCONFIG_FILE, path, str(exc)))
            return None

    def required(self, key: str, check: Callable[[Any], str], data: dict[str, Any] | None = None,
                 prefix: str = "") -> str | None:
        source = self.data if data is None else data
        if source.get(key) is None:
            self.problems.append(Problem(TALCONFIG_FILE, prefix + key, "is required but missing"))
            return None
        return self._check(prefix + key, source[key], check)

    def optional(self, key: str, check: Callable[[Any], str]) -> str | None:
        return None if self.data.get(key) is None else self._check(key, self.data[key], check)

    def list_of(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.append(Problem(TALCONFIG_FILE, key, f"{value!r} is invalid (expected a list)"))
            return []
        return value

    def cidrs(self, key: str) -> list[str]:
        found = [self._check(f"{key}[{i}]", v, checks.cidr) for i, v in enumerate(self.list_of(key))]
        return [c for c in found if c]

    def nodes(self) -> list[TalNode]:
        entries = self.list_of("nodes")
        if not entries and "nodes" not in self.data:
            self.problems.append(Problem(TALCONFIG_FILE, "nodes", "is required but missing"))
        nodes = []
        for index, entry in enumerate(entries):
            node = self._node(index, entry)
            if node:
                nodes.append(node)
        return nodes

    def _node(self, index: int, entry: Any) -> TalNode | None:
        prefix = f"nodes[{index}]."
        if not isinstance(entry, dict):
            self.problems.append(Problem(TALCONFIG_FILE, f"nodes[{index}]", "expected a mapping"))
            return None
        hostname = self.required("hostname", checks.dns_label, entry, prefix)
        addresses = str(entry.get("ipAddress", "")).split(",") if entry.get("ipAddress") is not None else []
        if not addresses:
            self.problems.append(Problem(TALCONFIG_FILE, prefix + "ipAddress", "is required but missing"))
        checked = [self._check(prefix + "ipAddress", a.strip(), checks.ip_address) for a in addresses]
        control_plane = entry.get("controlPlane", False)
        if not isinstance(control_plane, bool):
            self.problems.append(Problem(TALCONFIG_FILE, prefix + "controlPlane",
                                         f"{control_plane!r} is invalid (expected true or false)"))
        if hostname is None or not checked or None in checked or not isinstance(control_plane, bool):
            return None
        return TalNode(hostname, checked[0] or "", control_plane, entry)


# --- cross-check with bootstrap-config.yaml ---------------------------------------------------------------------

def cross_check(config: BootstrapConfig, tal: TalConfig, sources: Mapping[str, str]) -> list[Problem]:
    """Every disagreement between the two files; `sources` maps overridden dotted fields to their override."""
    check = _CrossCheck(sources)
    check.value("cluster.name", config.cluster.name, "clusterName", tal.cluster_name)
    if checks.endpoint_key(config.cluster.endpoint) != checks.endpoint_key(tal.endpoint):
        check.mismatch("cluster.endpoint", config.cluster.endpoint, "endpoint", tal.endpoint)
    check.version("talos.version", config.talos.version, "talosVersion", tal.talos_version)
    check.version("talos.kubernetes_version", config.talos.kubernetes_version,
                  "kubernetesVersion", tal.kubernetes_version)
    if tal.domain is not None:
        check.value("cluster.domain", config.cluster.domain, "domain", tal.domain)
    if tal.pod_cidrs:
        check.value("network.pod_cidr", config.network.pod_cidr, "clusterPodNets[0]", tal.pod_cidrs[0])
    if tal.service_cidrs:
        check.value("network.service_cidr", config.network.service_cidr, "clusterSvcNets[0]", tal.service_cidrs[0])
    check.nodes(config, tal)
    if config.network.vip is not None:
        check.vips(config.network.vip, tal)
    return check.problems


class _CrossCheck:
    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources
        self.problems: list[Problem] = []

    def mismatch(self, ours: str, our_value: Any, theirs: str, their_value: Any) -> None:
        source = self.sources.get(ours)
        origin = f" (from {source})" if source else ""
        message = f"{BOOTSTRAP_FILE} {ours} = {our_value}{origin} but {TALCONFIG_FILE} {theirs} = {their_value}"
        self.problems.append(Problem(TALCONFIG_FILE, theirs, message + self._hint(ours, bool(source))))

    def _hint(self, ours: str, overridden: bool) -> str:
        variable = variable_for(ours)
        if overridden and variable:
            return f"; set it there too or use ${{{variable}}} in {TALCONFIG_FILE}"
        if variable:
            return f"; make them agree (or use ${{{variable}}} in {TALCONFIG_FILE})"
        return "; make them agree"

    def value(self, ours: str, our_value: Any, theirs: str, their_value: Any) -> None:
        if str(our_value) != str(their_value):
            self.mismatch(ours, our_value, theirs, their_value)

    def version(self, ours: str, our_value: str, theirs: str, their_value: str | None) -> None:
        if their_value is None:
            self.problems.append(Problem(TALCONFIG_FILE, theirs,
                                         f"is missing, so talhelper would use its own default instead of "
                                         f"{BOOTSTRAP_FILE} {ours} = {our_value}; set {theirs}: {our_value}"))
        elif not checks.same_version(our_value, their_value):
            self.mismatch(ours, our_value, theirs, their_value)

    def nodes(self, config: BootstrapConfig, tal: TalConfig) -> None:
        theirs = {node.hostname: (index, node) for index, node in enumerate(tal.nodes)}
        ours = {node.name: index for index, node in enumerate(config.network.nodes)}
        for index, node in enumerate(config.network.nodes):
            path = f"network.nodes[{index}]"
            if node.name not in theirs:
                self._missing_node(path, node.name)
                continue
            tal_index, tal_node = theirs[node.name]
            if node.address != tal_node.ip_address:
                self.mismatch(f"{path}.address", node.address, f"nodes[{tal_index}].ipAddress", tal_node.ip_address)
            if node.is_control_plane != tal_node.control_plane:
                self.mismatch(f"{path}.role", node.role, f"nodes[{tal_index}].controlPlane",
                              str(tal_node.control_plane).lower())
        for index, tal_node in enumerate(tal.nodes):
            if tal_node.hostname not in ours:
                self.problems.append(Problem(TALCONFIG_FILE, f"nodes[{index}].hostname",
                                             f"{tal_node.hostname} is not a node in {BOOTSTRAP_FILE} network.nodes "
                                             "(expected the same node names in both files)"))

    def vips(self, vip: str, tal: TalConfig) -> None:
        """Talos announces the VIP from networkInterfaces[].vip.ip; a different one would strand the endpoint."""
        for index, node in enumerate(tal.nodes):
            interfaces = node.raw.get("networkInterfaces")
            for position, interface in enumerate(interfaces if isinstance(interfaces, list) else []):
                shared = interface.get("vip") if isinstance(interface, dict) else None
                their_vip = shared.get("ip") if isinstance(shared, dict) else None
                if their_vip is not None and str(their_vip) != vip:
                    self.mismatch("network.vip", vip, f"nodes[{index}].networkInterfaces[{position}].vip.ip",
                                  their_vip)

    def _missing_node(self, path: str, name: str) -> None:
        field_path = f"{path}.name"
        source = self.sources.get(field_path)
        origin = f", from {source}" if source else ""
        variable = variable_for(field_path)
        hint = f"; add it or use ${{{variable}}} as its hostname in {TALCONFIG_FILE}" if variable else ""
        self.problems.append(Problem(TALCONFIG_FILE, "nodes",
                                     f"node {name} ({BOOTSTRAP_FILE} {field_path}{origin}) has no entry with "
                                     f"hostname {name}{hint}"))
