"""Takes the run lock for every doit invocation that can change state, whatever the reporter or doit command.

Where: `hops.tasks.load()` calls `guard()`, and doit imports dodo.py (which calls load()) inside
`DoitCmdBase.execute(self, params, args)` — the one method every task command goes through (run, forget, clean,
ignore, reset-dep, info, list, strace, tabcompletion; `help` and `dumpdb` have their own). That frame holds
the command object, already chosen and parsed by doit (explicit `run` or implicit `doit bootstrap_phased`,
`-r json` or not, `-n N` not yet forked), and the positional arguments (task names, task options). Reading it
beats re-parsing sys.argv (doit's own parser decided; `doit.run()`/`DoitMain` API use works too) and beats the
reporter (`-r json` replaces it; forget/clean have none). It runs before doit creates the DB, loads a task or
evaluates any up-to-date check, and in the main process before `-n` workers fork (they inherit the lock).
If dodo.py is imported outside a doit command (a test, a tool) there is no such frame: nothing is taken, and
every step still takes the lock itself before acting (hops.actions.prepared_context) as a second line.

Which invocations need it:
- forget, clean, ignore, reset-dep: always (they change doit's DB or remove targets);
- list, info, help, dumpdb, tabcompletion, plan (hops.plan): never (they read; `info` evaluates checks but changes nothing);
- run, strace (it runs the task) and any other command (a plugin such as `auto` may run tasks): unless every
  selected task (or the default tasks) is read-only (meta `hops_read_only`: the *_status/*_logs operations,
  bootstrap_status, the lab's lifecycle).
Task names are taken from doit's positional arguments, skipping task options and their values; a name that is
not a read-only task (a group, a step, a glob, a target, an unknown name) counts as changing state.

A refusal is doit's InvalidCommand: one line `ERROR: another hops run (pid N) is working on this cluster (...)`,
exit 3, no traceback. hops.interrupts is installed here too, so Ctrl-C/SIGTERM end any of these cleanly.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ALWAYS_LOCKED = frozenset({"forget", "clean", "ignore", "reset-dep"})
READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion", "plan"})  # plan: hops.plan


@dataclass(frozen=True)
class TaskInfo:
    """What the guard needs to know about one task name."""

    read_only: bool = False
    options: Mapping[str, bool] = field(default_factory=dict)  # "-x"/"--xx" -> takes a value
    pos_arg: bool = False


def guard(creators: Mapping[str, Any], state_dir: Path) -> None:
    """Called once by hops.tasks.load(): install the interrupt handling and take the run lock if this doit
    command can change state; refuse (InvalidCommand, one line) if another run holds it."""
    invocation = doit_invocation()
    if invocation is None:
        return
    command, args = invocation
    from hops import interrupts

    interrupts.install(state_dir)
    if not needs_lock(command, args, creators):
        return
    from doit.exceptions import InvalidCommand

    from hops.state import lock

    try:
        lock.acquire(state_dir, command=command_line())
    except lock.LockBusy as exc:
        raise InvalidCommand(str(exc)) from None


def doit_invocation() -> tuple[str, list[str]] | None:
    """(command name, positional args) of the doit command importing dodo.py, or None outside one."""
    from doit.cmd_base import DoitCmdBase

    code = DoitCmdBase.execute.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        cmd = frame.f_locals.get("self")
        if frame.f_code is code and isinstance(cmd, DoitCmdBase):
            return cmd.get_name(), [str(a) for a in frame.f_locals.get("args") or ()]
        frame = frame.f_back
    return None


def needs_lock(command: str, args: list[str], creators: Mapping[str, Any]) -> bool:
    """Whether `doit <command> <args>` can change state (see the module docstring)."""
    if command in ALWAYS_LOCKED:
        return True
    if command in READ_ONLY_COMMANDS:
        return False
    tasks = task_infos(creators)
    names = selected(args, tasks) or list(_default_tasks(creators))
    return not all(tasks.get(name, TaskInfo()).read_only for name in names)


def selected(args: list[str], tasks: Mapping[str, TaskInfo]) -> list[str]:
    """Task names among doit's positional args: each name may be followed by its own options (and values)."""
    names: list[str] = []
    options: Mapping[str, bool] = {}
    rest = iter(args)
    for arg in rest:
        if arg.startswith("-"):
            if options.get(arg) and "=" not in arg:
                next(rest, None)  # the option's value
            continue
        names.append(arg)
        info = tasks.get(arg, TaskInfo())
        options = info.options
        if info.pos_arg:
            break  # everything after it belongs to the task
    return names


def task_infos(creators: Mapping[str, Any]) -> dict[str, TaskInfo]:
    """Read-only flag and options of every single-task creator; groups (generators) are steps: not read-only."""
    infos: dict[str, TaskInfo] = {}
    for key, creator in creators.items():
        if not key.startswith("task_") or not callable(creator) or inspect.isgeneratorfunction(creator):
            continue
        task = creator()
        if isinstance(task, dict):
            infos[key[len("task_"):]] = TaskInfo(bool((task.get("meta") or {}).get("hops_read_only")),
                                                 _options(task.get("params") or ()), bool(task.get("pos_arg")))
    return infos


def _options(params: Iterable[Mapping[str, Any]]) -> dict[str, bool]:
    options: dict[str, bool] = {}
    for param in params:
        takes_value = param.get("type", str) is not bool
        if param.get("short"):
            options[f"-{param['short']}"] = takes_value
        if param.get("long"):
            options[f"--{param['long']}"] = takes_value
    return options


def _default_tasks(creators: Mapping[str, Any]) -> list[str]:
    return list((creators.get("DOIT_CONFIG") or {}).get("default_tasks") or ())


def command_line() -> str:
    """The doit command line, for the lock's holder record (shown to a refused run)."""
    text = " ".join(["doit", *sys.argv[1:]])
    return text if len(text) <= 160 else text[:157] + "..."
