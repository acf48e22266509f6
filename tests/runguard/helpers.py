"""A temporary project on guard_dodo.py with fake `mise` and `slowtool` on PATH, and ways to watch a real doit."""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import sys
from pathlib import Path

from tests import forkserver
from tests.projects import write_config

HERE = Path(__file__).resolve().parent

# `mise exec -- CMD ...` as the lab's launcher does it: exec, so the tool keeps every descriptor it was given.
MISE = '#!/bin/sh\n[ "$1" = exec ] && [ "$2" = "--" ] && shift 2 && exec "$@"\necho "fake mise: $*" >&2\nexit 2\n'

# Records start/signal/end with its pid; SLOWTOOL_STARTED (FIFO) tells the test it runs, SLOWTOOL_RELEASE (FIFO)
# blocks it until the test writes a line; SLOWTOOL_STUBBORN=1 ignores SIGINT/SIGTERM (only SIGKILL ends it).
SLOWTOOL = '''#!{python}
import os, signal, sys
record = os.environ["SLOWTOOL_RECORD"]

def note(what):
    with open(record, "a") as out:
        out.write(f"{{what}} {{os.getpid()}}\\n")

def stop(signum, frame):
    note(f"signal-{{signum}}")
    if os.environ.get("SLOWTOOL_STUBBORN") != "1":
        os._exit(128 + signum)

signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
note("start")
if os.environ.get("SLOWTOOL_STARTED"):
    with open(os.environ["SLOWTOOL_STARTED"], "w") as fifo:
        fifo.write("started\\n")
if os.environ.get("SLOWTOOL_RELEASE"):
    while True:
        try:
            with open(os.environ["SLOWTOOL_RELEASE"]) as fifo:
                fifo.readline()
            break
        except InterruptedError:
            continue
note("end")
'''


def make_project(base: Path) -> Path:
    """guard_dodo.py as dodo.py, the loopback configuration, bin/ with the fakes, FIFOs started/release."""
    project = base / "project"
    write_config(project)
    shutil.copy(HERE / "guard_dodo.py", project / "dodo.py")
    bin_dir = project / "bin"
    bin_dir.mkdir()
    for name, text in (("mise", MISE), ("slowtool", SLOWTOOL.format(python=sys.executable))):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    os.mkfifo(project / "started.fifo")
    os.mkfifo(project / "release.fifo")
    return project


def env(project: Path, block: bool = False, **extra: str) -> dict[str, str]:
    """Environment of a doit on the project; block=True makes slowtool signal the test and wait for release."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("HOPS_", "SLOWTOOL_"))}
    out["PATH"] = f"{project / 'bin'}{os.pathsep}{out.get('PATH', '/usr/bin:/bin')}"
    out["SLOWTOOL_RECORD"] = str(project / "tool.log")
    if block:
        out["SLOWTOOL_STARTED"] = str(project / "started.fifo")
        out["SLOWTOOL_RELEASE"] = str(project / "release.fifo")
    out.update(extra)
    return out


def run_doit(project: Path, *args: str, environment: dict[str, str] | None = None,
             input: str | None = None) -> subprocess.CompletedProcess:
    """A doit on the project run to its end with captured text output (forked: tests/forkserver.py); the
    environment defaults to env(project)."""
    return forkserver.run_module("doit", doit_argv(project, *args)[3:], project,
                                 env(project) if environment is None else environment, timeout=60, input=input)


def doit_argv(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args]


def start(project: Path, *args: str, block: bool = True, **kw) -> subprocess.Popen:
    """A doit in its own session (so no signal of the test reaches it by accident), output captured."""
    return subprocess.Popen(doit_argv(project, *args), cwd=project, env=kw.pop("env", None) or env(project, block),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw)


def wait_started(project: Path, alive: callable, timeout: float = 60) -> None:
    """Block until slowtool writes its `started` line (FIFO); fail early if `alive()` says doit is gone."""
    fd = os.open(project / "started.fifo", os.O_RDONLY | os.O_NONBLOCK)
    data = b""
    try:
        while b"\n" not in data:
            ready, _, _ = select.select([fd], [], [], timeout)
            if not ready:
                raise AssertionError(f"slowtool did not start within {timeout}s")
            chunk = os.read(fd, 1024)
            if not chunk and not alive():
                raise AssertionError("doit exited before slowtool started")
            data += chunk
    finally:
        os.close(fd)


def release(project: Path) -> None:
    """Let a blocked slowtool finish (opening the FIFO for writing waits for its reader: a kernel wait)."""
    with open(project / "release.fifo", "w") as fifo:
        fifo.write("go\n")


def tool_log(project: Path) -> list[str]:
    path = project / "tool.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def tool_pids(project: Path) -> list[int]:
    return [int(line.split()[1]) for line in (project / "tool.log").read_text().splitlines()
            if line.startswith("start")]


def runs(project: Path) -> list[str]:
    log = project / "runs.log"
    return log.read_text().split() if log.exists() else []


def read_line_with(stream, needle: str, timeout: float = 60) -> str:
    """Read `stream` (a text pipe) line by line until one contains `needle`; returns everything read."""
    seen = ""
    fd = stream.fileno()
    while needle not in seen:
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            raise AssertionError(f"no {needle!r} within {timeout}s; read so far:\n{seen}")
        line = stream.readline()
        if not line:
            raise AssertionError(f"stream closed before {needle!r}; read:\n{seen}")
        seen += line
    return seen
