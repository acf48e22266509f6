"""The task model: what a component declares, and how declared components become wired phases.

A component declares its steps the way a Taskfile declares tasks:

    deps          -> task_dep                  (order; a dep that ran does not make this step stale)
    sources       -> file_dep                  (str paths/globs relative to the project root: md5 tracked by doit)
                     or a lazy digest check    (callables returning paths that depend on configuration)
    generates     -> targets                   (str paths) or a live "generated files exist" check (callables)
    marker        -> a target under the state dir, written when the step completes (one marker, one step)
    status        -> uptodate callables        (live checks; an exception counts as "not up to date", logged)
    preconditions -> checked before the action (all failures reported, the step fails with their messages)
    when          -> the step is skipped (marker notes why) when the condition from configuration is false
    once          -> a guard inside the action for steps that must never happen twice (e.g. etcd bootstrap)
    would_do      -> what the step intends to do, for plans (computed from configuration; changes nothing)

`wire()` turns the ordered list of components (hops.phases.PHASES) into phases: phase N is the N-th component,
its first steps wait for phase N-1's `complete` step, and every phase gets two generated members declared here:
the `complete` step (marker `phase-N-complete`) and the `<group>_reset_state` operation. How these become doit
tasks is hops.tasks; what runs inside a task is hops.actions.

Naming rule (checked by tests): a step's action function is named after the step (`deploy-cilium` ->
`deploy_cilium`), an operation's function after its verb (`networking_status` -> `networking.status`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeAlias

from hops.errors import StepError
from hops.prompt import confirm
from hops.state.forget import forget_and_unmark

if TYPE_CHECKING:
    from pathlib import Path

    from hops.context import Context

StepFn = Callable[["Context"], "dict[str, Any] | None"]
Predicate = Callable[["Context"], bool]
Verdict: TypeAlias = "bool | tuple[bool, str]"  # a live check's answer: holds, or (holds, what it saw)
PathsFn = Callable[["Context"], "list[Path]"]
Intent = Callable[["Context"], "list[str]"]
Param = dict[str, Any]

COMPLETE = "complete"
RESET_VERB = "reset_state"
YES_PARAM: Param = {"name": "yes", "long": "yes", "short": "y", "type": bool, "default": False,
                    "help": "do not ask for confirmation (for scripts)"}
TAIL_PARAM: Param = {"name": "tail", "long": "tail", "type": int, "default": 100,
                     "help": "log lines to show (per controller or container)"}  # the one option of every logs task


class ModelError(Exception):
    """The declared components do not form a valid phase list (a bug in the declarations, found at load)."""


@dataclass(frozen=True)
class Check:
    """A named live check of the world (a Taskfile `status:` entry): True when the step's effect holds.
    `fn` may answer (holds, what it saw) so reports can say why a check fails. `read_ahead`: starts, in the
    background, a slow read `fn` will make, so that on a re-run it overlaps the checks before it (hops.read_ahead).
    """

    name: str
    fn: Callable[[Context], Verdict]
    read_ahead: Callable[[Context], None] | None = None


@dataclass(frozen=True)
class Precondition:
    """Must hold before a step acts; `msg` is what the user is told when it does not (the Taskfile `msg:`).
    `fn` may return a str to add detail to the message."""

    fn: Callable[[Context], bool | str]
    msg: str


@dataclass(frozen=True)
class Step:
    """One resumable unit of a phase; see the module docstring for what each field maps to."""

    name: str
    doc: str
    action: StepFn
    marker: str | None = None
    deps: tuple[str, ...] = ()
    sources: tuple[str | PathsFn, ...] = ()
    generates: tuple[str | PathsFn, ...] = ()
    status: tuple[Check, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    when: Predicate | None = None
    once: Predicate | None = None  # "already done?" asked inside the action; raises if it cannot tell
    would_do: Intent | None = None  # lines saying what the action would do; default: its doc

    def live_checks(self) -> tuple[Check, ...]:
        """The declared status checks, plus "generated files exist" when `generates` has configuration-dependent
        paths (static paths are doit targets instead)."""
        dynamic = tuple(g for g in self.generates if callable(g))
        return self.status + ((Check("generated files exist", GeneratedFiles(dynamic)),) if dynamic else ())

    def intent(self, ctx: Context) -> list[str]:
        """What running this step would do, in the current configuration (for `plan`); changes nothing."""
        return self.would_do(ctx) if self.would_do else [self.doc]


@dataclass(frozen=True)
class Operation:
    """A task outside the bootstrap graph (status, logs, debug, redeploy, …), named `<group>_<verb>`, or `<verb>`
    alone when `top_level` (e.g. `cluster_health`). `read_only` operations may run beside a bootstrap.
    The action is called as `action(ctx, **params)`, plus `phase=<its wired Component>` when `with_phase`."""

    verb: str
    doc: str
    action: Callable[..., None]
    params: tuple[Param, ...] = ()
    read_only: bool = False
    top_level: bool = False
    with_phase: bool = False


@dataclass(frozen=True)
class Component:
    """A phase's declaration: its doit group, title, steps and operations. `needs` names the groups that must
    come before it in the phase list (e.g. networking needs the Talos cluster). `phase` is set by wire()."""

    group: str
    title: str
    steps: tuple[Step, ...]
    operations: tuple[Operation, ...] = ()
    needs: tuple[str, ...] = ()
    phase: int = 0

    def step_id(self, name: str) -> str:
        """`group:name` (names that already carry a group are kept)."""
        return name if ":" in name else f"{self.group}:{name}"

    def step(self, name: str) -> Step:
        """The step called `name` (KeyError when there is none)."""
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"{self.group} has no step {name!r}")

    @property
    def phase_marker(self) -> str:
        """The marker of the generated `complete` step."""
        return f"phase-{self.phase}-complete"

    def task_name(self, op: Operation) -> str:
        """The doit task name of one of this component's operations."""
        return op.verb if op.top_level else f"{self.group}_{op.verb}"


@dataclass(frozen=True)
class GeneratedFiles:
    """The live check of configuration-dependent `generates` entries: every path they name exists."""

    entries: tuple[PathsFn, ...]

    def __call__(self, ctx: Context) -> tuple[bool, str]:
        missing = [str(p) for entry in self.entries for p in entry(ctx) if not p.exists()]
        return not missing, ("missing " + ", ".join(missing)) if missing else "present"


@dataclass(frozen=True)
class NoProblems:
    """A live check made from a problem finder: holds when it finds none, else says what it found."""

    finder: Callable[[Context], list[str]]

    def __call__(self, ctx: Context) -> tuple[bool, str]:
        found = self.finder(ctx)
        return not found, "; ".join(found)


# --- the generated members of every phase ---------------------------------------------------------------------
def phase_complete(ctx: Context) -> None:
    """The `complete` step: every step of the phase has its marker (doit ran them all first); nothing to do."""


def reset_state(ctx: Context, yes: bool, group: str, step_ids: tuple[str, ...], markers: tuple[str, ...],
                phase: int) -> None:
    """`<group>_reset_state`: forget the phase's steps in doit's DB and remove their markers (asks first)."""
    question = f"Forget the {len(step_ids)} steps of phase {phase} ({group}) and remove their markers?"
    if not confirm(question, yes):
        raise StepError(f"{group}_reset_state cancelled: nothing was changed")
    removed = forget_and_unmark(ctx.state_dir, step_ids, markers)
    print(f"{group}: {removed} markers removed, {len(step_ids)} steps forgotten; the cluster was not touched")


def _complete_step(comp: Component, steps: tuple[Step, ...]) -> Step:
    return Step(name=COMPLETE, doc=f"Phase {comp.phase} ({comp.title}) is complete", action=phase_complete,
                marker=comp.phase_marker, deps=tuple(s.name for s in steps))


def _reset_operation(comp: Component) -> Operation:
    from functools import partial

    ids = tuple(comp.step_id(s.name) for s in comp.steps)
    markers = tuple(s.marker for s in comp.steps if s.marker)
    action = partial(reset_state, group=comp.group, step_ids=ids, markers=markers, phase=comp.phase)
    return Operation(RESET_VERB, f"Forget phase {comp.phase}'s steps and remove their markers (asks first; the "
                     "cluster is not touched)", action, (YES_PARAM,))


# --- wiring -----------------------------------------------------------------------------------------------------
def wire(components: Sequence[Component]) -> tuple[Component, ...]:
    """The phases, in the order given: numbered from 1, each phase's first steps (those without deps) depending
    on the previous phase's `complete`, plus the generated members. A component that needs a group not listed
    before it is a ModelError (never a silently unwired phase)."""
    wired: list[Component] = []
    for number, comp in enumerate(components, start=1):
        _check_declaration(comp, [c.group for c in wired])
        previous = f"{wired[-1].group}:{COMPLETE}" if wired else None
        steps = tuple(replace(s, deps=(previous,)) if previous and not s.deps else s for s in comp.steps)
        comp = replace(comp, phase=number, steps=steps)
        comp = replace(comp, steps=steps + (_complete_step(comp, steps),))
        wired.append(replace(comp, operations=comp.operations + (_reset_operation(comp),)))
    return tuple(wired)


def _check_declaration(comp: Component, earlier: list[str]) -> None:
    if comp.group in earlier:
        raise ModelError(f"phase {comp.group!r} is listed twice")
    missing = [g for g in comp.needs if g not in earlier]
    if missing:
        raise ModelError(f"phase {comp.group!r} needs {', '.join(map(repr, missing))}, which must come before it "
                         f"in the phase list (hops/phases.py); listed before it: {', '.join(earlier) or 'nothing'}")
    names = [s.name for s in comp.steps]
    for step in comp.steps:
        unknown = [d for d in step.deps if ":" not in d and d not in names]
        if unknown:
            raise ModelError(f"step {comp.step_id(step.name)} depends on unknown step(s) {', '.join(unknown)}")


@dataclass(frozen=True)
class Model:
    """The wired phases with lookups by id (for controls and reports; actions hold their steps directly)."""

    phases: tuple[Component, ...]

    @classmethod
    def of(cls, components: Sequence[Component]) -> Model:
        """Wire `components` (in phase order) into a model."""
        return cls(wire(components))

    def steps(self, phase: int = 0) -> Iterator[tuple[Component, Step]]:
        """(component, step) of every step in phase order; only phase `phase` when given."""
        for comp in self.phases:
            if not phase or comp.phase == phase:
                for step in comp.steps:
                    yield comp, step

    def step_ids(self, phase: int = 0) -> list[str]:
        """Every step id in phase order (only phase `phase` when given)."""
        return [comp.step_id(step.name) for comp, step in self.steps(phase)]

    def find(self, step_id: str) -> tuple[Component, Step]:
        """The component and step of `group:name` (KeyError when unknown)."""
        group, _, name = step_id.partition(":")
        for comp in self.phases:
            if comp.group == group:
                return comp, comp.step(name)
        raise KeyError(f"no phase group {group!r}")

    def phase(self, number: int) -> Component:
        """Phase `number` (KeyError when there is none)."""
        for comp in self.phases:
            if comp.phase == number:
                return comp
        raise KeyError(number)

    @property
    def numbers(self) -> list[int]:
        """The phase numbers, 1..N."""
        return [c.phase for c in self.phases]
