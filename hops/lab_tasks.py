"""doit tasks for the lab's lifecycle: lab_up, lab_down, lab_status, lab_reset, lab_fault.

They are the user's handle on the simulated cluster; the lab itself lives in hops.lab."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hops.actions import TaskAction
from hops.errors import StepError
from hops.prompt import confirm
from hops.taskmodel import YES_PARAM

if TYPE_CHECKING:
    from hops.context import Context
    from hops.lab.layout import LabLayout


def _layout(ctx: Context) -> LabLayout:
    from hops.lab.layout import LabLayout

    return LabLayout.from_env(ctx.root)


def lab_up(ctx: Context) -> None:
    """Start the lab (idempotent) and say where it is."""
    from hops.lab import lifecycle

    info = lifecycle.up(_layout(ctx), ctx.root)
    print(f"lab running (pid {info['pid']}): Kubernetes API {info['api_url']}, {len(info['nodes'])} nodes; "
          f"state in {_layout(ctx).root}")
    print("run the bootstrap on it with: HOPS_LAB=1 doit bootstrap_phased")


def lab_down(ctx: Context) -> None:
    """Stop the lab, keeping its state."""
    from hops.lab import lifecycle

    stopped = lifecycle.down(_layout(ctx))
    print("lab stopped; its state is kept (doit lab_up resumes it)" if stopped else "lab was not running")


def lab_status(ctx: Context, as_json: bool = False) -> None:
    """The lab's process, endpoints, nodes and cluster: a summary, or everything as JSON (--json)."""
    from hops.lab import lifecycle
    from hops.lab.summary import summary

    state = lifecycle.status(_layout(ctx))
    print(json.dumps(state, indent=2, default=str) if as_json else "\n".join(summary(state)))


def lab_reset(ctx: Context, yes: bool) -> None:
    """Stop the lab and delete its state (asks first)."""
    from hops.lab import lifecycle

    if not confirm(f"Stop the lab and delete everything in {_layout(ctx).root} (simulated cluster, lab state)?", yes):
        raise StepError("lab_reset cancelled: nothing was changed")
    lifecycle.reset(_layout(ctx))
    print("lab reset: the next lab_up starts a fresh simulated cluster")


def lab_fault(ctx: Context, add: str, clear: bool) -> None:
    """Add or clear the lab's faults, then show them."""
    from hops.lab import faults

    try:
        if clear:
            faults.clear(_layout(ctx))
        if add:
            faults.add(_layout(ctx), add)
    except faults.FaultSpecError as exc:
        raise StepError(str(exc)) from None
    print(json.dumps(faults.read(_layout(ctx)), indent=1))


READ_ONLY = {"hops_read_only": True}  # the lab's lifecycle may run beside a bootstrap (no run lock)


def _action(fn: Any) -> list[TaskAction]:
    """The lab's tasks read no hops configuration themselves (the lab reads what it needs when it starts)."""
    return [TaskAction(fn.__name__, fn, needs_config=False)]


def tasks() -> dict[str, dict[str, Any]]:
    """doit task dicts of the lab's lifecycle (doit lab_up, ...)."""
    return {
        "lab_up": {"doc": "Start the lab (simulated twin of the configured cluster) in the background; idempotent",
                   "actions": _action(lab_up), "uptodate": [False], "meta": READ_ONLY},
        "lab_down": {"doc": "Stop the lab; its state is kept for the next lab_up", "actions": _action(lab_down),
                     "uptodate": [False], "meta": READ_ONLY},
        "lab_status": {"doc": "Show the lab: process, endpoints, nodes, cluster (--json: everything)",
                       "actions": _action(lab_status), "uptodate": [False], "meta": READ_ONLY,
                       "params": [{"name": "as_json", "long": "json", "type": bool, "default": False,
                                   "help": "print the whole status as JSON"}]},
        "lab_reset": {"doc": "Stop the lab and delete its state (asks first; --yes for scripts)",
                      "actions": _action(lab_reset), "params": [YES_PARAM], "uptodate": [False]},
        "lab_fault": {"doc": "Inject faults into the lab (--add 'fail:helm upgrade:1,block:longhorn' | --clear)",
                      "actions": _action(lab_fault), "uptodate": [False], "meta": READ_ONLY,
                      "params": [{"name": "add", "long": "add", "type": str, "default": "", "help": "fault SPEC"},
                                 {"name": "clear", "long": "clear", "type": bool, "default": False,
                                  "help": "remove all faults"}]},
    }
