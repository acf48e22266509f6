"""Builds the whole doit task list: phase groups and their steps, phase aggregates, bootstrap controls,
operational tasks and the lab's lifecycle tasks. dodo.py only calls `load()`.

Loading must stay cheap: `doit list --all` reads no configuration and imports no Kubernetes client."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Callable

from hops import context, controls, endpoints, lab_tasks, taskmodel
from hops.reporter import HopsReporter

COMPONENT_MODULES = ("validation", "talos", "networking", "services", "gitops", "applications")


def load_components(modules: tuple[str, ...] = COMPONENT_MODULES) -> list[taskmodel.Component]:
    for name in modules:
        importlib.import_module(f"hops.components.{name}")
    return taskmodel.components()


def load(root: Path, modules: tuple[str, ...] = COMPONENT_MODULES) -> dict[str, Any]:
    """The names dodo.py exposes: DOIT_CONFIG and one task_* creator per task. `modules` lets a test dodo
    register its own component instead of the six phases."""
    context.set_root(root)
    state = endpoints.state_dir(root)
    state.mkdir(parents=True, exist_ok=True)  # doit needs the DB's folder to exist
    creators: dict[str, Any] = {
        "DOIT_CONFIG": {
            "backend": "hops-sqlite",
            "dep_file": str(state / "doit.sqlite"),
            "default_tasks": ["bootstrap_status"],
            "verbosity": 2,
            "reporter": HopsReporter,
        }
    }
    comps = load_components(modules)
    for comp in comps:
        creators[f"task_{comp.group}"] = _group_creator(comp, root, state)
        for op in comp.operations:
            creators[f"task_{comp.group}_{op.verb}"] = _fixed(taskmodel.operation_task(comp, op))
    for comp in comps:
        creators[f"task_phase{comp.phase}"] = _fixed(_phase_task(comp))
    for name, task in controls.control_tasks(comps).items():
        creators[f"task_{name}"] = _fixed(task)
    for name, task in lab_tasks.tasks().items():
        creators[f"task_{name}"] = _fixed({"basename": name, "verbosity": 2, **task})
    return creators


def _group_creator(comp: taskmodel.Component, root: Path, state: Path) -> Callable[[], Any]:
    def creator():
        yield {"basename": comp.group, "name": None, "doc": f"Phase {comp.phase}: {comp.title} (all steps)"}
        for step in comp.steps:
            yield taskmodel.step_task(comp, step, root, state)

    creator.__name__ = f"task_{comp.group}"
    creator.__doc__ = f"Phase {comp.phase}: {comp.title}"
    return creator


def _phase_task(comp: taskmodel.Component) -> dict:
    previous = f"phase{comp.phase - 1}" if comp.phase > 1 else None
    return {
        "basename": f"phase{comp.phase}",
        "doc": f"Bring phases 1..{comp.phase} up to date (phase {comp.phase}: {comp.title})",
        "actions": None,
        "task_dep": ([previous] if previous else []) + [f"{comp.group}:{comp.complete_step}"],
    }


def _fixed(task: dict) -> Callable[[], dict]:
    task = dict(task)
    name = task.pop("basename")
    task.pop("name", None)

    def creator() -> dict:
        return dict(task)

    creator.__name__ = f"task_{name}"
    creator.__doc__ = task.get("doc")
    return creator

