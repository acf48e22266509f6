"""The doit invocation this process belongs to: its id, start, command and command line.

hops.runguard calls `begin()` in the main doit process before any task runs (and before `-n` workers fork, so
they inherit it): the run log's name, the run history's run and the phase deadlines all key on `run_id()`, so
every process of one invocation agrees on them. Outside a doit command (a test calling steps in-process) the
first use fills in this process's own values."""

from __future__ import annotations

import os
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Invocation:
    """One doit command: `doit bootstrap_phased`, `doit forget talos`, ..."""

    pid: int
    started: float           # time.time() at begin
    command: str             # the first task named (bootstrap_phased) or the doit command (forget)
    argv: str                # the command line as typed (for history; holds no secret: secrets are never args)
    records: bool = False    # a state-changing task run: recorded in the run history

    @property
    def run_id(self) -> str:
        """`<YYYYmmdd-HHMMSS>-<pid>`: unique per invocation, sortable by start."""
        return f"{datetime.fromtimestamp(self.started).strftime('%Y%m%d-%H%M%S')}-{self.pid}"


_current: Invocation | None = None
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def begin(command: str, names: list[str], records: bool) -> Invocation:
    """Start this process's invocation: `command` is doit's command, `names` the tasks it was given."""
    global _current
    label = names[0] if command == "run" and names else command
    _current = Invocation(os.getpid(), time.time(), _SAFE.sub("_", label) or "run",
                          " ".join(["doit", *sys.argv[1:]])[:300], records)
    return _current


def current() -> Invocation:
    """The invocation begun in this process (or inherited from the doit process that forked it)."""
    global _current
    if _current is None:
        _current = Invocation(os.getpid(), time.time(), "run", " ".join(sys.argv)[:300])
    return _current


def run_id() -> str:
    """The current invocation's id."""
    return current().run_id


def is_main_process() -> bool:
    """Whether this is the process that began the invocation (not a forked `-n` worker)."""
    return os.getpid() == current().pid


def reset() -> None:
    """Forget the invocation (tests)."""
    global _current
    _current = None
