"""Ctrl-C and SIGTERM: stop the running tool cleanly, say which step was interrupted, exit 130/143, no traceback.

`install()` (hops.runguard, in the main doit process before any task runs) replaces the SIGINT/SIGTERM handlers:
the first signal raises `Interrupted` (a KeyboardInterrupt, so doit unwinds as for Ctrl-C: its DB is closed,
`-n` workers are sent SIGTERM); later ones are ignored while the cleanup, bounded by GRACE, runs.

- hops.runner catches it around the tool it waits for: `stop_tool` forwards the signal (Ctrl-C in a terminal has
  already reached the whole foreground process group, then it is not sent twice), waits GRACE seconds, kills.
- `running(step_id)` (around every step: `run_step` in hops.actions.StepAction) notes the interrupted step.
- the main process' excepthook prints ONE line, `interrupted during <step>; re-run the same command to resume`,
  and exits 128+signal. Forked `-n` workers stay quiet: they note their step in a file the main process reads
  after waiting for them, and doit ends them normally. `-P thread` workers raise once their tool has ended
  (`raise_if_signalled`); the excepthook waits for them. A nested doit (force_phase, `call_doit`) gets the
  signal passed on and prints the line itself; the outer doit then adds none.

Exiting at once loses nothing: markers are written atomically and the hops-sqlite DB commits each task's record
when doit stores it (hops.state.durable_db); the interrupted step has neither and simply runs again.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

T = TypeVar("T")

GRACE_ENV = "HOPS_INTERRUPT_GRACE"
GRACE = 5.0   # seconds a signalled tool gets to exit before it is killed (GRACE_ENV overrides)
RESUME_HINT = "re-run the same command to resume"

_main_pid: int | None = None
_notes: Path | None = None          # where forked workers note their interrupted steps
_signalled: int | None = None
_interrupted: list[str] = []
_tools: dict[int, subprocess.Popen] = {}
_active: dict[int, str] = {}        # thread -> step it runs (`-P thread` workers are not unwound by the signal)
_local = threading.local()
_signal_seen = threading.Event()
_told_by_child = False              # a nested doit already printed the line
_SIGNAL_CODES = frozenset({-signal.SIGINT, -signal.SIGTERM, 128 + signal.SIGINT, 128 + signal.SIGTERM})
SIGNAL_LAG = 1.0   # seconds a thread waits for the main thread's handler after its tool died of a signal


class Interrupted(KeyboardInterrupt):
    """Raised by the signal handler; carries the signal number (also when rebuilt from a string by doit's
    `-n` runner, which re-raises a worker's exception class with its str())."""

    def __init__(self, signum: int | str = signal.SIGINT) -> None:
        try:
            self.signum = int(signum)
        except (TypeError, ValueError):
            self.signum = int(signal.SIGINT)
        super().__init__(self.signum)

    def __str__(self) -> str:
        return str(self.signum)


def install(state_dir: Path) -> None:
    """Take over SIGINT/SIGTERM and uncaught interrupts in this (the main doit) process. Idempotent."""
    global _main_pid, _notes
    if threading.current_thread() is not threading.main_thread():
        return  # signal handlers can only be set from the main thread (API use inside threads)
    _main_pid = os.getpid()
    _set_grace(os.environ.get(GRACE_ENV))
    _notes = state_dir / f".interrupted-{_main_pid}"
    signal.signal(signal.SIGINT, _handler)
    signal.signal(signal.SIGTERM, _handler)
    sys.excepthook = _excepthook


def _set_grace(text: str | None) -> None:
    global GRACE
    try:
        GRACE = max(0.0, float(text)) if text else GRACE
    except ValueError:
        pass  # a malformed override keeps the default


def _handler(signum: int, frame: FrameType | None) -> None:
    global _signalled
    if _signalled is not None:
        return  # cleanup is under way and bounded; a second Ctrl-C must not break it
    _signalled = signum
    _signal_seen.set()
    raise Interrupted(signum)


@contextmanager
def running(step_id: str) -> Iterator[None]:
    """Around one step: makes it the current step (tool records, messages) and notes it if interrupted."""
    previous = getattr(_local, "step", "")
    _local.step = step_id
    _active[threading.get_ident()] = step_id
    try:
        yield
    except KeyboardInterrupt:
        _note(step_id)
        raise
    finally:
        _local.step = previous
        if previous:
            _active[threading.get_ident()] = previous
        else:
            _active.pop(threading.get_ident(), None)


def run_step(step_id: str, fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` inside `running(step_id)`: the one-line hook of the step executor (hops.actions)."""
    with running(step_id):
        return fn(*args)


def current_step() -> str:
    """The step this thread is running ("" outside a step): recorded with every tool it starts."""
    return getattr(_local, "step", "")


def track(proc: subprocess.Popen) -> None:
    """A tool this process waits for: stopped on interrupt even if its thread is not the one unwound."""
    _tools[proc.pid] = proc


def untrack(proc: subprocess.Popen) -> None:
    """The tool has ended."""
    _tools.pop(proc.pid, None)


def call_doit(argv: list[str], **popen: Any) -> int:
    """Run a nested doit (hops.controls: force_phase) to its end; on Ctrl-C/SIGTERM pass the signal on and let it
    stop its own tool and say where it stopped: its line is the user's one line, this process adds none."""
    global _told_by_child
    proc = subprocess.Popen(argv, **popen)
    track(proc)
    try:
        return proc.wait()
    except KeyboardInterrupt as exc:
        stop_tool(proc, getattr(exc, "signum", signal.SIGINT), grace=2 * GRACE + 2)
        _told_by_child = proc.returncode in (128 + signal.SIGINT, 128 + signal.SIGTERM)
        raise
    finally:
        untrack(proc)


def stop_tool(proc: subprocess.Popen, signum: int, grace: float | None = None) -> None:
    """Pass the signal on to a tool this process waits for, give it GRACE seconds, then kill it; reaps it."""
    if proc.poll() is None and not _terminal_delivered(signum):
        _send(proc, signum)
    try:
        proc.wait(timeout=GRACE if grace is None else grace)
    except subprocess.TimeoutExpired:
        _send(proc, signal.SIGKILL)
        proc.wait()


def _send(proc: subprocess.Popen, signum: int) -> None:
    try:
        proc.send_signal(signum)
    except ProcessLookupError:
        pass


def _terminal_delivered(signum: int) -> bool:
    """Ctrl-C in a terminal signals the whole foreground process group, tools included."""
    if signum != signal.SIGINT:
        return False
    for fd in (0, 1, 2):  # a forked `-n` worker's stdin is /dev/null; its stdout is still the terminal
        try:
            return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


def _note(step_id: str) -> None:
    if step_id in _interrupted:
        return
    _interrupted.append(step_id)
    if _main_pid is not None and os.getpid() != _main_pid and _notes is not None:
        try:
            with open(_notes, "a") as notes:  # one short append per worker: atomic
                notes.write(step_id + "\n")
        except OSError:
            pass


def _excepthook(kind: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if not issubclass(kind, KeyboardInterrupt) or os.getpid() != _main_pid:
        sys.__excepthook__(kind, exc, tb)
        return
    signum = getattr(exc, "signum", None) or _signalled or signal.SIGINT
    for proc in list(_tools.values()):  # tools of `-P thread` workers
        stop_tool(proc, signum)
    _wait_for_step_threads()
    _wait_for_workers(int(signum))
    sys.stdout.flush()
    if _told_by_child:
        os._exit(128 + int(signum))
    lead = "\n" if sys.stderr.isatty() else ""  # the terminal has just echoed ^C on the current line
    print(lead + message(_interrupted + list(_active.values()) + _worker_notes()), file=sys.stderr, flush=True)
    sys.stdout.flush()
    os._exit(128 + int(signum))


def message(steps: list[str]) -> str:
    """The one line a user sees after Ctrl-C/SIGTERM."""
    unique = list(dict.fromkeys(steps))
    where = f" during {', '.join(unique)}" if unique else ""
    return f"interrupted{where}; {RESUME_HINT}"


def raise_if_signalled(code: int) -> None:
    """After a tool ended with `code`, in a thread the signal does not unwind (`-P thread` workers): raise there
    too if the run is being interrupted. A tool that died of Ctrl-C may end before the main thread's handler has
    run: for such exit codes, wait (an Event, bounded) for that handler to say so."""
    if _signalled is None and code in _SIGNAL_CODES and threading.current_thread() is not threading.main_thread():
        _signal_seen.wait(SIGNAL_LAG)
    if _signalled is not None:
        raise Interrupted(_signalled)


def _wait_for_step_threads() -> None:
    """`-P thread` workers still inside a step: let them unwind (their tool has ended) and note it."""
    for thread in threading.enumerate():
        if thread.ident in _active and thread is not threading.current_thread():
            thread.join(GRACE)


def _wait_for_workers(signum: int) -> None:
    """`-n` workers got SIGTERM from doit (or the terminal's SIGINT) and stop their tools within GRACE."""
    if "multiprocessing" not in sys.modules:
        return
    import multiprocessing

    for child in multiprocessing.active_children():
        if child.pid is not None:
            _signal_main_thread(child.pid, signum)
        child.join(GRACE + 2)
        if child.is_alive():
            child.kill()


def _signal_main_thread(pid: int, signum: int) -> None:
    """Signal a worker's main thread itself. A signal sent to a process goes to any of its threads: an idle `-n`
    worker waits for its next task in a blocking read in its main thread while multiprocessing's queue feeder
    thread runs beside it; when the kernel picks the feeder thread, the read is never interrupted, Python never
    runs the handler, and the worker (and this run) waited the whole GRACE + 2 s. Aimed at the main thread (its
    thread id is the pid), the read returns EINTR and the pending handlers run; a worker that already handled the
    signal ignores it. Linux only (glibc's tgkill); elsewhere the join below still bounds the wait."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.tgkill(pid, pid, signum)
    except (OSError, AttributeError):
        pass


def _worker_notes() -> list[str]:
    if _notes is None or not _notes.exists():
        return []
    try:
        return _notes.read_text().split()
    finally:
        _notes.unlink(missing_ok=True)
