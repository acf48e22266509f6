"""Phase 2's steps in-process: the talhelper/talosctl/op calls each makes on fresh nodes, the ones it makes (none
that change anything, or only the idempotent path) on a converged cluster, and each failure it can report.

Talos has no watch: its steps poll talosctl (hops.waiting.poll_until), so "not yet, then ready" is scripted with
`times=`. Node addresses are the example's moved to 127.0.51.x; no test connects anywhere."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
import yaml

from hops.components import talos
from hops.components.talos import COMPONENT
from hops.errors import StepError, ToolFailed, WaitTimeout
from tests.steps import objects_f1 as o
from tests.steps.harness import World

CP1, CP2, CP3 = (address for _, address in o.NODES)
ITEM_LIST = "op item list --vault homelab --account my.1password.com --format json"
READ = "op read --no-newline op://homelab/talos-secrets/secrets --account my.1password.com"
CREATE = "op item create --vault homelab --account my.1password.com --format json -"


def target(world: World, address: str, insecure: bool = False) -> list[str]:
    """talosctl's node/endpoint/auth arguments as hops passes them: the node's own address, never the VIP."""
    auth = ["--insecure"] if insecure else ["--talosconfig", str(world.endpoints.talosconfig)]
    return ["-n", address, "-e", address, *auth]


def line(world: World, address: str, *args: str, insecure: bool = False) -> str:
    return " ".join(["talosctl", *args, *target(world, address, insecure)])


def answer(world: World, address: str, *args: str, insecure: bool = False, **kw) -> None:
    """Script talosctl `args` on one node (with or without the talosconfig's certificates)."""
    world.runner.answer("talosctl", *args, *target(world, address, insecure), **kw)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def live(step: str, world: World) -> list[bool]:
    results = [check.fn(world.ctx) for check in COMPONENT.step(step).live_checks()]
    return [r[0] if isinstance(r, tuple) else r for r in results]


# --- bootstrap-secrets ----------------------------------------------------------------------------------------
def secret_leaves(bundle: str) -> list[str]:
    data = yaml.safe_load(bundle)
    return [data["secrets"]["bootstraptoken"], data["trustdinfo"]["token"], data["certs"]["etcd"]["key"]]


def everything_said(world: World, out: str) -> str:
    """What reached a user or a log: stdout and every run-log file."""
    logs = world.root.parent / "state" / "logs"
    return out + "".join(p.read_text() for p in logs.rglob("*") if p.is_file())


def test_bootstrap_secrets_fresh_generates_stores_through_stdin_and_writes_a_private_copy(
        world: World, capsys: pytest.CaptureFixture) -> None:
    bundle = o.secrets_bundle()
    world.runner.answer("op", "item", "list", stdout=o.item_list(*o.REQUIRED_ITEMS))
    world.runner.answer("talhelper", "gensecret", stdout=bundle)
    world.runner.answer("op", "item", "create", stdout="{}")
    talos.bootstrap_secrets(world.ctx)
    assert world.runner.lines() == [ITEM_LIST, "talhelper gensecret", CREATE]
    stored = json.loads(world.runner.calls[-1].input or "")
    assert stored == {"title": "talos-secrets", "category": "SECURE_NOTE",
                      "fields": [{"label": "secrets", "type": "CONCEALED", "value": bundle}]}
    path = world.endpoints.secrets_file
    assert path.read_text() == bundle and mode(path) == 0o600
    assert (world.endpoints.cluster_dir / ".gitignore").read_text() == "*\n"
    said = everything_said(world, capsys.readouterr().out) + " ".join(world.runner.lines())
    assert "stored in 1Password item 'talos-secrets'" in said
    assert not [leaf for leaf in secret_leaves(bundle) if leaf in said]  # never a value on a line or in a log


def test_bootstrap_secrets_converged_reads_the_bundle_back_and_changes_nothing(world: World) -> None:
    bundle = o.secrets_bundle()
    world.endpoints.secrets_file.write_text(bundle)
    world.endpoints.secrets_file.chmod(0o600)
    assert live("bootstrap-secrets", world) == [True]
    world.runner.answer("op", "item", "list", stdout=o.item_list(*o.REQUIRED_ITEMS, "talos-secrets"))
    world.runner.answer("op", "read", stdout=bundle.rstrip("\n"))  # --no-newline
    talos.bootstrap_secrets(world.ctx)
    assert world.runner.lines() == [ITEM_LIST, READ]
    assert world.runner.mutating_calls() == []  # never a second gensecret or item create
    assert world.endpoints.secrets_file.read_text() == bundle and mode(world.endpoints.secrets_file) == 0o600


def test_bootstrap_secrets_restores_a_lost_local_copy_from_1password(world: World) -> None:
    bundle = o.secrets_bundle()
    assert live("bootstrap-secrets", world) == [False]
    world.runner.answer("op", "item", "list", stdout=o.item_list("talos-secrets"))
    world.runner.answer("op", "read", stdout=bundle)
    talos.bootstrap_secrets(world.ctx)
    assert world.endpoints.secrets_file.read_text() == bundle
    assert live("bootstrap-secrets", world) == [True]


def test_secrets_file_private_check_is_false_for_a_readable_copy(world: World) -> None:
    world.endpoints.secrets_file.write_text(o.secrets_bundle())
    world.endpoints.secrets_file.chmod(0o644)
    assert talos.secrets_file_private(world.ctx) is False
    world.endpoints.secrets_file.chmod(0o600)
    assert talos.secrets_file_private(world.ctx) is True


def test_bootstrap_secrets_refuses_an_item_that_is_no_bundle_without_echoing_it(world: World) -> None:
    world.runner.answer("op", "item", "list", stdout=o.item_list("talos-secrets"))
    world.runner.answer("op", "read", stdout="cluster: {id: x, secret: hunter2-not-a-bundle}\n")
    with pytest.raises(StepError) as failure:
        talos.bootstrap_secrets(world.ctx)
    assert str(failure.value) == ("the Talos secrets bundle in 1Password item 'talos-secrets' is not a talhelper "
                                  "secrets bundle (missing: secrets, trustdinfo, certs); fix or delete the 1Password "
                                  "item and re-run")
    assert not world.endpoints.secrets_file.exists()


def test_bootstrap_secrets_unreadable_item_names_the_reference_and_ops_error(world: World) -> None:
    world.runner.answer("op", "item", "list", stdout=o.item_list("talos-secrets"))
    error = o.op_error('could not read secret \'op://homelab/talos-secrets/secrets\': error initializing client: '
                       'You are not currently signed in.')
    world.runner.answer("op", "read", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        talos.bootstrap_secrets(world.ctx)
    assert str(failure.value) == ("could not read op://homelab/talos-secrets/secrets (onepassword.items.talos_secrets)"
                                  f" from 1Password: {error.strip()}")


def test_bootstrap_secrets_failing_gensecret_names_the_command_and_stores_nothing(world: World) -> None:
    world.runner.answer("op", "item", "list", stdout=o.item_list())
    world.runner.answer("talhelper", "gensecret", code=1, stderr="failed to generate secrets bundle: entropy\n")
    with pytest.raises(ToolFailed, match="`talhelper gensecret` exited 1:\nfailed to generate secrets bundle"):
        talos.bootstrap_secrets(world.ctx)
    assert world.runner.lines() == [ITEM_LIST, "talhelper gensecret"]


def test_bootstrap_secrets_failing_store_names_the_vault_and_writes_no_local_copy(world: World) -> None:
    world.runner.answer("op", "item", "list", stdout=o.item_list())
    world.runner.answer("talhelper", "gensecret", stdout=o.secrets_bundle())
    error = o.op_error("You do not have permission to perform this action.")
    world.runner.answer("op", "item", "create", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        talos.bootstrap_secrets(world.ctx)
    assert str(failure.value) == f"could not store 'talos-secrets' in 1Password vault 'homelab': {error.strip()}"
    assert not world.endpoints.secrets_file.exists()  # a bundle only on this disk would be lost with it


# --- generate-config ------------------------------------------------------------------------------------------
def genconfig_line(world: World) -> str:
    return (f"talhelper genconfig -c {world.root}/talconfig.yaml -s {world.endpoints.secrets_file} -o "
            f"{world.endpoints.cluster_dir} --no-gitignore")


def test_generate_config_runs_talhelper_and_makes_its_outputs_private(world: World) -> None:
    out = world.endpoints.cluster_dir
    assert live("generate-config", world) == [False]
    world.runner.answer("talhelper", "genconfig", stdout=o.genconfig_stdout(out), effect=o.genconfig_writes(out))
    talos.generate_config(world.ctx)
    assert world.runner.lines() == [genconfig_line(world)]
    assert world.runner.calls[0].env == world.ctx.settings.env_for_tools()  # overrides reach talhelper's ${VAR}s
    produced = [*talos.machine_configs(world.ctx), world.endpoints.talosconfig]
    assert [p.name for p in produced] == ["home-ops-talos-cp-1.yaml", "home-ops-talos-cp-2.yaml",
                                          "home-ops-talos-cp-3.yaml", "talosconfig"]
    assert [mode(p) for p in produced] == [0o600] * 4
    assert (out / ".gitignore").read_text() == "*\n"
    assert live("generate-config", world) == [True] and world.api_writes == []


def test_generate_config_names_the_configs_talhelper_did_not_write(world: World) -> None:
    out = world.endpoints.cluster_dir
    world.runner.answer("talhelper", "genconfig", effect=o.genconfig_writes(out, nodes=("talos-cp-1", "talos-cp-2")))
    with pytest.raises(StepError) as failure:
        talos.generate_config(world.ctx)
    assert str(failure.value) == (f"talhelper genconfig did not write {out}/home-ops-talos-cp-3.yaml: do the node "
                                  "hostnames in talconfig.yaml match network.nodes in bootstrap-config.yaml?")
    assert live("generate-config", world) == [False]


def test_generate_config_failing_talhelper_names_the_command_and_its_error(world: World) -> None:
    world.runner.answer("talhelper", "genconfig", code=1,
                        stderr="failed to parse config file: yaml: line 12: did not find expected key\n")
    with pytest.raises(ToolFailed) as failure:
        talos.generate_config(world.ctx)
    assert str(failure.value) == (f"`{genconfig_line(world)}` exited 1:\nfailed to parse config file: yaml: line 12: "
                                  "did not find expected key")


# --- validate-configs -----------------------------------------------------------------------------------------
def validate_answers(world: World, **failing: str) -> list[str]:
    lines = []
    for path in talos.machine_configs(world.ctx):
        node = path.stem.removeprefix("home-ops-")
        args = ("validate", "--config", str(path), "--mode", "metal")
        if node in failing:
            world.runner.answer("talosctl", *args, code=1, stderr=failing[node])
        else:
            world.runner.answer("talosctl", *args, stdout=f"{path} is valid for metal mode\n")
        lines.append(" ".join(["talosctl", *args]))
    return lines


def test_validate_configs_checks_each_config_for_metal_and_changes_nothing(world: World) -> None:
    lines = validate_answers(world)
    talos.validate_configs(world.ctx)
    assert sorted(world.runner.lines()) == sorted(lines) and world.runner.mutating_calls() == []  # asked at once


def test_validate_configs_names_every_invalid_config_with_talosctls_problems(world: World) -> None:
    validate_answers(world, **{"talos-cp-2": "1 error occurred:\n\t* install disk or diskSelector should be defined\n",
                               "talos-cp-3": "open x: no such file or directory\n"})
    with pytest.raises(StepError) as failure:
        talos.validate_configs(world.ctx)
    assert str(failure.value) == (
        "machine configs are invalid:\n"
        "  - talos-cp-2 (home-ops-talos-cp-2.yaml): 1 error occurred:\n\t* install disk or diskSelector should be "
        "defined\n"
        "  - talos-cp-3 (home-ops-talos-cp-3.yaml): open x: no such file or directory")


# --- apply-configs --------------------------------------------------------------------------------------------
def apply_line(world: World, name: str, address: str, insecure: bool) -> str:
    return line(world, address, "apply-config", "-f", str(talos.machine_config(world.ctx, name)), insecure=insecure)


def maintenance(world: World, address: str) -> None:
    """A node booted from the Talos ISO: it answers only --insecure."""
    answer(world, address, "version", insecure=True, stdout=o.version_output(address, maintenance=True))


def configured(world: World, address: str) -> None:
    """A node running its config: --insecure is refused (no client certificate), the talosconfig's accepted."""
    answer(world, address, "version", insecure=True, code=1,
           stderr=o.talosctl_error("getting version", o.CERT_REQUIRED))
    answer(world, address, "version", stdout=o.version_output(address))


def test_apply_configs_fresh_applies_insecure_to_nodes_in_maintenance_mode(world: World) -> None:
    for _, address in o.NODES:
        maintenance(world, address)
    world.runner.answer("talosctl", "apply-config")
    talos.apply_configs(world.ctx)
    assert sorted(world.runner.mutating_calls()) == [apply_line(world, n, a, insecure=True) for n, a in o.NODES]


def test_apply_configs_converged_updates_with_certificates_never_insecure(world: World) -> None:
    for _, address in o.NODES:
        configured(world, address)
    world.runner.answer("talosctl", "apply-config", stdout="Applied configuration without a reboot\n")
    talos.apply_configs(world.ctx)
    assert sorted(world.runner.mutating_calls()) == [apply_line(world, n, a, insecure=False) for n, a in o.NODES]


def test_apply_configs_waits_through_a_node_still_booting(world: World) -> None:
    for _, address in o.NODES:
        maintenance(world, address)
    refused = o.talosctl_error("getting version", o.refused(CP2))
    answer(world, CP2, "version", code=1, stderr=refused)
    answer(world, CP2, "version", insecure=True, code=1, stderr=refused, times=2)
    world.runner.answer("talosctl", "apply-config")
    talos.apply_configs(world.ctx)
    assert world.runner.lines().count(line(world, CP2, "version", insecure=True)) == 3
    assert apply_line(world, "talos-cp-2", CP2, insecure=True) in world.runner.mutating_calls()


def test_apply_configs_refuses_a_node_of_another_secrets_bundle(world: World) -> None:
    for _, address in o.NODES:
        maintenance(world, address)
    answer(world, CP1, "version", insecure=True, code=1, stderr=o.talosctl_error("getting version", o.CERT_REQUIRED))
    answer(world, CP1, "version", code=1, stderr=o.talosctl_error("getting version", o.BAD_CERT))
    world.runner.answer("talosctl", "apply-config")
    with pytest.raises(StepError) as failure:
        talos.apply_configs(world.ctx)
    text = str(failure.value)
    assert text.startswith("apply-config failed on 1 of 3 nodes:\n  - talos-cp-1 (127.0.51.11): node talos-cp-1 "
                           f"(127.0.51.11) is configured with other credentials than {world.endpoints.talosconfig}")
    assert "tls: bad certificate" in text and text.endswith("or wipe the node with `doit talos_reset`")
    assert apply_line(world, "talos-cp-1", CP1, insecure=False) not in world.runner.lines()


def test_apply_configs_names_the_node_talosctl_refused_with_its_output(world: World) -> None:
    for _, address in o.NODES:
        maintenance(world, address)
    world.runner.answer("talosctl", "apply-config")
    rejected = o.talosctl_error("applying new configuration", "rpc error: code = InvalidArgument desc = configuration "
                                "validation failed: install disk or diskSelector should be defined")
    world.runner.answer("talosctl", "apply-config", "-f", str(talos.machine_config(world.ctx, "talos-cp-3")),
                        code=1, stderr=rejected)
    with pytest.raises(StepError) as failure:
        talos.apply_configs(world.ctx)
    assert str(failure.value) == (
        "apply-config failed on 1 of 3 nodes:\n  - talos-cp-3 (127.0.51.13): "
        f"`{apply_line(world, 'talos-cp-3', CP3, insecure=True)}` exited 1:\n{rejected.strip()}")


def test_apply_configs_times_out_naming_the_node_that_never_answers(world: World) -> None:
    for _, address in o.NODES:
        maintenance(world, address)
    refused = o.talosctl_error("getting version", o.refused(CP3))
    answer(world, CP3, "version", code=1, stderr=refused)
    answer(world, CP3, "version", insecure=True, code=1, stderr=refused)
    world.runner.answer("talosctl", "apply-config")
    o.hurry(world, "talos", 0.2)
    with pytest.raises(StepError) as failure:
        talos.apply_configs(world.ctx)
    assert str(failure.value) == (
        "apply-config failed on 1 of 3 nodes:\n  - talos-cp-3 (127.0.51.13): timed out waiting for talos-cp-3 "
        f"(127.0.51.13) to answer on the Talos API ({talos.EXPECTED_NOISE}): {refused.strip()}")
    assert len(world.runner.mutating_calls()) == 2  # the two nodes that answered got their config


# --- wait-nodes-ready -----------------------------------------------------------------------------------------
def test_wait_nodes_ready_waits_through_install_and_reboot_answers(world: World, talos_apis: dict) -> None:
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address))
    answer(world, CP1, "version", code=1, stderr=o.talosctl_error("getting version", o.refused(CP1)), times=1)
    answer(world, CP2, "version", code=1, stderr=o.talosctl_error("getting version", o.TLS_INTERNAL), times=2)
    talos.wait_nodes_ready(world.ctx)
    counts = [world.runner.lines().count(line(world, a, "version")) for _, a in o.NODES]
    assert counts == [2, 3, 1]  # a node that answered is not asked again
    assert world.runner.mutating_calls() == []


def test_wait_nodes_ready_converged_asks_each_node_once(world: World, talos_apis: dict) -> None:
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address))
    talos.wait_nodes_ready(world.ctx)
    assert sorted(world.runner.lines()) == sorted(line(world, a, "version") for _, a in o.NODES)
    assert world.runner.mutating_calls() == []


def test_wait_nodes_ready_times_out_naming_the_node_and_its_stage(world: World, talos_apis: dict) -> None:
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address))
    answer(world, CP3, "version", code=1, stderr=o.talosctl_error("getting version", o.refused(CP3)))
    o.hurry(world, "talos", 0.2)
    with pytest.raises(WaitTimeout, match=r"^timed out waiting for nodes to finish installing and rebooting: still "
                                          r"installing/rebooting: talos-cp-3 \(installing or rebooting: connection refused\)$"):
        talos.wait_nodes_ready(world.ctx)


def test_wait_nodes_ready_asks_no_talosctl_of_a_node_whose_port_refuses(world: World, talos_apis: dict) -> None:
    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address))
    talos_apis.pop("talos-cp-2").close()
    world.endpoints.talos_ports.pop("talos-cp-2")  # nothing listens: the node installs or reboots
    o.hurry(world, "talos", 0.3)
    with pytest.raises(WaitTimeout, match=r"talos-cp-2 \(installing or rebooting: connection refused\)$"):
        talos.wait_nodes_ready(world.ctx)
    assert world.runner.lines().count(line(world, CP2, "version")) == 0
    assert [world.runner.lines().count(line(world, a, "version")) for a in (CP1, CP3)] == [1, 1]


def test_wait_nodes_ready_asks_a_node_once_its_port_opens(world: World, talos_apis: dict) -> None:
    talos_apis.pop("talos-cp-2").close()
    world.endpoints.talos_ports.pop("talos-cp-2")
    reopened: list[socket.socket] = []

    def open_cp2(_call: object) -> None:  # while cp-3 still reboots, cp-2's apid starts listening
        if not reopened:
            reopened.append(socket.create_server(("127.0.0.1", 0)))
            world.endpoints.talos_ports["talos-cp-2"] = reopened[0].getsockname()[1]

    for _, address in o.NODES:
        answer(world, address, "version", stdout=o.version_output(address))
    answer(world, CP3, "version", code=1, stderr=o.talosctl_error("getting version", o.TLS_INTERNAL), times=2,
           effect=open_cp2)
    try:
        talos.wait_nodes_ready(world.ctx)
    finally:
        reopened[0].close()
    assert [world.runner.lines().count(line(world, a, "version")) for a in (CP1, CP2, CP3)] == [1, 1, 3]


# --- bootstrap-etcd -------------------------------------------------------------------------------------------
def no_etcd_yet(world: World) -> None:
    answer(world, CP1, "etcd", "members", code=1, stderr=o.talosctl_error("getting members", o.NO_ETCD))
    answer(world, CP1, "version", stdout=o.version_output(CP1))


def test_once_guard_etcd_with_a_member_is_bootstrapped(world: World) -> None:
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, [("talos-cp-1", CP1)]))
    assert talos.etcd_bootstrapped(world.ctx) is True
    assert COMPONENT.step("bootstrap-etcd").once is talos.etcd_bootstrapped
    assert world.runner.mutating_calls() == []


def test_once_guard_no_etcd_on_a_reachable_node_is_not_bootstrapped(world: World) -> None:
    no_etcd_yet(world)
    assert talos.etcd_bootstrapped(world.ctx) is False
    # talosctl v1.8.3 itself: a per-node warning and exit 0 with no table
    answer(world, CP1, "etcd", "members", stderr="1 error occurred:\n\t* 127.0.51.11: " + o.NO_ETCD + "\n")
    assert talos.etcd_bootstrapped(world.ctx) is False
    assert world.runner.mutating_calls() == []


def test_once_guard_an_unreachable_node_is_an_error_not_a_guess(world: World) -> None:
    refused = o.talosctl_error("getting version", o.refused(CP1))
    answer(world, CP1, "etcd", "members", code=1, stderr=refused)
    answer(world, CP1, "version", code=1, stderr=refused)
    with pytest.raises(StepError, match=r"^cannot tell whether etcd is bootstrapped: talos-cp-1 \(127.0.51.11\) does "
                                        r"not answer \(error getting version: .*connection refused.*\); not "
                                        r"bootstrapping blindly$"):
        talos.etcd_bootstrapped(world.ctx)


def test_bootstrap_etcd_fresh_bootstraps_once_on_the_first_control_plane_node(world: World) -> None:
    answer(world, CP1, "bootstrap")
    talos.bootstrap_etcd(world.ctx)
    assert world.runner.lines() == [line(world, CP1, "bootstrap")]


def test_bootstrap_etcd_waits_through_not_yet_asking_etcd_before_each_new_attempt(world: World) -> None:
    no_etcd_yet(world)
    answer(world, CP1, "bootstrap")
    answer(world, CP1, "bootstrap", code=1, stderr=o.talosctl_error("executing bootstrap", o.TIME_NOT_SYNCED), times=1)
    answer(world, CP1, "bootstrap", code=1, stderr=o.talosctl_error("executing bootstrap", o.NOT_AVAILABLE), times=1)
    talos.bootstrap_etcd(world.ctx)
    bootstrap, members = line(world, CP1, "bootstrap"), line(world, CP1, "etcd", "members")
    assert world.runner.lines() == [bootstrap, members, bootstrap, members, bootstrap]


def test_bootstrap_etcd_after_a_lost_answer_finds_the_member_and_never_bootstraps_twice(world: World) -> None:
    answer(world, CP1, "bootstrap", code=124, stderr="\ntimed out after 300s")
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, [("talos-cp-1", CP1)]))
    talos.bootstrap_etcd(world.ctx)
    assert world.runner.mutating_calls() == [line(world, CP1, "bootstrap")]


def test_bootstrap_etcd_already_exists_counts_as_done(world: World, capsys: pytest.CaptureFixture) -> None:
    answer(world, CP1, "bootstrap", code=1, stderr=o.talosctl_error("executing bootstrap", o.ALREADY_BOOTSTRAPPED))
    talos.bootstrap_etcd(world.ctx)
    assert "etcd was bootstrapped before" in capsys.readouterr().out
    assert world.runner.mutating_calls() == [line(world, CP1, "bootstrap")]


@pytest.mark.parametrize("refusal", [o.CONTROL_PLANE_ONLY, o.UNKNOWN_AUTHORITY])
def test_bootstrap_etcd_a_refusal_that_never_clears_fails_at_once_with_talosctls_words(world: World,
                                                                                       refusal: str) -> None:
    stderr = o.talosctl_error("executing bootstrap", refusal)
    answer(world, CP1, "bootstrap", code=1, stderr=stderr)
    with pytest.raises(ToolFailed) as failure:
        talos.bootstrap_etcd(world.ctx)
    assert str(failure.value) == f"`{line(world, CP1, 'bootstrap')}` exited 1:\n{stderr.strip()}"
    assert world.runner.lines() == [line(world, CP1, "bootstrap")]


def test_bootstrap_etcd_times_out_saying_what_talos_waits_for(world: World) -> None:
    no_etcd_yet(world)
    answer(world, CP1, "bootstrap", code=1, stderr=o.talosctl_error("executing bootstrap", o.NOT_AVAILABLE))
    o.hurry(world, "talos", 0.2)
    with pytest.raises(WaitTimeout) as failure:
        talos.bootstrap_etcd(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for talos-cp-1 (127.0.51.11) to accept the etcd bootstrap: its container runtime is not "
        "up yet (bootstrap is not available yet). Talos accepts it once the node's services run and its clock is in "
        "sync: check its time servers and `talosctl -n 127.0.51.11 dmesg`, then re-run")


# --- cluster-ready --------------------------------------------------------------------------------------------
def kubeconfig_line(world: World) -> str:
    return line(world, CP1, "kubeconfig", str(world.endpoints.kubeconfig), "--force", "--merge=false")


def test_cluster_ready_fetches_a_private_kubeconfig_and_sees_every_node_registered(world: World) -> None:
    assert talos.cluster_registered(world.ctx) is False  # no kubeconfig: no API call either
    world.holds(*o.nodes(world.ctx.settings, ready=False))  # NotReady: no CNI until phase 3
    world.runner.answer("talosctl", "kubeconfig", effect=o.kubeconfig_writes(world))
    talos.cluster_ready(world.ctx)
    assert world.runner.lines() == [kubeconfig_line(world)]
    assert mode(world.endpoints.kubeconfig) == 0o600
    assert live("cluster-ready", world) == [True] and world.api_writes == []


def test_cluster_ready_returns_when_the_last_node_registers_while_it_watches(world: World) -> None:
    nodes = o.nodes(world.ctx.settings, ready=False)
    world.holds(*nodes[:2])
    world.runner.answer("talosctl", "kubeconfig", effect=o.kubeconfig_writes(world))
    later = o.OnceWatched(world, "v1", "Node", lambda: world.store.apply(nodes[2]))
    talos.cluster_ready(world.ctx)
    later.join()
    assert talos.cluster_registered(world.ctx) is True


def test_cluster_ready_times_out_naming_the_unregistered_node(world: World) -> None:
    world.holds(*o.nodes(world.ctx.settings, ready=False)[:2])
    world.runner.answer("talosctl", "kubeconfig", effect=o.kubeconfig_writes(world))
    o.hurry(world, "talos", 0.3)
    with pytest.raises(WaitTimeout, match="^timed out waiting for every configured node to register: not registered "
                                          "yet: talos-cp-3$"):
        talos.cluster_ready(world.ctx)
    assert talos.cluster_registered(world.ctx) is False


def test_cluster_ready_failing_kubeconfig_names_the_command(world: World) -> None:
    stderr = o.talosctl_error("copying", o.refused(CP1))
    world.runner.answer("talosctl", "kubeconfig", code=1, stderr=stderr)
    with pytest.raises(ToolFailed) as failure:
        talos.cluster_ready(world.ctx)
    assert str(failure.value) == f"`{kubeconfig_line(world)}` exited 1:\n{stderr.strip()}"


# --- health ---------------------------------------------------------------------------------------------------
ALL_MEMBERS = [(name, address) for name, address in o.NODES]


def healthy_cluster(world: World) -> None:
    world.cluster_exists()
    world.holds(*o.nodes(world.ctx.settings), *o.static_pods(world.ctx.settings))
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS))


def test_health_converged_holds_and_changes_nothing(world: World) -> None:
    healthy_cluster(world)
    assert live("health", world) == [True]
    talos.health(world.ctx)
    assert set(world.runner.lines()) == {line(world, CP1, "etcd", "members")}
    assert world.runner.mutating_calls() == [] and world.api_writes == []


def test_health_waits_for_the_other_control_plane_nodes_to_join_etcd(world: World) -> None:
    healthy_cluster(world)
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS[:2]), times=1)
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS[:1]), times=1)
    talos.health(world.ctx)
    assert world.runner.lines().count(line(world, CP1, "etcd", "members")) == 3


def test_health_times_out_naming_the_missing_etcd_members(world: World) -> None:
    healthy_cluster(world)
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS[:1]))
    assert talos.healthy(world.ctx) is False
    o.hurry(world, "talos", 0.2)
    with pytest.raises(WaitTimeout) as failure:
        talos.health(world.ctx)
    assert str(failure.value).endswith(
        "etcd members differ from the control-plane nodes: missing ['talos-cp-2', 'talos-cp-3']; 1 members for 3 "
        "control-plane nodes")


def test_health_etcd_member_at_another_address_or_unknown_is_named(world: World) -> None:
    healthy_cluster(world)
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(
        CP1, [ALL_MEMBERS[0], ("talos-cp-2", "127.0.51.99"), ALL_MEMBERS[2], ("old-cp-4", "127.0.51.14")]))
    assert talos.etcd_problem(world.ctx) == (
        "etcd members differ from the control-plane nodes: unexpected ['old-cp-4']; wrong address ['talos-cp-2']; "
        "4 members for 3 control-plane nodes")
    answer(world, CP1, "etcd", "members", code=1, stderr=o.talosctl_error("getting members", o.NO_ETCD))
    assert talos.etcd_problem(world.ctx) == "etcd members cannot be listed yet"


def test_health_ipv6_members_in_etcds_bracketed_urls_are_the_control_plane_nodes(world: World) -> None:
    # addresses from overrides as a user sets them; no traffic: talosctl is scripted
    ipv6 = {"NODE_1_IP": "fd51::11", "NODE_2_IP": "fd51::12", "NODE_3_IP": "fd51::13", "CLUSTER_VIP": "fd51::10",
            "CLUSTER_ENDPOINT": "https://[fd51::10]:6443"}
    world.ctx.env = {**world.ctx.env, **ipv6}
    world.ctx.__dict__.pop("settings", None)
    members = [("talos-cp-1", "[fd51::11]"), ("talos-cp-2", "[fd51::12]"), ("talos-cp-3", "[fd51::13]")]
    answer(world, "fd51::11", "etcd", "members", stdout=o.etcd_members("fd51::11", members))
    assert talos.etcd_problem(world.ctx) is None
    members[1] = ("talos-cp-2", "[fd51::99]")
    answer(world, "fd51::11", "etcd", "members", stdout=o.etcd_members("fd51::11", members))
    assert talos.etcd_problem(world.ctx) == ("etcd members differ from the control-plane nodes: wrong address "
                                             "['talos-cp-2']")


def test_health_times_out_naming_the_control_plane_pod_not_running(world: World) -> None:
    healthy_cluster(world)
    pods = o.static_pods(world.ctx.settings)
    world.holds({**pods[-1], "status": {**pods[-1]["status"], "phase": "Pending"}})
    world.store.delete("v1", "Pod", "kube-apiserver-talos-cp-2", "kube-system")
    assert talos.healthy(world.ctx) is False
    o.hurry(world, "talos", 0.3)
    with pytest.raises(WaitTimeout, match=r"^timed out waiting for control-plane pods to run: control-plane pods not "
                                          r"Running: kube-apiserver-talos-cp-2: absent, kube-scheduler-talos-cp-3: "
                                          r"Pending$"):
        talos.health(world.ctx)


def test_healthy_check_without_a_kubeconfig_is_false_without_asking_anything(world: World) -> None:
    assert talos.healthy(world.ctx) is False
    assert world.runner.calls == []


def test_bootstrap_etcd_step_on_a_bootstrapped_cluster_never_calls_bootstrap(world: World,
                                                                              capsys: pytest.CaptureFixture) -> None:
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS))
    assert o.run_step(world, COMPONENT, "bootstrap-etcd") == {}
    assert world.runner.lines() == [line(world, CP1, "etcd", "members")]  # the once-guard only
    assert "[talos:bootstrap-etcd] already done (checked the cluster); not doing it again" in capsys.readouterr().out
    assert (world.ctx.state_dir / "etcd-bootstrapped").exists()


# --- health: its etcd members read ahead (hops.read_ahead) -----------------------------------------------------
def health_check():
    (check,) = COMPONENT.step("health").live_checks()
    return check


def test_health_s_etcd_members_are_read_ahead_once_and_answer_the_check(world: World) -> None:
    healthy_cluster(world)
    world.endpoints.talosconfig.write_text("talosconfig")
    answer(world, CP1, "etcd", "members", code=1, stderr="a second call: the read-ahead answer was not used")
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS), times=1)  # the first call
    check = health_check()
    assert check.read_ahead is not None
    check.read_ahead(world.ctx)
    check.read_ahead(world.ctx)  # started once per key
    assert check.fn(world.ctx) == (True, "etcd members match the control plane; control-plane pods Running")
    assert world.runner.lines() == [line(world, CP1, "etcd", "members")]


def test_a_read_ahead_answer_missing_a_member_fails_the_check(world: World) -> None:
    healthy_cluster(world)
    world.endpoints.talosconfig.write_text("talosconfig")
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS[:2]), times=1)  # read ahead
    health_check().read_ahead(world.ctx)
    assert health_check().fn(world.ctx) == (False, "etcd members differ from the control-plane nodes: missing "
                                                   "['talos-cp-3']; 2 members for 3 control-plane nodes")
    assert world.runner.lines() == [line(world, CP1, "etcd", "members")]


def test_after_a_step_acted_the_check_asks_again(world: World) -> None:
    healthy_cluster(world)
    world.endpoints.talosconfig.write_text("talosconfig")
    answer(world, CP1, "etcd", "members", stdout=o.etcd_members(CP1, ALL_MEMBERS[:1]), times=1)
    health_check().read_ahead(world.ctx)
    world.ctx.read_ahead.invalidate()  # what hops.actions does after every step's action
    assert health_check().fn(world.ctx) == (True, "etcd members match the control plane; control-plane pods Running")
    assert world.runner.lines() == [line(world, CP1, "etcd", "members")] * 2


def test_without_a_talosconfig_nothing_is_read_ahead(world: World) -> None:
    healthy_cluster(world)
    health_check().read_ahead(world.ctx)
    assert world.runner.calls == []
