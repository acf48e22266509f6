"""Precedence: command line > environment > bootstrap-config.yaml > defaults, and `sources` says which won."""

from __future__ import annotations

import copy

import pytest
import yaml

from hops.config import OVERRIDES, ConfigError, Problem, load_settings
from hops.config.overrides import variable_for
from cfg_helpers import BASE, talconfig_for

# talconfig that follows the overridable values through talhelper-style substitution
SUBSTITUTED_TALCONFIG = """\
clusterName: ${CLUSTER_NAME}
endpoint: ${CLUSTER_ENDPOINT}
talosVersion: v1.8.3
kubernetesVersion: v1.31.4
nodes:
  - hostname: ${NODE_1_NAME}
    ipAddress: ${NODE_1_IP}
    controlPlane: true
  - hostname: ${NODE_2_NAME}
    ipAddress: ${NODE_2_IP}
    controlPlane: true
  - hostname: ${NODE_3_NAME}
    ipAddress: ${NODE_3_IP}
    controlPlane: false
"""


@pytest.fixture
def root(write):
    return write(BASE, talconfig_text=SUBSTITUTED_TALCONFIG)


def test_file_value_beats_default(root) -> None:
    settings = load_settings(root, env={})
    assert settings.config.cluster.name == "lab"
    assert settings.sources["cluster.name"] == "bootstrap-config.yaml"
    assert settings.config.cluster.domain == "cluster.local"
    assert settings.sources["cluster.domain"] == "default"


def test_environment_beats_file(root) -> None:
    settings = load_settings(root, env={"CLUSTER_NAME": "staging", "CLUSTER_DOMAIN": "lab.internal"})
    assert settings.config.cluster.name == "staging"
    assert settings.sources["cluster.name"] == "environment CLUSTER_NAME"
    assert settings.config.cluster.domain == "lab.internal"
    assert settings.sources["cluster.domain"] == "environment CLUSTER_DOMAIN"


def test_command_line_beats_environment(root) -> None:
    settings = load_settings(root, cli_vars={"CLUSTER_NAME": "production", "NODE_1_IP": "127.0.1.10"},
                             env={"CLUSTER_NAME": "staging", "NODE_1_IP": "127.0.2.10"})
    assert settings.config.cluster.name == "production"
    assert settings.sources["cluster.name"] == "command line CLUSTER_NAME"
    assert settings.config.network.nodes[0].address == "127.0.1.10"
    assert settings.sources["network.nodes[0].address"] == "command line NODE_1_IP"
    assert settings.sources["network.nodes[1].address"] == "bootstrap-config.yaml"
    # talconfig's ${NODE_1_IP} saw the same winning value
    assert settings.talconfig.nodes[0].ip_address == "127.0.1.10"
    assert settings.talconfig.cluster_name == "production"


def test_env_defaults_to_os_environ(root, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OP_VAULT", "from-os-env")
    settings = load_settings(root)
    assert settings.config.onepassword.vault == "from-os-env"
    assert settings.sources["onepassword.vault"] == "environment OP_VAULT"


def test_every_variable_sets_its_field(root) -> None:
    cli = {"CLUSTER_ENDPOINT": "https://127.0.0.20:6443", "CLUSTER_VIP": "127.0.0.20", "NODE_2_NAME": "cp-two",
           "OP_ACCOUNT": "team.1password.com", "GITHUB_OWNER": "someone", "GITHUB_REPOSITORY": "fleet",
           "GITOPS_BRANCH": "lab", "HOPS_USE_MISE": "1"}
    settings = load_settings(root, cli_vars=cli, env={"HOPS_USE_MISE": "false", "OP_VAULT": "v2"})
    c = settings.config
    assert (c.cluster.endpoint, c.network.vip, c.network.nodes[1].name) == ("https://127.0.0.20:6443", "127.0.0.20",
                                                                             "cp-two")
    assert (c.onepassword.account, c.onepassword.vault) == ("team.1password.com", "v2")
    assert (c.gitops.owner, c.gitops.repository, c.gitops.branch, c.tools.use_mise) == ("someone", "fleet", "lab", True)
    assert settings.sources["tools.use_mise"] == "command line HOPS_USE_MISE"
    assert settings.node_by_name("cp-two").address == "127.0.0.12"


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("TRUE", True), ("1", True), ("false", False),
                                                ("0", False)])
def test_use_mise_boolean_spellings(root, text: str, expected: bool) -> None:
    assert load_settings(root, env={"HOPS_USE_MISE": text}).config.tools.use_mise is expected


def test_use_mise_invalid_names_the_override(root) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, env={"HOPS_USE_MISE": "sometimes"})
    assert caught.value.problems == [Problem("bootstrap-config.yaml", "tools.use_mise",
                                             "'sometimes' (from environment HOPS_USE_MISE) is not a boolean "
                                             "(expected true, false, 1 or 0)")]


def test_empty_values_count_as_unset(root) -> None:
    settings = load_settings(root, cli_vars={"CLUSTER_NAME": ""}, env={"CLUSTER_NAME": "  "})
    assert settings.config.cluster.name == "lab"
    assert settings.sources["cluster.name"] == "bootstrap-config.yaml"


def test_unrelated_variables_are_ignored(root) -> None:
    settings = load_settings(root, cli_vars={"FORCE_PHASE": "talos"}, env={"NODE_X_IP": "nonsense", "PATH": "/bin"})
    assert settings.config.cluster.name == "lab"


def test_node_number_beyond_the_list_is_a_problem(root) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, cli_vars={"NODE_4_IP": "127.0.0.14"}, env={})
    assert caught.value.problems == [Problem(
        "bootstrap-config.yaml", "network.nodes",
        "NODE_4_IP=127.0.0.14 (from command line) refers to node 4 but network.nodes has 3 nodes; "
        "add node 4 to the file first")]


def test_node_numbers_start_at_one(root) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, env={"NODE_0_NAME": "cp-0"})
    assert "node numbers start at 1" in str(caught.value)


def test_invalid_override_value_is_validated_and_attributed(root) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(root, cli_vars={"NODE_2_IP": "172.29.51"}, env={})
    lines = str(caught.value).splitlines()
    assert lines[0] == ("bootstrap-config.yaml: network.nodes[1].address: '172.29.51' is not an IP address "
                        "(expected e.g. 192.168.1.10) (from command line NODE_2_IP)")
    # talconfig.yaml uses ${NODE_2_IP}, so talhelper would get the same bad value: reported there too
    assert lines[1:] == ["talconfig.yaml: nodes[1].ipAddress: '172.29.51' is not an IP address "
                         "(expected e.g. 192.168.1.10)"]


def test_override_creates_a_missing_section(write) -> None:
    config = copy.deepcopy(BASE)
    del config["gitops"]
    root = write(config, talconfig_for(BASE))
    with pytest.raises(ConfigError):
        load_settings(root, env={})
    settings = load_settings(root, env={"GITHUB_OWNER": "envowner"})
    assert settings.config.gitops.owner == "envowner"
    assert settings.sources["gitops.owner"] == "environment GITHUB_OWNER"
    assert settings.sources["gitops.branch"] == "default"


def test_env_for_tools_carries_resolved_values(root) -> None:
    settings = load_settings(root, cli_vars={"NODE_1_IP": "127.0.1.10"}, env={"HOPS_USE_MISE": "0"})
    tools_env = settings.env_for_tools()
    assert tools_env["NODE_1_IP"] == "127.0.1.10"           # from the command line
    assert tools_env["NODE_2_IP"] == "127.0.0.12"           # from the file
    assert tools_env["CLUSTER_DOMAIN"] == "cluster.local"   # default
    assert tools_env["HOPS_USE_MISE"] == "false"
    assert set(tools_env) >= {"CLUSTER_NAME", "CLUSTER_ENDPOINT", "CLUSTER_VIP", "NODE_3_NAME", "OP_ACCOUNT",
                              "OP_VAULT", "GITHUB_OWNER", "GITHUB_REPOSITORY", "GITOPS_BRANCH"}


def test_override_table_is_data_covering_every_variable() -> None:
    table = {o.variable: o.field for o in OVERRIDES}
    assert table == {
        "CLUSTER_NAME": "cluster.name", "CLUSTER_ENDPOINT": "cluster.endpoint", "CLUSTER_DOMAIN": "cluster.domain",
        "CLUSTER_VIP": "network.vip", "NODE_<n>_IP": "network.nodes[<n-1>].address",
        "NODE_<n>_NAME": "network.nodes[<n-1>].name", "OP_ACCOUNT": "onepassword.account",
        "OP_VAULT": "onepassword.vault", "GITHUB_OWNER": "gitops.owner", "GITHUB_REPOSITORY": "gitops.repository",
        "GITOPS_BRANCH": "gitops.branch", "HOPS_USE_MISE": "tools.use_mise",
    }
    assert all(o.description for o in OVERRIDES)
    assert variable_for("network.nodes[2].name") == "NODE_3_NAME"
    assert variable_for("gitops.path") is None


def test_sources_cover_every_leaf(root) -> None:
    text = yaml.safe_dump(BASE)
    assert "bootstrap" not in text
    sources = load_settings(root, env={}).sources
    assert sources["bootstrap.timeouts.talos"] == "default"
    assert sources["tools.required.talosctl"] == "default"
    assert sources["network.nodes[2].role"] == "bootstrap-config.yaml"
    assert set(sources.values()) == {"bootstrap-config.yaml", "default"}


def test_node_override_without_any_nodes_in_the_file(write) -> None:
    config = copy.deepcopy(BASE)
    del config["network"]["nodes"]
    root = write(config, talconfig_for(BASE))
    with pytest.raises(ConfigError) as caught:
        load_settings(root, cli_vars={"NODE_1_IP": "127.0.0.11"}, env={})
    assert Problem("bootstrap-config.yaml", "network.nodes",
                   "NODE_1_IP=127.0.0.11 (from command line) refers to node 1 but network.nodes has 0 nodes; "
                   "add node 1 to the file first") in caught.value.problems
