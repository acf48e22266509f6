"""One bootstrap run at a time per state dir.

An flock on `<state>/run.lock`, held for the life of the process: the kernel drops it when the process dies,
so a killed run never leaves a stale lock. hops.reporter takes it in the main doit process before workers fork
(`doit -n N` workers inherit it); a nested doit started by this run (force_phase) inherits ownership through
HOPS_RUN_LOCK_OWNER."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

_held: dict[Path, IO[str]] = {}
OWNER_ENV = "HOPS_RUN_LOCK_OWNER"


class LockBusy(RuntimeError):
    pass


def acquire(state_dir: Path) -> None:
    """Take the run lock for this process (idempotent); raise LockBusy naming the holder if another run has it."""
    path = (state_dir / "run.lock").resolve()
    if path in _held or os.environ.get(OWNER_ENV) == str(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise LockBusy(f"another hops run ({holder}) is working on this cluster; wait for it or stop it") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()}")
    handle.flush()
    _held[path] = handle


def child_env(state_dir: Path) -> dict[str, str]:
    """Environment entries that let a nested doit run under this process' lock."""
    return {OWNER_ENV: str((state_dir / "run.lock").resolve())}

