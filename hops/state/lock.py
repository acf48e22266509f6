"""One bootstrap run at a time per state dir, and no tool of a dead run acting beside the next one.

An flock on `<state>/run.lock`. The kernel drops it when the last file descriptor of it closes, so a killed run
never leaves a stale lock. The descriptor is handed to every tool a run starts (hops.runner passes `held_fds()`),
so a tool that outlives its doit process (doit SIGKILLed, OOM-killed, its SSH session closed) keeps the lock
until it exits: the next run then finds the lock busy with a dead holder, names the orphan it is waiting for
(recorded by the runner in `<state>/run.lock.tools/<pid>`) and waits, bounded, for the kernel to hand it the lock.

hops.runguard takes the lock in the main doit process before workers fork (`doit -n N` workers inherit it); a
nested doit started by this run (force_phase) inherits ownership through HOPS_RUN_LOCK_OWNER. Python opens files
non-inheritable, so a daemon started with subprocess (the lab) never gets the descriptor unless passed on purpose.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hops import processes

_held: dict[Path, IO[str]] = {}
OWNER_ENV = "HOPS_RUN_LOCK_OWNER"
FD_ENV = "HOPS_RUN_LOCK_FD"         # the holder's descriptor number, passed to a nested doit
WAIT_ENV = "HOPS_RUN_LOCK_WAIT"   # seconds to wait for an interrupted run's tool (default ORPHAN_WAIT)
ORPHAN_WAIT = 600.0


class LockBusy(RuntimeError):  # noqa: N818 - the name callers know
    """The lock is held by another run (or, after the wait, still by an interrupted run's tool)."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or last held) the lock: the doit process and its command line."""

    pid: int
    command: str
    started: float
    ticks: int = 0   # the process' start time in clock ticks since boot (/proc): tells a reused pid apart

    def alive(self) -> bool:
        """The holder process still exists (not merely a later process given the same pid)."""
        return processes.alive(self.pid) and (not self.ticks or processes.start_ticks(self.pid) in (self.ticks, 0))

    def running(self) -> str:
        """"`doit bootstrap_phased` since 05:41:07"."""
        since = time.strftime("%H:%M:%S", time.localtime(self.started)) if self.started else "an unknown time"
        return f"`{self.command}` since {since}"


@dataclass(frozen=True)
class ToolRecord:
    """A tool a run started (written by the runner while it runs)."""

    pid: int
    argv: list[str]
    step: str
    run_pid: int

    def name(self) -> str:
        args = [a for a in self.argv if not a.startswith("-")]
        if args[:2] == ["mise", "exec"]:
            args = args[2:]
        return " ".join(args[:2]) or "a tool"


def lock_path(state_dir: Path) -> Path:
    """`<state>/run.lock`, resolved (the key of a held lock)."""
    return (state_dir / "run.lock").resolve()


def tools_dir(state_dir: Path) -> Path:
    """Where the running tools of the holder are recorded, one file per tool pid."""
    return lock_path(state_dir).with_name("run.lock.tools")


def acquire(state_dir: Path, command: str = "doit", wait: float | None = None) -> None:
    """Take the run lock for this process (idempotent). A live holder: raise LockBusy at once, naming it. A dead
    holder whose tool still runs: say so on stderr and wait up to `wait` seconds (HOPS_RUN_LOCK_WAIT, default
    ORPHAN_WAIT) for it, then raise LockBusy naming the tool."""
    path = lock_path(state_dir)
    if path in _held:
        return
    if os.environ.get(OWNER_ENV) == str(path):
        _adopt(path)  # a nested doit of the holder: its lock, and the descriptor for its own tools if passed
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")  # noqa: SIM115 - kept open: the lock lives as long as this descriptor
    try:
        if not _try_lock(handle):
            _wait_for_orphans(handle, state_dir, _wait_limit(wait))
    except BaseException:
        handle.close()
        raise
    _clear_tool_records(state_dir)  # holding the lock: no tool of an earlier run is alive
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "command": command, "started": time.time(),
                             "ticks": processes.start_ticks(os.getpid())}) + "\n")
    handle.flush()
    _held[path] = handle


def release(state_dir: Path) -> None:
    """Give the lock up (tests; a process normally keeps it until it exits)."""
    handle = _held.pop(lock_path(state_dir), None)
    if handle:
        handle.close()


def held_fds() -> tuple[int, ...]:
    """The lock descriptors this process holds: passed to every tool so the lock lives as long as the tool."""
    return tuple(handle.fileno() for handle in _held.values())


def child_env(state_dir: Path) -> dict[str, str]:
    """Environment entries that let a nested doit run under this process' lock. Pass `held_fds()` to it too:
    then it holds the lock itself (and hands it to its tools), should this process die first."""
    handle = _held.get(lock_path(state_dir))
    return {OWNER_ENV: str(lock_path(state_dir)), **({FD_ENV: str(handle.fileno())} if handle else {})}


def _adopt(path: Path) -> None:
    try:
        fd = int(os.environ.get(FD_ENV, ""))
        same = os.path.samestat(os.fstat(fd), os.stat(path))
    except (ValueError, OSError):
        return  # no descriptor passed: ownership by environment alone, as before
    if same:
        os.set_inheritable(fd, False)
        _held[path] = os.fdopen(fd, "a+")


def read_holder(state_dir: Path) -> Holder | None:
    """Who holds (or last held) the lock, from the record in the lock file; None if unreadable."""
    try:
        data = json.loads(lock_path(state_dir).read_text() or "null")
        return Holder(int(data["pid"]), str(data.get("command", "?")), float(data.get("started", 0)),
                      int(data.get("ticks", 0)))
    except (OSError, ValueError, TypeError, KeyError):
        return None


# --- tool records ----------------------------------------------------------------------------------------
def record_tool(pid: int, argv: list[str], step: str) -> list[Path]:
    """Note a running tool beside every lock this process holds; returns the files for forget_tool()."""
    written = []
    holder_pid = _holder_pid()
    for path in _held:
        folder = path.with_name("run.lock.tools")
        folder.mkdir(exist_ok=True)
        record = folder / str(pid)
        tmp = folder / f".{pid}.tmp"
        tmp.write_text(json.dumps({"pid": pid, "argv": argv, "step": step, "run_pid": holder_pid}))
        os.replace(tmp, record)
        written.append(record)
    return written


def forget_tool(records: list[Path]) -> None:
    """The tool recorded by record_tool() has ended."""
    for record in records:
        record.unlink(missing_ok=True)


def live_tools(state_dir: Path) -> list[ToolRecord]:
    """Recorded tools whose process still exists."""
    found = []
    for record in _tool_files(state_dir):
        try:
            data = json.loads(record.read_text())
            tool = ToolRecord(int(data["pid"]), list(data["argv"]), str(data.get("step", "")),
                              int(data.get("run_pid", 0)))
        except (OSError, ValueError, TypeError, KeyError):
            continue
        if processes.alive(tool.pid):
            found.append(tool)
    return found


def _tool_files(state_dir: Path) -> Iterator[Path]:
    folder = tools_dir(state_dir)
    return (p for p in folder.iterdir() if not p.name.startswith(".")) if folder.is_dir() else iter(())


def _clear_tool_records(state_dir: Path) -> None:
    for record in _tool_files(state_dir):
        record.unlink(missing_ok=True)


def _holder_pid() -> int:
    """The pid recorded as holder (the main doit process; a forked worker runs under its parent's lock)."""
    for path in _held:
        try:
            return int(json.loads(path.read_text())["pid"])
        except (OSError, ValueError, TypeError, KeyError):
            pass
    return os.getpid()


# --- waiting -------------------------------------------------------------------------------------------------
def _try_lock(handle: IO[str]) -> bool:
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _wait_for_orphans(handle: IO[str], state_dir: Path, limit: float) -> None:
    holder = read_holder(state_dir)
    if holder is None or holder.alive():
        who = f"(pid {holder.pid}) is working on this cluster: {holder.running()}" if holder else \
            "(unknown pid) is working on this cluster"
        raise LockBusy(f"another hops run {who}; wait for it to finish or stop it, then re-run")
    what = _orphan_text(state_dir, holder)
    if limit > 0:
        print(f"waiting for {what} to finish (up to {limit:g}s)", file=sys.stderr, flush=True)
        if _blocking_lock(handle, limit):
            return
    raise LockBusy(f"{what} still holds the run lock" + (f" after {limit:g}s" if limit > 0 else "")
                   + "; wait for it to finish or stop it, then re-run")


def _orphan_text(state_dir: Path, holder: Holder) -> str:
    tools = live_tools(state_dir)
    if not tools:
        return f"a process started by an interrupted run (pid {holder.pid}: `{holder.command}`)"
    names = ", ".join(f"{t.name()} (pid {t.pid}{', step ' + t.step if t.step else ''})" for t in tools)
    return f"{names} started by an interrupted run (pid {holder.pid}: `{holder.command}`)"


def _blocking_lock(handle: IO[str], limit: float) -> bool:
    """A kernel wait for the lock, bounded: a blocking flock in a daemon thread, joined with a timeout. The thread
    locks a duplicate of the handle's descriptor (the same open file description, so the grant is the handle's);
    if the wait was given up, a late grant is released at once instead of keeping the lock."""
    own = os.dup(handle.fileno())
    state = {"granted": False, "abandoned": False}
    handoff = threading.Lock()

    def take() -> None:
        try:
            fcntl.flock(own, fcntl.LOCK_EX)
        except OSError:
            os.close(own)
            return
        with handoff:
            state["granted"] = not state["abandoned"]
            if state["abandoned"]:
                fcntl.flock(own, fcntl.LOCK_UN)
        os.close(own)

    waiter = threading.Thread(target=take, name="run-lock-wait", daemon=True)
    waiter.start()
    waiter.join(limit)
    with handoff:
        state["abandoned"] = not state["granted"]
        return state["granted"]


def _wait_limit(wait: float | None) -> float:
    if wait is not None:
        return wait
    try:
        return float(os.environ.get(WAIT_ENV, ORPHAN_WAIT))
    except ValueError:
        return ORPHAN_WAIT


