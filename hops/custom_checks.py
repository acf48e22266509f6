"""Configured status checks (bootstrap-config.yaml `checks.<phase or step>.status`) as live checks of the model.

The task list is built without reading the configuration (`doit list` must stay cheap), so which steps have
configured checks is unknown when it is built. Rather than parse YAML at load time, the task list's model
(hops.tasks.load: `with_configured_checks`) gives every step one lazy entry, CONFIGURED: a Check that, when doit
(or plan) asks, runs that step's configured status commands and holds when all of them succeed, or when none
are configured. doit's up-to-date decision therefore includes them
with no change to how tasks are built. Reports (`bootstrap_status --live`, `bootstrap_validate`) call
`reported_checks`, which replaces the lazy entry by one check per configured command, named as configured, and
drops it where none are configured (so steps without checks stay without a live column).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from hops import hooks, usercommands
from hops.config.errors import ConfigError
from hops.taskmodel import Check, Model

if TYPE_CHECKING:
    from hops.config.custom import Command
    from hops.context import Context
    from hops.taskmodel import Step

CONFIGURED = "configured status checks (bootstrap-config.yaml checks:)"


@dataclass(frozen=True)
class CommandCheck:
    """One configured status command of a step: holds when it exits 0 (or its `when` does not hold)."""

    step_id: str
    where: str
    command: Command

    def __call__(self, ctx: Context) -> tuple[bool, str]:
        holds, why = usercommands.applies(ctx, self.command.when)
        if not holds:
            return True, f"not applicable ({why})"
        env = usercommands.hook_env(ctx, "status", self.step_id)
        outcome = usercommands.run(ctx, self.command, env, self.where)
        if outcome.ok:
            return True, "holds"
        lead = self.command.message or "does not hold"
        return False, f"{lead}: {outcome.describe()}".replace("\n", " | ")


@dataclass(frozen=True)
class ConfiguredChecks:
    """The lazy entry of every step: all of its configured status commands (picklable: only the step id)."""

    step_id: str

    def __call__(self, ctx: Context) -> tuple[bool, str]:
        try:
            checks = commands_of(ctx, self.step_id)
        except ConfigError:  # the step's action reports the problems once; every step's check need not
            return False, "the configuration is invalid (its problems are shown when the step runs)"
        if not checks:
            return True, "none configured"
        failed = []
        for check in checks:
            verdict = check.fn(ctx)
            holds, seen = verdict if isinstance(verdict, tuple) else (verdict, "")
            if not holds:
                failed.append(f"{check.name}: {seen}")
        return not failed, "; ".join(failed) or f"{len(checks)} hold"


def commands_of(ctx: Context, step_id: str) -> list[Check]:
    """A Check per configured status command of the step (its phase's first), named as configured."""
    return [Check(command.label, CommandCheck(step_id, where, command))
            for where, command in hooks.of_phase_and_step(ctx, "checks", step_id, "status")]


def is_configured_entry(check: Check) -> bool:
    """The lazy entry (reports expand it; `doit info` meta leaves it out)."""
    return isinstance(check.fn, ConfiguredChecks)


def reported_checks(ctx: Context, step_id: str, step: Step) -> list[Check]:
    """The step's live checks for reports: built-in ones as declared, the lazy entry expanded."""
    found: list[Check] = []
    for check in step.status:
        found += commands_of(ctx, step_id) if is_configured_entry(check) else [check]
    return found


def with_configured(step_id: str, step: Step) -> Step:
    """The step with the lazy CONFIGURED entry after its declared status checks."""
    if any(is_configured_entry(check) for check in step.status):
        return step  # wired twice
    return replace(step, status=step.status + (Check(CONFIGURED, ConfiguredChecks(step_id)),))


def with_configured_checks(model: Model) -> Model:
    """The model with the lazy CONFIGURED entry after every step's declared status checks (hops.tasks.load)."""
    phases = tuple(replace(comp, steps=tuple(with_configured(comp.step_id(s.name), s) for s in comp.steps))
                   for comp in model.phases)
    return replace(model, phases=phases)
