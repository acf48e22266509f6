"""The lab follows the configuration while it runs (real doit on the lab): nodes added to both files are
simulated at once (the lab restarts with them, keeping the others' state); a HOPS_LAB_SPEED other than the
running lab's is said; live checks failing right after a (re)start say the lab may still be coming back."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from hops.lab import lifecycle

WORKER = {"name": "talos-w-1", "address": "172.29.51.21", "role": "worker"}


def add_worker(project: Path) -> None:
    """talos-w-1 in bootstrap-config.yaml and talconfig.yaml, as a user would add it."""
    config_file, tal_file = project / "bootstrap-config.yaml", project / "talconfig.yaml"
    config = yaml.safe_load(config_file.read_text())
    config["network"]["nodes"].append(dict(WORKER))
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    tal = yaml.safe_load(tal_file.read_text())
    tal["nodes"].append({"hostname": WORKER["name"], "ipAddress": WORKER["address"], "controlPlane": False,
                         "installDisk": "/dev/sda", "networkInterfaces": [{"interface": "eth0", "dhcp": True}]})
    tal_file.write_text(yaml.safe_dump(tal, sort_keys=False))


def lab_nodes(lab_env: dict) -> dict:
    return json.loads((Path(lab_env["HOPS_LAB_DIR"]) / "lab.json").read_text())["nodes"]


def test_a_node_added_while_the_lab_runs_is_simulated(doit, project: Path, lab_env: dict) -> None:
    doit("validation:connectivity")
    assert "talos-w-1" not in lab_nodes(lab_env)
    add_worker(project)
    again = doit("-a", "validation:connectivity")  # was: unexpected error: KeyError: 'talos-w-1'
    assert "KeyError" not in again.stdout + again.stderr
    assert "the configured nodes changed (added talos-w-1); restarting the lab with them" in again.stderr
    assert "4 nodes answer on the Talos API port" in again.stdout
    assert lab_nodes(lab_env)["talos-w-1"]["address"] == "172.29.51.21"
    unchanged = doit("validation:connectivity")
    assert "restarting the lab" not in unchanged.stderr  # the same nodes: the running lab is kept


def test_a_different_lab_speed_is_said(doit, lab_env: dict) -> None:
    doit("lab_up")
    same = doit("validation:connectivity")
    assert "HOPS_LAB_SPEED" not in same.stderr
    other = doit("validation:connectivity", env={"HOPS_LAB_SPEED": "50"})
    assert "lab: HOPS_LAB_SPEED=50 but the running lab runs at x1000 (fixed when it started)" in other.stderr


def test_failing_checks_right_after_the_lab_started_say_it_may_still_be_coming_back(doit) -> None:
    slow = {"HOPS_LAB_SPEED": "1"}  # 120 s to settle: this run is well inside it
    doit("lab_up", env=slow)
    result = doit("bootstrap_validate", env=slow, check=False)
    assert result.returncode == 1
    assert "and may still be bringing its nodes and workloads back" in result.stdout + result.stderr


def test_coming_back_only_within_the_settle_time() -> None:
    info = {"started_at": "2026-12-02T06:00:00+00:00", "speed": 10}
    started = 1796191200.0  # 2026-12-02T06:00:00Z
    assert "started 3s ago (x10)" in lifecycle.coming_back(info, now=started + 3)
    assert lifecycle.coming_back(info, now=started + lifecycle.SETTLE_S / 10 + 1) == ""
    assert lifecycle.coming_back({"speed": 10}) == ""


def test_node_changes_name_what_differs() -> None:
    running = {"nodes": {"cp-1": {"address": "10.0.0.1", "role": "controlplane"}}}
    assert lifecycle.node_changes(running, {"cp-1": ("10.0.0.1", "controlplane")}) == ""
    assert lifecycle.node_changes(running, {"cp-1": ("10.0.0.1", "controlplane"), "w-1": ("10.0.0.2", "worker")}) \
        == "added w-1"
    assert lifecycle.node_changes(running, {"cp-1": ("10.0.0.9", "controlplane")}) == "address or role changed: cp-1"
    assert lifecycle.node_changes(running, None) == ""  # an invalid configuration: nothing to compare


def test_speed_warning_only_for_another_speed() -> None:
    assert lifecycle.speed_warning({"speed": 1000}, "1000") == ""
    assert "HOPS_LAB_SPEED=5 but the running lab runs at x1000" in lifecycle.speed_warning({"speed": 1000}, "5")
