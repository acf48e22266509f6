"""hops.state.lock in-process: holders in real child processes, the kernel's flock deciding."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from hops import processes
from hops.state import lock

# A child that takes the lock, starts a "tool" holding it too (as hops.runner does), reports both pids, then
# waits for a line on stdin; "exit" ends the holder only (the tool lives on, holding the lock).
HOLDER = textwrap.dedent("""
    import os, subprocess, sys
    from pathlib import Path
    from hops.state import lock
    state = Path(sys.argv[1])
    lock.acquire(state, command="doit demo")
    tool = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"], pass_fds=lock.held_fds(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    lock.record_tool(tool.pid, ["mise", "exec", "--", "talosctl", "bootstrap", "--nodes", "x"], "talos:bootstrap")
    print(os.getpid(), tool.pid, flush=True)
    if sys.stdin.readline().strip() == "exit":
        os._exit(0)
    tool.kill()
    tool.wait()
""")


class Holder:
    def __init__(self, state: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(state)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.pid, self.tool = map(int, self.proc.stdout.readline().split())

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.communicate("finish\n", timeout=30)


@pytest.fixture
def state(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    lock.release(tmp_path)


def test_acquire_is_idempotent_and_release_frees(state: Path) -> None:
    lock.acquire(state, command="doit demo")
    lock.acquire(state)
    assert len(lock.held_fds()) == 1
    assert lock.read_holder(state).pid == os.getpid() and lock.read_holder(state).command == "doit demo"
    lock.release(state)
    assert lock.held_fds() == ()


def test_a_live_holder_is_refused_at_once_naming_pid_and_command(state: Path) -> None:
    holder = Holder(state)
    try:
        with pytest.raises(lock.LockBusy) as refused:
            lock.acquire(state, wait=60)   # a live holder: no waiting, whatever the patience
        text = str(refused.value)
        assert f"another hops run (pid {holder.pid})" in text and "`doit demo`" in text and "\n" not in text
    finally:
        holder.finish()
    lock.acquire(state)   # the holder is gone: the lock is free


def test_a_dead_holders_tool_keeps_the_lock_and_is_named(state: Path, capsys) -> None:
    holder = Holder(state)
    holder.proc.communicate("exit\n", timeout=30)   # the run dies, its tool does not
    tools = lock.live_tools(state)
    assert [(t.pid, t.name(), t.step, t.run_pid) for t in tools] == \
        [(holder.tool, "talosctl bootstrap", "talos:bootstrap", holder.pid)]
    with pytest.raises(lock.LockBusy) as refused:
        lock.acquire(state, wait=0.2)
    text = str(refused.value)
    assert (f"talosctl bootstrap (pid {holder.tool}, step talos:bootstrap) started by an interrupted run "
            f"(pid {holder.pid}: `doit demo`) still holds the run lock after 0.2s") in text
    assert "waiting for talosctl bootstrap" in capsys.readouterr().err
    os.kill(holder.tool, 9)
    _wait_gone(holder.tool)
    lock.acquire(state, wait=0)   # the abandoned wait left no lock behind; the orphan's end freed it
    assert lock.live_tools(state) == []   # the new holder cleared the stale records


def test_tool_records_are_written_and_forgotten(state: Path) -> None:
    assert lock.record_tool(os.getpid(), ["helm", "upgrade"], "services:longhorn") == []   # no lock held: none
    lock.acquire(state)
    records = lock.record_tool(os.getpid(), ["helm", "upgrade", "--install"], "services:longhorn")
    assert [t.name() for t in lock.live_tools(state)] == ["helm upgrade"]
    lock.forget_tool(records)
    assert lock.live_tools(state) == []


def test_nested_doit_runs_under_its_parents_lock(state: Path, monkeypatch) -> None:
    holder = Holder(state)
    try:
        monkeypatch.setenv(lock.OWNER_ENV, str(lock.lock_path(state)))
        lock.acquire(state)   # a nested doit of the holder: ownership by inheritance, nothing to take
        monkeypatch.delenv(lock.OWNER_ENV)
        with pytest.raises(lock.LockBusy):
            lock.acquire(state, wait=0)
    finally:
        holder.finish()


def _wait_gone(pid: int) -> None:
    import select

    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    try:
        select.select([fd], [], [], 30)
    finally:
        os.close(fd)


# A holder that starts a "nested doit" as hops.controls does (child_env + pass_fds), then dies at once.
NESTING = textwrap.dedent("""
    import os, subprocess, sys
    from pathlib import Path
    from hops.state import lock
    state = Path(sys.argv[1])
    lock.acquire(state, command="doit force_phase --phase 3")
    nested = ("import sys; from pathlib import Path; from hops.state import lock; lock.acquire(Path(sys.argv[1])); "
              "print(len(lock.held_fds()), flush=True); sys.stdin.readline()")
    child = subprocess.Popen([sys.executable, "-c", nested, str(state)], env={**os.environ, **lock.child_env(state)},
                             pass_fds=lock.held_fds())
    print(os.getpid(), child.pid, flush=True)
    os._exit(0)
""")


def test_a_nested_doit_holds_the_lock_itself_when_its_parent_dies(state: Path) -> None:
    parent = subprocess.Popen([sys.executable, "-c", NESTING, str(state)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    parent_pid, nested_pid = map(int, parent.stdout.readline().split())
    assert parent.stdout.readline().strip() == "1"   # the nested process adopted the passed descriptor
    parent.wait(timeout=30)
    try:
        with pytest.raises(lock.LockBusy) as refused:
            lock.acquire(state, wait=0)
        assert f"interrupted run (pid {parent_pid}" in str(refused.value)
    finally:
        parent.stdin.close()   # the nested process reads EOF from the pipe it shares and ends
        _wait_gone(nested_pid)
    lock.acquire(state, wait=0)


def test_a_reused_pid_is_not_taken_for_the_holder() -> None:
    ticks = processes.start_ticks(os.getpid())
    assert lock.Holder(os.getpid(), "doit demo", 0, ticks).alive()
    assert not lock.Holder(os.getpid(), "doit demo", 0, ticks + 1).alive()   # same pid, another process
    assert lock.Holder(os.getpid(), "doit demo", 0).alive()                   # an old record without ticks
