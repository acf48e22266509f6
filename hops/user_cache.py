"""The folders of hops's copies kept between processes (the validated configuration, the task list): where they
are, and keeping only the newest. Imports nothing of hops (the cheapest paths use it)."""

from __future__ import annotations

import os
from pathlib import Path

OFF = ("0", "false", "no", "off")


def folder(variable: str, name: str) -> Path | None:
    """`variable`=<folder> if set, else $XDG_CACHE_HOME/hops/<name> or ~/.cache/hops/<name>; None when the
    variable is 0/false/no/off (this process's environment decides, not the configuration)."""
    chosen = os.environ.get(variable, "").strip()
    if chosen.lower() in OFF:
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hops" / name


def prune(where: Path, pattern: str, keep: int) -> None:
    """Remove all but the newest `keep` copies (other processes may be pruning or reading at the same time)."""
    stamped = []
    for path in where.glob(pattern):
        try:
            stamped.append((path.stat().st_mtime_ns, path))
        except OSError:
            continue
    for _, old in sorted(stamped)[:-keep]:
        old.unlink(missing_ok=True)
