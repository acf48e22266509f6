"""The emulated mise: exec hands over to the tool (its exit code and output come through), current/ls."""

from __future__ import annotations

import pytest

from hops.lab import lifecycle


@pytest.fixture(autouse=True)
def launchers(lab_layout) -> None:
    lifecycle.install_launchers(lab_layout)


def test_exec_passes_through_exit_code_and_output(run_tool) -> None:
    done = run_tool("mise", "exec", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (done.returncode, done.stdout, done.stderr) == (3, "out\n", "err\n")


def test_exec_runs_emulated_tools_from_path(run_tool) -> None:
    done = run_tool("mise", "exec", "--", "talhelper", "--version")
    assert done.returncode == 0 and done.stdout == "talhelper version 3.0.12\n"


def test_exec_errors(run_tool) -> None:
    assert run_tool("mise", "exec").returncode == 1
    missing = run_tool("mise", "exec", "--", "no-such-tool-here")
    assert missing.returncode == 127 and "no-such-tool-here" in missing.stderr


def test_current_and_ls_show_configured_versions(run_tool) -> None:
    current = run_tool("mise", "current")
    assert "talosctl 1.8.3" in current.stdout.splitlines()
    assert run_tool("mise", "current", "helm").stdout == "3.17.2\n"
    assert run_tool("mise", "current", "nope").returncode == 1
    rows = [line.split() for line in run_tool("mise", "ls", "--current").stdout.splitlines()]
    assert ["flux", "2.4.0"] == rows[[r[0] for r in rows].index("flux")][:2]


def test_version_doctor_and_unknown(run_tool) -> None:
    assert run_tool("mise", "--version").stdout.startswith("2024.")
    assert "No problems found" in run_tool("mise", "doctor").stdout
    unknown = run_tool("mise", "frobnicate")
    assert unknown.returncode == 2 and "unrecognized subcommand 'frobnicate'" in unknown.stderr
