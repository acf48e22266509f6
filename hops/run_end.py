"""A recorded run's start and end: its row in the run history; at the end its result, then the metrics file
(when configured). The end is recorded by hops.reporter (which knows doit's result) or, for a run another
reporter reported or doit's own error ended, when the process exits (the result then follows its steps).

Which runs are recorded: every state-changing run that starts a step (its row is added when the first step
starts, by whichever process runs it), and every bootstrap driver (bootstrap_phased, bootstrap_resume,
force_phase, phaseN) even when all its steps are up to date. A state-changing command that runs no step
(bootstrap_reset, talos_reset, forget) is not a bootstrap run: it would only dilute the success rate."""

from __future__ import annotations

import atexit
import os
import re
from pathlib import Path

from hops import context, history, invocation, metrics
from hops.runlog import warn

DRIVERS = re.compile(r"bootstrap_phased|bootstrap_resume|force_phase|phase\d+")


def begin(state_dir: Path) -> None:
    """hops.runguard, in the main process once it holds the run lock: record a bootstrap driver's run now,
    and make sure any recorded run gets an end."""
    if DRIVERS.fullmatch(invocation.current().command):
        history.begin_run(state_dir)
    atexit.register(_end_at_exit, state_dir, os.getpid())


def step_starts(state_dir: Path) -> None:
    """A step starts: its run is recorded (once) if this invocation can change state."""
    if invocation.current().records:
        history.begin_run(state_dir)


def _end_at_exit(state_dir: Path, pid: int) -> None:
    if os.getpid() != pid:
        return  # a forked worker inherits the handler
    try:
        run = history.get_run(state_dir, invocation.run_id())
        if run is not None and run.ended is None:
            failed = [s for s in run.steps if s.result not in ("ok", "skipped", "already done")]
            finish("failed" if failed else "ok", failed[0].message if failed else "", state_dir)
    except Exception:  # noqa: BLE001 - the history must never change how a run ends
        pass


def finish(result: str, message: str, state_dir: Path | None = None) -> None:
    """Record the run's end and write bootstrap.metrics_file; a metrics problem is one warning, never a failure."""
    ctx = context.current()
    state = state_dir or ctx.state_dir
    run = history.end_run(state, result, message)
    if run is None:
        return
    try:
        config = ctx.config
    except Exception:  # noqa: BLE001 - an invalid configuration was already this run's failure
        return
    target = config.bootstrap.metrics_file
    if target is None:
        return
    path = target if target.is_absolute() else state / target
    try:
        metrics.write(path, metrics.render(config.cluster.name, run, history.runs(state, limit=10_000)))
    except OSError as exc:
        warn(f"could not write bootstrap.metrics_file {path}: {exc.strerror or exc}; check the folder exists and "
             "is writable")
