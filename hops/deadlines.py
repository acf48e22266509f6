"""The deadline of the step action in progress: retries of transient failures (tool calls, API requests) end
there, so no call site has to pass it.

The task model runs every step action through `within(seconds, action, ctx)` with its phase's timeout
(bootstrap.timeouts.<group>). Outside a step action (live checks, status and other operations) there is no
deadline and callers fall back to a bounded number of attempts (bootstrap.retry.attempts). Kept per thread:
`doit -P thread` runs several steps at once in one process."""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, TypeVar

T = TypeVar("T")
_local = threading.local()


def current() -> float | None:
    """The monotonic deadline of the step action running in this thread, None outside one."""
    return getattr(_local, "deadline", None)


def within(seconds: float, action: Callable[[Any], T], ctx: Any) -> T:
    """Run action(ctx) with a deadline `seconds` from now (restoring the previous one afterwards)."""
    previous = current()
    _local.deadline = time.monotonic() + seconds
    try:
        return action(ctx)
    finally:
        _local.deadline = previous
