"""Configured hooks and checks (bootstrap-config.yaml hooks:/checks:) with a real doit on the demo dodo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.projects import doit, executed, write_config

HERE = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "dodo.py")
    (tmp_path / "input.txt").write_text("v1\n")
    return tmp_path


def configure(project: Path, **sections: dict) -> None:
    path = project / "bootstrap-config.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(sections)
    path.write_text(yaml.safe_dump(data))


def runs(project: Path) -> list[str]:
    log = project / "runs.log"
    return log.read_text().split() if log.exists() else []


def marker(project: Path, name: str) -> Path:
    return project / ".bootstrap-state" / name


def test_a_failing_phase_before_hook_stops_before_any_action(project: Path) -> None:
    configure(project, hooks={"demo": {"before": [{"run": ["sh", "-c", "echo no link >&2; exit 1"],
                                                   "message": "the switch is not configured"}]}})
    result = doit(project, "demo")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "demo:prepare: the switch is not configured" in output and "no link" in output
    assert "(hooks.demo.before[0] in bootstrap-config.yaml)" in output
    assert runs(project) == [] and not marker(project, "prepared").exists()  # resumable: nothing marked


def test_a_failing_after_hook_leaves_the_step_unmarked_until_it_passes(project: Path) -> None:
    configure(project, hooks={"demo:prepare": {"after": [{"run": ["test", "-e", "after-ok"]}]}})
    failed = doit(project, "demo")
    assert failed.returncode == 1
    assert "the action of demo:prepare ran, but the step is not marked complete" in failed.stdout + failed.stderr
    assert runs(project) == ["prepare"] and not marker(project, "prepared").exists()
    (project / "after-ok").touch()
    assert doit(project, "demo").returncode == 0
    assert runs(project)[:2] == ["prepare", "prepare"] and marker(project, "prepared").exists()


def test_a_configured_status_check_decides_whether_the_step_reruns(project: Path) -> None:
    configure(project, checks={"demo:prepare": {"status": [{"name": "custom file present",
                                                             "run": ["test", "-e", "custom-ok"]}]}})
    (project / "custom-ok").touch()
    doit(project, "demo", check=True)
    second = doit(project, "demo", check=True)
    assert "demo:prepare" not in executed(second) and runs(project).count("prepare") == 1  # holds: skipped
    (project / "custom-ok").unlink()
    third = doit(project, "demo", check=True)
    assert "demo:prepare" in executed(third) and runs(project).count("prepare") == 2  # fails: re-runs
    assert runs(project).count("configure") == 1  # only that step


def test_status_live_and_validate_show_the_configured_check_by_name(project: Path) -> None:
    configure(project, checks={"demo:deploy": {"status": [{"name": "deploy flag", "run": ["test", "-e", "flag"],
                                                            "message": "the deploy flag is missing"}]}})
    doit(project, "demo", check=True)
    live = doit(project, "bootstrap_status", "--live", check=True).stdout
    deploy_row = next(line for line in live.splitlines() if "demo:deploy" in line)
    assert "DRIFT: the deploy flag is missing" in deploy_row
    validate = doit(project, "bootstrap_validate")
    assert validate.returncode == 1
    assert "FAIL demo:deploy: deploy flag — the deploy flag is missing: `test -e flag` exited 1" in validate.stdout
    (project / "flag").touch()
    validate = doit(project, "bootstrap_validate", check=True)
    assert "OK   demo:deploy: deploy flag — holds" in validate.stdout
    assert "configured status checks" not in validate.stdout  # the lazy entry itself is never listed


def test_a_configured_precondition_fails_the_step_and_runs_on_failure_hooks(project: Path) -> None:
    configure(project,
              checks={"demo": {"preconditions": [{"run": ["test", "!", "-e", "no-go"], "message": "no-go is set"}]}},
              hooks={"demo": {"on_failure": [{"run": ["sh", "-c", "echo \"$HOPS_STEP $HOPS_RESULT\" > failed.txt"]}]}})
    (project / "no-go").touch()
    result = doit(project, "demo")
    assert result.returncode == 1
    assert "demo:prepare: precondition failed: no-go is set (`test ! -e no-go` exited 1" in result.stdout
    assert (project / "failed.txt").read_text() == "demo:prepare failure\n"
    assert runs(project) == []
    (project / "no-go").unlink()
    doit(project, "demo", check=True)
    assert runs(project)[0] == "prepare"
