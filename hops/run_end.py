"""The end of a recorded run: its result in the run history, then the metrics file (when configured)."""

from __future__ import annotations

from pathlib import Path

from hops import context, history, metrics
from hops.runlog import warn


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
