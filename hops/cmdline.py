"""The doit command line's variables and task options, checked before doit acts on them (hops.runguard).

- Variables (`NAME=value`): doit accepts any name and hops reads only its override variables, so a typo
  (`CLUSTR_NAME=prod`) would be silently ignored and the default cluster bootstrapped: refused, with the
  closest variable. (Environment variables are shared with everything else on the machine: they are not checked.)
- Task options (`force_phase --phase three`, `force_phase --dry`): doit answers `<class 'int'>` or a kilobyte of
  `CmdOption(...)` reprs; hops answers one line naming the task, the option and what it accepts.
Both are doit's InvalidCommand: `ERROR: <line>`, exit 3, nothing run.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from typing import Any

TaskParams = Mapping[str, Sequence[Mapping[str, Any]]]  # task name -> its doit params


def check_variables(variables: Mapping[str, str]) -> None:
    """Refuse command-line variables that are not override variables."""
    if not variables:
        return
    from hops.clusters import CLUSTER_VAR
    from hops.config.overrides import unknown_variables

    problems = unknown_variables(name for name in variables if name != CLUSTER_VAR)  # CLUSTER=: hops.clusters
    if problems:
        from doit.exceptions import InvalidCommand

        raise InvalidCommand(f"unknown variable on the doit command line: {'; '.join(problems)} (doit takes every "
                             "argument with '=' for a variable; an option value with '=' is written --option=VALUE)")


def check_task_options(args: list[str], params: TaskParams, doit_options: Iterable[str],
                       pos_arg: Iterable[str] = ()) -> None:
    """Refuse an unknown option or a value of the wrong type given to a task on `doit run`'s command line.
    `params`: the tasks that have options (any other name has none); `pos_arg`: tasks taking the rest as is."""
    problem = next(option_problems(args, params, set(doit_options), set(pos_arg)), None)
    if problem:
        from doit.exceptions import InvalidCommand

        raise InvalidCommand(problem)


def option_problems(args: list[str], params: TaskParams, doit_options: set[str],
                    pos_arg: Set[str] = frozenset()) -> Iterator[str]:
    """What is wrong with the options following each task name in `args` (the names are known: hops.tasknames
    checked them first)."""
    task: str | None = None
    rest = iter(args)
    for arg in rest:
        if not arg.startswith("-"):
            if arg in pos_arg:
                return  # everything after it is the task's
            task = arg
            continue
        if task is None:
            return
        flag, has_value, value = arg.partition("=")
        task_params = params.get(task, ())
        param = _find(task_params, flag)
        if param is None:
            yield _unknown_option(task, flag, task_params, flag in doit_options)
            return
        if param.get("type", str) is bool:
            continue
        if not has_value:
            value = next(rest, None)  # type: ignore[assignment]
            if value is None:
                yield f"{task} {flag} needs a value: {_usage(param)}; e.g. `doit {task} {_example(param)}`"
                return
        if not _parses(param, value):
            yield (f"{task} {flag} {value}: not {_kind(param)} ({param.get('help', param['name'])}); "
                   f"e.g. `doit {task} {_example(param)}`")
            return


def _find(task_params: Sequence[Mapping[str, Any]], flag: str) -> Mapping[str, Any] | None:
    for param in task_params:
        if flag in (f"--{param.get('long')}", f"-{param.get('short')}"):
            return param
    return None


def _unknown_option(task: str, flag: str, task_params: Sequence[Mapping[str, Any]], doit_option: bool) -> str:
    accepted = ", ".join(_usage(p) for p in task_params) or "none"
    where = (f"; {flag} is an option of doit itself: put it before the task name (`doit {flag} … {task}`)"
             if doit_option else "")
    return f"{task} has no option {flag} (its options: {accepted}){where}"


def _usage(param: Mapping[str, Any]) -> str:
    names = "/".join(n for n in (f"--{param['long']}" if param.get("long") else "",
                                 f"-{param['short']}" if param.get("short") else "") if n)
    value = "" if param.get("type", str) is bool else " N" if param.get("type") is int else " VALUE"
    return f"{names}{value} ({param.get('help', param['name'])})"


def _example(param: Mapping[str, Any]) -> str:
    flag = f"--{param['long']}" if param.get("long") else f"-{param['short']}"
    return f"{flag} {param.get('default') or 3}" if param.get("type") is int else f"{flag} VALUE"


def _kind(param: Mapping[str, Any]) -> str:
    kind = param.get("type", str)
    return "a whole number" if kind is int else "a number" if kind is float else f"a {kind.__name__}"


def _parses(param: Mapping[str, Any], value: str) -> bool:
    kind = param.get("type", str)
    if not callable(kind) or kind in (str, bool):
        return True
    try:
        kind(value)
    except (TypeError, ValueError):
        return False
    return True


def doit_option_flags(cmd: Any) -> list[str]:
    """`-n`, `--process`, … of the doit command itself (to say where such an option goes)."""
    flags = []
    for option in cmd.get_options():
        flags += [f"-{option.short}"] if option.short else []
        flags += [f"--{option.long}"] if option.long else []
    return flags
