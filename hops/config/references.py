"""What `hooks:` and `checks:` refer to must exist: their keys name a phase or step of the task model, and every
`when: {config: {<dotted field>: value}}` names a configuration field whose value can equal the one given.

Works on the merged mapping (before or beside pydantic's validation, tolerant of any shape: shape errors are
pydantic's), so every problem is reported with the others, each naming the file and field."""

from __future__ import annotations

import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from hops.config.custom import SECTIONS
from hops.config.errors import BOOTSTRAP_FILE, Problem, did_you_mean
from hops.config.targets import known_steps

KINDS = {"hooks": ("before", "after", "on_failure"), "checks": ("preconditions", "status")}


def reference_problems(data: Mapping[str, Any], step_ids: tuple[str, ...] | None = None) -> list[Problem]:
    """Unknown phase/step keys (`step_ids`, default: the declared ones) and unknown `when.config` fields."""
    return target_problems(data, step_ids) + when_problems(data)


def target_problems(data: Mapping[str, Any], step_ids: tuple[str, ...] | None = None) -> list[Problem]:
    """A problem for every key of `hooks:`/`checks:` that names no phase or step of the task model (none are
    checked when no task model declared its names: hops.config.targets)."""
    step_ids = known_steps() if step_ids is None else step_ids
    if step_ids is None:
        return []
    groups = list(dict.fromkeys(s.partition(":")[0] for s in step_ids))
    problems = []
    for section, key, _ in _entries(data):
        if key in groups or key in step_ids:
            continue
        candidates, what = (step_ids, "step") if ":" in key else (groups, "phase")
        problems.append(Problem(BOOTSTRAP_FILE, f"{section}.{key}", f"no {what} is called {key!r}"
                                f"{did_you_mean(key, candidates)}; keys are a phase (group name) or a step id "
                                "(group:step, as `doit list --all` shows)"))
    return problems


def when_problems(data: Mapping[str, Any]) -> list[Problem]:
    """A problem for every `when.config` entry naming no configuration field, or a value it can never have."""
    problems = []
    for section, key, owner in _entries(data):
        for kind in KINDS[section]:
            commands = owner.get(kind) if isinstance(owner, dict) else None
            for index, command in enumerate(commands if isinstance(commands, list) else []):
                when = command.get("when") if isinstance(command, dict) else None
                fields = when.get("config") if isinstance(when, dict) else None
                for dotted, expected in (fields.items() if isinstance(fields, dict) else ()):
                    message = config_field_problem(str(dotted), expected)
                    if message:
                        where = f"{section}.{key}.{kind}[{index}].when.config.{dotted}"
                        problems.append(Problem(BOOTSTRAP_FILE, where, message))
    return problems


def _entries(data: Mapping[str, Any]) -> list[tuple[str, str, Any]]:
    return [(section, str(key), owner) for section in SECTIONS if isinstance(data.get(section), dict)
            for key, owner in data[section].items()]


def config_field_problem(dotted: str, expected: Any) -> str:
    """'' when `dotted` names a configuration field whose kind of value `expected` can equal, else why not."""
    from hops.config.model import BootstrapConfig

    current: Any = BootstrapConfig
    parts = dotted.split(".")
    for index, part in enumerate(parts):
        model = current if isinstance(current, type) and issubclass(current, BaseModel) else None
        if model is None:
            if get_origin(current) is dict and index == len(parts) - 1:
                current = _unwrap(get_args(current)[-1])
                break
            return f"{'.'.join(parts[:index])} has no fields (expected a field such as networking.kube_proxy_replacement)"
        allowed = [f for f in model.model_fields if f not in SECTIONS]
        if part not in allowed:
            return f"not a configuration field: unknown {part!r}{did_you_mean(part, allowed)}"
        current = _unwrap(model.model_fields[part].annotation)
        if get_origin(current) is list:
            return f"{'.'.join(parts[:index + 1])} is a list; `when` compares single values"
    return _kind_problem(current, expected)


def _unwrap(annotation: Any) -> Any:
    """Optional[X] and Annotated[X, ...] -> X."""
    while True:
        args = [a for a in get_args(annotation) if a is not type(None)]
        union = get_origin(annotation) in (Union, types.UnionType)
        if get_origin(annotation) is Annotated or (union and len(args) == 1):
            annotation = args[0]
        else:
            return annotation


def _kind_problem(annotation: Any, expected: Any) -> str:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "is a section, not a value (name one of its fields: <section>.<field>)"
    if annotation is bool and not isinstance(expected, bool):
        return f"is true or false; {expected!r} can never equal it"
    if annotation in (int, float) and (isinstance(expected, bool) or not isinstance(expected, (int, float))):
        return f"is a number; {expected!r} can never equal it"
    if annotation in (str, Path) and not isinstance(expected, str):
        return f"is text; {expected!r} can never equal it (quote it)"
    return ""
