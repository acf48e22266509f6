"""bootstrap_init's answer checks (each true and false) and the files it renders, in-process."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from hops import init_answers as ans
from hops.config import load_settings
from hops.init_files import _layout as init_files_layout
from hops.init_files import bootstrap_config, merged_config, scalar, talconfig

CP = ans.NodeAnswer("cp-1", "controlplane", "192.168.1.11")
WORKER = ans.NodeAnswer("w-1", "worker", "192.168.1.21")


def answers(**changes: object) -> ans.Answers:
    base = ans.Answers(cluster="lab", nodes=[CP, WORKER], network="192.168.1.0/24", vip="192.168.1.10",
                     endpoint="https://192.168.1.10:6443", op_account="my.1password.com", op_vault="homelab",
                     owner="me", repository="lab-ops", branch="main", path="infrastructure/clusters/lab")
    for key, value in changes.items():
        setattr(base, key, value)
    return base


def refused(check, *args: object) -> str:
    with pytest.raises(ans.AnswerError) as caught:
        check(*args)
    return str(caught.value)


def test_cluster_name() -> None:
    assert ans.cluster_name(" lab ") == "lab"
    assert "not a DNS-1123 label" in refused(ans.cluster_name, "Lab")


def test_node_name_must_be_a_label_no_other_node_has() -> None:
    assert ans.node_name("cp-2", [CP]) == "cp-2"
    assert "already the name of another node" in refused(ans.node_name, "cp-1", [CP])
    assert "not a DNS-1123 label" in refused(ans.node_name, "cp_1", [])


def test_role_and_the_last_node_without_a_control_plane() -> None:
    assert ans.role("Worker", [CP], last=True) == "worker"
    assert ans.role("worker", [], last=False) == "worker"  # a control plane may still follow
    assert "expected at least one" in refused(ans.role, "worker", [WORKER], True)
    assert "not a role" in refused(ans.role, "master", [], False)


def test_address_checks() -> None:
    a = answers()
    assert ans.address("192.168.1.12", [CP], a) == "192.168.1.12"
    assert "already the address of node cp-1" in refused(ans.address, "192.168.1.11", [CP], a)
    assert "expected one IP version" in refused(ans.address, "fd00::12", [CP], a)
    assert "pod network 10.244.0.0/16" in refused(ans.address, "10.244.3.4", [], a)
    assert "not an IP address" in refused(ans.address, "192.168.1", [], a)


def test_network_must_hold_every_control_plane() -> None:
    a = answers()
    assert ans.network("192.168.1.77/24", a) == "192.168.1.0/24"  # host bits are fine: it is where the node is
    assert "does not contain control plane cp-1" in refused(ans.network, "192.168.2.0/24", a)
    assert "no prefix length" in refused(ans.network, "192.168.1.0", a)
    assert "not a network" in refused(ans.network, "192.168.1.0/33", a)


def test_vip_checks() -> None:
    a = answers()
    assert ans.vip("192.168.1.10", a) == "192.168.1.10"
    assert ans.vip("none", a) is None
    assert "outside the node network" in refused(ans.vip, "192.168.2.10", a)
    assert "node cp-1's address" in refused(ans.vip, "192.168.1.11", a)
    assert "broadcast address" in refused(ans.vip, "192.168.1.255", a)
    assert "network address" in refused(ans.vip, "192.168.1.0", a)


def test_repository_and_node_forms() -> None:
    assert ans.repository("me/lab-ops.git") == ("me", "lab-ops")
    assert "not owner/repository" in refused(ans.repository, "lab-ops")
    assert "not a GitHub user" in refused(ans.repository, "m e/lab")
    a = answers(nodes=[], network="")
    assert ans.parse_node("cp-1=controlplane=192.168.1.11", [], a, False) == CP
    assert ans.parse_node("cp-6:controlplane:fd00::16", [], a, False).address == "fd00::16"
    assert "is not NAME:ROLE:ADDRESS" in refused(ans.parse_node, "cp-1:controlplane", [], a, False)


def test_defaults() -> None:
    assert ans.default_network([WORKER, CP]) == "192.168.1.0/24"
    assert ans.default_network([ans.NodeAnswer("cp", "controlplane", "fd00::11")]) == "fd00::/64"
    assert ans.default_endpoint(answers(vip=None)) == "https://192.168.1.11:6443"
    assert ans.default_endpoint(answers(vip="fd00::10")) == "https://[fd00::10]:6443"


@pytest.mark.parametrize("value", ["plain", "yes", "1.10", "#x", "a: b", "@./x", "", " padded", "null", True, 3])
def test_scalar_reads_back_as_the_value(value: object) -> None:
    assert yaml.safe_load(f"key: {scalar(value)}")["key"] == value


@pytest.mark.parametrize("nodes", [[CP, WORKER], [ans.NodeAnswer("cp-1", "controlplane", "fd00::11")]],
                         ids=["ipv4-with-worker", "ipv6"])
def test_rendered_files_load_and_follow_overrides(tmp_path: Path, nodes: list[ans.NodeAnswer]) -> None:
    six = ":" in nodes[0].address
    a = answers(nodes=nodes, vip="fd00::10" if six else "192.168.1.10",
                endpoint="https://[fd00::10]:6443" if six else "https://192.168.1.10:6443")
    config = merged_config(a, {})
    (tmp_path / "bootstrap-config.yaml").write_text(bootstrap_config(config))
    (tmp_path / "talconfig.yaml").write_text(talconfig(config, tmp_path))
    settings = load_settings(tmp_path, cli_vars={}, env={})
    assert [n.address for n in settings.config.network.nodes] == [n.address for n in nodes]
    assert settings.talconfig.nodes[0].ip_address == nodes[0].address
    moved = load_settings(tmp_path, cli_vars={"NODE_1_IP": "fd00::99" if six else "192.168.1.99"}, env={})
    assert moved.talconfig.nodes[0].ip_address == moved.config.network.nodes[0].address  # both files moved


def test_unasked_settings_come_from_the_base_mapping() -> None:
    config = merged_config(answers(), {"bootstrap": {"check_interval": 7}, "talos": {"version": "v1.9.0"},
                                       "network": {"vip": "192.168.1.99", "pod_cidr": "10.42.0.0/16"}})
    assert config.bootstrap.check_interval == 7 and config.talos.version == "v1.9.0"
    assert config.network.pod_cidr == "10.42.0.0/16" and config.network.vip == "192.168.1.10"  # answers win
    assert merged_config(answers(vip=None), {"network": {"vip": "192.168.1.99"}}).network.vip is None


def test_settings_the_layout_does_not_name_are_kept() -> None:
    from hops.config.model import BootstrapConfig

    base = {"hooks": {"networking": {"before": [{"run": ["./scripts/check-switch.sh"], "timeout": 30}]}},
            "bootstrap": {"metrics_file": "metrics.prom", "interactive": True, "check_interval": 3}}
    config = merged_config(answers(), base)
    text = bootstrap_config(config)
    assert "# Precedence:" in text  # still the commented layout, not the plain fallback
    assert BootstrapConfig.model_validate(yaml.safe_load(text)) == config
    again = yaml.safe_load(text)
    assert again["hooks"]["networking"]["before"][0]["run"] == ["./scripts/check-switch.sh"]
    assert again["bootstrap"]["metrics_file"] == "metrics.prom" and again["bootstrap"]["interactive"] is True


def test_a_layout_that_would_lose_a_setting_falls_back_to_a_plain_dump(monkeypatch: pytest.MonkeyPatch) -> None:
    from hops import init_files
    from hops.config.model import BootstrapConfig

    config = merged_config(answers(), {"bootstrap": {"check_interval": 3}})
    monkeypatch.setattr(init_files, "_layout", _broken_layout)
    text = init_files.bootstrap_config(config)
    assert "# Precedence:" not in text  # the plain dump
    assert BootstrapConfig.model_validate(yaml.safe_load(text)) == config


_real_layout = init_files_layout


def _broken_layout(config) -> str:
    """The layout with a value written wrongly (as a bug in it would): check_interval 3 becomes 4."""
    return _real_layout(config).replace("check_interval: 3", "check_interval: 4")
