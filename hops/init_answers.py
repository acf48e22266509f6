"""The answers of `doit bootstrap_init` and how each one is checked as it is given.

Every check takes the answer as typed (and what was answered before it), returns the normalised value or raises
AnswerError with the reason, worded to be shown right under the question (or after a flag's name). The same checks
serve the prompts, the flags and the answers file, so a script cannot write what a person would be refused.
The value checks themselves are hops.config's (DNS labels, IPs, URLs, GitHub names), so an answer that passes
here passes hops's configuration loader too; what is added is what needs several answers at once: duplicates,
a control plane, the node network, a VIP inside it and clear of the pod and service networks.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import Any

from hops.config import checks

ROLES = ("controlplane", "worker")
NO_VIP = "none"
NODE_FORMAT = "NAME:ROLE:ADDRESS (e.g. talos-cp-1:controlplane:192.168.1.11)"


class AnswerError(ValueError):
    """An answer that cannot be used; the message says why and what is expected."""


@dataclass(frozen=True)
class NodeAnswer:
    """One machine of the cluster."""

    name: str
    role: str
    address: str

    @property
    def is_control_plane(self) -> bool:
        """True for a control-plane node."""
        return self.role == "controlplane"


@dataclass
class Answers:
    """Everything bootstrap_init asks; `pod_cidr`/`service_cidr` are not asked (they come from an existing
    configuration or the defaults) but node addresses must stay clear of them."""

    cluster: str = ""
    nodes: list[NodeAnswer] = field(default_factory=list)
    network: str = ""
    vip: str | None = None
    endpoint: str = ""
    op_account: str = ""
    op_vault: str = ""
    owner: str = ""
    repository: str = ""
    branch: str = ""
    path: str = ""
    pod_cidr: str = "10.244.0.0/16"
    service_cidr: str = "10.96.0.0/12"

    @property
    def control_planes(self) -> list[NodeAnswer]:
        """The control-plane nodes, in order."""
        return [n for n in self.nodes if n.is_control_plane]

    @property
    def repo(self) -> str:
        """owner/repository."""
        return f"{self.owner}/{self.repository}" if self.owner else ""


def _value(check: Any, text: str) -> str:
    """A hops.config check, its ValueError turned into AnswerError."""
    try:
        return str(check(text))
    except ValueError as exc:
        raise AnswerError(str(exc)) from None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(_value(checks.ip_address, text))


# --- one answer at a time -------------------------------------------------------------------------------------
def cluster_name(text: str) -> str:
    """The cluster name: a DNS-1123 label."""
    return _value(checks.dns_label, text)


def node_name(text: str, earlier: list[NodeAnswer]) -> str:
    """A node's hostname: a DNS label no earlier node has."""
    name = _value(checks.dns_label, text)
    if any(n.name == name for n in earlier):
        raise AnswerError(f"{name!r} is already the name of another node (expected each node to have its own)")
    return name


def role(text: str, earlier: list[NodeAnswer], last: bool) -> str:
    """controlplane or worker; the last node must be a control plane when none came before it."""
    value = text.strip().lower()
    if value not in ROLES:
        raise AnswerError(f"{text!r} is not a role (expected controlplane or worker)")
    if value == "worker" and last and not any(n.is_control_plane for n in earlier):
        raise AnswerError("no node so far is a control plane (expected at least one: make this one controlplane)")
    return value


def address(text: str, earlier: list[NodeAnswer], answers: Answers) -> str:
    """A node's IP: valid, not another node's, the same IP version as the others, clear of pod/service nets."""
    ip = _ip(text)
    for node in earlier:
        other = ipaddress.ip_address(node.address)
        if other == ip:
            raise AnswerError(f"{ip} is already the address of node {node.name} (expected each node to have its own)")
        if other.version != ip.version:
            raise AnswerError(f"{ip} is IPv{ip.version} but node {node.name} has IPv{other.version} address {other} "
                          "(expected one IP version for all nodes)")
    _clear_of_cluster_networks(ip, answers, "node address")
    if ip.is_unspecified or ip.is_multicast:
        raise AnswerError(f"{ip} cannot be a node's address (expected the machine's own address)")
    return str(ip)


def _clear_of_cluster_networks(ip: Any, answers: Answers, what: str) -> None:
    for label, cidr in (("pod network", answers.pod_cidr), ("service network", answers.service_cidr)):
        net = ipaddress.ip_network(cidr)
        if ip.version == net.version and ip in net:
            raise AnswerError(f"{ip} is inside the cluster's {label} {cidr} (network.{label.split()[0]}_cidr), "
                          f"which Kubernetes routes inside the cluster; expected a {what} outside it")


def network(text: str, answers: Answers) -> str:
    """The control planes' network in CIDR notation (host bits allowed, e.g. 192.168.1.11/24): it must hold
    every control-plane address (Talos announces the VIP on the control planes' shared link)."""
    try:
        net = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise AnswerError(f"{text!r} is not a network in CIDR notation (expected e.g. 192.168.1.0/24)") from None
    if "/" not in text:
        raise AnswerError(f"{text!r} has no prefix length (expected e.g. {text.strip()}/24)")
    for node in answers.control_planes:
        ip = ipaddress.ip_address(node.address)
        if ip.version != net.version or ip not in net:
            raise AnswerError(f"{net} does not contain control plane {node.name} ({ip}); expected the network all "
                          "control planes share")
    return str(net)


def vip(text: str, answers: Answers) -> str | None:
    """The control planes' shared virtual IP, or 'none': a free address inside the node network."""
    if text.strip().lower() in (NO_VIP, "-"):
        return None
    ip = _ip(text)
    net = ipaddress.ip_network(answers.network)
    if ip.version != net.version or ip not in net:
        raise AnswerError(f"{ip} is outside the node network {net} (expected a free address in it, shared by the "
                      "control planes)")
    if net.num_addresses > 2 and ip in (net.network_address, net.broadcast_address):
        raise AnswerError(f"{ip} is the {'network' if ip == net.network_address else 'broadcast'} address of {net} "
                      "(expected a free host address)")
    for node in answers.nodes:
        if ipaddress.ip_address(node.address) == ip:
            raise AnswerError(f"{ip} is node {node.name}'s address (expected a free address, not a node's)")
    _clear_of_cluster_networks(ip, answers, "VIP")
    return str(ip)


def endpoint(text: str) -> str:
    """The Kubernetes API URL, https://host:port."""
    return _value(checks.https_endpoint, text)


def text_value(text: str) -> str:
    """A non-empty value (1Password account or vault)."""
    return _value(checks.non_empty, text)


def repository(text: str) -> tuple[str, str]:
    """owner/repository of the GitOps repository on GitHub."""
    owner, slash, name = text.strip().partition("/")
    if not slash or not owner or not name:
        raise AnswerError(f"{text!r} is not owner/repository (expected e.g. example-homelab/home-ops)")
    return _value(checks.github_owner, owner), _value(checks.github_repository, name.removesuffix(".git"))


def branch(text: str) -> str:
    """The branch Flux follows."""
    return _value(checks.git_branch, text)


def repo_path(text: str) -> str:
    """The cluster's folder in the GitOps repository."""
    return _value(checks.repo_path, text)


def parse_node(text: str, earlier: list[NodeAnswer], answers: Answers, last: bool) -> NodeAnswer:
    """`NAME:ROLE:ADDRESS` (or NAME=ROLE=ADDRESS), each part checked as if it had been asked."""
    cut = min((i for i in (text.find(":"), text.find("=")) if i >= 0), default=-1)
    parts = text.split(text[cut], 2) if cut >= 0 else [text]
    if len(parts) != 3:
        raise AnswerError(f"{text!r} is not {NODE_FORMAT}")
    name = node_name(parts[0], earlier)
    return NodeAnswer(name, role(parts[1], earlier, last), address(parts[2], earlier, answers))


# --- defaults ----------------------------------------------------------------------------------------------------
def default_network(nodes: list[NodeAnswer]) -> str:
    """A guess at the node network: the /24 (IPv4) or /64 (IPv6) around the first control plane."""
    first = next((n for n in nodes if n.is_control_plane), None)
    if first is None:
        return ""
    ip = ipaddress.ip_address(first.address)
    return str(ipaddress.ip_network(f"{ip}/{24 if ip.version == 4 else 64}", strict=False))


def default_endpoint(answers: Answers) -> str:
    """https://<VIP>:6443, else the first control plane's address (hops.config's own default)."""
    host = answers.vip or (answers.control_planes[0].address if answers.control_planes else "")
    if not host:
        return ""
    return f"https://[{host}]:6443" if ":" in host else f"https://{host}:6443"


def default_path(cluster: str) -> str:
    """hops.config's default gitops.path for the cluster."""
    return f"infrastructure/clusters/{cluster}" if cluster else ""
