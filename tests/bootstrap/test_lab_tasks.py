"""The lab's doit tasks: lab_up (idempotent), lab_status, lab_fault, lab_down (state kept), lab_reset."""

from __future__ import annotations

import json
from pathlib import Path


def test_lab_lifecycle_through_doit(doit, lab_env: dict) -> None:
    lab_dir = Path(lab_env["HOPS_LAB_DIR"])
    first = doit("lab_up")
    assert "lab running" in first.stdout
    pid = json.loads((lab_dir / "lab.json").read_text())["pid"]
    doit("lab_up")
    assert json.loads((lab_dir / "lab.json").read_text())["pid"] == pid  # idempotent: same daemon
    status = json.loads(doit("lab_status", "--json").stdout.split("\n", 1)[1])  # after doit's task line
    assert status["running"] is True and status["pid"] == pid
    summary = doit("lab_status").stdout
    assert f"lab: running (pid {pid}" in summary and len(summary.splitlines()) < 15  # a summary, not raw JSON
    assert "talos-cp-2       172.29.51.12" in summary
    assert set(status["simulation"]["nodes"]) == {"talos-cp-1", "talos-cp-2", "talos-cp-3"}
    fault = doit("lab_fault", "--add", "block:longhorn").stdout
    assert '"longhorn"' in fault
    bad = doit("lab_fault", "--add", "nonsense:x", check=False)
    assert bad.returncode == 1 and "unknown kind 'nonsense'" in bad.stdout + bad.stderr
    doit("phase1")
    doit("lab_down")
    assert not (lab_dir / "lab.json").exists()
    assert json.loads(doit("lab_status", "--json").stdout.split("\n", 1)[1])["running"] is False
    assert (lab_dir / "state" / "phase-1-complete").exists()  # state kept across down/up
    refused = doit("lab_reset", check=False)
    assert refused.returncode == 1 and (lab_dir / "state" / "phase-1-complete").exists()
    doit("lab_reset", "--yes")
    assert not (lab_dir / "state").exists()


def test_lab_up_with_a_bad_configuration_names_the_field(doit, project: Path) -> None:
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("name: talos-cp-2", "name: Talos_CP_2"))
    result = doit("lab_up", check=False)
    out = result.stdout + result.stderr
    assert result.returncode == 1 and "Traceback" not in out
    assert "bootstrap-config.yaml: network.nodes[1].name: 'Talos_CP_2' is not a DNS-1123 label" in out
