"""The step hook of hops.actions.StepAction: each step's row in the run history (hops.history: started,
ended, result, attempt, retries, redacted failure message) around its progress display (hops.progress)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hops import context, history, phase_clock, progress, run_end
from hops.results import message_of

if TYPE_CHECKING:
    from hops.context import Context

T = TypeVar("T")


def recorded(step_id: str, fn: Callable[..., T], *args: Any) -> T:
    """Run `fn(*args)` (a step's action) with its history row and its progress display."""
    ctx = context.current()
    state = progress.StepState(step_id, ctx.state_dir)
    _prepare(ctx, state)
    previous = progress.current()
    progress.set_current(state)
    try:
        with progress.display(state):
            value = fn(*args)
    except KeyboardInterrupt:
        _end(state, "interrupted", "interrupted by a signal")
        raise
    except BaseException as exc:
        _end(state, "failed", _message(exc))
        raise
    else:
        _end(state, state.outcome, "")
        return value
    finally:
        progress.set_current(previous)


def _prepare(ctx: Context, state: progress.StepState) -> None:
    """Start the step's history row; find the phase deadline and the estimate (best effort: a broken
    configuration is reported by the step itself)."""
    try:
        run_end.step_starts(state.state_dir)
        history.step_started(state.state_dir, state.step_id, progress.phase_of(state.group))
        state.estimate = history.typical_duration(state.state_dir, state.step_id)
    except Exception:  # noqa: BLE001 - the history must never fail a step
        pass
    try:
        state.deadline = phase_clock.deadline(ctx, state.group)
    except Exception:  # noqa: BLE001 - no (valid) timeout for this group
        state.deadline = None


def _end(state: progress.StepState, result: str, message: str) -> None:
    if state.what:
        progress.wait_ended("interrupted" if result == "interrupted" else result)
    try:
        history.step_ended(state.state_dir, state.step_id, result, message, state.retries)
    except Exception:  # noqa: BLE001 - the history must never fail a step
        pass


def _message(exc: BaseException) -> str:
    try:
        return message_of(exc)
    except Exception:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"
