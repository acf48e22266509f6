"""The real dodo.py: `doit list --all` shows the commands and groups, stays light, and names are legal."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.projects import copy_project, doit, write_config

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("bootstrap_phased", "bootstrap_resume", "bootstrap_status", "bootstrap_reset", "force_phase",
            "bootstrap_validate", "validate_phase", "lab_up", "lab_down", "lab_status", "lab_reset",
            *(f"phase{n}" for n in range(1, 7)))
GROUPS = ("validation", "talos", "networking", "services", "gitops", "applications")
DOIT_COMMANDS = {"run", "list", "info", "clean", "forget", "ignore", "dumpdb", "help", "reset-dep", "strace",
                 "tabcompletion", "auto"}


def doit_list(*extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *extra, "-m", "doit", "list", "--all"], cwd=REPO, capture_output=True,
                          text=True, check=True, env={"PATH": "/usr/bin:/bin", "HOME": "/nonexistent"})


def test_list_shows_commands_and_groups() -> None:
    names = {line.split()[0] for line in doit_list().stdout.splitlines() if line.strip()}
    for name in (*COMMANDS, *GROUPS, "validation:tools", "validation:complete"):
        assert name in names, name
    assert not names & DOIT_COMMANDS


def test_list_imports_no_kubernetes_client_or_configuration() -> None:
    imported = doit_list("-X", "importtime").stderr
    for heavy in ("kubernetes", "pydantic"):
        assert f" {heavy}\n" not in imported and f" {heavy}." not in imported, heavy


def test_operations_are_not_group_members() -> None:
    listing = doit_list().stdout
    subtasks = [line.split()[0] for line in listing.splitlines() if line.startswith(GROUPS)]
    assert not any(name.endswith(("_status", "_logs", "_debug")) and ":" in name for name in subtasks)


def test_info_explains_why_a_step_would_run(tmp_path: Path) -> None:
    """On a copy of the project moved to loopback addresses: `doit info` runs the step's live checks, and in the
    repository itself those would use whatever kubeconfig a real bootstrap left there."""
    project = copy_project(tmp_path)
    write_config(project)
    result = doit(project, "info", "networking:deploy-cilium", env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 1  # never ran here: doit says it would run
    assert "no kubeconfig at" in result.stdout + result.stderr  # the live check's reason, logged
    assert "networking:deploy-cilium" in result.stdout and "cilium-deployed" in result.stdout
