"""Live progress of the step in flight: the terminal's live line or plain heartbeat lines, and the waits and
retries it records in the run history (hops.history).

hops.step_record runs every step inside `display(state)`; waits report through hops.waiting.Wait
(`wait_started` / `wait_status` / `wait_ended`); hops.runlog calls `logged` and `printed`.

On a terminal the step shows ONE live line (rich, transient: it disappears when the step ends, before doit's
reporter writes its next line), refreshed four times a second:

    phase 1/6 step 5/9 talos:wait-nodes-ready 42s, 29m18s left, usually ~1m05s │ waiting for nodes Ready: 1 of 3

Lines a step prints (ctx.log.say, warnings) go above it (rich redirects stdout/stderr while it is shown).
Only the main doit process, running steps serially in its main thread, owns the terminal: forked `doit -n N`
workers and `-P thread` workers print plain lines instead, as does a run whose stdout is not a terminal, or
with NO_COLOR set or TERM=dumb. Plain output gets a heartbeat line after HEARTBEAT_S (30 s; HOPS_HEARTBEAT_S
overrides) without any other line:

    … still waiting for Cilium agents ready on all 3 nodes: numberReady=1 of 3 (2m10s, 27m50s left)

Ctrl-C unwinds through the step: the live line is erased, and hops.interrupts prints the final line."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from hops import invocation, secrets

if TYPE_CHECKING:
    from hops.taskmodel import Model

HEARTBEAT_ENV = "HOPS_HEARTBEAT_S"
HEARTBEAT_S = 30.0
REFRESH_PER_SECOND = 4

_phases: dict[str, tuple[int, list[str]]] = {}   # group -> (phase number, its step names in order)
_phase_count = 0
_local = threading.local()
_last_output = time.monotonic()


def know(model: Model) -> None:
    """Remember the wired phases (hops.controls does, when the task list is built): phase N/6, step k/M."""
    global _phase_count
    _phases.clear()
    for comp in model.phases:
        _phases[comp.group] = (comp.phase, [step.name for step in comp.steps])
    _phase_count = len(model.phases)


def phase_of(group: str) -> int:
    """The phase number of `group` (0 when it is not one of the wired phases)."""
    return _phases.get(group, (0, []))[0]


def duration(seconds: float) -> str:
    """42s, 2m10s, 1h05m."""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


# --- the state of the step in flight ------------------------------------------------------------------------------
@dataclass
class StepState:
    """What the progress line shows about one running step."""

    step_id: str
    state_dir: Path
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    estimate: float | None = None
    what: str = ""
    detail: str = ""
    wait_started: float = 0.0
    wait_epoch: float = 0.0
    outcome: str = "ok"
    retries: int = 0

    @property
    def group(self) -> str:
        return self.step_id.partition(":")[0]

    def position(self) -> str:
        """`phase 1/6 step 5/9` (empty for a step outside the wired phases)."""
        phase, names = _phases.get(self.group, (0, []))
        name = self.step_id.partition(":")[2]
        if not phase:
            return ""
        step = f" step {names.index(name) + 1}/{len(names)}" if name in names else ""
        return f"phase {phase}/{_phase_count}{step}"

    def timing(self) -> str:
        """`42s, 29m18s left, usually ~1m05s`."""
        now = time.monotonic()
        parts = [duration(now - self.started)]
        if self.deadline is not None:
            parts.append(f"{duration(self.deadline - now)} left")
        if self.estimate is not None:
            parts.append(f"usually ~{duration(self.estimate)}")
        return ", ".join(parts)

    def activity(self) -> str:
        """`waiting for X: detail` or `working`."""
        if not self.what:
            return "working"
        return f"waiting for {self.what}" + (f": {self.detail}" if self.detail else "")

    def line(self) -> str:
        """The live line."""
        return secrets.redact(" ".join(p for p in (self.position(), self.step_id, self.timing()) if p)
                              + " │ " + self.activity())

    def heartbeat(self, tagged: bool) -> str:
        """The plain line printed after a silence."""
        now = time.monotonic()
        left = f", {duration(self.deadline - now)} left" if self.deadline is not None else ""
        if self.what:
            detail = f": {self.detail}" if self.detail else ""
            text = f"… still waiting for {self.what}{detail} ({duration(now - self.wait_started)}{left})"
            return secrets.redact(f"[{self.step_id}] {text}" if tagged else text)
        return secrets.redact(f"… still working on {self.step_id} ({duration(now - self.started)}{left})")


def current() -> StepState | None:
    """The step this thread runs (None outside a step)."""
    return getattr(_local, "step", None)


def outcome(note: str) -> None:
    """How the step ended when it did not act: 'skipped: …', 'already done' (hops.actions writes its marker)."""
    state = current()
    if state is not None:
        state.outcome = "skipped" if note.startswith("skipped") else (note or "ok")


# --- waits (hops.waiting.Wait) ------------------------------------------------------------------------------------
def wait_started(what: str, deadline: float) -> None:
    """A wait began in this thread's step."""
    state = current()
    if state is not None:
        state.what, state.detail = what, ""
        state.wait_started, state.wait_epoch = time.monotonic(), time.time()
        state.deadline = deadline if state.deadline is None else min(state.deadline, deadline)


def wait_status(detail: str) -> None:
    """The awaited thing's status changed."""
    state = current()
    if state is not None:
        state.detail = detail


def wait_ended(result: str) -> None:
    """The wait ended: its span goes to the history (the timeline shows it)."""
    from hops import history

    state = current()
    if state is None or not state.what:
        return
    label = f"{state.what}: {state.detail}" if state.detail else state.what
    try:
        history.span(state.state_dir, state.step_id, "wait", label, state.wait_epoch, time.time(), result)
    except Exception:  # noqa: BLE001 - the history must never fail a step
        pass
    state.what, state.detail = "", ""


def printed() -> None:
    """A line reached the user (hops.runlog.RunLog.say): restarts the heartbeat's silence."""
    global _last_output
    _last_output = time.monotonic()


def logged(text: str) -> None:
    """A line went to the run log (hops.runlog.RunLog.write): a retry of a transient failure (hops.runner and
    hops.kube log `  retrying …`) is counted for the step and goes to the timeline as a milestone."""
    state = current()
    if state is None or not text.lstrip().startswith("retrying "):
        return
    from hops import history

    state.retries += 1
    try:
        now = time.time()
        history.span(state.state_dir, state.step_id, "retry", text.strip().splitlines()[0], now, now, "retried")
    except Exception:  # noqa: BLE001 - the history must never fail a step
        pass


# --- display ----------------------------------------------------------------------------------------------------
def owns_terminal() -> bool:
    """Whether this thread may draw the live line (see the module docstring)."""
    if os.environ.get("NO_COLOR") is not None or os.environ.get("TERM") == "dumb":
        return False
    if not invocation.is_main_process() or threading.current_thread() is not threading.main_thread():
        return False
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):
        return False


def set_current(state: StepState | None) -> None:
    """Make `state` this thread's step in flight (None: none)."""
    _local.step = state


@contextmanager
def display(state: StepState) -> Iterator[None]:
    """The live line (a terminal this thread owns) or heartbeat lines, while the step runs."""
    if owns_terminal():
        with _live(state):
            yield
    else:
        with _heartbeat(state):
            yield


@contextmanager
def _live(state: StepState) -> Iterator[None]:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    class _Line:
        def __rich__(self) -> Text:
            return Text(state.line(), no_wrap=True, overflow="ellipsis")

    console = Console(file=sys.stdout, highlight=False)
    with Live(_Line(), console=console, refresh_per_second=REFRESH_PER_SECOND, transient=True,
              redirect_stdout=True, redirect_stderr=True):
        yield


def heartbeat_interval() -> float:
    """Seconds of silence before a heartbeat line (HOPS_HEARTBEAT_S overrides the 30 s)."""
    try:
        return max(0.05, float(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_S)))
    except ValueError:
        return HEARTBEAT_S


@contextmanager
def _heartbeat(state: StepState) -> Iterator[None]:
    stop = threading.Event()
    tagged = not invocation.is_main_process() or threading.current_thread() is not threading.main_thread()
    thread = threading.Thread(target=_beat, args=(state, stop, heartbeat_interval(), tagged),
                              name=f"heartbeat {state.step_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(1.0)


def _beat(state: StepState, stop: threading.Event, interval: float, tagged: bool) -> None:
    global _last_output
    while not stop.wait(max(0.05, interval - (time.monotonic() - _last_output))):
        if time.monotonic() - _last_output >= interval:
            print(state.heartbeat(tagged), flush=True)
            _last_output = time.monotonic()
