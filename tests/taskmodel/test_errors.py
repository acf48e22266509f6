"""One error taxonomy, through a real doit: a failure of the world exits 1 with hops's message; a bug in hops
(any other exception) exits 2 with one "internal error in hops" line and its traceback in the run log only."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent

# A dodo that replaces the demo's `prepare` action (as a monkeypatch would) by one that fails as DEMO_FAILURE says.
PATCHED_DODO = '''
import os
from dataclasses import replace
from pathlib import Path

import demo_dodo
from hops import tasks
from hops.errors import ToolFailed


def broken(ctx):
    if os.environ["DEMO_FAILURE"] == "bug":
        return {}["missing-key"]  # a KeyError: a bug in hops
    raise ToolFailed(["helm", "upgrade", "--install", "cilium"], 1, "", "Error: UPGRADE FAILED: boom")


steps = tuple(replace(s, action=broken) if s.name == "prepare" else s for s in demo_dodo.DEMO.steps)
globals().update(tasks.load(Path(__file__).resolve().parent, phases=(replace(demo_dodo.DEMO, steps=steps),)))
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "demo_dodo.py")
    (tmp_path / "dodo.py").write_text(PATCHED_DODO)
    (tmp_path / "input.txt").write_text("v1\n")
    return tmp_path


def test_a_bug_in_hops_exits_2_with_one_line_and_the_traceback_in_the_run_log(project: Path) -> None:
    result = doit(project, "demo:prepare", env={"DEMO_FAILURE": "bug", "PYTHONPATH": str(project)})
    out = result.stdout + result.stderr
    assert result.returncode == 2, out
    line = re.search(r"demo:prepare: internal error in hops: KeyError: 'missing-key' \(traceback in (\S+)\)", out)
    assert line, out
    assert "Traceback" not in out
    log = Path(line.group(1)).read_text()
    assert "Traceback (most recent call last)" in log and "KeyError: 'missing-key'" in log


def test_a_tool_failure_exits_1_with_hops_message(project: Path) -> None:
    result = doit(project, "demo:prepare", env={"DEMO_FAILURE": "tool", "PYTHONPATH": str(project)})
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "demo:prepare: `helm upgrade --install cilium` exited 1:\nError: UPGRADE FAILED: boom" in out
    assert "internal error" not in out and "Traceback" not in out
    assert "re-run the same command to resume from this step" in out


def test_doit_info_names_the_step_function_and_each_check(project: Path) -> None:
    shutil.copy(HERE / "demo_dodo.py", project / "dodo.py")
    (project / "raise").touch()  # the demo's `flaky` check then fails
    result = doit(project, "info", "demo:configure")
    assert "'runs': 'dodo.act_configure'" in result.stdout, result.stdout
    assert "'checks': ['flaky']" in result.stdout
    assert "    - <status 'flaky' of demo:configure>\n" in result.stdout  # the failing check, by name
    assert "(args=" not in result.stdout  # doit's empty args/kwargs of each check say nothing (hops.info_reasons)
    assert "<ran before (doit forget re-runs it)>" in result.stdout and " at 0x" not in result.stdout


def test_a_bad_configuration_is_reported_as_such_not_as_the_first_steps_failure(project: Path) -> None:
    shutil.copy(HERE / "demo_dodo.py", project / "dodo.py")
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("name:", "name: [", 1))
    result = doit(project, "demo")
    out = result.stdout + result.stderr
    assert result.returncode == 1, out
    assert "\ninvalid configuration:\nbootstrap-config.yaml: line 5, column 11: YAML syntax error" in out
    assert "nothing was changed; correct the file(s) named above and re-run the same command" in out
    assert "demo:prepare:" not in out and "resume from this step" not in out and "TaskFailed" not in out
    assert not (project / ".bootstrap-state" / "diagnostics").exists()
