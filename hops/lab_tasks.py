"""doit tasks for the lab's lifecycle: lab_up, lab_down, lab_status, lab_reset, lab_fault.

They are the user's handle on the simulated cluster; the lab itself lives in hops.lab."""

from __future__ import annotations

import json

from doit.exceptions import TaskFailed

from hops import context as context_mod


def _layout():
    from hops.lab.layout import LabLayout

    return LabLayout.from_env(context_mod.root())


def lab_up() -> None:
    from hops.lab import lifecycle

    info = lifecycle.up(_layout(), context_mod.root())
    print(f"lab running (pid {info['pid']}): Kubernetes API {info['api_url']}, {len(info['nodes'])} nodes; "
          f"state in {_layout().root}")
    print("run the bootstrap on it with: HOPS_LAB=1 doit bootstrap_phased")


def lab_down() -> None:
    from hops.lab import lifecycle

    stopped = lifecycle.down(_layout())
    print("lab stopped; its state is kept (doit lab_up resumes it)" if stopped else "lab was not running")


def lab_status() -> None:
    from hops.lab import lifecycle

    print(json.dumps(lifecycle.status(_layout()), indent=2, default=str))


def lab_reset(yes: bool) -> TaskFailed | None:
    from hops.controls import confirm
    from hops.lab import lifecycle

    if not confirm(f"Stop the lab and delete everything in {_layout().root} (simulated cluster, lab state)?", yes):
        return TaskFailed("lab_reset cancelled: nothing was changed")
    lifecycle.reset(_layout())
    print("lab reset: the next lab_up starts a fresh simulated cluster")
    return None


def lab_fault(add: str, clear: bool) -> TaskFailed | None:
    from hops.lab import faults

    try:
        if clear:
            faults.clear(_layout())
        if add:
            faults.add(_layout(), add)
    except faults.FaultSpecError as exc:
        return TaskFailed(str(exc))
    print(json.dumps(faults.read(_layout()), indent=1))
    return None


def _clear_errors(action):
    """Run a lab task's action; a lab or configuration problem becomes one clear task failure, not a traceback."""

    def run(**params):
        from hops.config import ConfigError  # here, not when the task list is built
        from hops.errors import StepError

        try:
            return action(**params)
        except (StepError, ConfigError) as exc:
            return TaskFailed(str(exc))

    run.__name__ = action.__name__
    return run


READ_ONLY = {"hops_read_only": True}  # the lab's lifecycle may run beside a bootstrap (no run lock)


def tasks() -> dict[str, dict]:
    """doit task dicts of the lab's lifecycle (doit lab_up, ...)."""
    from hops.taskmodel import YES_PARAM

    return {
        "lab_up": {"doc": "Start the lab (simulated twin of the configured cluster) in the background; idempotent",
                   "actions": [_clear_errors(lab_up)], "uptodate": [False], "meta": READ_ONLY},
        "lab_down": {"doc": "Stop the lab; its state is kept for the next lab_up", "actions": [_clear_errors(lab_down)],
                     "uptodate": [False], "meta": READ_ONLY},
        "lab_status": {"doc": "Show the lab: process, endpoints, nodes, cluster", "actions": [_clear_errors(lab_status)],
                       "uptodate": [False], "meta": READ_ONLY},
        "lab_reset": {"doc": "Stop the lab and delete its state (asks first; --yes for scripts)",
                      "actions": [(_clear_errors(lab_reset),)], "params": [YES_PARAM], "uptodate": [False]},
        "lab_fault": {"doc": "Inject faults into the lab (--add 'fail:helm upgrade:1,block:longhorn' | --clear)",
                      "actions": [(_clear_errors(lab_fault),)], "uptodate": [False], "meta": READ_ONLY,
                      "params": [{"name": "add", "long": "add", "type": str, "default": "", "help": "fault SPEC"},
                                 {"name": "clear", "long": "clear", "type": bool, "default": False,
                                  "help": "remove all faults"}]},
    }
