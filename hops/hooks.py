"""Hooks and configured preconditions around a step's action (bootstrap-config.yaml `hooks:` and `checks:`).

hops.actions.StepAction calls these; what a user can rely on (also in the README):

    when false, or the once-guard finds the step done   no hook runs (the step's action does not run either)
    preconditions   the step's own, then `checks.<phase>` and `checks.<step>` ones: every failure in one message
    before          `hooks.<phase>.before` before the phase's first step that runs in this invocation (one doit
                    command, nested ones included), then `hooks.<step>.before`; right before the action
    after           `hooks.<step>.after` after the action succeeded, then, when the step is the phase's
                    `complete`, `hooks.<phase>.after`; all before the marker is written. A failing after hook
                    fails the step: it has no marker and runs again next time (its action ran: say so)
    on_failure      when anything from the preconditions on fails: `hooks.<step>.on_failure`, then the phase's,
                    with HOPS_RESULT=failure; their own failures are logged and never hide the step's failure.
                    Not on Ctrl-C/SIGTERM (the run is being stopped)

A hook's `when` false: it is skipped (logged). A failing before hook or precondition is a StepError with its
`message`: exit 1, nothing marked, resumable.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from hops import secrets, usercommands
from hops.errors import StepError
from hops.state import lock
from hops.taskmodel import COMPLETE

if TYPE_CHECKING:
    from hops.config.custom import Command
    from hops.context import Context

T = TypeVar("T")


def configured(ctx: Context, section: str, key: str, kind: str) -> list[tuple[str, Command]]:
    """(field path, command) of `<section>.<key>.<kind>` (key: a phase or a step id), e.g.
    ("hooks.networking.before[0]", cmd)."""
    owner = getattr(ctx.config, section).get(key)
    commands = getattr(owner, kind) if owner is not None else []
    return [(f"{section}.{key}.{kind}[{index}]", command) for index, command in enumerate(commands)]


def of_phase_and_step(ctx: Context, section: str, step_id: str, kind: str) -> list[tuple[str, Command]]:
    """The phase's entries, then the step's."""
    return configured(ctx, section, step_id.partition(":")[0], kind) + configured(ctx, section, step_id, kind)


def precondition_failures(ctx: Context, step_id: str) -> list[str]:
    """What each configured precondition of the step that does not hold says (its `message` and the command)."""
    failures = []
    for where, command in of_phase_and_step(ctx, "checks", step_id, "preconditions"):
        if not _applies(ctx, command, where):
            continue
        outcome = usercommands.run(ctx, command, usercommands.hook_env(ctx, "precondition", step_id), where)
        if not outcome.ok:
            lead = command.message or f"configured precondition {command.label!r} does not hold"
            failures.append(f"{lead} ({outcome.describe()}; {where} in bootstrap-config.yaml)")
    return failures


def around(ctx: Context, step_id: str, act: Callable[[], T]) -> T:
    """`act()` (preconditions, once-guard, hooks, action, marker); on its failure the on_failure hooks run, then
    the failure goes on unchanged."""
    try:
        return act()
    except Exception as exc:
        _on_failure(ctx, step_id, exc)
        raise


def before(ctx: Context, step_id: str) -> None:
    """The phase's before hooks (first running step of the phase in this invocation), then the step's."""
    group = step_id.partition(":")[0]
    phase_hooks = configured(ctx, "hooks", group, "before")
    if phase_hooks:
        _once_per_invocation(ctx, group, lambda: _run_all(ctx, step_id, "before", phase_hooks, {}))
    _run_all(ctx, step_id, "before", configured(ctx, "hooks", step_id, "before"), {})


def after(ctx: Context, step_id: str) -> None:
    """The step's after hooks, then (for the phase's `complete` step) the phase's; HOPS_RESULT=success."""
    group, _, name = step_id.partition(":")
    hooks = configured(ctx, "hooks", step_id, "after")
    if name == COMPLETE:
        hooks += configured(ctx, "hooks", group, "after")
    _run_all(ctx, step_id, "after", hooks, {"HOPS_RESULT": "success"})


def _run_all(ctx: Context, step_id: str, kind: str, hooks: list[tuple[str, Command]],
             extra: dict[str, str]) -> None:
    for where, command in hooks:
        if not _applies(ctx, command, where):
            continue
        ctx.log.say(f"[{step_id}] {kind} hook: {' '.join(command.run)}")
        outcome = usercommands.run(ctx, command, usercommands.hook_env(ctx, kind, step_id, **extra), where)
        if not outcome.ok:
            raise StepError(_failure(step_id, kind, where, command, outcome))


def _failure(step_id: str, kind: str, where: str, command: Command, outcome: usercommands.Outcome) -> str:
    lead = command.message or f"{kind} hook {command.label!r} failed"
    text = f"{lead}\n{kind} hook {outcome.describe()}\n({where} in bootstrap-config.yaml)"
    if kind == "after":
        text += (f"\nthe action of {step_id} ran, but the step is not marked complete: it runs again next time "
                 "(fix the hook or what it checks, then re-run)")
    return text


def _on_failure(ctx: Context, step_id: str, exc: Exception) -> None:
    """Run the on_failure hooks; never raise (the step's own failure is what the user must see)."""
    try:
        group = step_id.partition(":")[0]
        hooks = configured(ctx, "hooks", step_id, "on_failure") + configured(ctx, "hooks", group, "on_failure")
        extra = {"HOPS_RESULT": "failure", "HOPS_ERROR": secrets.redact(str(exc))[-usercommands.TAIL_CHARS:]}
        for where, command in hooks:
            if not _applies(ctx, command, where):
                continue
            ctx.log.say(f"[{step_id}] on_failure hook: {' '.join(command.run)}")
            env = usercommands.hook_env(ctx, "on_failure", step_id, **extra)
            outcome = usercommands.run(ctx, command, env, where)
            if not outcome.ok:
                ctx.log.say(f"[{step_id}] on_failure hook {outcome.describe()} ({where}); the step's failure "
                            "follows")
    except Exception as hook_exc:  # noqa: BLE001 - e.g. the configuration itself is what failed the step
        _log_quietly(ctx, f"[{step_id}] on_failure hooks could not run: {type(hook_exc).__name__}: {hook_exc}")


def _log_quietly(ctx: Context, line: str) -> None:
    try:
        ctx.log.write(line)
    except Exception:  # noqa: BLE001 - no log without a valid configuration; the failure itself is reported
        pass


def _applies(ctx: Context, command: Command, where: str) -> bool:
    holds, why = usercommands.applies(ctx, command.when)
    if not holds:
        ctx.log.write(f"{where}: skipped, its `when` does not hold ({why})")
    return holds


def _once_per_invocation(ctx: Context, group: str, fn: Callable[[], None]) -> None:
    """fn() unless it already succeeded in this invocation (the run lock's holder: one doit command, nested doit
    included). Serialized by an flock, so two steps of the phase run in parallel (`-n`) wait for one run of it."""
    holder = lock.read_holder(ctx.state_dir)
    key = f"{holder.pid}:{holder.started}" if holder else "unlocked"
    folder = ctx.state_dir / "hooks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{group}.before", "a+") as record:
        fcntl.flock(record, fcntl.LOCK_EX)  # released when the file closes
        record.seek(0)
        if record.read().strip() == key and holder is not None:
            return
        fn()
        record.seek(0)
        record.truncate()
        record.write(key + "\n")
