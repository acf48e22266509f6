"""`python -m hops.config check` exit codes and output, run as a real subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import yaml

from hops.config.overrides import is_override_variable
from cfg_helpers import BASE, talconfig_for
from tests import forkserver


def _run(*args: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # the outer environment must not leak override variables into the check
    env = {k: v for k, v in os.environ.items() if not is_override_variable(k)} | (env_extra or {})
    return forkserver.run_module("hops.config", args, env=env, timeout=60)


def test_check_ok(write) -> None:
    result = _run("check", "--root", str(write()))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "configuration OK: lab (3 nodes)"


def test_check_reports_every_problem_and_exits_1(write) -> None:
    config = yaml.safe_load(yaml.safe_dump(BASE))
    config["network"]["nodes"][1]["address"] = "172.29.51"
    config["cluster"]["name"] = "Lab"
    result = _run("check", "--root", str(write(config, talconfig_for(BASE))))
    assert result.returncode == 1
    assert "configuration has 2 problems:" in result.stderr
    assert ("bootstrap-config.yaml: network.nodes[1].address: '172.29.51' is not an IP address "
            "(expected e.g. 192.168.1.10)") in result.stderr
    assert "bootstrap-config.yaml: cluster.name: 'Lab' is not a DNS-1123 label" in result.stderr
    assert "Traceback" not in result.stderr


def test_check_applies_command_line_and_environment_overrides(write) -> None:
    root = write()
    result = _run("check", "--root", str(root), "CLUSTER_NAME=production", env_extra={"NODE_1_IP": "127.0.1.10"})
    assert result.returncode == 1
    assert "cluster.name = production (from command line CLUSTER_NAME)" in result.stderr
    assert "network.nodes[0].address = 127.0.1.10 (from environment NODE_1_IP)" in result.stderr


def test_check_missing_files(tmp_path: Path) -> None:
    result = _run("check", "--root", str(tmp_path))
    assert result.returncode == 1
    assert f"bootstrap-config.yaml: not found at {tmp_path / 'bootstrap-config.yaml'}" in result.stderr


def test_check_rejects_malformed_variables(write) -> None:
    result = _run("check", "--root", str(write()), "NOT_A_PAIR")
    assert result.returncode == 2
    assert "expected VAR=value" in result.stderr


def test_overrides_table_is_printed() -> None:
    result = _run("overrides")
    assert result.returncode == 0
    assert "NODE_<n>_IP" in result.stdout and "network.nodes[<n-1>].address" in result.stdout
