"""Every validation rule of bootstrap-config.yaml fails with the right file, field and expectation."""

from __future__ import annotations

import copy
from typing import Any, Callable

import pytest

from hops.config import ConfigError, Problem, load_settings
from cfg_helpers import BASE, talconfig_for

FILE = "bootstrap-config.yaml"


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutation that sets a dotted path (list indexes as numbers: network.nodes.1.address)."""
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = config
        for part in parents:
            target = target.setdefault(part, {}) if isinstance(part, str) else target[part]
        target[last] = value
    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(config: dict[str, Any]) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        target: Any = config
        for part in parents:
            target = target[part]
        del target[last]
    return mutate


def _problems(write, mutate: Callable[[dict[str, Any]], None]) -> list[Problem]:
    config = copy.deepcopy(BASE)
    mutate(config)
    root = write(config, talconfig_for(BASE))
    with pytest.raises(ConfigError) as caught:
        load_settings(root, env={})
    return caught.value.problems


RULES = [
    ("network.nodes.1.address", "172.29.51", "network.nodes[1].address",
     "'172.29.51' is not an IP address (expected e.g. 192.168.1.10)"),
    ("network.nodes.0.address", 127.5, "network.nodes[0].address", "127.5 is not an IP address"),
    ("network.vip", "127.0.0.300", "network.vip", "'127.0.0.300' is not an IP address"),
    ("cluster.endpoint", "http://127.0.0.10:6443", "cluster.endpoint", "does not start with https://"),
    ("cluster.endpoint", "https://127.0.0.10", "cluster.endpoint", "has no port"),
    ("cluster.endpoint", "https://:6443", "cluster.endpoint", "has no host"),
    ("cluster.endpoint", "https://127.0.0.10:6443/api", "cluster.endpoint", "has a path"),
    ("network.pod_cidr", "10.244.0.1/16", "network.pod_cidr", "not a network in CIDR notation"),
    ("network.service_cidr", "services", "network.service_cidr", "(expected e.g. 10.244.0.0/16)"),
    ("network.nodes.0.name", "CP_1", "network.nodes[0].name", "'CP_1' is not a DNS-1123 label"),
    ("cluster.name", "home.ops", "cluster.name", "'home.ops' is not a DNS-1123 label"),
    ("cluster.name", "x" * 64, "cluster.name", "at most 63 characters"),
    ("cluster.domain", "Cluster Local", "cluster.domain", "is not a DNS name"),
    ("network.nodes.1.name", "cp-1", "network.nodes[1].name",
     "duplicate node name cp-1 (also network.nodes[0].name"),
    ("network.nodes.2.address", "127.0.0.11", "network.nodes[2].address",
     "duplicate node address 127.0.0.11 (also network.nodes[0].address"),
    ("network.vip", "127.0.0.12", "network.vip", "127.0.0.12 is also network.nodes[1].address"),
    ("network.nodes.0.role", "master", "network.nodes[0].role", "'master' is not one of 'controlplane' or 'worker'"),
    ("network.nodes", [], "network.nodes", "is empty (expected at least 1 entry)"),
    ("bootstrap.timeouts.talos", -5, "bootstrap.timeouts.talos", "-5 is not positive"),
    ("bootstrap.timeouts.gitops", 0, "bootstrap.timeouts.gitops", "0 is not positive"),
    ("bootstrap.timeouts.services", "soon", "bootstrap.timeouts.services", "'soon' is invalid (expected a number"),
    ("bootstrap.retry.attempts", 0, "bootstrap.retry.attempts", "0 is not positive"),
    ("bootstrap.retry.attempts", 2.5, "bootstrap.retry.attempts", "expected a whole number"),
    ("bootstrap.retry.delay", -1, "bootstrap.retry.delay", "-1 is not positive"),
    ("bootstrap.check_interval", 0, "bootstrap.check_interval", "0 is not positive"),
    ("bootstrap.command_timeout", -0.5, "bootstrap.command_timeout", "-0.5 is not positive"),
    ("talos.version", "1.8", "talos.version", "'1.8' does not look like a version (expected e.g. v1.8.3"),
    ("talos.kubernetes_version", "latest", "talos.kubernetes_version", "does not look like a version"),
    ("tools.required", {"helm": 3.16}, "tools.required.helm", "3.16 does not look like a version"),
    ("tools.use_mise", "perhaps", "tools.use_mise", "expected true or false"),
    ("gitops.owner", "-bad-", "gitops.owner", "is not a GitHub user or organisation name"),
    ("gitops.branch", "feature..x", "gitops.branch", "is not a valid git branch name"),
    ("gitops.path", "../outside", "gitops.path", "is not a relative path inside the repository"),
    ("gitops.namespace", "Flux_System", "gitops.namespace", "is not a DNS-1123 label"),
    ("onepassword.vault", "", "onepassword.vault", "is empty"),
    ("network", ["not", "a", "mapping"], "network", "expected a mapping of keys to values"),
]


@pytest.mark.parametrize(("path", "value", "field", "expected"), RULES, ids=[f"{r[2]}={r[1]!r}"[:60] for r in RULES])
def test_rule_reports_file_field_and_expectation(write, path: str, value: Any, field: str, expected: str) -> None:
    problems = _problems(write, _set(path, value))
    matching = [p for p in problems if p.field == field]
    assert matching, f"no problem for {field}: {problems}"
    assert matching[0].file == FILE
    assert expected in matching[0].message


def test_problem_line_format_matches_the_documented_example(write) -> None:
    problems = _problems(write, _set("network.nodes.1.address", "172.29.51"))
    assert [str(p) for p in problems] == [
        "bootstrap-config.yaml: network.nodes[1].address: '172.29.51' is not an IP address (expected e.g. 192.168.1.10)"
    ]


def test_no_controlplane_node(write) -> None:
    def all_workers(config: dict[str, Any]) -> None:
        for node in config["network"]["nodes"]:
            node["role"] = "worker"
    problems = _problems(write, all_workers)
    assert Problem(FILE, "network.nodes", "no node has role controlplane (expected at least one)") in problems


@pytest.mark.parametrize(("path", "field"), [("cluster.name", "cluster.name"), ("network.nodes", "network.nodes"),
                                             ("network.nodes.2.address", "network.nodes[2].address"),
                                             ("gitops", "gitops")])
def test_required_field_missing(write, path: str, field: str) -> None:
    problems = _problems(write, _delete(path))
    assert any(p.field == field and p.message.startswith("is required but missing") for p in problems), problems


def test_unknown_key_suggests_the_close_name(write) -> None:
    problems = _problems(write, _set("network.nodes.0.adress", "127.0.0.11"))
    assert Problem(FILE, "network.nodes[0].adress", "unknown key (did you mean 'address'?)") in problems


def test_unknown_top_level_key_suggests_and_far_key_lists_allowed(write) -> None:
    def typos(config: dict[str, Any]) -> None:
        config["gitop"] = {"branch": "main"}
        config["tools"] = {"zzz": 1}
    problems = _problems(write, typos)
    assert Problem(FILE, "gitop", "unknown key (did you mean 'gitops'?)") in problems
    far = [p for p in problems if p.field == "tools.zzz"]
    assert far and far[0].message == "unknown key (allowed: required, use_mise)"


def test_several_problems_are_reported_together(write) -> None:
    def three_mistakes(config: dict[str, Any]) -> None:
        config["cluster"]["name"] = "Lab"
        config["network"]["nodes"][0]["address"] = "not-an-ip"
        config["bootstrap"] = {"retry": {"attempts": -1}}
    problems = _problems(write, three_mistakes)
    assert {p.field for p in problems} >= {"cluster.name", "network.nodes[0].address", "bootstrap.retry.attempts"}
    assert all(p.file == FILE for p in problems)


def test_cross_field_rules_still_run_when_other_fields_are_invalid(write) -> None:
    def mistakes(config: dict[str, Any]) -> None:
        config["cluster"]["endpoint"] = "ftp://nowhere"
        config["network"]["nodes"][2]["name"] = "cp-2"
    fields = {p.field for p in _problems(write, mistakes)}
    assert {"cluster.endpoint", "network.nodes[2].name"} <= fields


def test_garbage_shapes_give_problems_not_tracebacks(write) -> None:
    def garbage(config: dict[str, Any]) -> None:
        config["cluster"] = 5
        config["network"]["nodes"] = ["cp-1", {"name": ["x"], "address": {"a": 1}}]
        config["bootstrap"] = {"timeouts": [1, 2]}
    problems = _problems(write, garbage)
    fields = {p.field for p in problems}
    assert {"cluster", "network.nodes[0]", "network.nodes[1].name", "network.nodes[1].address",
            "bootstrap.timeouts"} <= fields


def test_empty_yaml_values_say_empty(write) -> None:
    def blanks(config: dict[str, Any]) -> None:
        config["cluster"]["name"] = None
        config["bootstrap"] = {"check_interval": None}
    problems = _problems(write, blanks)
    assert Problem(FILE, "cluster.name", "is empty (expected a value)") in problems
    assert Problem(FILE, "bootstrap.check_interval", "is empty (expected a number of seconds)") in problems
