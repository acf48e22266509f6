"""Injected faults: failing tool calls, unreachable nodes, API errors from HOPS_LAB_FAULTS."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from hops.lab import faults, lifecycle
from lab_helpers import apply_insecure, wait_running

CP1 = "172.29.51.11"


def test_fail_next_n_talosctl_subcommand(lab, lab_layout, run_tool) -> None:
    faults.add(lab_layout, "fail:talosctl version:2")
    results = [run_tool("talosctl", "version", "--insecure", "-n", CP1) for _ in range(3)]
    assert [r.returncode for r in results] == [1, 1, 0]
    assert "injected failure" in results[0].stderr
    assert run_tool("talosctl", "get", "disks", "--insecure", "-n", CP1).returncode == 0   # other commands unaffected


def test_fail_next_op_read(lab, lab_layout, run_tool) -> None:
    faults.add(lab_layout, "fail:op read:1")
    ref = "op://homelab/github-token/token"
    assert run_tool("op", "read", ref).returncode == 1
    assert run_tool("op", "read", ref).returncode == 0


def test_unreachable_node_stops_answering(lab, lab_layout, lab_env, lab_project: Path, run_tool) -> None:
    cli = [sys.executable, "-m", "hops.lab", "fault"]
    added = subprocess.run([*cli, "add", "unreachable:talos-cp-2"], env=lab_env, cwd=lab_project,
                           capture_output=True, text=True)
    assert added.returncode == 0, added.stderr
    down = run_tool("talosctl", "version", "--insecure", "-n", "172.29.51.12")
    assert down.returncode == 1 and "dial tcp 172.29.51.12:50000: connect: no route to host" in down.stderr
    assert run_tool("talosctl", "version", "--insecure", "-n", CP1).returncode == 0
    subprocess.run([*cli, "clear"], env=lab_env, cwd=lab_project, check=True)
    assert run_tool("talosctl", "version", "--insecure", "-n", "172.29.51.12").returncode == 0


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_api_errors_from_the_environment(start_lab, lab_layout, run_tool) -> None:
    lab = start_lab("api-errors:1.0")
    assert faults.read(lab_layout)["api"]["error_rate"] == 1.0
    talos_configs = lab_layout.cluster_dir
    assert run_tool("talhelper", "genconfig", "-o", str(talos_configs)).returncode == 0
    apply_insecure(run_tool, talos_configs, lab)
    wait_running(lab)
    assert run_tool("talosctl", "--talosconfig", str(talos_configs / "talosconfig"), "-n", CP1,
                    "bootstrap").returncode == 0
    assert lifecycle.wait_cluster(lab, "api", "up", 10)
    assert _status(lab["api_url"] + "/api/v1/nodes") == 503
    faults.clear(lab_layout)
    assert _status(lab["api_url"] + "/api/v1/nodes") == 200
    assert json.loads(lab_layout.faults_file.read_text())["api"]["error_rate"] == 0.0
