"""The bootstrap controls on a small dodo with a real doit: force_phase, reset, resume, validate, status."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent
DEMO_MARKERS = ("prepared", "configured", "deployed", "bootstrapped", "phase-1-complete")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "dodo.py")
    (tmp_path / "input.txt").write_text("v1\n")
    assert doit(tmp_path, "demo").returncode == 0
    return tmp_path


def runs(project: Path) -> list[str]:
    return (project / "runs.log").read_text().split()


@pytest.mark.parametrize("runner", [[], ["-n", "2", "-P", "thread"], ["-n", "2", "-P", "process"]],
                         ids=["serial", "threads", "processes"])
def test_force_phase_reruns_every_step_of_the_phase(project: Path, runner: list[str]) -> None:
    # with threads the action forgets the steps from a worker thread (the DB was opened by the main one)
    result = doit(project, *runner, "force_phase", "--phase", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert runs(project).count("prepare") == 2 and runs(project).count("deploy") == 2
    assert runs(project).count("bootstrap") == 1  # the once-guard still holds inside a forced phase
    assert "Forced phase 1 (demo)" in result.stdout


@pytest.mark.parametrize("task", ["force_phase", "validate_phase"])
@pytest.mark.parametrize("given", [["--phase", "9"], []])
def test_phase_commands_reject_a_missing_or_unknown_phase(project: Path, task: str, given: list[str]) -> None:
    result = doit(project, task, *given)
    assert result.returncode == 1
    got = "got 9" if given else "none given"
    assert f"--phase must be one of [1] ({got}); e.g. `doit {task} --phase 1`" in result.stdout + result.stderr
    assert "OK   " not in result.stdout and "FAIL " not in result.stdout  # no check ran


def test_reset_asks_and_without_a_terminal_changes_nothing(project: Path) -> None:
    result = doit(project, "bootstrap_reset")
    assert result.returncode == 1 and "pass --yes to confirm" in result.stdout
    assert all((project / ".bootstrap-state" / m).exists() for m in DEMO_MARKERS)


def test_reset_with_yes_removes_markers_and_forgets(project: Path) -> None:
    result = doit(project, "bootstrap_reset", "--yes")
    assert result.returncode == 0 and "The cluster was not touched" in result.stdout
    assert not any((project / ".bootstrap-state" / m).exists() for m in DEMO_MARKERS)
    assert doit(project, "demo").returncode == 0
    assert runs(project).count("prepare") == 2
    assert runs(project).count("bootstrap") == 1  # world says done: never twice


def test_resume_announces_the_first_missing_step(project: Path) -> None:
    (project / ".bootstrap-state" / "deployed").unlink()
    result = doit(project, "bootstrap_resume")
    assert "Resuming at demo:deploy" in result.stdout


def test_validate_reports_and_fails_on_a_broken_check(project: Path) -> None:
    ok = doit(project, "validate_phase", "--phase", "1")
    assert ok.returncode == 0 and "OK   demo:prepare: prepared" in ok.stdout
    (project / "world-prepared").unlink()
    broken = doit(project, "bootstrap_validate")
    assert broken.returncode == 1
    assert "FAIL demo:prepare: prepared" in broken.stdout and "nothing was changed" in broken.stdout + broken.stderr
    assert runs(project).count("prepare") == 1


def test_status_table_and_live_drift(project: Path) -> None:
    table = doit(project, "bootstrap_status").stdout
    assert "6/6 steps complete" in table  # the optional step counts: its marker notes it was not applicable
    (project / "world-prepared").unlink()
    live = doit(project, "bootstrap_status", "--live").stdout
    assert "DRIFT" in live and "demo:prepare" in live


@pytest.mark.parametrize("task", [["bootstrap_validate"], ["validate_phase", "--phase", "1"],
                                  ["bootstrap_status", "--live"], ["cluster_health"]])
def test_bad_configuration_is_one_clear_message(project: Path, task: list[str]) -> None:
    """Controls that need the configuration say once what is wrong with it (not once per live check, and never
    with a traceback)."""
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("name:", "name: [", 1))
    result = doit(project, *task)
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"{task[0]}: invalid configuration:\nbootstrap-config.yaml: line" in out, out
    assert out.count("YAML syntax error") == 1 and "Traceback" not in out, out
