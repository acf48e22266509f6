"""The callables doit holds: each task's action and up-to-date checks are small objects that carry what they run.

They are module-level classes holding module-level functions and plain data (picklable, no closures, so
`-P process` works), and their `repr` names what runs, which is what `doit info` and tracebacks show:

    StepAction      <step networking:wait → networking.wait>
    TaskAction      <task bootstrap_status → controls.show_status>   (operations, controls, the lab's tasks)
    LiveCheck       <status 'cilium ready' of networking:wait>
    RunOnce         <ran before (doit forget re-runs it)>
    SourcesDigest   <sources of talos:generate-config>

Every action runs its function inside `guarded()`, whose failures hops.results turns into doit's result.
"""

from __future__ import annotations

import hashlib
import os
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from hops import context as context_mod
from hops import deadlines, hooks, interrupts, progress, read_ahead, step_record, user_cache
from hops.errors import StepError
from hops.results import result_of
from hops.state import lock as run_lock
from hops.state import markers

if TYPE_CHECKING:
    from pathlib import Path

    from doit.exceptions import BaseFail

    from hops.context import Context
    from hops.taskmodel import Check, Step


def describe(fn: Callable[..., Any]) -> str:
    """`module.function` of a callable, short for hops's own modules (`networking.wait`)."""
    inner = getattr(fn, "func", fn)  # functools.partial
    module = getattr(inner, "__module__", "") or ""
    name = getattr(inner, "__qualname__", None) or type(inner).__name__
    return f"{module.rsplit('.', 1)[-1]}.{name}" if module.startswith("hops.") else f"{module}.{name}"


class _Named:
    """What doit and tracebacks print for the object: `<label>`."""

    def __repr__(self) -> str:
        return f"<{self.label()}>"

    __str__ = __repr__

    def label(self) -> str:
        raise NotImplementedError


# --- steps -------------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class StepAction(_Named):
    """doit action of one step: context, lock, when, preconditions, once-guard, before hooks, action, after
    hooks, marker; on_failure hooks when it fails (hops.hooks)."""

    step_id: str
    step: Step

    def label(self) -> str:
        return f"step {self.step_id} → {describe(self.step.action)}"

    def __call__(self) -> dict[str, Any] | BaseFail:
        started = time.monotonic()
        try:
            # notes the step if interrupted; progress: its live line and its row in the run history
            return interrupts.run_step(self.step_id, step_record.recorded, self.step_id, self._run, started)
        except Exception as exc:  # noqa: BLE001 - hops.results decides: world failure or bug in hops
            return result_of(self.step_id, exc, step=True)

    def _run(self, started: float) -> dict[str, Any]:
        ctx = prepared_context(lock=True)
        step, step_id = self.step, self.step_id
        if step.when is not None and not step.when(ctx):
            ctx.log.say(f"[{step_id}] skipped: not applicable to this configuration")
            self._mark(ctx, started, "skipped: when condition false")
            return {}
        return hooks.around(ctx, step_id, lambda: self._act(ctx, started))  # on_failure hooks (configured)

    def _act(self, ctx: Context, started: float) -> dict[str, Any]:
        step, step_id = self.step, self.step_id
        check_preconditions(ctx, step, step_id)
        if step.once is not None and step.once(ctx):
            ctx.log.say(f"[{step_id}] already done (checked the cluster); not doing it again")
            self._mark(ctx, started, "already done")
            return {}
        ctx.log.write(f"[{step_id}] start")
        hooks.before(ctx, step_id)  # configured before hooks: the phase's (once per invocation), the step's
        values = deadlines.step_action(ctx, step_id, step.action) or {}  # retries end at the phase deadline
        ctx.kube.invalidate()  # the action changed the cluster: this process's later checks list it again
        ctx.read_ahead.invalidate()  # and read it again
        hooks.after(ctx, step_id)   # configured after hooks; one that fails leaves the step unmarked
        self._mark(ctx, started, "")
        ctx.log.say(f"[{step_id}] done in {time.monotonic() - started:.1f}s")
        return values

    def _mark(self, ctx: Context, started: float, note: str) -> None:
        progress.outcome(note)  # the history tells 'skipped'/'already done' from a run of the action
        if self.step.marker:
            markers.write(ctx.state_dir / self.step.marker, self.step_id, time.monotonic() - started,
                          ctx.log.run_id, note)


def prepared_context(lock: bool) -> Context:
    """The process's context with its configuration loaded (every problem surfaces here, at once); with `lock`,
    this process holds the run lock (one run per cluster)."""
    ctx = context_mod.current()
    ctx.settings  # noqa: B018 - loads and validates the configuration
    if lock:
        run_lock.acquire(ctx.state_dir)
    return ctx


def check_preconditions(ctx: Context, step: Step, step_id: str = "") -> None:
    """Raise one StepError naming every precondition of `step` that does not hold (with `step_id`: also the
    configured ones, bootstrap-config.yaml checks:)."""
    failures = []
    for pre in step.preconditions:
        try:
            verdict = pre.fn(ctx)
        except Exception as exc:  # noqa: BLE001 - a precondition that cannot be checked does not hold
            verdict = f"{type(exc).__name__}: {exc}"
        if verdict is True:
            continue
        failures.append(pre.msg + (f" ({verdict})" if isinstance(verdict, str) and verdict else ""))
    if step_id:
        failures += hooks.precondition_failures(ctx, step_id)
    if failures:
        raise StepError("precondition failed: " + "; ".join(failures))


# --- every other task ------------------------------------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class TaskAction(_Named):
    """doit action of a task that is not a step: `fn(ctx, **bound, **params)`. `needs_config` loads the
    configuration first, so its problems are reported once, as the task's failure (not once per check)."""

    task_id: str
    fn: Callable[..., None]
    needs_config: bool = True
    bound: dict[str, Any] = field(default_factory=dict)

    def label(self) -> str:
        return f"task {self.task_id} → {describe(self.fn)}"

    def __call__(self, **params: Any) -> dict[str, Any] | BaseFail:
        try:
            ctx = prepared_context(lock=False) if self.needs_config else context_mod.current()
            self.fn(ctx, **self.bound, **params)
            return {}
        except Exception as exc:  # noqa: BLE001 - see hops.results
            return result_of(self.task_id, exc)


# --- up-to-date checks ---------------------------------------------------------------------------------------------
_reported: set[str] = set()
_announce_check_errors = True


def announce_check_errors(on: bool) -> None:
    """Whether a check that raised is also printed (reports that show each check's reason turn this off;
    the run log always gets it)."""
    global _announce_check_errors
    _announce_check_errors = on


def evaluate(step_id: str, step: Step, check: Check) -> tuple[bool, str]:
    """Run one live check safely: (holds, reason). Used by doit's uptodate and by status/validate reports."""
    try:
        ctx = context_mod.current()
        if step.when is not None and not step.when(ctx):
            return True, "not applicable (when: false)"
        read_ahead.begin(ctx)  # before the first check of a `doit run`: the slow reads of later checks start
        with ctx.kube.sharing():  # every check of this process reads the same per-kind lists
            verdict = check.fn(ctx)
        holds, seen = verdict if isinstance(verdict, tuple) else (bool(verdict), "")
        return bool(holds), seen or ("holds" if holds else "does not hold")
    except Exception as exc:  # noqa: BLE001 - any failure of a check means "not up to date"
        _report_check_error(step_id, check.name, exc)
        return False, f"error: {type(exc).__name__}: {exc}"


def _report_check_error(step_id: str, check: str, exc: BaseException) -> None:
    """A check that raised counts as 'not up to date'; say why once per process (doit would crash instead)."""
    key = f"{step_id}/{check}/{type(exc).__name__}"
    if key in _reported:
        return
    _reported.add(key)
    reason = f"{type(exc).__name__}: {exc}".strip()
    line = f"[{step_id}] status check '{check}' could not run ({reason.splitlines()[0]}); treating as not up to date"
    if _announce_check_errors:
        print(line, flush=True)
    try:
        context_mod.current().log.write(line + "\n" + "".join(traceback.format_exception(exc)))
    except Exception:  # noqa: BLE001 - the configuration itself may be what is broken; the action will report it
        pass


@dataclass(frozen=True, repr=False)
class LiveCheck(_Named):
    """doit uptodate callable wrapping one of a step's live checks."""

    step_id: str
    step: Step
    check: Check

    def label(self) -> str:
        return f"status {self.check.name!r} of {self.step_id}"

    def __call__(self, task: Any, values: dict[str, Any]) -> bool | None:
        if _runs_anyway(task, values):
            return None  # doit's "not calculated": the task runs whatever the check says (see below)
        return evaluate(self.step_id, self.step, self.check)[0]


# A `doit run` asks every uptodate callable of a task, even after one said "run" (doit 0.37 dependency.py,
# get_status). When the step never ran (or was forgotten) or its marker is missing, it runs whatever its live
# checks answer, so under `doit run` they are not asked: on a fresh bootstrap each would be a tool call or an API
# read before every action (talos:health's `etcd members`, ...). `doit info` and the plan still ask every check:
# they show each one's answer.
_skip_decided = False


def skip_checks_of_tasks_that_run(on: bool = True) -> None:
    """Called by hops.tasks for a `doit run`: checks of a task that runs anyway are not asked (see above)."""
    global _skip_decided
    _skip_decided = on


def _runs_anyway(task: Any, values: dict[str, Any]) -> bool:
    if not _skip_decided:
        return False
    return not _ran_before(values) or any(not os.path.exists(target) for target in task.targets)


class RunOnce(_Named):
    """doit's `run_once` (same DB value), named: up to date once the step succeeded, until `doit forget`.
    Every step carries it beside its live checks so that forgetting a step makes it run again."""

    def label(self) -> str:
        return "ran before (doit forget re-runs it)"

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        task.value_savers.append(_ran)
        return _ran_before(values)


def _ran_before(values: dict[str, Any]) -> bool:
    return bool(values.get("run-once", False))


def _ran() -> dict[str, bool]:
    return {"run-once": True}


@dataclass(frozen=True, repr=False)
class SourcesDigest(_Named):
    """Up to date while the digest of the step's configuration-dependent sources equals the one saved at its
    last success (a lazy file_dep: the paths are only known once configuration is loaded)."""

    step_id: str
    step: Step

    def label(self) -> str:
        return f"sources of {self.step_id}"

    def __call__(self, task: Any, values: dict[str, Any]) -> bool:
        try:
            # equal size and modification time of every source: the saved digest holds, no content is read
            same = bool(values.get("sources-digest")) and values.get("sources-stamps") == self.stamps()
            digest = values["sources-digest"] if same else self.digest()
        except Exception as exc:  # noqa: BLE001
            _report_check_error(self.step_id, "sources", exc)
            return False
        task.value_savers.append(_DigestSaver(self))
        return bool(values.get("sources-digest") == digest)

    def paths(self, ctx: Context) -> list[Path]:
        """The configuration-dependent source paths of the step."""
        return [p for entry in self.step.sources if callable(entry) for p in entry(ctx)]

    def stamps(self) -> dict[str, list[int] | None]:
        """[size, modification time in ns] of every source path (None: missing). Equal stamps mean the digest
        saved with them still holds, as doit's own file_dep checker decides (at 50 nodes: 50 machine configs
        not read and hashed by every no-op)."""
        return {str(path): user_cache.stamp(path) for path in self.paths(context_mod.current())}

    def digest(self) -> str:
        """sha256 over every source path and its content (a missing file counts as such)."""
        digest = hashlib.sha256()
        for path in sorted(self.paths(context_mod.current())):
            digest.update(str(path).encode())
            digest.update(path.read_bytes() if path.exists() else b"<missing>")
        return digest.hexdigest()


@dataclass(frozen=True)
class _DigestSaver:
    """Saves the digest with the task's values when it succeeds."""

    sources: SourcesDigest

    def __call__(self) -> dict[str, Any]:
        stamps = self.sources.stamps()  # taken before the content is read: a change meanwhile reads it again
        return {"sources-digest": self.sources.digest(), "sources-stamps": stamps}
