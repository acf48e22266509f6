"""The real Helm 3 in lab tests: where it is (skip cleanly, naming the install command, when it is not), and the
processes a helm wrapper leaves (read from /proc)."""

from __future__ import annotations

import os
import select
import subprocess
import time
from pathlib import Path

import pytest

from hops.lab import real_helm


def real_helm_or_skip() -> Path:
    """The binary `python -m hops.lab.real_helm install` put in place (looked up with the test runner's HOME,
    before a lab environment moves HOME), or a skip saying how to install it."""
    binary = real_helm.installed()
    if binary is None:
        pytest.skip(f"the real helm is not installed: run `{real_helm.INSTALL_COMMAND}` (see the README's lab "
                    "section)")
    return binary


def _stat(pid: int) -> list[str]:
    """/proc/<pid>/stat from field 3 (state) on; [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and _stat(int(entry.name))[1:2] == [str(pid)]:
            found.append(int(entry.name))
    return found


def state(pid: int) -> str:
    """R/S/T/Z... of the process, '' when it is gone (or reaped)."""
    return (_stat(pid) or [""])[0]


def read_stderr_until(proc: subprocess.Popen, text: str, timeout: float = 60) -> str:
    """What the process wrote to its stderr pipe up to `text` (read as it comes, unbuffered)."""
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while text.encode() not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"no {text!r} within {timeout}s; stderr so far:\n{seen.decode(errors='replace')}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 4096)
            assert chunk, f"stderr closed before {text!r} (exit {proc.wait()}):\n{seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode(errors="replace")
