"""hops.processes: one answer to "is that process still there?" for the run lock, helm notes and the lab."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hops import processes


def test_a_running_process_is_alive_and_an_ended_child_is_not() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert processes.alive(child.pid)
        assert processes.start_ticks(child.pid) >= processes.start_ticks(os.getpid()) > 0
    finally:
        child.communicate(b"")  # ends it (and reaps it)
    assert not processes.alive(child.pid)


def test_an_unreaped_zombie_child_counts_as_gone() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)  # it has ended; still a zombie, not reaped
    assert not processes.alive(child.pid)


def test_no_pid_and_a_pid_that_is_gone_are_not_alive() -> None:
    assert not processes.alive(0) and not processes.alive(-1)
    assert processes.start_ticks(0) == 0


def test_the_start_time_is_in_the_past() -> None:
    started = processes.started_at(os.getpid())
    assert started is not None and started <= time.time()
