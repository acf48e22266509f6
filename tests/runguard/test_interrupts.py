"""Ctrl-C in a real terminal and SIGTERM to doit alone: the tool gets the signal once, hops prints one line and
exits 130/143 without a traceback, and re-running converges."""

from __future__ import annotations

import os
import pty
import select
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hops import interrupts
from tests.runguard.helpers import (
    doit_argv,
    env,
    make_project,
    run_doit,
    runs,
    start,
    tool_log,
    tool_pids,
    wait_started,
)

WORKERS = [(), ("-n", "2"), ("-n", "2", "-P", "thread")]
LINE = "interrupted during demo:slow; re-run the same command to resume"


def in_terminal(project: Path, *args: str, **extra: str) -> tuple[int, int]:
    """doit as the foreground process group of a new pseudo-terminal: (pid, master fd)."""
    pid, master = pty.fork()
    if pid == 0:  # the child: session leader with the pty as its controlling terminal
        try:
            os.chdir(project)
            os.execve(sys.executable, doit_argv(project, *args), env(project, block=True, **extra))
        finally:
            os._exit(127)
    return pid, master


def read_until_exit(pid: int, master: int, timeout: float = 60) -> tuple[str, int]:
    """Everything the terminal showed, and the exit status, once the child has ended."""
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"doit did not end within {timeout}s:\n{out.decode(errors='replace')}")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the terminal's other side is closed, every process on it is gone
            chunk = b""
        if not chunk:
            break
        out += chunk
    os.close(master)
    _, status = os.waitpid(pid, 0)
    return out.decode(errors="replace"), os.waitstatus_to_exitcode(status)


def alive(pid: int) -> bool:
    return os.waitpid(pid, os.WNOHANG) == (0, 0)


def assert_one_line(out: str) -> None:
    assert [line.strip() for line in out.splitlines() if "interrupted" in line] == [LINE], out
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out


def resume(project: Path, ran: list[str] | None = None) -> None:
    """Re-run: only the interrupted step runs again (`ran`: every action expected in runs.log by then)."""
    result = run_doit(project, "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert runs(project) == (ran or ["prepare", "slow", "slow"])   # the interrupted step again, the finished not
    assert (project / ".bootstrap-state" / "slow-done").exists()


@pytest.mark.parametrize("workers", WORKERS, ids=["serial", "processes", "threads"])
def test_ctrl_c_in_a_terminal(tmp_path: Path, workers: tuple[str, ...]) -> None:
    project = make_project(tmp_path)
    # a long grace: the run must end once its tool has, never by waiting out the grace (an idle `-n` worker
    # whose signal landed in its queue thread held every run GRACE + 2 s, until hops signalled its main thread)
    pid, master = in_terminal(project, *workers, "demo", HOPS_INTERRUPT_GRACE="30")
    wait_started(project, lambda: alive(pid))
    os.write(master, b"\x03")   # the terminal sends SIGINT to its foreground process group: doit and the tool
    out, code = read_until_exit(pid, master, timeout=25)
    assert code == 130, out
    assert_one_line(out)
    assert tool_log(project) == ["start", "signal-2"]   # the terminal's SIGINT, not a second one from hops
    resume(project)


@pytest.mark.parametrize("workers", WORKERS, ids=["serial", "processes", "threads"])
def test_sigterm_to_doit_alone_is_passed_to_the_tool(tmp_path: Path, workers: tuple[str, ...]) -> None:
    project = make_project(tmp_path)
    proc = start(project, *workers, "demo")
    wait_started(project, lambda: proc.poll() is None)
    proc.send_signal(signal.SIGTERM)   # to doit's pid only, as systemd or `kill` would
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert_one_line(out + err)
    assert tool_log(project) == ["start", "signal-15"]
    resume(project)


def test_a_tool_that_ignores_the_signal_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    proc = start(project, "demo", env=env(project, block=True, SLOWTOOL_STUBBORN="1", HOPS_INTERRUPT_GRACE="0.5"))
    wait_started(project, lambda: proc.poll() is None)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert_one_line(out + err)
    assert tool_log(project) == ["start", "signal-15"]   # it never reached "end": killed
    with pytest.raises(ProcessLookupError):
        os.kill(tool_pids(project)[0], 0)
    resume(project)


def test_interrupt_outside_a_step_names_no_step() -> None:
    assert interrupts.message([]) == "interrupted; re-run the same command to resume"
    assert interrupts.message(["a:b", "c:d", "a:b"]) == \
        "interrupted during a:b, c:d; re-run the same command to resume"


def test_interrupted_keeps_its_signal_through_doits_worker_protocol() -> None:
    """doit's `-n` runner re-raises a worker's exception as `cls(str(exc))`."""
    rebuilt = interrupts.Interrupted(str(interrupts.Interrupted(signal.SIGTERM)))
    assert rebuilt.signum == signal.SIGTERM and isinstance(rebuilt, KeyboardInterrupt)
    assert interrupts.Interrupted("garbage").signum == signal.SIGINT


def test_running_notes_only_interrupted_steps() -> None:
    before = list(interrupts._interrupted)
    with interrupts.running("x:ok"):
        assert interrupts.current_step() == "x:ok"
    with pytest.raises(ValueError), interrupts.running("x:failed"):
        raise ValueError("an ordinary failure is not an interruption")
    with pytest.raises(interrupts.Interrupted), interrupts.running("x:stopped"):
        raise interrupts.Interrupted(signal.SIGINT)
    assert interrupts._interrupted[len(before):] == ["x:stopped"] and interrupts.current_step() == ""
    del interrupts._interrupted[len(before):]


WAITS_IN_A_READ = """
import os, signal, threading
signal.signal(signal.SIGINT, lambda signum, frame: (os.write(1, b"handled\\n"), os._exit(0)))
threading.Thread(target=threading.Event().wait, daemon=True).start()   # as multiprocessing's queue feeder
reader, _ = os.pipe()
os.write(1, b"ready\\n")
os.read(reader, 1)   # an idle `-n` worker waiting for its next task
"""


def test_a_signal_for_a_worker_reaches_its_main_thread_inside_a_blocking_read() -> None:
    child = subprocess.Popen([sys.executable, "-c", WAITS_IN_A_READ], stdout=subprocess.PIPE)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    interrupts._signal_main_thread(child.pid, signal.SIGINT)
    assert child.stdout.readline() == b"handled\n"
    assert child.wait(timeout=30) == 0


def test_sigterm_during_force_phase_reaches_the_nested_doit_and_its_tool(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert run_doit(project, "demo").returncode == 0
    proc = start(project, "force_phase", "--phase", "1")   # forgets phase 1, re-runs it in a nested doit
    wait_started(project, lambda: proc.poll() is None)
    proc.send_signal(signal.SIGTERM)   # the outer doit only
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert_one_line(out + err)          # the nested doit's line; the outer one adds none
    assert tool_log(project) == ["start", "end", "start", "signal-15"]
    resume(project, ran=["prepare", "slow", "prepare", "slow", "slow"])
