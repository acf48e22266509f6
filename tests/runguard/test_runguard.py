"""The run lock holds whatever the reporter or doit command: real doit processes beside a running (held) run,
plus in-process tests of how the guard reads a doit command line."""

from __future__ import annotations

import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hops import runguard
from tests.runguard.helpers import make_project, release, run_doit, start, wait_started

MUTATING = [
    ("-r", "json", "demo:slow"),    # another reporter
    ("run", "demo"),                # explicit run
    ("demo:prepare",),              # implicit run of one step
    ("-n", "2", "demo"),            # parallel workers
    ("forget", "demo"),
    ("clean", "demo"),
    ("ignore", "demo:prepare"),
    ("reset-dep",),
    ("strace", "demo:prepare"),
]
# (`dumpdb` reads dbm files only, not the hops-sqlite DB: it fails with or without a run beside it)
READ_ONLY = [("list",), ("list", "--all"), ("info", "demo:prepare"), ("bootstrap_status",), ("help", "demo")]


@pytest.fixture(scope="module")
def held(tmp_path_factory) -> Iterator[tuple[Path, subprocess.Popen]]:
    """A project whose `doit demo` is running, blocked inside slowtool (the run lock held)."""
    project = make_project(tmp_path_factory.mktemp("held"))
    holder = start(project, "demo")
    try:
        wait_started(project, lambda: holder.poll() is None)
        yield project, holder
    finally:
        if holder.poll() is None:
            release(project)
        holder.communicate(timeout=60)


def doit(project: Path, *args: str) -> subprocess.CompletedProcess:
    return run_doit(project, *args)


@pytest.mark.parametrize("args", MUTATING, ids=" ".join)
def test_state_changing_commands_are_refused_beside_a_run(held, args) -> None:
    project, holder = held
    result = doit(project, *args)
    out = result.stdout + result.stderr
    assert result.returncode == 3, out
    refusals = [line for line in out.splitlines() if "is working on this cluster" in line]
    assert len(refusals) == 1 and f"another hops run (pid {holder.pid})" in refusals[0], out
    assert "`doit " in refusals[0] and "demo" in refusals[0], out   # the holder's command line
    assert "Traceback" not in out
    assert holder.poll() is None   # the refused command did not disturb the run


@pytest.mark.parametrize("args", READ_ONLY, ids=" ".join)
def test_read_only_commands_run_beside_a_run(held, args) -> None:
    project, _ = held
    result = doit(project, *args)
    out = result.stdout + result.stderr
    assert "is working on this cluster" not in out
    assert result.returncode in (0, 1), out   # `info` answers 1 for "would run"; never refused (3)


def test_the_holder_finishes_and_the_lock_is_free_again(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    holder = start(project, "demo")
    wait_started(project, lambda: holder.poll() is None)
    assert doit(project, "forget", "demo").returncode == 3
    release(project)
    holder.communicate(timeout=60)
    assert holder.returncode == 0
    forgot = doit(project, "forget", "demo")
    assert forgot.returncode == 0, forgot.stdout + forgot.stderr


def test_parallel_workers_run_under_the_main_process_lock(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    holder = start(project, "-n", "2", "demo")
    try:
        wait_started(project, lambda: holder.poll() is None)
        refused = doit(project, "demo:prepare")
        assert refused.returncode == 3 and f"another hops run (pid {holder.pid})" in refused.stderr
        records = list((project / ".bootstrap-state" / "run.lock.tools").iterdir())
        assert [json.loads(r.read_text())["run_pid"] for r in records] == [holder.pid]   # tool of a worker
    finally:
        release(project)
        holder.communicate(timeout=60)
    assert holder.returncode == 0


# --- how the guard reads a command line (in-process) --------------------------------------------------------
def _fixed(task: dict):
    def creator() -> dict:
        return dict(task)
    return creator


def _group():
    yield {"basename": "demo", "name": None}


CREATORS = {
    "DOIT_CONFIG": {"default_tasks": ["bootstrap_status"]},
    "task_demo": _group,
    "task_bootstrap_status": _fixed({"meta": {"hops_read_only": True},
                                     "params": [{"name": "live", "long": "live", "type": bool, "default": False}]}),
    "task_bootstrap_logs": _fixed({"meta": {"hops_read_only": True},
                                   "params": [{"name": "lines", "long": "lines", "short": "l", "type": int,
                                               "default": 50}]}),
    "task_force_phase": _fixed({"params": [{"name": "phase", "long": "phase", "type": int, "default": 0}]}),
    "task_lab_down": _fixed({"meta": {"hops_read_only": True}}),
}


@pytest.mark.parametrize("command,args", [
    ("run", ["bootstrap_status"]),
    ("run", ["bootstrap_status", "--live"]),
    ("run", ["bootstrap_logs", "--lines", "20", "lab_down"]),   # an option's value is not a task name
    ("run", ["bootstrap_logs", "-l", "20"]),
    ("run", []),                                                 # the default tasks: bootstrap_status
    ("auto", ["bootstrap_status"]),                              # a plugin command, read-only tasks
    ("list", ["demo"]), ("info", ["demo:prepare"]), ("dumpdb", []), ("tabcompletion", []),
])
def test_read_only_invocations_need_no_lock(command: str, args: list[str]) -> None:
    assert not runguard.needs_lock(command, args, CREATORS)


@pytest.mark.parametrize("command,args", [
    ("run", ["demo"]), ("run", ["demo:prepare"]), ("run", ["demo:*"]),
    ("run", ["bootstrap_status", "demo"]),                       # one state-changing task is enough
    ("run", ["force_phase", "--phase", "2"]),
    ("run", ["bootstrap_logs", "--lines", "20", "demo"]),
    ("run", ["some/target.txt"]),                                # a target: whatever task makes it
    ("strace", ["demo:prepare"]),
    ("auto", ["demo"]),                                          # a plugin command that runs tasks
    ("forget", ["bootstrap_status"]), ("forget", []), ("clean", ["lab_down"]), ("ignore", ["demo"]),
    ("reset-dep", []),
])
def test_state_changing_invocations_need_the_lock(command: str, args: list[str]) -> None:
    assert runguard.needs_lock(command, args, CREATORS)


def test_outside_a_doit_command_the_guard_does_nothing(tmp_path: Path) -> None:
    assert runguard.doit_invocation() is None
    runguard.guard(CREATORS, tmp_path)   # no doit frame: takes nothing, installs nothing
    assert not (tmp_path / "run.lock").exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_the_real_task_list_marks_status_read_only_and_phases_not(tmp_path: Path, monkeypatch) -> None:
    from hops import tasks
    from hops.phases import PHASES
    from tests.projects import REPO

    monkeypatch.setenv("HOPS_STATE_DIR", str(tmp_path))
    creators = tasks.load(REPO, PHASES)
    infos = runguard.task_infos(creators)
    assert infos["bootstrap_status"].read_only and infos["lab_status"].read_only
    assert not infos["bootstrap_phased"].read_only and not infos["phase1"].read_only
    assert not runguard.needs_lock("run", ["bootstrap_status", "--live"], creators)
    assert runguard.needs_lock("run", ["bootstrap_phased"], creators)
