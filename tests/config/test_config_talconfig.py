"""talconfig.yaml: ${VAR} substitution, parsing, and the cross-check against bootstrap-config.yaml."""

from __future__ import annotations

import copy

import pytest
import yaml

from hops.config import ConfigError, Problem, load_settings
from hops.config.talconfig import parse_talconfig, substitute
from cfg_helpers import BASE, talconfig_for

TAL = "talconfig.yaml"


def _problems(root, **kwargs) -> list[Problem]:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, **{"env": {}, **kwargs})
    return caught.value.problems


# --- substitution --------------------------------------------------------------------------------------------

def test_substitute_plain_and_default_forms() -> None:
    text = "a: ${A}\nb: ${B:-fallback}\nc: ${C-dash}\nd: ${EMPTY:-used}\ne: ${EMPTY-kept}\n"
    out, problems = substitute(text, {"A": "1", "EMPTY": ""})
    assert out == "a: 1\nb: fallback\nc: dash\nd: used\ne: \n"
    assert problems == []


def test_substitute_reports_unset_variable_with_line_but_not_in_comments() -> None:
    text = "# uses ${DOCUMENTED}\nkey: value  # ${ALSO_COMMENT}\nendpoint: https://${HOST}:6443\n"
    out, problems = substitute(text, {})
    assert out.endswith("endpoint: https://:6443\n")
    assert problems == [Problem(TAL, "line 3", "${HOST} is not set (set HOST in the environment or on the command "
                                               "line, or write ${HOST:-default})")]


def test_unknown_talhelper_keys_are_kept() -> None:
    data = talconfig_for(BASE) | {"allowSchedulingOnControlPlanes": True, "controlPlane": {"schematic": {}}}
    tal, problems = parse_talconfig(yaml.safe_dump(data), {})
    assert problems == []
    assert tal is not None
    assert tal.raw["allowSchedulingOnControlPlanes"] is True
    assert tal.raw["cniConfig"] == {"name": "none"}
    assert tal.patches == ["@./talos/patches/cluster.yaml"]
    assert [n.control_plane for n in tal.nodes] == [True, True, False]
    assert tal.nodes[0].raw["installDisk"] == "/dev/sda"


def test_substitution_uses_environment_command_line_and_file_values(write) -> None:
    talconfig = yaml.safe_dump(talconfig_for(BASE)).replace("127.0.0.11", "${NODE_1_IP}")
    talconfig = talconfig.replace("127.0.0.12", "${LAB_CP2_IP:-127.0.0.12}").replace("v1.31.4", "${K8S}")
    root = write(BASE, talconfig_text=talconfig)
    settings = load_settings(root, env={"K8S": "v1.31.4"})            # NODE_1_IP comes from the file
    assert settings.talconfig.nodes[0].ip_address == "127.0.0.11"
    assert settings.talconfig.nodes[1].ip_address == "127.0.0.12"     # ${VAR:-default}
    assert settings.talconfig.kubernetes_version == "v1.31.4"
    overridden = load_settings(root, cli_vars={"NODE_1_IP": "127.0.3.1"}, env={"K8S": "v1.31.4"})
    assert overridden.talconfig.nodes[0].ip_address == "127.0.3.1"


def test_unset_variable_in_talconfig_is_a_problem(write) -> None:
    talconfig = yaml.safe_dump(talconfig_for(BASE)).replace("v1.31.4", "${K8S_VERSION}")
    problems = _problems(write(BASE, talconfig_text=talconfig))
    assert any(p.file == TAL and p.field.startswith("line ") and "${K8S_VERSION} is not set" in p.message
               for p in problems), problems


# --- parsing -------------------------------------------------------------------------------------------------

def test_talconfig_yaml_syntax_error_has_line_and_column(write) -> None:
    problems = _problems(write(BASE, talconfig_text="clusterName: lab\nnodes:\n  - hostname: cp-1\n   ipAddress: x\n"))
    assert len(problems) == 1
    assert problems[0].file == TAL
    assert problems[0].field.startswith("line 4, column ")
    assert problems[0].message.startswith("YAML syntax error")


def test_talconfig_field_problems(write) -> None:
    data = talconfig_for(BASE)
    data["endpoint"] = "127.0.0.10:6443"
    data["talosVersion"] = "one"
    data["nodes"][0]["ipAddress"] = "127.0.0"
    data["nodes"][1]["controlPlane"] = "yes"
    del data["nodes"][2]["hostname"]
    problems = _problems(write(BASE, data))
    fields = {p.field: p.message for p in problems}
    assert fields["endpoint"] == ("'127.0.0.10:6443' does not start with https:// (expected an https URL with host "
                                  "and port, e.g. https://192.168.1.10:6443)")
    assert "does not look like a version" in fields["talosVersion"]
    assert "'127.0.0' is not an IP address" in fields["nodes[0].ipAddress"]
    assert "expected true or false" in fields["nodes[1].controlPlane"]
    assert fields["nodes[2].hostname"] == "is required but missing"
    assert all(p.file == TAL for p in problems)


def test_comma_separated_addresses_use_the_first(write) -> None:
    data = talconfig_for(BASE)
    data["nodes"][0]["ipAddress"] = "127.0.0.11, 127.0.0.111"
    settings = load_settings(write(BASE, data), env={})
    assert settings.talconfig.nodes[0].ip_address == "127.0.0.11"


# --- cross-check ---------------------------------------------------------------------------------------------

def test_override_mismatch_names_both_files_fields_and_override(write) -> None:
    problems = _problems(write(BASE), cli_vars={"NODE_1_IP": "127.0.1.10"})
    assert problems == [Problem(
        TAL, "nodes[0].ipAddress",
        "bootstrap-config.yaml network.nodes[0].address = 127.0.1.10 (from command line NODE_1_IP) but "
        "talconfig.yaml nodes[0].ipAddress = 127.0.0.11; set it there too or use ${NODE_1_IP} in talconfig.yaml")]


def test_file_mismatches_are_each_reported(write) -> None:
    data = talconfig_for(BASE)
    data["clusterName"] = "other"
    data["endpoint"] = "https://127.0.0.99:6443"
    data["talosVersion"] = "v1.7.0"
    data["kubernetesVersion"] = "1.30.0"
    data["nodes"][2]["controlPlane"] = True
    data["nodes"][1]["ipAddress"] = "127.0.0.22"
    problems = _problems(write(BASE, data))
    by_field = {p.field: p.message for p in problems}
    assert set(by_field) == {"clusterName", "endpoint", "talosVersion", "kubernetesVersion",
                             "nodes[1].ipAddress", "nodes[2].controlPlane"}
    assert by_field["clusterName"] == ("bootstrap-config.yaml cluster.name = lab but talconfig.yaml clusterName = "
                                       "other; make them agree (or use ${CLUSTER_NAME} in talconfig.yaml)")
    assert by_field["talosVersion"] == ("bootstrap-config.yaml talos.version = v1.8.3 but talconfig.yaml "
                                        "talosVersion = v1.7.0; make them agree")
    assert "network.nodes[2].role = worker but talconfig.yaml nodes[2].controlPlane = true" in \
        by_field["nodes[2].controlPlane"]
    assert all(p.file == TAL for p in problems)


def test_versions_compare_without_v_prefix_and_endpoints_by_host_and_port(write) -> None:
    data = talconfig_for(BASE)
    data["talosVersion"] = "1.8.3"
    data["endpoint"] = "https://127.0.0.10:6443/"
    assert load_settings(write(BASE, data), env={}).talconfig.talos_version == "1.8.3"


def test_missing_talos_version_is_reported(write) -> None:
    data = talconfig_for(BASE)
    del data["talosVersion"]
    problems = _problems(write(BASE, data))
    assert [p.field for p in problems] == ["talosVersion"]
    assert "talhelper would use its own default" in problems[0].message


def test_nodes_are_matched_by_name_not_position(write) -> None:
    data = talconfig_for(BASE)
    data["nodes"].reverse()
    settings = load_settings(write(BASE, data), env={})
    assert [n.hostname for n in settings.talconfig.nodes] == ["wk-1", "cp-2", "cp-1"]


def test_node_only_in_one_file(write) -> None:
    config = copy.deepcopy(BASE)
    config["network"]["nodes"].append({"name": "wk-2", "address": "127.0.0.14", "role": "worker"})
    data = talconfig_for(BASE)
    data["nodes"].append({"hostname": "wk-9", "ipAddress": "127.0.0.19", "controlPlane": False})
    problems = _problems(write(config, data))
    assert Problem(TAL, "nodes", "node wk-2 (bootstrap-config.yaml network.nodes[3].name) has no entry with hostname "
                                 "wk-2; add it or use ${NODE_4_NAME} as its hostname in talconfig.yaml") in problems
    assert Problem(TAL, "nodes[3].hostname", "wk-9 is not a node in bootstrap-config.yaml network.nodes "
                                             "(expected the same node names in both files)") in problems


def test_renamed_node_by_override_names_the_override(write) -> None:
    problems = _problems(write(BASE), env={"NODE_3_NAME": "wk-renamed"})
    assert any(p.field == "nodes" and "from environment NODE_3_NAME" in p.message for p in problems), problems
    assert any(p.field == "nodes[2].hostname" and p.message.startswith("wk-1 is not a node") for p in problems)


def test_cidr_and_domain_are_cross_checked_when_present(write) -> None:
    data = talconfig_for(BASE) | {"domain": "other.local", "clusterPodNets": ["10.42.0.0/16"],
                                  "clusterSvcNets": ["10.96.0.0/12"]}
    fields = {p.field for p in _problems(write(BASE, data))}
    assert fields == {"domain", "clusterPodNets[0]"}


def test_vip_in_talconfig_interfaces_is_cross_checked(write) -> None:
    data = talconfig_for(BASE)
    data["nodes"][0]["networkInterfaces"] = [{"interface": "eth0", "dhcp": True, "vip": {"ip": "127.0.0.10"}}]
    data["nodes"][1]["networkInterfaces"] = [{"interface": "eth0", "dhcp": True, "vip": {"ip": "127.0.0.99"}}]
    problems = _problems(write(BASE, data))
    assert [p.field for p in problems] == ["nodes[1].networkInterfaces[0].vip.ip"]
    assert problems[0].message.startswith("bootstrap-config.yaml network.vip = 127.0.0.10 but talconfig.yaml "
                                          "nodes[1].networkInterfaces[0].vip.ip = 127.0.0.99")
