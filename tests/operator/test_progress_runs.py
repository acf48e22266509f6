"""Progress and run history through a real doit on the small guard dodo (tests/runguard): a heartbeat line
when a step is silent and its stdout is not a terminal, a history that keeps finished steps through a SIGKILL,
and the live line in a pseudo-terminal."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from hops import history, invocation
from tests.runguard.helpers import env, make_project, read_line_with, release, run_doit, start, wait_started
from tests.runguard.test_interrupts import WORKERS, alive, in_terminal, read_until_exit

STATE = ".bootstrap-state"


@pytest.mark.parametrize("workers", WORKERS, ids=["serial", "processes", "threads"])
def test_a_silent_step_gets_heartbeat_lines_when_stdout_is_not_a_terminal(tmp_path: Path,
                                                                           workers: tuple[str, ...]) -> None:
    project = make_project(tmp_path)
    proc = start(project, *workers, "demo:slow", env=env(project, block=True, HOPS_HEARTBEAT_S="0.2"))
    try:
        wait_started(project, lambda: proc.poll() is None)
        seen = read_line_with(proc.stdout, "… still working on demo:slow (")
        seen += read_line_with(proc.stdout, "… still working on demo:slow (")  # again after another silence
    finally:
        release(project)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, seen + out + err
    assert "\x1b[" not in seen + out  # plain lines: no live line without a terminal


def test_no_heartbeat_before_the_silence_is_long_enough(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = run_doit(project, "demo:slow")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "still working" not in result.stdout


def test_a_sigkill_keeps_the_history_of_finished_steps(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = start(project, "demo")
    try:
        wait_started(project, lambda: proc.poll() is None)  # demo:prepare has ended, demo:slow is running
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    try:
        run = history.runs(project / STATE)[0]
    finally:
        history.close()
        invocation.reset()
    steps = {s.step_id: s for s in run.steps}
    assert steps["demo:prepare"].result == "ok" and steps["demo:prepare"].ended is not None
    assert steps["demo:slow"].result == "running" and steps["demo:slow"].ended is None
    assert run.outcome == "killed (no end recorded)" and run.command == "demo"
    shown = run_doit(project, "bootstrap_history").stdout
    assert "killed (no end recorded)" in shown and "success rate 0%" in shown


def test_a_finished_run_records_its_end_and_result(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = run_doit(project, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        run = history.runs(project / STATE)[0]
    finally:
        history.close()
    assert run.outcome == "ok" and run.ended is not None
    assert [s.step_id for s in run.steps] == ["demo:prepare", "demo:slow", "demo:complete"]


def test_a_terminal_shows_one_live_line_that_is_erased_when_the_step_ends(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    pid, master = in_terminal(project, "demo:slow")
    try:
        wait_started(project, lambda: alive(pid))
        seen = b""
        while seen.count(b"demo:slow") < 3:  # the line is redrawn (elapsed grows) while the tool runs
            seen += os.read(master, 4096)
    finally:
        release(project)
    out, code = read_until_exit(pid, master)
    screen = seen.decode(errors="replace") + out
    assert code == 0, screen
    assert "demo:slow 0s │ working" in screen or "demo:slow 1s │ working" in screen, screen
    assert "\x1b[2K" in screen  # the line is redrawn in place (erase line), not printed line after line


def test_a_cancelled_reset_is_one_line_and_no_bootstrap_run(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = run_doit(project, "bootstrap_reset", input="n\n")
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "bootstrap_reset cancelled: nothing was changed"
    assert result.stdout.count("cancelled: nothing was changed") == 1 and "TaskFailed" not in result.stdout and result.stderr == ""
    try:
        assert history.runs(project / STATE) == []
    finally:
        history.close()


def test_a_failed_step_prints_hops_message_once_and_records_it(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    dodo = project / "dodo.py"
    dodo.write_text(dodo.read_text().replace(
        'ctx.runner.run("slowtool", ["bootstrap"])',
        'ctx.runner.run("slowtool", ["bootstrap"]); raise StepError("slowtool said no: check its input")'
    ).replace("from hops import tasks\n", "from hops import tasks\nfrom hops.errors import StepError\n"))
    result = run_doit(project, "demo")
    assert result.returncode == 1
    assert result.stdout.count("demo:slow: slowtool said no: check its input\n") == 1, result.stdout
    assert "TaskFailed" not in result.stdout and "####" not in result.stdout
    assert "re-run the same command to resume from this step" in result.stdout
    try:
        run = history.runs(project / STATE)[0]
    finally:
        history.close()
    assert run.outcome == "failed" and run.message.startswith("demo:slow: slowtool said no")
    assert [(s.step_id, s.result) for s in run.steps] == [("demo:prepare", "ok"), ("demo:slow", "failed")]
    assert run.steps[1].message == "slowtool said no: check its input"
