"""One deadline per phase and invocation: bootstrap.timeouts.<group> counts from the moment the phase's first
step (or first wait) starts in this run, and every step action and wait of that phase ends at the same instant.

Kept in `<state>/phase-deadlines.json` ({"run": run id, "phases": {group: epoch seconds}}) because `doit -n N`
runs a phase's steps in several forked workers, which share nothing else; updates hold an flock so two workers
starting the same phase at once agree on one deadline.

A new invocation starts fresh deadlines, also when it resumes a run that was killed: the timeout bounds how long
one run waits for the world, and time during which no hops ran (the kill, the hours before the resume) is not
time the cluster was being waited on; the resumed run re-checks the live state of every step anyway."""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hops import invocation

if TYPE_CHECKING:
    from hops.context import Context

FILE = "phase-deadlines.json"
_cache: dict[tuple[str, str, str], float] = {}   # (run id, state dir, group) -> epoch deadline
_lock = threading.Lock()


def deadline(ctx: Context, group: str) -> float:
    """The monotonic deadline of phase `group` in this invocation (started now if the phase has none yet)."""
    epoch = epoch_deadline(ctx.state_dir, group, ctx.timeout(group))
    return time.monotonic() + (epoch - time.time())


def epoch_deadline(state_dir: Path, group: str, seconds: float) -> float:
    """The phase's deadline as epoch seconds, recorded on first use in this run (see the module docstring)."""
    run = invocation.run_id()
    key = (run, str(state_dir), group)  # one cluster's phases are not another's
    with _lock:
        if key in _cache:
            return _cache[key]
        state_dir.mkdir(parents=True, exist_ok=True)
        with open(state_dir / f".{FILE}.lock", "a") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            phases = _read(state_dir / FILE, run)
            value = phases.setdefault(group, time.time() + seconds)
            _write(state_dir / FILE, {"run": run, "phases": phases})
        _cache[key] = value
        return value


def _read(path: Path, run: str) -> dict[str, float]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # none yet, or unreadable: this run starts its phases afresh
    if not isinstance(data, dict) or data.get("run") != run or not isinstance(data.get("phases"), dict):
        return {}  # another invocation's deadlines
    return {str(k): float(v) for k, v in data["phases"].items() if isinstance(v, (int, float))}


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(json.dumps(data))
    os.replace(temporary, path)


def reset() -> None:
    """Forget cached deadlines (tests)."""
    _cache.clear()
