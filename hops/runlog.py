"""The per-run log: every step's progress and every command's (redacted) output, one file per doit process."""

from __future__ import annotations

import os
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

from hops import secrets


class RunLog:
    """Appends timestamped, redacted lines to `<log_dir>/<run_id>.log`; `say` also prints them for the user."""

    def __init__(self, log_dir: Path) -> None:
        self.run_id = f"{datetime.now().strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
        self.path = log_dir / f"{self.run_id}.log"
        self._lock = threading.Lock()

    def write(self, text: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        lines = secrets.redact(text).rstrip("\n").splitlines() or [""]
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as handle:
                handle.writelines(f"{stamp} {line}\n" for line in lines)

    def say(self, text: str) -> None:
        """Tell the user (stdout, which doit shows at verbosity 2) and log it."""
        self.write(text)
        print(secrets.redact(text), flush=True)

    def elapsed(self, since: float) -> str:
        return f"{time.monotonic() - since:.1f}s"


def warn(text: str) -> None:
    """A redacted line on stderr."""
    print(secrets.redact(text), file=sys.stderr, flush=True)
