"""Independent work inside one step, at once: the tools' version checks, per-node Talos calls.

Every item is worked on in its own thread (up to `limit`), the answers come back in the items' order, so a step
still reports every problem, in the order of its configuration. Threads started here see the step's deadline
(hops.deadlines keeps the running steps' deadlines for them) and their tools are supervised like any other
(hops.runner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")
LIMIT = 16  # threads per step: each mostly waits for a tool process; 50 nodes need not mean 50 processes at once


def each(fn: Callable[[T], R], items: Sequence[T], limit: int = LIMIT) -> list[R]:
    """[fn(item) for item in items], run concurrently; the first exception (in item order) is raised after
    every call has ended, so no call is left running behind the step."""
    if len(items) <= 1:
        return [fn(item) for item in items]
    from concurrent.futures import ThreadPoolExecutor  # only when needed: `doit list` imports every component

    with ThreadPoolExecutor(max_workers=min(len(items), limit)) as pool:
        futures = [pool.submit(fn, item) for item in items]
    return [future.result() for future in futures]
