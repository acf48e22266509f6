"""Unknown task names on the doit command line, answered with a suggestion (`doit talos_stauts`).

doit's own answer names no alternative (`Invalid parameter: "x". Must be a command, task, or a target.`) and
`doit info x` is a KeyError traceback. hops.runguard calls `check()` inside doit's command, before doit selects
tasks: a name that is not a task, a target or a pattern is refused here, as doit's InvalidCommand (one line,
exit 3), with the closest task name when one is close.
"""

from __future__ import annotations

import glob
import inspect
import os
from collections.abc import Iterable, Mapping
from typing import Any

# doit commands whose positional arguments are task names (plus, for run, the tasks' own options)
NAMED_COMMANDS = frozenset({"run", "info", "list", "forget", "clean", "ignore", "strace", "reset-dep", "plan"})


def check(command: str, names: list[str], creators: Mapping[str, Any]) -> None:
    """Raise InvalidCommand for the first of `names` that doit would not find, with a did-you-mean."""
    if command not in NAMED_COMMANDS:
        return
    candidates = [n for n in names if not _is_pattern(n)]
    singles = {key[len("task_"):] for key in creators if key.startswith("task_")}
    if all(n in singles for n in candidates):
        return  # the common case (`doit bootstrap_status`) costs no task generation
    tasks, targets = all_tasks(creators)
    for name in candidates:
        if name not in tasks and name not in targets and os.path.abspath(name) not in targets:
            from doit.exceptions import InvalidCommand

            raise InvalidCommand(message(command, name, tasks))


def message(command: str, name: str, tasks: Iterable[str]) -> str:
    """doit's words for an unknown name, plus the closest task name when there is one."""
    visible = sorted(t for t in tasks if not t.startswith("_"))
    import difflib  # only when a name is unknown: most runs never need it

    close = difflib.get_close_matches(name, visible, n=1, cutoff=0.6)
    hint = f" Did you mean `doit {'' if command == 'run' else command + ' '}{close[0]}`?" if close else ""
    kind = "a task or a target" if command != "run" else "a command, task or target"
    return f'Invalid parameter: "{name}". Must be {kind}.{hint} `doit list --all` shows every task.'


def all_tasks(creators: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """Every task name (groups and their `group:step` subtasks included) and every target path."""
    names: set[str] = set()
    targets: set[str] = set()
    for key, creator in creators.items():
        if not key.startswith("task_") or not callable(creator):
            continue
        made = creator()
        dicts = list(made) if inspect.isgenerator(made) else [made]
        for task in (d for d in dicts if isinstance(d, dict)):
            names.add(_name(key[len("task_"):], task))
            targets.update(os.path.abspath(str(t)) for t in task.get("targets") or ())
    return names, targets


def _name(base: str, task: Mapping[str, Any]) -> str:
    basename = task.get("basename") or base
    return f"{basename}:{task['name']}" if task.get("name") else basename


def _is_pattern(name: str) -> bool:
    return glob.has_magic(name)
