"""The live progress line in a real 80-column pseudo-terminal during `talos:wait-nodes-ready` on a slow lab:
one line, redrawn in place as the wait goes on (phase, step, elapsed, time left to the phase's deadline, what
it waits for), never wider than the terminal; Ctrl-C erases it and hops prints its one final line."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from tests.projects import copy_project, lab_env

pytestmark = pytest.mark.lab
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
STEP = "talos:wait-nodes-ready"
COLUMNS = 80


def renders(screen: str) -> list[str]:
    """Each state of the terminal's current line: the text between carriage returns / erase-line codes."""
    return [ANSI.sub("", part).strip("\n") for part in re.split(r"\r|\x1b\[2K", screen)]


def read_until(master: int, pid: int, done, budget: float = 240) -> str:
    """Terminal output until done(screen) holds (fails when doit ends first or the budget is used up)."""
    screen, until = "", time.monotonic() + budget
    while not done(screen):
        ready, _, _ = select.select([master], [], [], max(0.1, until - time.monotonic()))
        if not ready:
            raise AssertionError(f"not seen within {budget}s; the terminal showed:\n{screen[-4000:]}")
        try:
            screen += os.read(master, 65536).decode(errors="replace")
        except OSError:
            raise AssertionError(f"doit ended first:\n{screen[-4000:]}") from None
    return screen


def read_to_end(master: int, budget: float = 60) -> str:
    screen = ""
    while True:
        ready, _, _ = select.select([master], [], [], budget)
        if not ready:
            raise AssertionError(f"doit did not end within {budget}s:\n{screen[-4000:]}")
        try:
            chunk = os.read(master, 65536)
        except OSError:
            return screen
        if not chunk:
            return screen
        screen += chunk.decode(errors="replace")


def waiting_lines(screen: str) -> list[str]:
    return [r for r in renders(screen) if r.startswith("phase 2/6") and STEP in r]


def test_live_line_during_wait_nodes_ready(tmp_path: Path) -> None:
    project = copy_project(tmp_path)
    env = lab_env(tmp_path, speed=30)
    env.pop("NO_COLOR", None)
    env["TERM"] = "xterm"
    pid, master = pty.fork()
    if pid == 0:  # the child: doit on the pseudo-terminal, its foreground process group
        try:
            os.chdir(project)
            os.execve(sys.executable, [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"),
                                       "bootstrap_phased"], env)
        finally:
            os._exit(127)
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    try:
        screen = read_until(master, pid, lambda s: len(set(waiting_lines(s))) >= 3)
        os.write(master, b"\x03")  # Ctrl-C, as typed: the terminal signals the foreground group
        screen += read_to_end(master)
        _, status = os.waitpid(pid, 0)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(master)
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=env, cwd=project, capture_output=True,
                       timeout=60)
    lines = waiting_lines(screen)
    assert len(set(lines)) >= 3, lines  # redrawn as time passes, not printed once
    assert all(len(line.replace("^C", "")) <= COLUMNS for line in lines), [r for r in lines if len(r) > COLUMNS]
    assert any(re.search(r"step \d+/\d+ talos:wait-nodes-ready \d+s, \d+m\d\ds left", line) for line in lines), lines
    assert any("waiting for" in line for line in lines), lines
    assert os.waitstatus_to_exitcode(status) == 130, screen[-3000:]
    final = [line.strip() for line in ANSI.sub("", screen).splitlines() if "interrupted" in line]
    assert final and final[-1].endswith(f"interrupted during {STEP}; re-run the same command to resume"), final
    assert "Traceback" not in screen
