"""The emulated talosctl against the running lab's simulated nodes (all traffic on 127.0.0.1)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hops import port_probe
from hops.lab import lifecycle
from lab_helpers import apply_insecure, wait_running

CP1 = "172.29.51.11"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


def test_client_version_is_the_configured_one(lab, run_tool) -> None:
    done = run_tool("talosctl", "version", "--client")
    assert done.returncode == 0
    assert "\tTag:         v1.8.3" in done.stdout.splitlines()


def test_maintenance_mode_answers_only_insecure_requests(lab, run_tool, talos_configs: Path) -> None:
    insecure = run_tool("talosctl", "version", "--insecure", "-n", CP1)
    assert insecure.returncode == 0, insecure.stderr
    assert f"\tNODE:        {CP1}" in insecure.stdout
    secure = run_tool("talosctl", "--talosconfig", str(talos_configs / "talosconfig"), "version", "-n", CP1)
    assert secure.returncode == 1
    assert secure.stderr.startswith("error getting version: rpc error: code = Unavailable")
    assert UNKNOWN_AUTHORITY in secure.stderr
    disks = run_tool("talosctl", "get", "disks", "--insecure", "-n", CP1)
    assert disks.returncode == 0 and "/dev/sda" not in disks.stderr and "sda" in disks.stdout
    assert disks.stdout.split()[:5] == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION"]
    bootstrap = run_tool("talosctl", "bootstrap", "--insecure", "-n", CP1)
    assert bootstrap.returncode == 1
    members = run_tool("talosctl", "--talosconfig", str(talos_configs / "talosconfig"), "etcd", "members", "-n", CP1)
    assert members.returncode == 1    # no connection at all: an error, not a warning
    assert members.stderr.startswith("error getting members: rpc error: code = Unavailable")


def test_missing_nodes_and_unknown_addresses(lab, run_tool, talos_configs: Path) -> None:
    config = talos_configs / "talosconfig"
    data = yaml.safe_load(config.read_text())
    data["contexts"]["home-ops"]["nodes"] = []
    config.write_text(yaml.safe_dump(data))
    none = run_tool("talosctl", "--talosconfig", str(config), "etcd", "members")
    assert none.returncode == 1
    assert none.stderr.strip() == ("nodes are not set for the command: please use `--nodes` flag or configuration "
                                   "file to set the nodes to run the command against")
    unknown = run_tool("talosctl", "version", "--insecure", "-n", "10.9.9.9")
    assert unknown.returncode == 1
    assert "dial tcp 10.9.9.9:50000: connect: no route to host" in unknown.stderr
    no_config = run_tool("talosctl", "version", "-n", CP1, env={"TALOSCONFIG": str(config.parent / "missing")})
    assert no_config.returncode == 1
    assert "error constructing client: failed to determine endpoints" in no_config.stderr


def test_apply_config_install_reboot_then_only_certificates(lab, run_tool, talos_configs: Path) -> None:
    bad = talos_configs / "bad.yaml"
    bad.write_text("version: v1alpha1\nmachine: {type: controlplane}\n")
    rejected = run_tool("talosctl", "apply-config", "--insecure", "-n", CP1, "-f", str(bad))
    assert rejected.returncode == 1 and "install disk or install disk selector should be defined" in rejected.stderr
    apply_insecure(run_tool, talos_configs, lab, ["talos-cp-1"])
    wait_running(lab, ["talos-cp-1"])
    talosconfig = str(talos_configs / "talosconfig")
    secure = run_tool("talosctl", "--talosconfig", talosconfig, "-n", CP1, "version")
    assert secure.returncode == 0, secure.stderr
    assert "\tEnabled:     RBAC" in secure.stdout
    insecure = run_tool("talosctl", "version", "--insecure", "-n", CP1)
    assert insecure.returncode == 1
    assert "tls: certificate required" in insecure.stderr
    again = run_tool("talosctl", "--talosconfig", talosconfig, "-n", CP1, "apply-config",
                     "-f", str(talos_configs / "home-ops-talos-cp-1.yaml"))
    assert again.returncode == 0 and again.stdout.strip() == "Applied configuration without a reboot"


def test_nothing_listens_on_a_node_that_installs_and_its_port_opens_once_it_runs(lab, run_tool,
                                                                                talos_configs: Path) -> None:
    endpoint = lab["nodes"]["talos-cp-1"]["endpoint"]
    host, _, port = endpoint.rpartition(":")
    assert lifecycle.wait_listening(lab, "talos-cp-1", True)  # maintenance mode: apid answers
    assert port_probe.refused(host, int(port)) is None
    apply_insecure(run_tool, talos_configs, lab, ["talos-cp-1"])
    assert lifecycle.wait_listening(lab, "talos-cp-1", False)  # installing: a bare TCP connect is refused
    assert port_probe.refused(host, int(port)) == "Connection refused"
    wait_running(lab, ["talos-cp-1"])
    assert lifecycle.wait_listening(lab, "talos-cp-1", True)
    assert port_probe.refused(host, int(port)) is None


def test_talosconfig_of_another_cluster_is_rejected(running_nodes, run_tool, tmp_path: Path) -> None:
    other = run_tool("talhelper", "genconfig", "-o", str(tmp_path / "other"))   # fresh secrets: another CA
    assert other.returncode == 0
    done = run_tool("talosctl", "--talosconfig", str(tmp_path / "other" / "talosconfig"), "-n", CP1, "version")
    assert done.returncode == 1 and "tls: bad certificate" in done.stderr


def test_bootstrap_etcd_kubeconfig_and_get(running_nodes, run_tool, tmp_path: Path) -> None:
    tc = ["--talosconfig", running_nodes["talosconfig"]]
    before = run_tool("talosctl", *tc, "-n", CP1, "etcd", "members")   # etcd not running: a per-node warning
    assert (before.returncode, before.stdout) == (0, "")
    assert before.stderr.startswith("WARNING: 1 error occurred:\n\t* 172.29.51.11: rpc error: code = Unknown desc = "
                                    "failed to create etcd client")
    assert run_tool("talosctl", *tc, "-n", CP1, "bootstrap").returncode == 0
    assert lifecycle.wait_cluster(running_nodes, "etcd", "healthy", 10)
    for name in ("talos-cp-2", "talos-cp-3"):
        assert lifecycle.wait_registered(running_nodes, name, 10)
    members = run_tool("talosctl", *tc, "-n", CP1, "etcd", "members")
    assert members.returncode == 0, members.stderr
    lines = members.stdout.splitlines()
    assert lines[0].split() == ["NODE", "ID", "HOSTNAME", "PEER", "URLS", "CLIENT", "URLS", "LEARNER"]
    assert sorted(line.split()[2] for line in lines[1:]) == ["talos-cp-1", "talos-cp-2", "talos-cp-3"]
    status = run_tool("talosctl", *tc, "-n", CP1, "etcd", "status")
    assert status.returncode == 0 and status.stdout.startswith("NODE")

    dest = tmp_path / "kube"
    dest.mkdir()
    assert run_tool("talosctl", *tc, "-n", CP1, "kubeconfig", str(dest)).returncode == 0
    kubeconfig = dest / "kubeconfig"
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    doc = yaml.safe_load(kubeconfig.read_text())
    assert doc["current-context"] == "admin@home-ops"
    assert doc["clusters"][0]["cluster"]["server"] == running_nodes["api_url"]
    refused = run_tool("talosctl", *tc, "-n", CP1, "kubeconfig", str(kubeconfig), "--merge=false")
    assert refused.returncode == 1 and "use --force" in refused.stderr
    assert run_tool("talosctl", *tc, "-n", CP1, "kubeconfig", str(kubeconfig), "--merge=false", "--force").returncode == 0

    ms = run_tool("talosctl", *tc, "-n", CP1, "get", "machinestatus", "-o", "json")
    assert json.loads(ms.stdout)["spec"]["stage"] == "running"
    table = run_tool("talosctl", *tc, "-n", CP1, "get", "members").stdout
    assert "talos-cp-3" in table and "MACHINE TYPE" in table


def test_health_reports_stages_and_fails_at_its_deadline(running_nodes, run_tool) -> None:
    tc = ["--talosconfig", running_nodes["talosconfig"], "-n", CP1]
    assert run_tool("talosctl", *tc, "bootstrap").returncode == 0
    server_side = run_tool("talosctl", *tc, "health", "--server=false", "--wait-timeout", "2s",
                           "--control-plane-nodes", "172.29.51.11,172.29.51.12,172.29.51.13")
    lines = server_side.stdout.splitlines()
    assert "waiting for etcd to be healthy: OK" in lines
    assert "waiting for all k8s nodes to report: OK" in lines
    # no CNI in this test, so the nodes stay NotReady and health times out on that stage
    assert server_side.returncode == 1, server_side.stdout
    assert lines[-1].startswith("waiting for all k8s nodes to report ready: some nodes are not ready")
    assert "healthcheck error" in server_side.stderr


def test_reset_returns_a_node_to_maintenance(running_nodes, run_tool) -> None:
    tc = ["--talosconfig", running_nodes["talosconfig"], "-n", "172.29.51.12"]
    assert run_tool("talosctl", *tc, "reset", "--graceful=false", "--reboot").returncode == 0
    assert run_tool("talosctl", "version", "--insecure", "-n", "172.29.51.12").returncode == 0
    assert run_tool("talosctl", *tc, "version").returncode == 1


def test_validate(lab, run_tool, talos_configs: Path) -> None:
    good = run_tool("talosctl", "validate", "--config", str(talos_configs / "home-ops-talos-cp-1.yaml"),
                    "--mode", "metal")
    assert good.returncode == 0 and good.stdout.strip().endswith("is valid for metal mode")
    broken = talos_configs / "broken.yaml"
    doc = yaml.safe_load((talos_configs / "home-ops-talos-cp-1.yaml").read_text())
    del doc["machine"]["install"]["disk"]
    broken.write_text(yaml.safe_dump(doc))
    bad = run_tool("talosctl", "validate", "--config", str(broken), "--mode", "metal")
    assert bad.returncode == 1
    assert bad.stderr.startswith("1 error occurred:\n\t* install disk or install disk selector should be defined")
    assert run_tool("talosctl", "validate", "--config", str(broken), "--mode", "container").returncode == 0


def test_config_commands_and_unknown_command(lab, run_tool, talos_configs: Path) -> None:
    tc = ["--talosconfig", str(talos_configs / "talosconfig")]
    assert run_tool("talosctl", *tc, "config", "node", CP1).returncode == 0
    info = run_tool("talosctl", *tc, "config", "info").stdout
    assert "Current context:     home-ops" in info and f"Nodes:               {CP1}" in info
    unknown = run_tool("talosctl", "frobnicate")
    assert unknown.returncode == 1 and 'unknown command "frobnicate" for "talosctl"' in unknown.stderr
    bad_flag = run_tool("talosctl", "version", "--frob")
    assert bad_flag.returncode == 1 and "unknown flag: --frob" in bad_flag.stderr
