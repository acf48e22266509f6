"""Waiting on things that offer no watch (a Talos API coming up, a tool's answer): probe with a short first
interval that grows to the configured check_interval, until the deadline; say what is awaited and why.

Kubernetes objects are never polled: use Kube.wait, which watches."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from hops.errors import WaitTimeout

FIRST_INTERVAL_S = 0.05


def poll_until(ctx: Any, what: str, probe: Callable[[], tuple[bool, str]], deadline: float) -> str:
    """Call probe() -> (done, detail) until done; raise WaitTimeout naming the last detail at the deadline."""
    interval = FIRST_INTERVAL_S
    ceiling = float(ctx.config.bootstrap.check_interval)
    shown = ""
    while True:
        done, detail = probe()
        if done:
            return detail
        left = deadline - time.monotonic()
        if left <= 0:
            raise WaitTimeout(f"timed out waiting for {what}: {detail}")
        if detail != shown:
            shown = detail
            ctx.log.say(f"  waiting for {what}: {detail} ({left:.0f}s left)")
        time.sleep(min(interval, left))  # no notification exists for this condition
        interval = min(interval * 2, ceiling)


def deadline_for(ctx: Any, group: str) -> float:
    """The monotonic deadline of a wait in phase `group` (bootstrap.timeouts.<group>)."""
    return time.monotonic() + ctx.timeout(group)
