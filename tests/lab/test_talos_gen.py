"""talosctl gen secrets/config and services, and talhelper's node fields, against the lab's nodes."""

from __future__ import annotations

from pathlib import Path

import yaml
from lab_helpers import wait_running

CP1 = "172.29.51.11"


def test_gen_secrets_writes_a_bundle_and_refuses_to_overwrite(lab, run_tool, tmp_path: Path) -> None:
    done = run_tool("talosctl", "gen", "secrets", cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    bundle = yaml.safe_load((tmp_path / "secrets.yaml").read_text())
    assert set(bundle) == {"cluster", "secrets", "trustdinfo", "certs"}
    again = run_tool("talosctl", "gen", "secrets", cwd=tmp_path)
    assert again.returncode == 1 and again.stderr.strip() == "secrets.yaml already exists, use --force to overwrite"
    assert run_tool("talosctl", "gen", "secrets", "--force", cwd=tmp_path).returncode == 0
    assert run_tool("talosctl", "gen", "nonsense").returncode == 1


def test_gen_config_argument_errors(lab, run_tool, tmp_path: Path) -> None:
    one = run_tool("talosctl", "gen", "config", "home", cwd=tmp_path)
    assert (one.returncode, one.stderr.strip()) == (1, "Error: accepts 2 arg(s), received 1")
    plain = run_tool("talosctl", "gen", "config", "home", "172.29.51.10:6443", cwd=tmp_path)
    assert plain.returncode == 1 and 'invalid endpoint URL "172.29.51.10:6443"' in plain.stderr
    missing = run_tool("talosctl", "gen", "config", "home", "https://172.29.51.10:6443", "--with-secrets",
                       "nope.yaml", cwd=tmp_path)
    assert missing.returncode == 1 and "open nope.yaml: no such file or directory" in missing.stderr
    assert not (tmp_path / "controlplane.yaml").exists()


def test_gen_config_bootstraps_a_lab_node_and_services_show_etcd(lab, run_tool, tmp_path: Path) -> None:
    assert run_tool("talosctl", "gen", "secrets", cwd=tmp_path).returncode == 0
    done = run_tool("talosctl", "gen", "config", "home", "https://172.29.51.10:6443", "--with-secrets",
                    "secrets.yaml", "--install-disk", "/dev/sda", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == ["Created controlplane.yaml", "Created worker.yaml", "Created talosconfig"]
    config = yaml.safe_load((tmp_path / "talosconfig").read_text())
    assert config["context"] == "home" and config["contexts"]["home"]["endpoints"] == ["127.0.0.1"]
    assert run_tool("talosctl", "gen", "config", "home", "https://172.29.51.10:6443", cwd=tmp_path).returncode == 1
    valid = run_tool("talosctl", "validate", "-c", "controlplane.yaml", "-m", "metal", cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr

    applied = run_tool("talosctl", "apply-config", "--insecure", "-n", CP1, "-f", "controlplane.yaml", cwd=tmp_path)
    assert applied.returncode == 0, applied.stderr
    wait_running(lab, ["talos-cp-1"])
    tc = ["--talosconfig", str(tmp_path / "talosconfig")]
    assert run_tool("talosctl", *tc, "config", "endpoint", CP1).returncode == 0
    services = run_tool("talosctl", *tc, "-n", CP1, "services")
    assert services.returncode == 0, services.stderr
    rows = {line.split()[1]: line.split()[2] for line in services.stdout.splitlines()[1:]}
    assert services.stdout.split()[:6] == ["NODE", "SERVICE", "STATE", "HEALTH", "LAST", "CHANGE"]
    assert rows["etcd"] == "Preparing" and rows["kubelet"] == "Running"
    assert run_tool("talosctl", *tc, "-n", CP1, "bootstrap").returncode == 0
    etcd = run_tool("talosctl", *tc, "-n", CP1, "service", "etcd")
    assert etcd.returncode == 0 and etcd.stdout.splitlines()[1].split() == ["ID", "etcd"]
    unknown = run_tool("talosctl", *tc, "-n", CP1, "service", "nope")
    assert unknown.returncode == 1 and 'service "nope" not found' in unknown.stderr
    resources = run_tool("talosctl", *tc, "-n", CP1, "get", "services")
    assert resources.returncode == 0, resources.stderr
    lines = resources.stdout.splitlines()
    assert lines[0].split() == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", "RUNNING", "HEALTHY", "HEALTH",
                                "UNKNOWN"]
    assert [CP1, "v1alpha1", "Service", "machined", "1", "true", "false", "true"] in [line.split() for line in lines]
    in_maintenance = run_tool("talosctl", "-n", "172.29.51.12", "get", "services", "--insecure")
    assert in_maintenance.returncode == 1 and "not implemented in maintenance mode" in in_maintenance.stderr


def _talconfig(project: Path, node_extra: dict) -> None:
    tal = yaml.safe_load((project / "talconfig.yaml").read_text())
    tal["nodes"] = tal["nodes"][:1]
    tal["nodes"][0].update(node_extra)
    (project / "talconfig.yaml").write_text(yaml.safe_dump(tal))


def test_talhelper_passes_node_fields_through_and_validate_accepts(lab, run_tool, lab_project: Path) -> None:
    _talconfig(lab_project, {
        "installDisk": None, "installDiskSelector": {"size": ">= 20GB", "type": "ssd"},
        "nameservers": ["1.1.1.1", "9.9.9.9"], "kernelModules": [{"name": "nvme_tcp"}],
        "nodeLabels": {"topology.kubernetes.io/zone": "a"}, "certSANs": ["cp1.home.arpa"],
        "networkInterfaces": [{"interface": "eth0", "addresses": ["172.29.51.11/24"],
                               "routes": [{"network": "0.0.0.0/0", "gateway": "172.29.51.1"}],
                               "vip": {"ip": "172.29.51.10"}}]})
    done = run_tool("talhelper", "genconfig")
    assert done.returncode == 0, done.stderr
    path = lab_project / "clusterconfig" / "home-ops-talos-cp-1.yaml"
    machine = yaml.safe_load(path.read_text())["machine"]
    assert machine["install"]["diskSelector"] == {"size": ">= 20GB", "type": "ssd"}
    assert "disk" not in machine["install"]
    assert machine["network"]["nameservers"] == ["1.1.1.1", "9.9.9.9"]
    assert machine["network"]["interfaces"][0]["routes"][0]["gateway"] == "172.29.51.1"
    assert machine["kernel"]["modules"] == [{"name": "nvme_tcp"}]
    assert machine["nodeLabels"] == {"topology.kubernetes.io/zone": "a"} and machine["certSANs"] == ["cp1.home.arpa"]
    valid = run_tool("talosctl", "validate", "-c", str(path), "-m", "metal")
    assert valid.returncode == 0, valid.stderr


def test_talhelper_rejects_disk_and_selector_together(lab, run_tool, lab_project: Path) -> None:
    _talconfig(lab_project, {"installDisk": "/dev/sda", "installDiskSelector": {"size": ">= 20GB"}})
    done = run_tool("talhelper", "genconfig")
    assert done.returncode == 1
    assert "- field: 'nodes[0].installDiskSelector'\n  * ERROR: installDiskSelector and installDisk cannot be used " \
           "together" in done.stderr


def test_gen_config_single_output_type_to_stdout_and_unknown_types(lab_layout, run_tool, tmp_path: Path) -> None:
    from hops.lab import lifecycle

    lifecycle.install_launchers(lab_layout)        # an offline generator: no running lab needed
    work = tmp_path / "work"
    work.mkdir()
    out = run_tool("talosctl", "gen", "config", "home", "https://172.29.51.10:6443", "-t", "worker", "-o", "-",
                   cwd=work)
    assert out.returncode == 0, out.stderr
    doc = yaml.safe_load(out.stdout)
    assert doc["machine"]["type"] == "worker" and doc["machine"]["ca"]["key"] == ""
    assert list(work.iterdir()) == []
    bogus = run_tool("talosctl", "gen", "config", "home", "https://172.29.51.10:6443", "-t", "bogus", cwd=work)
    assert (bogus.returncode, bogus.stderr.strip()) == (1, 'Error: unknown output type: "bogus"')
