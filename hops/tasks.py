"""The doit task list: the wired phases (hops.phases.PHASES) as groups of steps, phase aggregates, operations,
bootstrap controls and the lab's lifecycle tasks. dodo.py calls `load()` (unless `doit list` is answered from the
list a previous load kept: hops.task_list_cache).

Loading must stay cheap: `doit list --all` reads no configuration and imports no Kubernetes client."""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from hops import actions, context, controls, endpoints, interactive, lab_tasks, read_ahead, run_order, runguard
from hops.actions import LiveCheck, RunOnce, SourcesDigest, StepAction, TaskAction, describe
from hops.clusters import CONFIG_FILES, Cluster
from hops.config import targets as config_targets
from hops.custom_checks import is_configured_entry, with_configured_checks
from hops.reporter import HopsReporter
from hops.taskmodel import Component, Model, Operation, Step

TaskDict = dict[str, Any]


def load(root: Path, phases: Sequence[Component]) -> dict[str, Any]:
    """The names dodo.py exposes: DOIT_CONFIG and one task_* creator per task, for `phases` in order
    (hops.phases.PHASES; a test dodo passes its own components)."""
    context.set_root(root)
    model = with_configured_checks(Model.of(phases))  # + each step's lazy entry for configured status checks
    cluster, state = _cluster_and_state(root, {step.marker for _, step in model.steps() if step.marker})
    state.mkdir(parents=True, exist_ok=True)  # doit needs the DB's folder to exist
    config_targets.declare_steps(model.step_ids())  # the names bootstrap-config.yaml hooks:/checks: may use
    _declare_run_checks(model, state)
    creators: dict[str, Any] = {"DOIT_CONFIG": {
        "backend": "hops-sqlite",
        "dep_file": str(state / "doit.sqlite"),
        "default_tasks": ["bootstrap_status"],
        "verbosity": 2,
        "reporter": HopsReporter,
    }}
    for comp in model.phases:
        creators[f"task_{comp.group}"] = _group_creator(comp, root, state, cluster.config_dir)
        for op in comp.operations:
            creators[f"task_{comp.task_name(op)}"] = _fixed(comp.task_name(op), operation_task(comp, op))
        creators[f"task_phase{comp.phase}"] = _fixed(f"phase{comp.phase}", phase_task(comp))
    for name, task in {**controls.control_tasks(model), **lab_tasks.tasks()}.items():
        creators[f"task_{name}"] = _fixed(name, {"verbosity": 2, **task})
    interactive.add_gates(creators, model)  # --interactive: a hidden gate before each phase (hops.interactive)
    run_order.follow_declaration(creators, model)  # a serial run takes steps in declared order (hops.run_order)
    runguard.guard(creators, state)  # run lock + Ctrl-C handling for this doit command (hops.runguard)
    return creators


def _declare_run_checks(model: Model, state: Path) -> None:
    """For a `doit run`: checks of steps that run anyway are not asked (hops.actions), and the checks that read
    ahead (hops.read_ahead), with their steps' markers."""
    invocation = runguard.doit_invocation()
    actions.skip_checks_of_tasks_that_run(invocation is not None and invocation[0] == "run")
    if invocation is None or invocation[0] != "run":
        read_ahead.declare([])
        return
    read_ahead.declare([(state / step.marker, check.read_ahead) for _, step in model.steps() if step.marker
                        for check in step.live_checks() if check.read_ahead is not None])


def _cluster_and_state(root: Path, markers: set[str]) -> tuple[Cluster, Path]:
    """The selected cluster and its state folder; an unknown `CLUSTER=`/HOPS_CLUSTER is doit's InvalidCommand
    (one line, exit 3). A cluster chosen on the command line is put in HOPS_CLUSTER so that what this process
    starts (the lab daemon, the tools, a nested doit) and every later lookup in it selects the same cluster."""
    from hops.clusters import CLUSTER_ENV, ClusterError, current, refuse_reserved, requested

    try:
        cluster = current(root)
        refuse_reserved(cluster, markers)  # .bootstrap-state/<name>/ must not be one of the default's markers
        state = endpoints.state_dir(root, cluster=cluster)
    except ClusterError as exc:
        from doit.exceptions import InvalidCommand

        raise InvalidCommand(str(exc)) from None
    if requested({}, context.cli_vars()):  # from the command line, not the environment
        os.environ[CLUSTER_ENV] = cluster.key
    return cluster, state


def step_task(comp: Component, step: Step, root: Path, state_dir: Path, config_dir: Path | None = None) -> TaskDict:
    """The doit task dict of one step (a subtask of the component's group); `config_dir`: where the cluster's
    bootstrap-config.yaml and talconfig.yaml are (default: the root)."""
    step_id = comp.step_id(step.name)
    targets = [str(p) for p in static_paths(step.generates, root)]
    if step.marker:
        targets.append(str(state_dir / step.marker))
    uptodate: list[Any] = [RunOnce()]  # so `doit forget` re-runs the step even when its live checks hold
    uptodate += [LiveCheck(step_id, step, check) for check in step.live_checks()]
    if any(callable(s) for s in step.sources):
        uptodate.append(SourcesDigest(step_id, step))
    return {
        "basename": comp.group,
        "name": step.name,
        "doc": step.doc,
        "actions": [StepAction(step_id, step)],
        "task_dep": [comp.step_id(d) for d in step.deps],
        "file_dep": [str(p) for p in static_paths(step.sources, root, config_dir)],
        "targets": targets,
        "uptodate": uptodate,
        "meta": {"runs": describe(step.action),
                 "checks": [c.name for c in step.live_checks() if not is_configured_entry(c)]},
        "verbosity": 2,
    }


def operation_task(comp: Component, op: Operation) -> TaskDict:
    """The doit task dict of an operation: always runs, never part of the bootstrap graph."""
    return {
        "doc": op.doc,
        "actions": [TaskAction(comp.task_name(op), op.action, bound={"phase": comp} if op.with_phase else {})],
        "params": list(op.params),
        "uptodate": [False],
        "meta": {"runs": describe(op.action), "hops_read_only": op.read_only},
        "verbosity": 2,
    }


def phase_task(comp: Component) -> TaskDict:
    """`phaseN`: phases 1..N up to date."""
    previous = [f"phase{comp.phase - 1}"] if comp.phase > 1 else []
    return {
        "doc": f"Bring phases 1..{comp.phase} up to date (phase {comp.phase}: {comp.title})",
        "actions": None,
        "task_dep": previous + [comp.step_id("complete")],
    }


def static_paths(entries: tuple[Any, ...], root: Path, config_dir: Path | None = None) -> list[Path]:
    """The str entries of `sources`/`generates` as paths under root (globs expanded); callables are skipped.
    The configuration pair's names are the selected cluster's files (in `config_dir`)."""
    paths: list[Path] = []
    for entry in entries:
        if callable(entry):
            continue
        if config_dir is not None and entry in CONFIG_FILES:
            paths.append(config_dir / entry)
            continue
        matches = sorted(glob.glob(str(root / entry))) if glob.has_magic(entry) else [str(root / entry)]
        paths += [Path(m) for m in matches]
    return paths


def _group_creator(comp: Component, root: Path, state: Path,
                   config_dir: Path | None = None) -> Callable[[], Iterator[TaskDict]]:
    def creator() -> Iterator[TaskDict]:
        yield {"basename": comp.group, "name": None, "doc": f"Phase {comp.phase}: {comp.title} (all steps)"}
        for step in comp.steps:
            yield step_task(comp, step, root, state, config_dir)

    creator.__name__ = f"task_{comp.group}"
    creator.__doc__ = f"Phase {comp.phase}: {comp.title}"
    return creator


def _fixed(name: str, task: TaskDict) -> Callable[[], TaskDict]:
    def creator() -> TaskDict:
        return dict(task)

    creator.__name__ = f"task_{name}"
    creator.__doc__ = task.get("doc")
    return creator
