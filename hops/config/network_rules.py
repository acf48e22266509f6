"""Rules on a validated bootstrap-config.yaml that a real cluster would break on, though each field is valid alone.

- the pod and service networks must not overlap (Cilium and kube-proxy replacement route one of them wrongly);
- a node address must not sit inside either (traffic to the node would be routed into the cluster network);
- with a VIP, an endpoint given as an IP address must be the VIP (the control plane announces only the VIP);
- talos.secrets_file must stay inside the project (it is written with the cluster's private keys);
- 1Password names must not start with '-' (op would read `-rf` as an option).
Each answer is (dotted field path, message), turned into a Problem naming bootstrap-config.yaml by the model.
"""

from __future__ import annotations

import ipaddress
from pathlib import PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from hops.config.model import BootstrapConfig

Found = list[tuple[tuple[str | int, ...], str]]


def problems(config: BootstrapConfig) -> Found:
    """Every rule of the module docstring that `config` breaks."""
    return [*_network_overlaps(config), *_node_addresses(config), *_vip_endpoint(config), *_secrets_file(config),
            *_option_like_names(config)]


def _network_overlaps(config: BootstrapConfig) -> Found:
    pods, services = ipaddress.ip_network(config.network.pod_cidr), ipaddress.ip_network(config.network.service_cidr)
    if pods.version != services.version or not pods.overlaps(services):
        return []
    return [(("network", "pod_cidr"), f"{pods} overlaps network.service_cidr {services} (expected two separate "
                                      "networks, e.g. 10.244.0.0/16 for pods and 10.96.0.0/12 for services)")]


def _node_addresses(config: BootstrapConfig) -> Found:
    found: Found = []
    networks = (("pod_cidr", config.network.pod_cidr), ("service_cidr", config.network.service_cidr))
    for index, node in enumerate(config.network.nodes):
        address = ipaddress.ip_address(str(node.address))
        for name, cidr in networks:
            network = ipaddress.ip_network(cidr)
            if address.version == network.version and address in network:
                found.append((("network", "nodes", index, "address"),
                              f"{address} is inside network.{name} {network} (expected an address of the nodes' "
                              f"own network, outside the cluster's pod and service networks)"))
    return found


def _vip_endpoint(config: BootstrapConfig) -> Found:
    vip = config.network.vip
    host = urlsplit(config.cluster.endpoint).hostname or ""
    try:
        endpoint_ip = ipaddress.ip_address(host)
    except ValueError:
        return []  # a DNS name: it may well resolve to the VIP
    if vip is None or endpoint_ip == ipaddress.ip_address(str(vip)):
        return []
    return [(("cluster", "endpoint"), f"{config.cluster.endpoint} is not on network.vip {vip} (expected "
                                      f"https://{_bracketed(vip)}:6443: the control plane answers on the VIP)")]


def _secrets_file(config: BootstrapConfig) -> Found:
    path = PurePosixPath(str(config.talos.secrets_file))
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part in (".", "") else 1
        if depth < 0:
            break
    if not path.is_absolute() and depth >= 0:
        return []
    return [(("talos", "secrets_file"), f"{path} is outside the project folder (expected a path inside it, e.g. "
                                        "clusterconfig/talsecret.yaml: the file holds the cluster's private keys)")]


def _option_like_names(config: BootstrapConfig) -> Found:
    op = config.onepassword
    values = {("onepassword", "account"): op.account, ("onepassword", "vault"): op.vault}
    return [(loc, f"{value!r} starts with '-': the 1Password CLI would read it as an option (expected an account "
                  f"or vault name, e.g. my.1password.com)")
            for loc, value in values.items() if str(value).startswith("-")]


def _bracketed(address: object) -> str:
    text = str(address)
    return f"[{text}]" if ":" in text else text
