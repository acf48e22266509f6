"""`doit plan [TASK ...]`: what a run would do, before it does anything (k0sctl's `apply --dry-run`, the original
design's `task --dry`).

For every step the selected tasks need (default: bootstrap_phased), in execution order: `run`, `up-to-date` or
`skipped` (its `when` is false), why (marker missing, a source file changed, a live check fails and what it
saw, never ran or forgotten, a dependency runs first), and for a step that would run, what it would do
(`Step.intent`, computed from configuration). It asks doit's own up-to-date machinery, so it agrees with a real
run as far as the world can be known before the run: live checks see the world as it is now (doit evaluates
them after the step's dependencies ran).

Read-only: no marker, no DB write (doit's status check only reads), no mutating tool call or API write (live
checks read), and no run lock (hops.runguard treats `plan` like `info`). Exit 0 when nothing would run, 1 when
something would. `--json` prints a list in execution order for scripts.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from doit.cmd_base import DoitCmdBase
from doit.control import TaskControl
from doit.exceptions import InvalidCommand

from hops import context
from hops.actions import LiveCheck, RunOnce, SourcesDigest, StepAction, announce_check_errors, evaluate
from hops.results import is_world_failure, message_of

if TYPE_CHECKING:
    from doit.task import Task

DEFAULT_TASK = "bootstrap_phased"
JSON_OPTION = {"name": "as_json", "long": "json", "type": bool, "default": False,
               "help": "print the plan as JSON (a list in execution order)"}


@dataclass
class Decision:
    """One step of the plan."""

    step: str
    decision: str  # "run" | "up-to-date" | "skipped"
    reasons: list[str] = field(default_factory=list)
    would_do: list[str] = field(default_factory=list)


def execution_order(tasks: dict[str, Task], selected: list[str]) -> list[str]:
    """Every task the selection needs, dependencies first, each once (doit's order for a serial run)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen:
            return
        seen.add(name)
        task = tasks[name]
        for dep in [*task.setup_tasks, *task.task_dep]:
            visit(dep)
        order.append(name)

    for name in selected:
        visit(name)
    return order


def step_action(task: Task) -> StepAction | None:
    """The hops step a doit task runs (None for groups, controls and operations)."""
    for action in task.actions:
        fn = getattr(action, "py_callable", None)
        if isinstance(fn, StepAction):
            return fn
    return None


def reasons_of(status: Any, marker: str | None) -> list[str]:
    """doit's reasons for a task to run, in words (a failing live check says what it saw)."""
    reasons = [_uptodate_reason(utd) for utd, _args, _kwargs in status.reasons.get("uptodate_false", [])]
    words = {"missing_target": "missing", "changed_file_dep": "changed", "missing_file_dep": "missing source",
             "removed_file_dep": "source no longer listed", "added_file_dep": "new source"}
    for key, word in words.items():
        for path in status.reasons.get(key, []):
            is_marker = key == "missing_target" and marker is not None and str(path) == marker
            reasons.append(f"marker missing: {path}" if is_marker else f"{word}: {path}")
    if status.reasons.get("has_no_dependencies"):
        reasons.append("always runs (no up-to-date information)")
    return reasons


def _uptodate_reason(utd: Any) -> str:
    if isinstance(utd, RunOnce):
        return "never ran, or forgotten (doit forget)"
    if isinstance(utd, SourcesDigest):
        return "configuration-dependent sources changed: " + ", ".join(str(p) for p in utd.paths(context.current()))
    if isinstance(utd, LiveCheck):
        return f"live check '{utd.check.name}' fails: {evaluate(utd.step_id, utd.step, utd.check)[1]}"
    return f"{utd!r} is false"


def decide(task: Task, tasks: dict[str, Task], dep_manager: Any, runs: set[str]) -> Decision | None:
    """The plan's entry for one doit task (None: not a step)."""
    action = step_action(task)
    if action is None:
        return None
    step = action.step
    ctx = context.current()
    if step.when is not None and not step.when(ctx):
        return Decision(action.step_id, "skipped", ["not applicable to this configuration (when: false)"])
    status = dep_manager.get_status(task, tasks, get_log=True)
    if status.status == "up-to-date":
        return Decision(action.step_id, "up-to-date")
    marker = str(ctx.state_dir / step.marker) if step.marker else None
    reasons = reasons_of(status, marker)
    first = [d for d in task.task_dep if d in runs]
    if first:
        reasons.append("after " + ", ".join(first) + ", which run first")
    return Decision(action.step_id, "run", reasons, step.intent(ctx))


def make_plan(tasks: dict[str, Task], selected: list[str], dep_manager: Any) -> list[Decision]:
    """The decisions for every step the selection needs, in execution order."""
    plan: list[Decision] = []
    runs: set[str] = set()
    for name in execution_order(tasks, selected):
        decision = decide(tasks[name], tasks, dep_manager, runs)
        if decision is not None:
            plan.append(decision)
            if decision.decision == "run":
                runs.add(name)
    return plan


def render(plan: list[Decision]) -> str:
    """The plan as text: one line per step, reasons and intended actions indented below those that run."""
    marks = {"run": "RUN       ", "up-to-date": "up to date", "skipped": "skipped   "}
    lines = []
    for d in plan:
        lines.append(f"{marks[d.decision]}  {d.step}" + (f"  ({d.reasons[0]})" if d.decision == "skipped" else ""))
        if d.decision == "run":
            lines += [f"              why: {r}" for r in d.reasons]
            lines += [f"              would: {w}" for w in d.would_do]
    count = sum(d.decision == "run" for d in plan)
    lines.append(f"{count} of {len(plan)} steps would run" if count else f"nothing to do: all {len(plan)} steps "
                 "are up to date (or skipped)")
    return "\n".join(lines)


class Plan(DoitCmdBase):
    """doit command `plan`: see the module docstring."""

    name = "plan"
    doc_purpose = "show what a run would do, and why, without changing anything"
    doc_usage = "[TASK ...]"
    doc_description = __doc__
    cmd_options = (JSON_OPTION,)

    def _execute(self, pos_args: list[str] | None = None, as_json: bool = False) -> int:
        tasks = {t.name: t for t in self.task_list}
        selection = list(pos_args or [DEFAULT_TASK])
        control = TaskControl(self.task_list)
        control.process(selection)  # unknown names: doit's own InvalidCommand, as for `doit run`
        plan = self._plan(tasks, control.selected_tasks)
        if as_json:
            self.outstream.write(json.dumps([asdict(d) for d in plan], indent=1) + "\n")
        else:
            self.outstream.write(render(plan) + "\n")
        return 1 if any(d.decision == "run" for d in plan) else 0

    def _plan(self, tasks: dict[str, Task], selected: list[str]) -> list[Decision]:
        announce_check_errors(False)  # each failing check's reason is part of the plan
        try:
            context.current().settings  # noqa: B018 - a bad configuration is one message, before any check
            return make_plan(tasks, selected, self.dep_manager)
        except Exception as exc:
            if is_world_failure(exc):
                raise InvalidCommand(f"plan: {message_of(exc)}") from None
            raise
