"""What a new user types wrong on the doit command line, answered in one line before anything runs (real doit on
the demo dodo): misspelt task names (did you mean), unknown variables, bad task options; and output into a pipe
whose reader has gone (`doit … | head`) ends without a traceback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests import forkserver
from tests.projects import doit, write_config

HERE = Path(__file__).resolve().parent


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path)
    shutil.copy(HERE / "demo_dodo.py", tmp_path / "dodo.py")
    (tmp_path / "input.txt").write_text("v1\n")
    return tmp_path


def error_line(result: subprocess.CompletedProcess) -> str:
    """doit's one-line answer; no traceback, nothing ran."""
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ERROR: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "suggestion"), [
    (["cluster_healht"], "Did you mean `doit cluster_health`?"),
    (["demo:deplyo"], "Did you mean `doit demo:deploy`?"),
    (["bootstrap_stauts", "--live"], "Did you mean `doit bootstrap_status`?"),
    (["info", "force_phas"], "Did you mean `doit info force_phase`?"),
    (["forget", "demo:prepar"], "Did you mean `doit forget demo:prepare`?"),
    (["list", "dem"], "Did you mean `doit list demo`?"),
])
def test_a_misspelt_task_name_gets_a_suggestion(project: Path, args: list[str], suggestion: str) -> None:
    line = error_line(doit(project, *args))
    assert f'Invalid parameter: "{args[1] if args[0] in ("info", "forget", "list") else args[0]}"' in line
    assert suggestion in line
    assert not (project / "runs.log").exists()


def test_an_unknown_name_with_nothing_close_says_where_the_list_is(project: Path) -> None:
    line = error_line(doit(project, "info", "nothere"))  # doit itself: a KeyError traceback
    assert 'Invalid parameter: "nothere"' in line and "Did you mean" not in line and "doit list --all" in line


@pytest.mark.parametrize("args", [["demo:prepare"], ["demo"], ["demo:prep*"], ["info", "demo:configure"],
                                  ["force_phase", "--phase", "1"], ["validate_phase", "-p", "1"]])
def test_known_names_patterns_and_options_pass(project: Path, args: list[str]) -> None:
    result = doit(project, *args)
    assert "ERROR:" not in result.stderr and result.returncode in (0, 1), result.stdout + result.stderr


def test_a_target_path_is_a_known_name(project: Path) -> None:
    doit(project, "demo", check=True)
    result = doit(project, str(project / ".bootstrap-state" / "prepared"))
    assert result.returncode == 0 and "ERROR" not in result.stderr and "-- demo:prepare" in result.stdout


@pytest.mark.parametrize(("args", "expected"), [
    (["force_phase", "--phase", "three"],
     "force_phase --phase three: not a whole number (phase number 1-6); e.g. `doit force_phase --phase 3`"),
    (["force_phase", "--phase"], "force_phase --phase needs a value"),
    (["force_phase", "--dry"], "force_phase has no option --dry (its options: --phase/-p N (phase number 1-6))"),
    (["bootstrap_status", "--verbose"], "bootstrap_status has no option --verbose (its options: --live"),
    (["demo:prepare", "-n", "2"], "demo:prepare has no option -n (its options: none); -n is an option of doit "
                                  "itself: put it before the task name"),
])
def test_a_bad_task_option_is_one_line(project: Path, args: list[str], expected: str) -> None:
    line = error_line(doit(project, *args))
    assert expected in line and "CmdOption" not in line and "<class" not in line


@pytest.mark.parametrize(("variable", "expected"), [
    ("CLUSTR_NAME=prod", "CLUSTR_NAME: not an override variable (did you mean 'CLUSTER_NAME'?)"),
    ("FOO=1", "FOO: not an override variable (allowed: CLUSTER_DOMAIN,"),
    ("PHASE=3", "PHASE: the phase is a task option: `doit force_phase --phase 3`"),
    ("node_2_ip=127.0.0.1", "(did you mean 'NODE_2_IP'?)"),
])
def test_an_unknown_variable_is_refused(project: Path, variable: str, expected: str) -> None:
    line = error_line(doit(project, "demo", variable))
    assert "unknown variable on the doit command line" in line and expected in line
    assert not (project / "runs.log").exists()  # the typo did not bootstrap the default cluster


def test_override_variables_are_accepted(project: Path) -> None:
    result = doit(project, "demo:configure", "CLUSTER_NAME=other-name", "NODE_1_IP=127.0.51.11")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "other-name" in (project / "seen-settings").read_text()


def test_config_check_refuses_an_unknown_variable(project: Path) -> None:
    def check(*pairs: str) -> subprocess.CompletedProcess:
        return forkserver.run_module("hops.config", ["check", "--root", str(project), *pairs], timeout=60)

    bad = check("CLUSTR_NAME=prod")
    assert bad.returncode == 2 and "CLUSTR_NAME: not an override variable (did you mean 'CLUSTER_NAME'?)" in bad.stderr
    good = check("CLUSTER_NAME=prod")
    assert good.returncode == 0, good.stderr


@pytest.mark.parametrize("args", [["bootstrap_status"], ["list", "--all"], ["cluster_health"], ["info", "demo"]])
def test_output_into_a_closed_pipe_ends_quietly(project: Path, args: list[str]) -> None:
    doit(project, "demo", check=True)
    reader, writer = os.pipe()
    os.close(reader)  # the reader has gone before the first line (`| head` that has read its lines)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
    try:
        result = subprocess.run([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args], cwd=project,
                                stdout=writer, stderr=subprocess.PIPE, text=True, env=env, timeout=60)
    finally:
        os.close(writer)
    assert "Traceback" not in result.stderr and "BrokenPipe" not in result.stderr, result.stderr
    assert result.returncode in (0, 1)  # the command's own result (info: 1 = would run), not doit's 3


def test_info_of_a_step_that_never_ran_does_not_claim_its_files_changed(project: Path) -> None:
    never = doit(project, "info", "demo:configure")
    assert never.returncode == 1
    assert "No successful run is recorded" in never.stdout and "have changed" not in never.stdout
    assert f"    - {project / 'input.txt'}" in never.stdout and "(args=" not in never.stdout
    doit(project, "demo", check=True)
    (project / "input.txt").write_text("v2\n")
    edited = doit(project, "info", "demo:configure")
    assert edited.returncode == 1 and "No successful run is recorded" not in edited.stdout
    assert "These file dependencies have changed since the last successful run:" in edited.stdout


def test_dumpdb_prints_the_record_doit_keeps_in_hops_db(project: Path) -> None:
    assert doit(project, "dumpdb").stdout == ""  # nothing ran yet: an empty DB, not doit's "no .doit.db"
    assert doit(project, "demo").returncode == 0
    listing = doit(project, "dumpdb")
    assert listing.returncode == 0 and "Traceback" not in listing.stderr
    assert any(line.startswith("demo:prepare -> ") and "'run-once': True" in line
               for line in listing.stdout.splitlines())
    records = json.loads(doit(project, "dumpdb", "--json").stdout)
    assert records["demo:prepare"]["_values_:"]["run-once"] is True
    assert (project / ".bootstrap-state" / "doit.sqlite").exists() and not (project / ".doit.db").exists()
