"""The task model: components declare their steps the way a Taskfile does; this module turns them into doit tasks.

    deps          -> task_dep                  (order; a dep that ran does not make this step stale)
    sources       -> file_dep                  (str paths/globs relative to the project root: md5 tracked by doit)
                     or a lazy digest check    (callables returning paths that depend on configuration)
    generates     -> targets                   (str paths) or a live "files exist" check (callables)
    marker        -> a target under the state dir, written when the step completes (one marker, one step)
    status        -> uptodate callables        (live checks; an exception counts as "not up to date", logged)
    preconditions -> checked before the action (all failures reported, the step fails with their messages)
    when          -> the step is skipped (marker notes why) when the condition from configuration is false
    once          -> a guard inside the action for steps that must never happen twice (e.g. etcd bootstrap)

Every step also carries doit's DB-based `run_once` check, so `doit forget <step|group>` re-runs it even when its
live checks hold. Actions are module-level callables taking the Context: no closures, so `-P process` works.
"""

from __future__ import annotations

import glob
import hashlib
import time
import traceback
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from doit.exceptions import TaskFailed
from doit.tools import run_once

from hops import context as context_mod
from hops.state import markers

YES_PARAM = {"name": "yes", "long": "yes", "short": "y", "type": bool, "default": False,
             "help": "do not ask for confirmation (for scripts)"}
READ_ONLY_VERBS = frozenset({"status", "logs", "debug", "health"})  # may run beside a bootstrap (no run lock)
Action = Callable[[Any], "dict | None"]
Predicate = Callable[[Any], bool]
PathsFn = Callable[[Any], "list[Path]"]


@dataclass(frozen=True)
class Check:
    """A named live check of the world (a Taskfile `status:` entry)."""

    name: str
    fn: Predicate


@dataclass(frozen=True)
class Precondition:
    """Must hold before a step acts; `msg` is what the user is told when it does not (the Taskfile `msg:`).
    `fn` may return a str to add detail to the message."""

    fn: Callable[[Any], "bool | str"]
    msg: str


@dataclass(frozen=True)
class Step:
    name: str
    doc: str
    action: Action
    marker: str | None = None
    deps: tuple[str, ...] = ()
    sources: tuple["str | PathsFn", ...] = ()
    generates: tuple["str | PathsFn", ...] = ()
    status: tuple[Check, ...] = ()
    preconditions: tuple[Precondition, ...] = ()
    when: Predicate | None = None
    once: Predicate | None = None  # "already done?" asked inside the action; raises if it cannot tell


@dataclass(frozen=True)
class Operation:
    """An operational task (status, logs, debug, redeploy, …): named `<group>_<verb>`, never part of a group."""

    verb: str
    doc: str
    action: Callable[..., Any]
    params: tuple[dict, ...] = ()


@dataclass(frozen=True)
class Component:
    group: str
    phase: int
    title: str
    steps: tuple[Step, ...]
    operations: tuple[Operation, ...] = ()
    complete_step: str = field(default="complete")

    def step_id(self, name: str) -> str:
        return name if ":" in name else f"{self.group}:{name}"

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def phase_marker(self) -> str:
        return f"phase-{self.phase}-complete"


# --- registry ----------------------------------------------------------------------------------------------
_components: dict[str, Component] = {}


def register(component: Component) -> Component:
    """Add the component with its phase wiring: steps without deps wait for the previous phase (registered
    before it: hops.tasks imports the phases in order), and a final `complete` step (marker phase-N-complete)
    depends on every step of the group."""
    previous = next((c.group for c in _components.values() if c.phase == component.phase - 1), None)
    steps = tuple(
        replace(s, deps=(f"{previous}:{component.complete_step}",)) if previous and not s.deps else s
        for s in component.steps
    )
    complete = Step(
        name=component.complete_step,
        doc=f"Phase {component.phase} ({component.title}) is complete",
        action=phase_complete,
        marker=component.phase_marker,
        deps=tuple(s.name for s in steps),
    )
    reset = Operation("reset_state", f"Forget phase {component.phase}'s steps and remove their markers "
                      "(asks first; the cluster is not touched)", partial(reset_state, group=component.group),
                      (YES_PARAM,))
    wired = replace(component, steps=steps + (complete,), operations=component.operations + (reset,))
    _components[component.group] = wired
    return wired


def reset_state(ctx: Any, yes: bool, group: str) -> None:
    """`<group>_reset_state`: forget the group's steps in doit's DB and remove their markers."""
    from hops import controls
    from hops.errors import StepError

    component = _components[group]
    ids = [component.step_id(s.name) for s in component.steps]
    question = f"Forget the {len(ids)} steps of phase {component.phase} ({group}) and remove their markers?"
    if not controls.confirm(question, yes):
        raise StepError(f"{group}_reset_state cancelled: nothing was changed")
    removed = controls.forget_and_unmark(ids)
    print(f"{group}: {removed} markers removed, {len(ids)} steps forgotten; the cluster was not touched")


def phase_complete(ctx: Any) -> dict:
    """Every step of the phase has its marker (doit ran them all first); nothing else to do."""
    return {}


def components() -> list[Component]:
    return sorted(_components.values(), key=lambda c: c.phase)


def find_step(step_id: str) -> tuple[Component, Step]:
    group, _, name = step_id.partition(":")
    component = _components[group]
    return component, component.step(name)


def find_operation(op_id: str) -> tuple[Component, Operation]:
    group, _, verb = op_id.partition("_")
    component = _components[group]
    return component, next(o for o in component.operations if o.verb == verb)


def marker_path(state_dir: Path, step: Step) -> Path | None:
    return state_dir / step.marker if step.marker else None


# --- doit task dicts ---------------------------------------------------------------------------------------
def step_task(component: Component, step: Step, root: Path, state_dir: Path) -> dict:
    """The doit task dict of one step (a subtask of the component's group)."""
    step_id = component.step_id(step.name)
    targets = [str(p) for p in _static_paths(step.generates, root)]
    marker = marker_path(state_dir, step)
    if marker:
        targets.append(str(marker))
    uptodate: list = [run_once]
    uptodate += [LiveCheck(step_id, check.name) for check in step.status]
    if any(callable(s) for s in step.sources):
        uptodate.append(SourcesDigest(step_id))
    if any(callable(g) for g in step.generates):
        uptodate.append(LiveCheck(step_id, "generated files exist"))
    return {
        "basename": component.group,
        "name": step.name,
        "doc": step.doc,
        "actions": [(execute_step, [step_id])],
        "task_dep": [component.step_id(d) for d in step.deps],
        "file_dep": [str(p) for p in _static_paths(step.sources, root)],
        "targets": targets,
        "uptodate": uptodate,
        "verbosity": 2,
    }


def operation_task(component: Component, op: Operation) -> dict:
    return {
        "name": None,
        "basename": f"{component.group}_{op.verb}",
        "doc": op.doc,
        "actions": [(execute_operation, [f"{component.group}_{op.verb}"])],
        "params": list(op.params),
        "uptodate": [False],
        "meta": {"hops_read_only": op.verb in READ_ONLY_VERBS},
        "verbosity": 2,
    }


def _static_paths(entries: tuple, root: Path) -> list[Path]:
    paths: list[Path] = []
    for entry in entries:
        if callable(entry):
            continue
        matches = sorted(glob.glob(str(root / entry))) if glob.has_magic(entry) else [str(root / entry)]
        paths += [Path(m) for m in matches]
    return paths


def _dynamic_paths(entries: tuple, ctx: Any) -> list[Path]:
    return [p for entry in entries if callable(entry) for p in entry(ctx)]


# --- live checks ---------------------------------------------------------------------------------------------
_reported: set[str] = set()


def _report_check_error(step_id: str, check: str, exc: BaseException) -> None:
    """A check that raised counts as 'not up to date'; say why once per process (doit would crash instead)."""
    key = f"{step_id}/{check}/{type(exc).__name__}"
    if key in _reported:
        return
    _reported.add(key)
    reason = f"{type(exc).__name__}: {exc}".strip()
    line = f"[{step_id}] status check '{check}' could not run ({reason.splitlines()[0]}); treating as not up to date"
    print(line, flush=True)
    try:
        ctx = context_mod.current()
        ctx.log.write(line + "\n" + "".join(traceback.format_exception(exc)))
    except Exception:  # the configuration itself may be what is broken; the action will report it
        pass


def evaluate(step_id: str, check_name: str) -> tuple[bool, str]:
    """Run one live check safely: (holds, reason). Used by doit's uptodate and by bootstrap_status --live."""
    _, step = find_step(step_id)
    try:
        ctx = context_mod.current()
        if step.when is not None and not step.when(ctx):
            return True, "not applicable (when: false)"
        if check_name == "generated files exist":
            missing = [str(p) for p in _dynamic_paths(step.generates, ctx) if not p.exists()]
            return (not missing), ("missing " + ", ".join(missing) if missing else "present")
        check = next(c for c in step.status if c.name == check_name)
        holds = bool(check.fn(ctx))
        return holds, "holds" if holds else "does not hold"
    except Exception as exc:  # noqa: BLE001 - any failure of a check means "not up to date"
        _report_check_error(step_id, check_name, exc)
        return False, f"error: {type(exc).__name__}: {exc}"


class LiveCheck:
    """doit uptodate callable wrapping a step's live check; named so `doit info` shows which check failed."""

    def __init__(self, step_id: str, check_name: str) -> None:
        self.step_id, self.check_name = step_id, check_name

    def __call__(self, task: Any, values: dict) -> bool:
        return evaluate(self.step_id, self.check_name)[0]

    def __repr__(self) -> str:
        return f"<status {self.check_name!r} of {self.step_id}>"


class SourcesDigest:
    """Up to date while the digest of the step's configuration-dependent sources equals the one saved at its
    last success (a lazy file_dep: the paths are only known once configuration is loaded)."""

    def __init__(self, step_id: str) -> None:
        self.step_id = step_id

    def __call__(self, task: Any, values: dict) -> bool:
        try:
            digest = sources_digest(self.step_id)
        except Exception as exc:  # noqa: BLE001
            _report_check_error(self.step_id, "sources", exc)
            return False
        task.value_savers.append(lambda: {"sources-digest": sources_digest(self.step_id)})
        return values.get("sources-digest") == digest

    def __repr__(self) -> str:
        return f"<sources of {self.step_id}>"


def sources_digest(step_id: str) -> str:
    _, step = find_step(step_id)
    ctx = context_mod.current()
    digest = hashlib.sha256()
    for path in sorted(_dynamic_paths(step.sources, ctx)):
        digest.update(str(path).encode())
        digest.update(path.read_bytes() if path.exists() else b"<missing>")
    return digest.hexdigest()


# --- actions -------------------------------------------------------------------------------------------------
def execute_step(step_id: str) -> dict | TaskFailed:
    """doit action of every step: context, lock, when, preconditions, once-guard, action, marker."""
    component, step = find_step(step_id)
    started = time.monotonic()
    try:
        ctx = _prepared_context()
        if step.when is not None and not step.when(ctx):
            ctx.log.say(f"[{step_id}] skipped: not applicable to this configuration")
            _write_marker(ctx, step_id, step, started, "skipped: when condition false")
            return {}
        _check_preconditions(ctx, step_id, step)
        if step.once is not None and step.once(ctx):
            ctx.log.say(f"[{step_id}] already done (checked the cluster); not doing it again")
            _write_marker(ctx, step_id, step, started, "already done")
            return {}
        ctx.log.write(f"[{step_id}] start")
        values = step.action(ctx) or {}
        _write_marker(ctx, step_id, step, started, "")
        ctx.log.say(f"[{step_id}] done in {time.monotonic() - started:.1f}s")
        return values
    except Exception as exc:  # noqa: BLE001 - turned into one clear message + the traceback in the run log
        return failure(step_id, exc)


def _prepared_context() -> Any:
    from hops.state import lock

    ctx = context_mod.current()
    ctx.settings  # configuration problems surface here, all at once
    lock.acquire(ctx.state_dir)
    return ctx


def _check_preconditions(ctx: Any, step_id: str, step: Step) -> None:
    from hops.errors import StepError

    failures = []
    for pre in step.preconditions:
        try:
            verdict = pre.fn(ctx)
        except Exception as exc:  # noqa: BLE001
            verdict = f"{type(exc).__name__}: {exc}"
        if verdict is True:
            continue
        failures.append(pre.msg + (f" ({verdict})" if isinstance(verdict, str) and verdict else ""))
    if failures:
        raise StepError("precondition failed: " + "; ".join(failures))


def _write_marker(ctx: Any, step_id: str, step: Step, started: float, note: str) -> None:
    path = marker_path(ctx.state_dir, step)
    if path:
        markers.write(path, step_id, time.monotonic() - started, ctx.log.run_id, note)


def _fail(step_id: str, message: str, exc: BaseException | None = None) -> TaskFailed:
    from hops import secrets

    text = secrets.redact(f"{step_id}: {message}")
    try:
        ctx = context_mod.current()
        ctx.log.write(text + ("\n" + "".join(traceback.format_exception(exc)) if exc else ""))
        from hops.diagnostics import collect_on_failure

        bundle = collect_on_failure(ctx, step_id, text)
        if bundle:
            text += f"\ndiagnostics: {bundle}"
        text += f"\nlog: {ctx.log.path}\nre-run the same command to resume from this step"
    except Exception:  # noqa: BLE001 - reporting must never hide the original failure
        pass
    return TaskFailed(text)


def execute_operation(op_id: str, **params: Any) -> dict | TaskFailed:
    _, op = find_operation(op_id)
    return run_guarded(op_id, lambda ctx: op.action(ctx, **params))


def run_guarded(task_id: str, action: Callable[[Any], Any]) -> dict | TaskFailed:
    """doit action of every task that is not a step: action(ctx) with the configuration loaded first (its
    TaskFailed, if it returns one, is the task's result); any exception becomes one clear message naming the
    task (never a traceback)."""
    try:
        ctx = context_mod.current()
        ctx.settings
        result = action(ctx)
        return result if isinstance(result, TaskFailed) else {}
    except Exception as exc:  # noqa: BLE001 - see failure()
        return failure(task_id, exc)


def failure(task_id: str, exc: Exception) -> TaskFailed:
    """A task's exception as doit's TaskFailed: a StepError's own message, a configuration error's list of
    problems, anything else named as unexpected (its traceback goes to the run log only)."""
    from hops.config import ConfigError
    from hops.errors import StepError

    if isinstance(exc, StepError):
        return _fail(task_id, str(exc))
    if isinstance(exc, ConfigError):
        return _fail(task_id, f"invalid configuration:\n{exc}")
    return _fail(task_id, f"unexpected error: {type(exc).__name__}: {exc}", exc)


def all_step_ids() -> Iterator[str]:
    for component in components():
        for step in component.steps:
            yield component.step_id(step.name)
