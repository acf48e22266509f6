"""Worker nodes (README "Nodes"): one control plane with two workers and three with two both bootstrap to the
end on the lab; etcd has exactly the control planes, every node is a Ready Kubernetes Node."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml


def with_nodes(project: Path, control_planes: int, workers: int) -> list[str]:
    """Keep the first `control_planes` nodes of both files and add `workers` workers; the node names."""
    config_file, tal_file = project / "bootstrap-config.yaml", project / "talconfig.yaml"
    config, tal = yaml.safe_load(config_file.read_text()), yaml.safe_load(tal_file.read_text())
    added = [(f"talos-w-{i}", f"172.29.51.{20 + i}") for i in range(1, workers + 1)]
    config["network"]["nodes"] = config["network"]["nodes"][:control_planes] + [
        {"name": name, "address": address, "role": "worker"} for name, address in added]
    tal["nodes"] = tal["nodes"][:control_planes] + [
        {"hostname": name, "ipAddress": address, "controlPlane": False, "installDisk": "/dev/sda",
         "networkInterfaces": [{"interface": "eth0", "dhcp": True}]} for name, address in added]
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    tal_file.write_text(yaml.safe_dump(tal, sort_keys=False))
    return [n["name"] for n in config["network"]["nodes"]]


@pytest.mark.parametrize(("control_planes", "workers"), [(1, 2), (3, 2)])
def test_a_cluster_with_workers_converges(doit, project: Path, control_planes: int, workers: int) -> None:
    names = with_nodes(project, control_planes, workers)
    result = doit("bootstrap_phased", timeout=600)
    assert "Bootstrap complete" in result.stdout
    rows = {line.split("│")[1].strip(): line for line in doit("talos_status").stdout.splitlines()
            if line.startswith("│")}
    assert sorted(rows) == sorted(names)
    for name in names:
        etcd = "yes" if name.startswith("talos-cp") else "-"
        assert [c.strip() for c in rows[name].split("│")[6:8]] == [etcd, "Ready"], rows[name]
