"""A tool must not outlive its run unseen: killing only doit (SIGKILL to its pid, not its group) leaves the tool
holding the run lock; the next run names it and waits for it (or refuses, naming it), never running beside it."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from tests.runguard.helpers import (
    env,
    make_project,
    read_line_with,
    release,
    run_doit,
    runs,
    start,
    tool_log,
    tool_pids,
    wait_started,
)


def kill_doit_only(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)


def test_next_run_waits_for_the_orphaned_tool_and_never_runs_beside_it(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(project, "demo")
    wait_started(project, lambda: first.poll() is None)
    kill_doit_only(first)
    orphan = tool_pids(project)[0]
    os.kill(orphan, 0)   # the tool lives on, as after a closed SSH session

    second = start(project, "demo", block=False)
    try:
        said = read_line_with(second.stderr, "waiting for")
        assert (f"waiting for slowtool bootstrap (pid {orphan}, step demo:slow) started by an interrupted run "
                f"(pid {first.pid}: `doit ") in said
        assert second.poll() is None and tool_log(project) == ["start"]   # waiting, not running
        release(project)
        out, err = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
    assert second.returncode == 0, out + err
    assert tool_log(project) == ["start", "end", "start", "end"]   # one after the other, never overlapping
    assert tool_pids(project)[0] == orphan and runs(project) == ["prepare", "slow", "slow"]
    assert not (project / ".bootstrap-state" / "run.lock.tools").exists() or \
        not list((project / ".bootstrap-state" / "run.lock.tools").iterdir())


def test_without_patience_the_next_run_refuses_naming_the_orphan(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(project, "demo")
    wait_started(project, lambda: first.poll() is None)
    kill_doit_only(first)
    orphan = tool_pids(project)[0]
    try:
        refused = run_doit(project, "demo", environment=env(project, HOPS_RUN_LOCK_WAIT="0"))
    finally:
        release(project)
    out = refused.stdout + refused.stderr
    assert refused.returncode == 3, out
    assert f"slowtool bootstrap (pid {orphan}, step demo:slow) started by an interrupted run (pid {first.pid}" in out
    assert "still holds the run lock" in out and "Traceback" not in out
    assert tool_log(project) == ["start"] or tool_log(project) == ["start", "end"]   # nothing new was started


def test_a_finished_orphan_is_no_obstacle(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(project, "demo")
    wait_started(project, lambda: first.poll() is None)
    kill_doit_only(first)
    release(project)
    wait_for_exit(tool_pids(project)[0])
    result = run_doit(project, "demo", environment=env(project, HOPS_RUN_LOCK_WAIT="0"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "waiting for" not in result.stderr


def wait_for_exit(pid: int) -> None:
    """Wait for a process that is not our child: pidfd_open + poll is a kernel wait for its exit."""
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        assert select.select([fd], [], [], 60)[0], f"pid {pid} still running"
    finally:
        os.close(fd)


def test_a_run_waiting_for_an_orphan_can_be_interrupted_cleanly(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = start(project, "demo")
    wait_started(project, lambda: first.poll() is None)
    kill_doit_only(first)
    second = start(project, "demo", block=False)
    try:
        read_line_with(second.stderr, "waiting for")
        second.send_signal(signal.SIGTERM)
        out, err = second.communicate(timeout=60)
    finally:
        release(project)
    assert second.returncode == 143, out + err
    assert err.strip().splitlines()[-1] == "interrupted; re-run the same command to resume"
    assert "Traceback" not in out + err and runs(project) == ["prepare", "slow"]   # it never started a step
