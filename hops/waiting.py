"""Waiting on things that offer no watch (a Talos API coming up, a tool's answer): probe with a short first
interval that grows to the configured check_interval, until the deadline; say what is awaited and why.

A wait must end soon after its condition does: the interval between probes is also capped to OVERSHOOT_FRACTION
of the time waited so far, so a condition that becomes true after T seconds is seen by T × (1 + 0.1) plus one
probe at the latest — not up to a whole check_interval later (the back-off alone overshoots by up to
check_interval). Long waits still probe sparsely: the pause grows to check_interval once the wait is ten
times as long.

A wait may name a gate: a cheap question with an authoritative "not yet" (a TCP connect refused: nothing listens,
so no tool can succeed). While the gate says no, the probe (a tool process) is not started, and the gate itself is
asked every GATE_FRACTION of the time waited, so the moment the condition can hold is seen at once; the probe's
back-off starts from that moment, not from the start of the wait.

Kubernetes objects are never polled: use Kube.wait, which watches. Both report through `Wait` (one per wait):
a status line is printed when the awaited status changes (never per poll), and the live progress line
(hops.progress) and the run history (the wait's span in the timeline) follow it.

Every wait of a phase ends at the phase's one deadline (`deadline_for`, hops.phase_clock)."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING

from hops.errors import WaitTimeout

if TYPE_CHECKING:
    from hops.context import Context

FIRST_INTERVAL_S = 0.05
OVERSHOOT_FRACTION = 0.1  # a wait ends at most this fraction of its length after its condition holds
GATE_FRACTION = 0.01      # a gate (a bare TCP connect) is cheap: asked ten times as often


class Wait:
    """One wait for `what` until `deadline`: `with Wait(ctx, what, deadline) as wait: ... wait.status(detail)`."""

    def __init__(self, ctx: Context, what: str, deadline: float) -> None:
        self.ctx, self.what, self.deadline = ctx, what, deadline
        self.shown = ""

    def __enter__(self) -> Wait:
        from hops import progress

        progress.wait_started(self.what, self.deadline)
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        from hops import progress

        progress.wait_ended("done" if kind is None else ("timed out" if kind is WaitTimeout else "failed"))

    def status(self, detail: str) -> None:
        """The awaited thing's current status: printed (and logged) once per change."""
        from hops import progress

        if detail == self.shown:
            return
        self.shown = detail
        progress.wait_status(detail)
        left = max(0.0, self.deadline - time.monotonic())
        self.ctx.log.say(f"  waiting for {self.what}: {detail} ({left:.0f}s left)")


def poll_until(ctx: Context, what: str, probe: Callable[[], tuple[bool, str]], deadline: float, *,
               gate: Callable[[], tuple[bool, str]] | None = None,
               clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> str:
    """Call probe() -> (done, detail) until done; raise WaitTimeout naming the last detail at the deadline.
    The pause between probes is next_interval(): it never lets the wait outlast its condition by more than
    OVERSHOOT_FRACTION of the time waited. `gate() -> (may_hold, detail)`, when given, is asked before each probe;
    while it says no the probe is skipped (see the module's text). `clock`/`sleep` are injectable for tests."""
    started = probing = clock()
    interval = FIRST_INTERVAL_S
    ceiling = float(ctx.config.bootstrap.check_interval)
    gated = False
    with Wait(ctx, what, deadline) as wait:
        while True:
            may_hold, detail = gate() if gate is not None else (True, "")
            if may_hold:
                if gated:   # the condition can hold from now on: look closely again
                    probing, interval, gated = clock(), FIRST_INTERVAL_S, False
                done, detail = probe()
                if done:
                    return detail
            else:
                gated = True
            now = clock()
            left = deadline - now
            if left <= 0:
                raise WaitTimeout(f"timed out waiting for {what}: {detail}")
            wait.status(detail)
            if gated:
                pause = max(FIRST_INTERVAL_S, min(ceiling, GATE_FRACTION * (now - started)))
            else:
                interval = pause = next_interval(interval, ceiling, now - probing)
            sleep(min(pause, left))  # no notification exists for this condition


def next_interval(previous: float, ceiling: float, waited: float) -> float:
    """The back-off's next pause: double the previous one up to `ceiling`, but never more than
    OVERSHOOT_FRACTION of the time `waited` so far (and never below FIRST_INTERVAL_S)."""
    return max(FIRST_INTERVAL_S, min(previous * 2, ceiling, OVERSHOOT_FRACTION * waited))


def deadline_for(ctx: Context, group: str) -> float:
    """The monotonic deadline of a wait in phase `group`: the phase's one deadline in this run
    (bootstrap.timeouts.<group> from the phase's first step; hops.phase_clock)."""
    from hops import phase_clock

    return phase_clock.deadline(ctx, group)
