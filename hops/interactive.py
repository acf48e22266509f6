"""`doit bootstrap_phased --interactive` (or `bootstrap: {interactive: true}`): before each phase that has steps
to run, show that phase's plan and ask to continue or stop.

How it hooks into the graph: hops.tasks.load() calls `add_gates()`. When this doit command runs
bootstrap_phased or bootstrap_resume interactively, every phase N gets a hidden task `_gate_phaseN` (after phase
N-1's `complete`), and the phase's first steps (those whose deps all lie outside the phase) depend on it, so no
step of phase N is even checked before its gate has asked. Without interactive mode nothing is added: the graph,
the output and `doit plan` stay exactly as they are.

Interactive mode is on with `--interactive`, off with `--no-interactive`, else it is bootstrap.interactive of
the configuration (read here, at load, only for a run of those two tasks; an invalid configuration counts as
off: the first step reports it as usual). It needs a terminal and a serial run (`-n 1`); otherwise the command is
refused at load (doit's one-line ERROR, exit 3) before the run lock is taken or anything runs.

The gate's plan is hops.plan's decisions (decide/render, the same as `doit plan phaseN`), restricted to the
phase's steps and computed when the gate runs, after the earlier phases finished: live checks see the world the
phase will start from. It reads doit's DB (written through per task) without writing it.

Stop ends the run right there, exit 0 (STOP_EXIT): nothing of that phase has started, every finished step keeps
its marker and DB record, and `doit bootstrap_phased` (or bootstrap_resume) continues from it. There is no "skip
this phase": the next phase's first steps wait for this phase's `complete`, so a skipped phase would only move
the stop point, or run later phases on a cluster the skipped one never made ready.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hops.plan import Decision
    from hops.taskmodel import Component, Model

BOOTSTRAP_TASKS = ("bootstrap_phased", "bootstrap_resume")
FLAG, NO_FLAG = "--interactive", "--no-interactive"
# two plain options rather than doit's `inverse`: hops.cmdline checks task options by their long names
INTERACTIVE_PARAMS: list[dict[str, Any]] = [
    {"name": "interactive", "long": "interactive", "type": bool, "default": False,
     "help": "show each phase's plan and ask before running it (needs a terminal)"},
    {"name": "no_interactive", "long": "no-interactive", "type": bool, "default": False,
     "help": "do not ask, even when bootstrap.interactive is true"}]
STOP_EXIT = 0
CONTINUE, STOP = ("c", "continue", "y", "yes"), ("s", "stop", "n", "no", "q", "quit")

_creators: Mapping[str, Any] = {}  # the task creators of this process, for the gates' plans


def add_gates(creators: dict[str, Any], model: Model) -> None:
    """When this doit command runs a bootstrap interactively, add `_gate_phaseN` before each phase's first steps
    (see the module docstring); refuse (InvalidCommand) when there is no terminal or more than one worker."""
    global _creators
    invocation = _run_invocation()
    if invocation is None:
        return
    args, params = invocation
    selected, flag = requested(args)
    if not selected or not (flag if flag is not None else _configured()):
        return
    _refuse_unless_possible(params, FLAG if flag else "bootstrap.interactive: true")
    _creators = creators
    previous: Component | None = None
    for comp in model.phases:
        gate = f"_gate_phase{comp.phase}"
        creators[f"task_{gate}"] = _gate_creator(gate, comp, previous)
        creators[f"task_{comp.group}"] = _gated(creators[f"task_{comp.group}"], gate, first_steps(comp))
        previous = comp


def requested(args: list[str]) -> tuple[bool, bool | None]:
    """From doit's positional args: (bootstrap_phased or bootstrap_resume is selected, True/False for
    --interactive/--no-interactive given after one of them, None when neither is: the configuration decides)."""
    current, selected, flag = "", False, None
    for arg in args:
        if not arg.startswith("-"):
            current = arg
            selected = selected or arg in BOOTSTRAP_TASKS
        elif current in BOOTSTRAP_TASKS and arg in (FLAG, NO_FLAG):
            flag = arg == FLAG
    return selected, flag


def _configured() -> bool:
    """bootstrap.interactive of the configuration (False when it does not load: the first step says why). The
    context caches it, so the run's steps do not load it again."""
    from hops import context
    from hops.config import ConfigError

    try:
        return bool(context.current().config.bootstrap.interactive)
    except (ConfigError, OSError):
        return False


def _refuse_unless_possible(params: Mapping[str, Any], why: str) -> None:
    from doit.exceptions import InvalidCommand

    if not (sys.stdin and sys.stdin.isatty()):
        raise InvalidCommand(f"interactive mode ({why}) asks before each phase, but there is no terminal to ask "
                             "on; run it on a terminal, or without interactive mode (--no-interactive)")
    if int(params.get("num_process") or 0) > 1:
        raise InvalidCommand(f"interactive mode ({why}) runs the phases one after the other and asks in between; "
                             "it cannot be combined with -n/--process (leave -n out)")


def first_steps(comp: Component) -> set[str]:
    """Names of the phase's steps that depend on no step of the same phase: every other step waits for them."""
    own = f"{comp.group}:"
    return {s.name for s in comp.steps if not any(":" not in d or d.startswith(own) for d in s.deps)}


def _gated(creator: Callable[[], Iterator[dict[str, Any]]], gate: str,
           first: set[str]) -> Callable[[], Iterator[dict[str, Any]]]:
    """The group's creator, its first steps also depending on the gate."""
    def gated() -> Iterator[dict[str, Any]]:
        for task in creator():
            if task.get("name") in first:
                task = {**task, "task_dep": [*task.get("task_dep", []), gate]}
            yield task

    gated.__name__, gated.__doc__ = creator.__name__, creator.__doc__
    return gated


def _gate_creator(name: str, comp: Component, previous: Component | None) -> Callable[[], dict[str, Any]]:
    def creator() -> dict[str, Any]:
        return {"doc": f"Ask before phase {comp.phase} ({comp.group}) runs (interactive mode)",
                "actions": [GateAction(comp.phase, comp.group, comp.title)],
                "task_dep": [previous.step_id("complete")] if previous else [],
                "uptodate": [False], "verbosity": 2, "meta": {"hops_read_only": True}}

    creator.__name__ = f"task_{name}"
    return creator


# --- the gate ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class GateAction:
    """doit action of `_gate_phaseN`: the phase's plan, then continue (return) or stop (end the run, STOP_EXIT)."""

    phase: int
    group: str
    title: str

    def __repr__(self) -> str:  # what `doit info` and tracebacks show, like hops.actions' callables
        return f"<gate before phase {self.phase} ({self.group})>"

    def __call__(self) -> dict[str, Any] | Any:
        from hops.actions import prepared_context
        from hops.plan import render
        from hops.results import result_of

        try:
            prepared_context(lock=False)  # a bad configuration is one message here, before any check
            decisions = phase_plan(self.phase, self.group)
        except Exception as exc:  # noqa: BLE001 - hops.results decides: world failure or bug in hops
            return result_of(f"_gate_phase{self.phase}", exc)
        heading = f"Phase {self.phase} ({self.group}: {self.title})"
        if not any(d.decision == "run" for d in decisions):
            print(f"{heading}: nothing to run, continuing.", flush=True)
            return {}
        print(f"\n{heading}, plan:\n{render(decisions)}", flush=True)
        if not ask_continue(self.phase):
            stop(self.phase, self.group)
        return {}


def phase_plan(phase: int, group: str) -> list[Decision]:
    """hops.plan's decisions for phase `phase`'s steps, in execution order, from doit's DB as it is now."""
    from doit.control import TaskControl
    from doit.dependency import Dependency
    from doit.loader import load_tasks

    from hops.actions import announce_check_errors
    from hops.plan import decide, execution_order
    from hops.state.durable_db import DurableSqliteDB

    task_list = load_tasks(dict(_creators))
    TaskControl(task_list).process([f"phase{phase}"])
    tasks = {t.name: t for t in task_list}
    dep_manager = Dependency(DurableSqliteDB, _creators["DOIT_CONFIG"]["dep_file"])
    announce_check_errors(False)  # each failing check's reason is part of the plan
    try:
        decisions: list[Decision] = []
        runs: set[str] = set()
        for name in execution_order(tasks, [f"phase{phase}"]):
            if not name.startswith(f"{group}:"):
                continue
            decision = decide(tasks[name], tasks, dep_manager, runs)
            if decision is not None:
                decisions.append(decision)
                runs.update([name] if decision.decision == "run" else [])
        return decisions
    finally:
        announce_check_errors(True)
        dep_manager.close()


def ask_continue(phase: int) -> bool:
    """True to run the phase; end of input counts as stop."""
    while True:
        try:
            answer = input(f"Run phase {phase} now? [c]ontinue / [s]top: ").strip().lower()
        except EOFError:
            print()
            return False
        if answer in CONTINUE or answer in STOP:
            return answer in CONTINUE
        print("  answer c (continue) or s (stop)")


def stop(phase: int, group: str) -> None:
    """End the run before phase `phase`: SystemExit passes through doit's actions (they catch Exception), and
    doit's runner still closes its DB and reports on the way out."""
    done = f"phases 1..{phase - 1} are complete; " if phase > 1 else ""
    print(f"Stopped before phase {phase} ({group}) as asked: {done}nothing of phase {phase} has started. "
          "Continue with `doit bootstrap_resume` (or `doit bootstrap_phased`, --interactive to be asked again).",
          flush=True)
    raise SystemExit(STOP_EXIT)


def _run_invocation() -> tuple[list[str], Mapping[str, Any]] | None:
    """(positional args, parsed options) of the doit `run` command importing dodo.py; None for any other
    command (list, plan, info, ...) or outside doit. See hops.runguard for why the frame is the place to read."""
    from doit.cmd_base import DoitCmdBase

    code = DoitCmdBase.execute.__code__
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        cmd = frame.f_locals.get("self")
        if frame.f_code is code and isinstance(cmd, DoitCmdBase):
            if cmd.get_name() != "run":
                return None
            return [str(a) for a in frame.f_locals.get("args") or ()], frame.f_locals.get("params") or {}
        frame = frame.f_back
    return None

