"""The deadline of the step action in progress: retries of transient failures (tool calls, API requests) end
there, so no call site has to pass it.

The task model runs every step action through `step_action(ctx, step_id, action)`: its phase's timeout
(bootstrap.timeouts.<group>). Outside a step action (live checks, status and other operations) there is no
deadline and callers fall back to a bounded number of attempts (bootstrap.retry.attempts). Kept per thread
(`doit -P thread` runs several steps at once in one process); a thread a step starts (apply-config runs one per
node) sees the deadline of the latest step running in the process."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from hops.context import Context

T = TypeVar("T")
_local = threading.local()


_active: list[float] = []  # every running step's, for threads a step starts itself (e.g. one per node)
_lock = threading.Lock()


def current() -> float | None:
    """The monotonic deadline of the step action running in this thread (or, in a thread it started, of the
    latest step running in this process); None outside any."""
    mine = getattr(_local, "deadline", None)
    if mine is not None:
        return mine
    with _lock:
        return max(_active) if _active else None


def within(seconds: float, action: Callable[[Context], T], ctx: Context) -> T:
    """Run action(ctx) with a deadline `seconds` from now (restoring the previous one afterwards)."""
    previous = getattr(_local, "deadline", None)
    deadline = time.monotonic() + seconds
    _local.deadline = deadline
    with _lock:
        _active.append(deadline)
    try:
        return action(ctx)
    finally:
        _local.deadline = previous
        with _lock:
            _active.remove(deadline)


def step_action(ctx: Context, step_id: str, action: Callable[[Context], T]) -> T:
    """Run a step's action until its phase's deadline (hops.phase_clock: bootstrap.timeouts.<group of step_id>,
    counted from the phase's first step in this run). A group without a timeout of its own (none among hops's
    phases) runs without one."""
    seconds = getattr(ctx.config.bootstrap.timeouts, step_id.partition(":")[0], None)
    if not isinstance(seconds, (int, float)):
        return action(ctx)
    from hops import phase_clock  # one deadline per phase and run, shared by its steps and waits

    return within(max(0.0, phase_clock.deadline(ctx, step_id.partition(":")[0]) - time.monotonic()), action, ctx)
