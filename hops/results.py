"""The one place that turns what happened in a task into doit's result.

    a failure of the world  StepError (tool failed, object not ready, wait timed out, cancelled) or ConfigError
                            -> TaskFailed, exit 1, hops's own message
    a bug in hops           any other exception
                            -> TaskError, exit 2, "internal error in hops: ..." (the traceback goes to the run log)

Step failures also get a diagnostics bundle and the resume hint (an invalid configuration, found by whichever step
loads it first, is reported as what it is, without naming that step); other tasks (operations, controls, the lab's
tasks) only their message, since there is nothing to resume. Every message passes through secret redaction.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from doit.exceptions import BaseFail, TaskError, TaskFailed

from hops import context, secrets
from hops.config import ConfigError
from hops.diagnostics import collect_on_failure
from hops.errors import StepError

if TYPE_CHECKING:
    from hops.context import Context

RESUME_HINT = "re-run the same command to resume from this step"


def is_world_failure(exc: BaseException) -> bool:
    """A failure the user can act on (as opposed to a bug in hops)."""
    return isinstance(exc, (StepError, ConfigError))


def message_of(exc: BaseException) -> str:
    """The user-facing text of a world failure."""
    return f"invalid configuration:\n{exc}" if isinstance(exc, ConfigError) else str(exc)


CONFIG_HINT = "nothing was changed; correct the file(s) named above and re-run the same command"


def result_of(task_id: str, exc: BaseException, *, step: bool = False) -> BaseFail:
    """doit's result for `exc` raised by task `task_id` (see the module docstring)."""
    if step and isinstance(exc, ConfigError):
        # found when the first step loaded the configuration: not that step's failure, and nothing to resume
        return TaskFailed(secrets.redact(f"{message_of(exc)}\n{CONFIG_HINT}"))
    world = is_world_failure(exc)
    if world:
        text = secrets.redact(f"{task_id}: {message_of(exc)}")
    else:
        text = secrets.redact(f"{task_id}: internal error in hops: {type(exc).__name__}: {exc}")
    ctx = _context()
    log_path = _log(ctx, text, None if world else exc)
    if not world and log_path:
        text += f" (traceback in {log_path})"
    if step and ctx is not None:
        text += _step_epilogue(ctx, task_id, text)
    elif log_path and world:
        text += f"\nlog: {log_path}"
    return TaskFailed(text) if world else TaskError(text)


def _context() -> Context | None:
    try:
        return context.current()
    except Exception:  # noqa: BLE001 - reporting must never hide the original failure
        return None


def _log(ctx: Context | None, text: str, exc: BaseException | None) -> str | None:
    """Write the failure (and a bug's traceback) to the run log; its path, or None when there is no log."""
    if ctx is None:
        return None
    try:
        ctx.log.write(text + ("\n" + "".join(traceback.format_exception(exc)) if exc else ""))
        return str(ctx.log.path)
    except Exception:  # noqa: BLE001 - e.g. the configuration (which names the log folder) is what is broken
        return None


def _step_epilogue(ctx: Context, step_id: str, text: str) -> str:
    lines = ""
    try:
        bundle = collect_on_failure(ctx, step_id, text)
        lines += f"\ndiagnostics: {bundle}" if bundle else ""
        lines += f"\nlog: {ctx.log.path}"
    except Exception:  # noqa: BLE001 - reporting must never hide the original failure
        pass
    return lines + f"\n{RESUME_HINT}"
