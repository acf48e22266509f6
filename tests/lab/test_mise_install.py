"""The emulated mise's install/use: pins the lab ships are "already installed"; anything else fails as mise does."""

from __future__ import annotations

from pathlib import Path

import pytest

from hops.lab import lifecycle


@pytest.fixture(autouse=True)
def launchers(lab_layout) -> None:
    lifecycle.install_launchers(lab_layout)


def test_install_of_pinned_lab_tools_reports_all_installed(run_tool, lab_project: Path) -> None:
    (lab_project / ".mise.toml").write_text('[tools]\ntalosctl = "1.8.3"\n"aqua:budimanjojo/talhelper" = "3.0.12"\n'
                                        'helm = { version = "3.17.2" }\n')
    done = run_tool("mise", "install", cwd=lab_project)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "mise all tools are installed\n")


def test_install_of_a_version_the_lab_lacks_fails(run_tool, lab_project: Path) -> None:
    (lab_project / "mise.toml").write_text('[tools]\ntalosctl = "1.7.0"\n')
    done = run_tool("mise", "install", cwd=lab_project)
    assert done.returncode == 1
    assert done.stderr.startswith("mise ERROR Failed to install talosctl@1.7.0") and "talosctl@1.8.3" in done.stderr


def test_install_of_a_tool_the_lab_lacks_fails(run_tool, lab_project: Path) -> None:
    done = run_tool("mise", "install", "sops@3.9.0", cwd=lab_project)
    assert done.returncode == 1 and "cannot download tools" in done.stderr


def test_install_with_a_broken_config_names_the_file(run_tool, lab_project: Path) -> None:
    (lab_project / "mise.toml").write_text("[tools\n")
    done = run_tool("mise", "install", cwd=lab_project)
    assert done.returncode == 1 and f"error parsing config file: {lab_project / 'mise.toml'}" in done.stderr


def test_install_unknown_flag_is_a_usage_error(run_tool) -> None:
    done = run_tool("mise", "install", "--bogus")
    assert done.returncode == 2 and "unexpected argument '--bogus'" in done.stderr


def test_use_writes_the_pin_and_install_then_accepts_it(run_tool, lab_project: Path) -> None:
    done = run_tool("mise", "use", "flux@2.4.0", cwd=lab_project)
    assert done.returncode == 0, done.stderr
    assert 'tools: flux@2.4.0' in done.stderr
    assert '"flux" = "2.4.0"' in (lab_project / "mise.toml").read_text()
    assert run_tool("mise", "install", cwd=lab_project).returncode == 0
    assert run_tool("mise", "use", cwd=lab_project).returncode == 2
    assert run_tool("mise", "use", "flux@9.9.9", cwd=lab_project).returncode == 1
