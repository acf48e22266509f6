"""The per-run log: every step's progress and every command's (redacted) output, one file per doit invocation.

    <log_dir>/<YYYYmmdd-HHMMSS>-<command>-<pid>.log     e.g. 20261202-061500-bootstrap_phased-1234.log
    <log_dir>/latest.log                                 symlink to the newest bootstrap run's log

The name comes from hops.invocation, so forked `-n` workers append to their invocation's file (one write per
call: lines of different processes never interleave). The file is created on the first write: a read-only
command that has nothing to log (bootstrap_status, plan, list) leaves no empty file behind. `latest.log` follows
the runs that can change state (hops.invocation `records`): a failed status query does not hide the last
bootstrap's log from `doit bootstrap_log`."""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from hops import invocation, progress, secrets

LATEST = "latest.log"


class RunLog:
    """Appends timestamped, redacted lines to `<log_dir>/<stamp>-<command>-<pid>.log`; `say` also prints them."""

    def __init__(self, log_dir: Path) -> None:
        run = invocation.current()
        self.run_id = run.run_id
        stamp, pid = self.run_id.rsplit("-", 1)
        self.path = log_dir / f"{stamp}-{run.command}-{pid}.log"
        self._lock = threading.Lock()
        self._linked = not run.records  # only a state-changing run moves latest.log

    def write(self, text: str) -> None:
        """Append `text` (redacted, each line timestamped)."""
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        lines = secrets.redact(text).rstrip("\n").splitlines() or [""]
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.write("".join(f"{stamp} {line}\n" for line in lines))
            if not self._linked:
                self._linked = True
                point_latest(self.path)
        progress.logged(text)  # retries count for the step in flight

    def say(self, text: str) -> None:
        """Tell the user (stdout, which doit shows at verbosity 2) and log it."""
        self.write(text)
        progress.printed()  # a line the user saw: no heartbeat needed for a while
        print(secrets.redact(text), flush=True)

    def elapsed(self, since: float) -> str:
        return f"{time.monotonic() - since:.1f}s"


def point_latest(path: Path) -> None:
    """Make `latest.log` beside `path` point to it (atomically: a reader never finds it missing)."""
    link = path.parent / LATEST
    temporary = path.parent / f".{LATEST}.{os.getpid()}"
    try:
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(path.name)
        os.replace(temporary, link)
    except OSError:
        temporary.unlink(missing_ok=True)  # a file system without symlinks: bootstrap_log finds the newest file


def warn(text: str) -> None:
    """A redacted line on stderr."""
    print(secrets.redact(text), file=sys.stderr, flush=True)
