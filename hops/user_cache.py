"""The copies hops keeps between processes (the validated configuration, the task list, answers computed from
repository folders): where they are, how a file is stamped, writing one, keeping only the newest. Imports nothing of hops (the cheapest paths use it)."""

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


def stamp(path: str | Path) -> list[int] | None:
    """[size, modification time in ns] of a file (None when it is missing): what the copies are keyed by."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


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


def keep(where: Path, name: str, data: bytes, keep_newest: int) -> None:
    """Write one copy as `where/name` (folder 0700, file 0600, replaced atomically: a reader sees the old copy or
    the new one), then prune to the newest `keep_newest` of its kind. Best effort: a copy that cannot be written
    changes nothing but speed, and a write cut short (disk full, Ctrl-C) leaves no partial copy behind."""
    tmp = where / f".{name}.{os.getpid()}.tmp"
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, where / name)
        prune(where, f"*{Path(name).suffix}", keep_newest)
    except OSError:
        pass
    finally:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass  # the folder itself could not be made
