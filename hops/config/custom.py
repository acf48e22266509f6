"""The `hooks:` and `checks:` sections of bootstrap-config.yaml: user commands run around phases and steps.

    hooks:
      networking:                    # a phase, by its group name ...
        before: [{run: ["./scripts/check-switch.sh"], timeout: 30, message: "the switch is not configured"}]
      networking:deploy-cilium:      # ... or one step, by its id
        after: [{run: ["sh", "-c", "echo deployed >> notes.txt"]}]
    checks:
      services:longhorn-ready:
        preconditions: [{run: ["test", "-e", "/dev/sdb"], message: "no data disk"}]
        status: [{name: "longhorn volume test", run: ["./scripts/longhorn-ok.sh"]}]

Every command is an argument list (a shell only when written as ["sh", "-c", "..."]). `when` holds when every
entry it lists holds: `env` compares environment variables as strings, `config` compares configuration fields
(dotted paths, e.g. networking.kube_proxy_replacement) with the configured value. Nothing is evaluated as code.

Which phase and step names exist is the task model's business: hops.tasks declares them (hops.config.targets)
when the task list is built, so this module never imports the task model; hops.config.references checks the
keys and the `when: {config: ...}` field names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from hops.config.snapshot import CommandBehaviour  # shared with the cached records

DEFAULT_TIMEOUT = 60.0
SECTIONS = ("hooks", "checks")
Scalar = bool | int | float | str


def _argument_list(value: Any) -> Any:
    if isinstance(value, str):
        raise ValueError(f"{value!r} is a string; write the command as an argument list, e.g. "
                         f"{_as_list(value)}, or [\"sh\", \"-c\", {json.dumps(value)}] to run it with a shell")
    if isinstance(value, list) and not value:
        raise ValueError("is empty (expected the command as an argument list, e.g. [\"./scripts/check.sh\"])")
    if isinstance(value, list):
        for index, arg in enumerate(value):
            if not isinstance(arg, (str, int, float)) or isinstance(arg, bool) or str(arg) == "":
                raise ValueError(f"argument {index} ({arg!r}) is not a non-empty string "
                                 "(expected every argument as a string)")
        return [str(arg) for arg in value]
    return value


def _as_list(text: str) -> str:
    return json.dumps(text.split() or ["./scripts/check.sh"])


Argv = Annotated[list[str], BeforeValidator(_argument_list)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class When(_Model):
    """Holds when every listed entry holds (an empty `when` always holds)."""

    env: dict[str, str] = Field(default_factory=dict, description="Environment variable -> the exact value it "
                                "must have, e.g. {ENVIRONMENT: production}. Default: none.")
    config: dict[str, Scalar] = Field(default_factory=dict, description="Dotted configuration field -> the value "
                                      "it must have, e.g. {networking.kube_proxy_replacement: true}. Default: none.")



class Command(CommandBehaviour, _Model):
    """One user command: a hook, a precondition or a status check."""

    run: Argv = Field(description="The command as an argument list, run in the project root. Required.")
    name: str | None = Field(None, description="What reports call it. Default: the command line.")
    timeout: Annotated[float, Field(gt=0)] = Field(DEFAULT_TIMEOUT, description="Seconds before it is killed "
                                                   "(counts as failed). Default: 60.")
    message: str | None = Field(None, description="Shown when it fails. Default: the command and its output.")
    when: When = Field(default_factory=When, description="Run only when this holds (else: a hook or "
                       "precondition is skipped, a status check holds). Default: always.")


class Hooks(_Model):
    """Hooks of a phase or a step (see README "Hooks and custom checks" for when each runs)."""

    before: list[Command] = Field(default_factory=list, description="Before the step's action (a phase: before "
                                  "its first step that runs in this invocation). Default: none.")
    after: list[Command] = Field(default_factory=list, description="After the step's action succeeded, before "
                                 "its marker (a phase: when its `complete` step runs). Default: none.")
    on_failure: list[Command] = Field(default_factory=list, description="When the step (a phase: any of its "
                                      "steps) fails. Default: none.")


class Checks(_Model):
    """Extra checks of a step, or of every step of a phase."""

    preconditions: list[Command] = Field(default_factory=list, description="Must succeed before the step acts. "
                                         "Default: none.")
    status: list[Command] = Field(default_factory=list, description="Live checks: the step is up to date only "
                                  "while they succeed. Default: none.")


def config_value(config: Any, dotted: str) -> Any:
    """The configured value at a dotted path validated by config_field_problem."""
    value = config
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, dict) else getattr(value, part)  # a dict may lack the key
    return value


def equal(actual: Any, expected: Any) -> bool:
    """Configured value == the `when` value (paths and strings compare as text; true is not 1)."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, Path):
        return str(actual) == str(expected) or actual == Path(str(expected))
    return bool(actual == expected)
