"""Under `doit run`, a step that runs anyway (never ran, forgotten, marker missing) is not asked its live checks
(hops.actions): doit asks every uptodate callable, and each check can be a tool call or an API read. `doit info`
still asks them. With a real doit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "checks_dodo.py", tmp_path / "dodo.py")
    return tmp_path


def calls(project: Path) -> list[str]:
    log = project / "calls.log"
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return lines


def test_a_step_that_never_ran_runs_without_asking_its_check(project: Path) -> None:
    (project / "holds").write_text("")  # would say "up to date": a never-run step runs all the same
    doit(project, "checked:step", check=True)
    assert calls(project) == ["action"]


def test_a_step_that_ran_is_asked_its_check(project: Path) -> None:
    doit(project, "checked:step", check=True)
    calls(project)
    doit(project, "checked:step", check=True)
    assert calls(project) == ["check", "action"]  # the check fails: the step runs again
    (project / "holds").write_text("")
    doit(project, "checked:step", check=True)
    assert calls(project) == ["check"]  # holds: up to date


def test_a_missing_marker_or_forget_runs_the_step_without_asking(project: Path) -> None:
    (project / "holds").write_text("")
    doit(project, "checked:step", check=True)
    calls(project)
    next((project / ".bootstrap-state").rglob("step-done")).unlink()
    doit(project, "checked:step", check=True)
    assert calls(project) == ["action"]
    doit(project, "forget", "checked:step", check=True)
    doit(project, "checked:step", check=True)
    assert calls(project) == ["action"]


def test_info_asks_the_check_of_a_step_that_never_ran(project: Path) -> None:
    result = doit(project, "info", "checked:step")
    assert "check" in calls(project), result.stdout
