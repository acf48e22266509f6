"""Is a process still there? One answer for the run lock (orphaned tools), helm's in-flight notes and the lab's
daemon: a pid that runs and is not a zombie, optionally started no later than a given time (so a pid reused after
the noted process ended does not count)."""

from __future__ import annotations

import os
from pathlib import Path


def _stat_fields(pid: int) -> list[str] | None:
    """/proc/<pid>/stat after the command name (field 3 onwards), or None without /proc."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    """The process runs: it exists, and is neither a zombie (killed, not yet reaped) nor this process's own child
    that has ended (reaped here)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: it exists
    try:
        if os.waitpid(pid, os.WNOHANG)[0] != 0:
            return False  # our child, just ended: reaped now
    except ChildProcessError:
        pass  # not our child
    fields = _stat_fields(pid)
    return fields is None or fields[:1] not in (["Z"], ["X"])


def start_ticks(pid: int) -> int:
    """The process's start time in clock ticks after boot (field 22 of /proc/<pid>/stat); 0 if unknown."""
    fields = _stat_fields(pid)
    try:
        return int(fields[19]) if fields else 0
    except (IndexError, ValueError):
        return 0


def started_at(pid: int) -> float | None:
    """The process's start time as epoch seconds (None if unknown)."""
    ticks = start_ticks(pid)
    if not ticks:
        return None
    try:
        boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                    if line.startswith("btime "))
    except (OSError, StopIteration, ValueError):
        return None
    return boot + ticks / os.sysconf("SC_CLK_TCK")
