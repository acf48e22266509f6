"""The window after a node boots in which Talos refuses `talosctl bootstrap` as "not yet", its `notyet` fault, and
the seeded durations behind it (real lab processes on 127.0.0.1; the drawn durations in-process)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import yaml

from hops.lab import clock, faults, lifecycle
from lab_helpers import apply_insecure, wait_running

CP1, CP2, WORKER = "172.29.51.11", "172.29.51.12", "172.29.51.14"
NOT_AVAILABLE = "error executing bootstrap: rpc error: code = FailedPrecondition desc = bootstrap is not available yet"
NOT_IN_SYNC = "error executing bootstrap: rpc error: code = FailedPrecondition desc = time is not in sync yet"
CONTROL_PLANE_ONLY = ("error executing bootstrap: rpc error: code = FailedPrecondition desc = bootstrap can only be "
                      "performed on a control plane node")


def add_worker(project: Path) -> None:
    """One worker node (talos-worker-4) in both bootstrap-config.yaml and talconfig.yaml."""
    config = yaml.safe_load((project / "bootstrap-config.yaml").read_text())
    config["network"]["nodes"].append({"name": "talos-worker-4", "address": WORKER, "role": "worker"})
    tal = yaml.safe_load((project / "talconfig.yaml").read_text())
    tal["nodes"].append({"hostname": "talos-worker-4", "ipAddress": WORKER, "controlPlane": False,
                         "installDisk": "/dev/sda", "networkInterfaces": [{"interface": "eth0", "dhcp": True}]})
    (project / "bootstrap-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / "talconfig.yaml").write_text(yaml.safe_dump(tal, sort_keys=False))


@pytest.fixture
def booted(start_lab, run_tool, lab_dir: Path):
    """boot(faults) -> (lab info, talosctl args with the talosconfig): the lab started with those faults, configs
    generated from the project as it is then, every node installed and running."""
    def boot(spec: str | None = None) -> tuple[dict, list[str]]:
        info = start_lab(spec)
        configs = lab_dir / "clusterconfig"
        generated = run_tool("talhelper", "genconfig", "-o", str(configs))
        assert generated.returncode == 0, generated.stderr
        apply_insecure(run_tool, configs, info)
        wait_running(info)
        return info, ["--talosconfig", str(configs / "talosconfig")]
    return boot


def window(lab_layout, name: str) -> str:
    return lifecycle.status(lab_layout)["simulation"]["nodes"][name]["not_yet"]


def test_in_the_window_bootstrap_is_not_available_yet_then_works(booted, run_tool, lab_layout) -> None:
    info, tc = booted("notyet:talos-cp-1:inf")
    version = run_tool("talosctl", *tc, "-n", CP1, "version")
    assert version.returncode == 0, version.stderr          # apid answers in the window
    members = run_tool("talosctl", *tc, "-n", CP1, "etcd", "members")
    assert (members.returncode, members.stdout) == (0, "")   # etcd does not run yet: talosctl only warns
    assert members.stderr.startswith("WARNING: 1 error occurred:")
    refused = run_tool("talosctl", *tc, "-n", CP1, "bootstrap")
    assert (refused.returncode, refused.stdout, refused.stderr) == (1, "", NOT_AVAILABLE + "\n")
    assert window(lab_layout, "talos-cp-1") == "services" and window(lab_layout, "talos-cp-2") == ""
    assert lifecycle.status(lab_layout)["simulation"]["etcd"] == "none"   # a refusal bootstraps nothing

    faults.clear(lab_layout)                                 # "until cleared"
    assert window(lab_layout, "talos-cp-1") == ""
    done = run_tool("talosctl", *tc, "-n", CP1, "bootstrap")
    assert done.returncode == 0, done.stderr
    assert lifecycle.wait_cluster(info, "etcd", "healthy", 10)
    again = run_tool("talosctl", *tc, "-n", CP1, "bootstrap")
    assert again.returncode == 1
    assert again.stderr.strip() == ("error executing bootstrap: rpc error: code = AlreadyExists desc = etcd data "
                                    "directory is not empty")


def test_time_not_in_sync_is_answered_once_the_runtime_is_up(booted, run_tool, lab_layout) -> None:
    info, tc = booted("notyet:talos-cp-1:inf:time")
    assert window(lab_layout, "talos-cp-1") == "time"
    refused = run_tool("talosctl", *tc, "-n", CP1, "bootstrap")
    assert (refused.returncode, refused.stderr) == (1, NOT_IN_SYNC + "\n")
    faults.clear(lab_layout)
    assert run_tool("talosctl", *tc, "-n", CP1, "bootstrap").returncode == 0
    assert lifecycle.wait_cluster(info, "etcd", "healthy", 10)


def test_the_fault_holds_only_its_node_and_only_for_its_seconds(booted, run_tool, lab_layout) -> None:
    # 0 simulated seconds: no hold at all; a long hold on cp-2 leaves cp-1 alone
    info, tc = booted("notyet:talos-cp-1:0,notyet:talos-cp-2:600000")
    assert window(lab_layout, "talos-cp-1") == "" and window(lab_layout, "talos-cp-2") == "services"
    held = run_tool("talosctl", *tc, "-n", CP2, "bootstrap")
    assert (held.returncode, held.stderr) == (1, NOT_AVAILABLE + "\n")
    assert run_tool("talosctl", *tc, "-n", CP1, "bootstrap").returncode == 0
    assert lifecycle.wait_cluster(info, "etcd", "healthy", 10)


def test_a_worker_answers_control_plane_only_after_its_window(lab_project: Path, booted, run_tool, lab_layout) -> None:
    add_worker(lab_project)
    info, tc = booted("notyet:talos-worker-4:inf")
    assert run_tool("talosctl", *tc, "-n", WORKER, "version").returncode == 0
    # Talos checks the container runtime before the node type: a worker in its window says "not yet" too
    early = run_tool("talosctl", *tc, "-n", WORKER, "bootstrap")
    assert (early.returncode, early.stderr) == (1, NOT_AVAILABLE + "\n")
    faults.clear(lab_layout)
    refused = run_tool("talosctl", *tc, "-n", WORKER, "bootstrap")
    assert (refused.returncode, refused.stderr) == (1, CONTROL_PLANE_ONLY + "\n")
    assert lifecycle.status(lab_layout)["simulation"]["etcd"] == "none"


# --- in-process: the fault grammar and the drawn durations -------------------------------------------------

def test_notyet_spec_parses_and_bad_specs_say_why() -> None:
    parsed = faults.parse("notyet:talos-cp-1:30,notyet:talos-cp-2:inf:time")["notyet"]
    assert parsed == {"talos-cp-1": {"seconds": 30.0, "stage": "services"},
                      "talos-cp-2": {"seconds": float("inf"), "stage": "time"}}
    assert faults.notyet_fault({"notyet": parsed}, "talos-cp-2") == (float("inf"), "time")
    assert faults.notyet_fault({"notyet": parsed}, "talos-cp-3") is None
    assert faults.notyet_fault({}, "talos-cp-1") is None     # faults.json written before the kind existed
    for bad in ("notyet:talos-cp-1", "notyet::5", "notyet:talos-cp-1:5:cri", "notyet:talos-cp-1:-1",
                "notyet:talos-cp-1:soon"):
        with pytest.raises(faults.FaultSpecError, match=f"fault '{bad}'"):
            faults.parse(bad)


def test_added_notyet_faults_merge_and_clear(lab_layout) -> None:
    faults.add(lab_layout, "notyet:talos-cp-1:5")
    merged = faults.add(lab_layout, "notyet:talos-cp-2:7:time,unreachable:talos-cp-3")
    assert set(merged["notyet"]) == {"talos-cp-1", "talos-cp-2"} and merged["nodes"] == {"talos-cp-3": "unreachable"}
    faults.clear(lab_layout)
    assert faults.read(lab_layout)["notyet"] == {}


def test_drawn_durations_are_seeded_in_range_and_scaled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOPS_LAB_SEED", raising=False)
    first = [clock.drawn("node.services", clock.seeded("talos-cp-1", boot), 1) for boot in (1, 2, 3)]
    assert first == [clock.drawn("node.services", clock.seeded("talos-cp-1", boot), 1) for boot in (1, 2, 3)]
    assert len(set(first)) == 3 and all(5.0 <= s <= 20.0 for s in first)
    assert clock.drawn("node.services", clock.seeded("talos-cp-1", 1), 10) == pytest.approx(first[0] / 10)
    monkeypatch.setenv("HOPS_LAB_SEED", "another")
    assert clock.drawn("node.services", clock.seeded("talos-cp-1", 1), 1) != first[0]
    sync = clock.drawn("node.timesync", random.Random(1), 1)
    assert 1.0 <= sync <= 10.0


def test_the_critical_path_includes_the_window_at_its_quickest() -> None:
    names = [name for name, _ in clock.CRITICAL_PATH]
    # the boot ends when apid has its certificates; then the runtime starts, then etcd is bootstrapped
    assert names.index("node.services") == names.index("node.apid") + 1 == names.index("etcd.bootstrap") - 1
    assert names.index("node.apid") == names.index("node.reboot") + 1
    fixed = sum(clock.DEFAULT_DURATIONS[n] for n in names if n != "node.services")
    assert clock.critical_path() == fixed + clock.DURATION_RANGES["node.services"][0]
    # time sync runs beside the runtime's start and, with the RPC's grace, never ends after it
    assert clock.DURATION_RANGES["node.timesync"][1] - clock.DEFAULT_DURATIONS["node.timesync-grace"] \
        <= clock.DURATION_RANGES["node.services"][0]
