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

The same place, before doit selects a task, also checks what the user typed (each refusal one InvalidCommand
line): unknown command-line variables (hops.cmdline), misspelt task names with a did-you-mean (hops.tasknames),
unknown task options and values of the wrong type (hops.cmdline); it makes stdout quiet on a broken pipe
(hops.quietpipe) and `doit info`'s reasons say "never ran" (hops.info_reasons).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hops.doit_frame import doit_command

ALWAYS_LOCKED = frozenset({"forget", "clean", "ignore", "reset-dep"})
READ_ONLY_COMMANDS = frozenset({"list", "info", "help", "dumpdb", "tabcompletion", "plan"})  # plan: hops.plan


@dataclass(frozen=True)
class TaskInfo:
    """What the guard needs to know about one task name."""

    read_only: bool = False
    options: Mapping[str, bool] = field(default_factory=dict)  # "-x"/"--xx" -> takes a value
    pos_arg: bool = False
    params: tuple[Mapping[str, Any], ...] = ()  # doit params, for hops.cmdline's messages


def guard(creators: Mapping[str, Any], state_dir: Path) -> None:
    """Called once by hops.tasks.load(): install the interrupt handling and take the run lock if this doit
    command can change state; refuse (InvalidCommand, one line) if another run holds it."""
    found = doit_command()
    if found is None:
        return
    cmd, params, args = found
    command = cmd.get_name()
    from hops import interrupts, quietpipe, tasknames

    interrupts.install(state_dir)
    quietpipe.install(cmd, params)  # `doit … | head`: no BrokenPipeError traceback
    tasks = task_infos(creators)
    from hops import cmdline
    from hops.context import cli_vars

    cmdline.check_variables(cli_vars())  # `CLUSTR_NAME=prod` must not be silently ignored
    tasknames.check(command, selected(args, tasks, strict=True) if command == "run" else args, creators)
    if command == "info":
        from hops import info_reasons

        info_reasons.install(cmd)  # "never ran" instead of "file dependencies have changed"
    if command == "run":
        cmdline.check_task_options(args, {n: t.params for n, t in tasks.items()}, cmdline.doit_option_flags(cmd),
                                   [n for n, t in tasks.items() if t.pos_arg])
    locked = needs_lock(command, args, creators)
    _begin(command, args, tasks, creators, records=locked and command not in ALWAYS_LOCKED)  # hops.invocation
    if not locked:
        return
    from doit.exceptions import InvalidCommand

    from hops.state import lock

    try:
        lock.acquire(state_dir, command=command_line())
    except lock.LockBusy as exc:
        raise InvalidCommand(str(exc)) from None
    if command not in ALWAYS_LOCKED:
        from hops import run_end

        run_end.begin(state_dir)  # a task run that can change state: one row in the run history


def _begin(command: str, args: list[str], tasks: Mapping[str, TaskInfo], creators: Mapping[str, Any],
           records: bool) -> None:
    """Name this invocation: its log file, history row and phase deadlines key on it (hops.invocation)."""
    from hops import invocation as this_run

    this_run.begin(command, selected(args, tasks) or _default_tasks(creators), records)


def doit_invocation() -> tuple[str, list[str]] | None:
    """(command name, positional args) of the doit command importing dodo.py, or None outside one."""
    found = doit_command()
    return None if found is None else (found[0].get_name(), found[2])


def needs_lock(command: str, args: list[str], creators: Mapping[str, Any]) -> bool:
    """Whether `doit <command> <args>` can change state (see the module docstring)."""
    if command in ALWAYS_LOCKED:
        return True
    if command in READ_ONLY_COMMANDS:
        return False
    tasks = task_infos(creators)
    names = selected(args, tasks) or list(_default_tasks(creators))
    return not all(tasks.get(name, TaskInfo()).read_only for name in names)


def selected(args: list[str], tasks: Mapping[str, TaskInfo], strict: bool = False) -> list[str]:
    """Task names among doit's positional args: each name may be followed by its own options (and values).
    `strict`: stop at an option the task before it does not have (doit refuses it, naming the option)."""
    names: list[str] = []
    options: Mapping[str, bool] = {}
    rest = iter(args)
    for arg in rest:
        if arg.startswith("-"):
            if strict and arg.split("=", 1)[0] not in options:
                break
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
                                                 _options(task.get("params") or ()), bool(task.get("pos_arg")),
                                                 tuple(task.get("params") or ()))
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
