"""Configuration a real cluster would break on is refused, each with its file and field: overlapping pod and
service networks, a node inside them, an endpoint off the VIP or with an impossible address, a secrets file
outside the project, a 1Password name read as an option, a talconfig default that disagrees, an interface name
with shell metacharacters. And the same rules hold for valid neighbours (no false alarms)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from cfg_helpers import BASE, talconfig_for

from hops.config import ConfigError, Problem, checks, load_settings


def _load(write, config: dict[str, Any], tal: dict[str, Any] | None = None, *, talconfig_text: str | None = None,
          cli_vars: dict[str, str] | None = None) -> list[Problem]:
    root = write(config, tal if tal is not None else talconfig_for(config), talconfig_text=talconfig_text)
    try:
        load_settings(root, cli_vars=cli_vars, env={})
    except ConfigError as error:
        return error.problems
    return []


def _with(**paths: Any) -> dict[str, Any]:
    """BASE with dotted paths set (`network__pod_cidr="…"`; node indexes as numbers)."""
    config = copy.deepcopy(BASE)
    for dotted, value in paths.items():
        *parents, last = [int(p) if p.isdigit() else p for p in dotted.split("__")]
        target: Any = config
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
        target[last] = value
    return config


BROKEN = [
    ({"network__pod_cidr": "10.96.0.0/16"}, "network.pod_cidr",
     "10.96.0.0/16 overlaps network.service_cidr 10.96.0.0/12"),
    ({"network__pod_cidr": "10.0.0.0/8"}, "network.pod_cidr", "overlaps network.service_cidr"),
    ({"network__nodes__1__address": "10.244.3.4"}, "network.nodes[1].address",
     "10.244.3.4 is inside network.pod_cidr 10.244.0.0/16"),
    ({"network__nodes__2__address": "10.100.0.7"}, "network.nodes[2].address",
     "10.100.0.7 is inside network.service_cidr 10.96.0.0/12"),
    ({"cluster__endpoint": "https://127.0.0.11:6443"}, "cluster.endpoint",
     "https://127.0.0.11:6443 is not on network.vip 127.0.0.10 (expected https://127.0.0.10:6443"),
    ({"cluster__endpoint": "https://172.29.51.999:6443"}, "cluster.endpoint",
     "172.29.51.999 is not a valid IPv4 address"),
    ({"cluster__endpoint": "https://bad_host!:6443"}, "cluster.endpoint", "is not a valid host name"),
    ({"talos": {"secrets_file": "../../etc/passwd"}}, "talos.secrets_file",
     "../../etc/passwd is outside the project folder"),
    ({"talos": {"secrets_file": "/etc/passwd"}}, "talos.secrets_file", "is outside the project folder"),
    ({"talos": {"secrets_file": "clusterconfig/../../x"}}, "talos.secrets_file", "is outside the project folder"),
    ({"onepassword": {"account": "-rf"}}, "onepassword.account", "'-rf' starts with '-'"),
    ({"onepassword": {"vault": "--help"}}, "onepassword.vault", "'--help' starts with '-'"),
]


@pytest.mark.parametrize(("paths", "field", "expected"), BROKEN, ids=[b[1] + "=" + str(list(b[0].values())[0])
                                                                      for b in BROKEN])
def test_a_configuration_a_cluster_would_break_on_is_refused(write, paths: dict, field: str, expected: str) -> None:
    config = _with(**paths)
    problems = _load(write, config, talconfig_for(BASE) if "endpoint" in str(paths) else None)
    matching = [p for p in problems if p.field == field and p.file == "bootstrap-config.yaml"]
    assert matching and expected in matching[0].message, problems


FINE = [
    {"network__pod_cidr": "10.42.0.0/16", "network__service_cidr": "10.43.0.0/16"},
    {"cluster__endpoint": "https://cluster.example.internal:6443"},  # a DNS name may resolve to the VIP
    {"talos": {"secrets_file": "secrets/./talsecret.yaml"}},
    {"onepassword": {"account": "team-rf.1password.com"}},
]


@pytest.mark.parametrize("paths", FINE, ids=[str(list(f.values())[0]) for f in FINE])
def test_valid_neighbours_are_accepted(write, paths: dict) -> None:
    config = _with(**paths)
    assert _load(write, config) == []


def test_without_a_vip_the_endpoint_may_be_a_node() -> None:
    config = copy.deepcopy(BASE)
    del config["network"]["vip"]
    config["cluster"]["endpoint"] = "https://127.0.0.11:6443"
    from hops.config.model import validate_config

    assert validate_config(config)[1] == []


def test_endpoint_hosts() -> None:
    assert checks.https_endpoint("https://[fd00::10]:6443") == "https://[fd00::10]:6443"
    with pytest.raises(ValueError, match="1.2.3 is not a valid IPv4 address"):
        checks.https_endpoint("https://1.2.3:6443")


TALCONFIG = """clusterName: ${CLUSTER_NAME:-lab}
endpoint: ${CLUSTER_ENDPOINT:-https://127.0.0.10:6443}
talosVersion: v1.8.3
kubernetesVersion: v1.31.4
nodes:
  - hostname: ${NODE_1_NAME:-cp-1}
    ipAddress: ${NODE_1_IP:-127.0.0.11}
    controlPlane: true
    networkInterfaces:
      - interface: INTERFACE
  - hostname: cp-2
    ipAddress: 127.0.0.12
    controlPlane: true
  - hostname: wk-1
    ipAddress: 127.0.0.13
    controlPlane: false
"""


def test_a_talconfig_default_that_disagrees_is_reported(write) -> None:
    text = TALCONFIG.replace("${NODE_1_IP:-127.0.0.11}", "${NODE_1_IP:-127.0.0.99}").replace("INTERFACE", "eth0")
    problems = _load(write, copy.deepcopy(BASE), talconfig_text=text)
    assert [str(p) for p in problems] == [
        "talconfig.yaml: line 7: ${NODE_1_IP:-127.0.0.99}: the default 127.0.0.99 disagrees with "
        "bootstrap-config.yaml network.nodes[0].address = 127.0.0.11 (talhelper run without hops's variables would "
        "use 127.0.0.99); make them agree"]


def test_talconfig_defaults_that_agree_pass_even_when_overridden(write) -> None:
    text = TALCONFIG.replace("INTERFACE", "eth0")
    assert _load(write, copy.deepcopy(BASE), talconfig_text=text) == []
    # an override changes what hops passes, not what the file says: the default still agrees with the file
    assert _load(write, copy.deepcopy(BASE), talconfig_text=text, cli_vars={"CLUSTER_NAME": "other"}) == []


@pytest.mark.parametrize("name", ["eth0; reboot", "$(reboot)", "eth0`id`", "a" * 16, "eth 0"])
def test_an_interface_name_with_shell_characters_is_refused(write, name: str) -> None:
    text = TALCONFIG.replace("INTERFACE", repr(name))
    problems = _load(write, copy.deepcopy(BASE), talconfig_text=text)
    assert [p.field for p in problems] == ["nodes[0].networkInterfaces[0].interface"]
    assert problems[0].file == "talconfig.yaml" and "is not a network interface name" in problems[0].message


@pytest.mark.parametrize("name", ["eth0", "enp1s0f1", "bond0.100", "br-lan"])
def test_real_interface_names_pass(write, name: str) -> None:
    assert _load(write, copy.deepcopy(BASE), talconfig_text=TALCONFIG.replace("INTERFACE", name)) == []
