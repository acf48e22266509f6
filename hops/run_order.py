"""A serial `doit run` takes each phase's steps in the order the component declares them.

doit's dispatcher chooses among ready tasks by iterating a set of its nodes, so the order follows object ids:
the same graph ran `services:longhorn` before `services:external-secrets` in one process and after it in
another. For a serial run the order matters: a step that only waits (`longhorn-ready`) taken before an install
(`connect`) holds that install back, while the declared order starts every install first and lets the cluster
work on them at once, then waits. So in a serial `doit run` each step also depends on the step before it in
the declared order (a topological order that keeps the declaration wherever the deps allow), among the steps
this run reaches anyway: a run of one step never pulls in another. Not added for `-n` (workers take what is
ready), `--continue` (a failure must not hold back steps that do not depend on it), or any other command
(`doit info`, the graph and the plan show the declared deps only)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any

from hops.taskmodel import Component, Model

TaskDict = dict[str, Any]


def follow_declaration(creators: MutableMapping[str, Any], model: Model) -> None:
    """For a serial `doit run`: wrap each phase's creator so its steps run in declared order (see above)."""
    from hops.doit_frame import doit_command

    found = doit_command()
    if found is None:
        return
    cmd, params, args = found
    if cmd.get_name() != "run" or int(params.get("num_process") or 0) > 1 or params.get("continue"):
        return
    from hops import runguard

    names = runguard.selected(args, runguard.task_infos(creators)) or list(
        (creators.get("DOIT_CONFIG") or {}).get("default_tasks") or ())
    reached = reach(names, dependencies(creators, model))
    if reached is None:
        return
    for comp in model.phases:
        extra = order_edges(comp, reached)
        key = f"task_{comp.group}"
        if extra and key in creators:
            creators[key] = _with_edges(creators[key], extra)


def dependencies(creators: Mapping[str, Any], model: Model) -> dict[str, list[str]]:
    """task name -> the task names doit runs first (task_dep and setup), for every task of the dodo."""
    deps: dict[str, list[str]] = {}
    for comp in model.phases:
        deps[comp.group] = [comp.step_id(s.name) for s in comp.steps]  # a group runs all its subtasks
        for step in comp.steps:
            deps[comp.step_id(step.name)] = [comp.step_id(d) for d in step.deps]
    for key, creator in creators.items():
        name = key[len("task_"):]
        if key.startswith("task_") and name not in deps and callable(creator) \
                and not inspect.isgeneratorfunction(creator):
            task = creator()
            if isinstance(task, dict):
                deps[name] = [*task.get("task_dep", ()), *task.get("setup", ())]
    return deps


def reach(names: list[str], deps: Mapping[str, list[str]]) -> set[str] | None:
    """Every task `names` lead to (themselves included); None when a name is not a known task (a glob, a
    target): then what the run reaches is doit's to work out, and no order is added."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in deps:
            return None
        seen.add(name)
        todo += deps[name]
    return seen


def declared_order(comp: Component) -> list[str]:
    """The phase's step ids in a topological order of their deps, the declared order wherever the deps allow
    (of the ready steps, the one declared first goes next)."""
    ids = [comp.step_id(s.name) for s in comp.steps]
    inside = {i: {comp.step_id(d) for d in s.deps} & set(ids) for i, s in zip(ids, comp.steps, strict=True)}
    order: list[str] = []
    while len(order) < len(ids):
        left = [i for i in ids if i not in order]
        # a cycle (doit reports it) leaves no step ready: the rest keep their declared order
        order += next(([i] for i in left if inside[i] <= set(order)), left)
    return order


def order_edges(comp: Component, reached: set[str]) -> dict[str, str]:
    """step id -> the step id it must also follow: its predecessor in the declared order, among `reached`."""
    chain = [i for i in declared_order(comp) if i in reached]
    return dict(zip(chain[1:], chain[:-1], strict=True))


def _with_edges(creator: Callable[[], Iterator[TaskDict]], extra: dict[str, str]) -> Callable[[], Iterator[TaskDict]]:
    """The group's creator, each step's task_dep extended with the step it must follow."""
    def ordered() -> Iterator[TaskDict]:
        for task in creator():
            step_id = f"{task.get('basename')}:{task.get('name')}"
            before = extra.get(step_id)
            if before and before not in task.get("task_dep", ()):
                task = {**task, "task_dep": [*task.get("task_dep", ()), before]}
            yield task

    ordered.__name__, ordered.__doc__ = creator.__name__, creator.__doc__
    return ordered
