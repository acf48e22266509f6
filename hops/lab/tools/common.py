"""What every emulated tool shares: finding the lab, injected failures, and the call log."""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from hops.lab import faults, tool_failures
from hops.lab.layout import LabLayout

TOOLS = ("talosctl", "talhelper", "helm", "flux", "cilium", "op", "mise")


def launcher_script(body: str, note: str = "") -> str:
    """The text of an executable in <lab>/bin that runs `body` with this interpreter. It starts without `site`
    (-S) and with this process's import path written in: `site` and the .pth files of an editable install cost
    ~30 ms a call, and a real tool is a Go binary that starts in a few milliseconds. The environment's
    sitecustomize still runs, as `site` would run it (the tests' network guard is one)."""
    import hops

    own = str(Path(hops.__file__).resolve().parent.parent)
    path = [own] + [p for p in sys.path[1:] if p and os.path.isabs(p) and os.path.isdir(p) and p != own]
    return (f"#!{sys.executable} -S\n{note}import sys\nsys.path[1:1] = {path!r}\n"
            "try:\n    import sitecustomize  # noqa: F401\nexcept ImportError:\n    pass\n" + body)


class ToolExit(Exception):  # noqa: N818 - an exit with a code, like SystemExit, not an error
    """Raised by a tool handler to end with `code` after printing `message` to stderr (the real tool's text)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def layout() -> LabLayout:
    return LabLayout.from_env()


def lab_info(required: bool = True) -> dict | None:
    """lab.json of the running lab; a tool that needs the lab and finds none fails like an unreachable server."""
    info = layout().read_info()
    if info is None and required:
        raise ToolExit("error: the hops lab is not running (start it with `doit lab_up`)", 1)
    return info


def run_tool(name: str, handler: Callable[[list[str]], int | None], argv: list[str] | None = None) -> int:
    """Run `handler(argv)` as tool `name`: apply an injected failure first, record the call, map ToolExit."""
    started = process_started()  # with `ts` (its end) the log shows which calls overlapped
    args = list(sys.argv[1:] if argv is None else argv)
    where = layout()
    code = 0
    try:
        fault = faults.take_tool_failure(where, name, args)
        if fault is not None:
            raise ToolExit(tool_failures.message(name, fault.subcommand, fault.severity, args), 1)
        code = handler(args) or 0
    except ToolExit as exc:
        print(exc.message, file=sys.stderr)
        code = exc.code
    except BrokenPipeError:
        code = 0
    except Exception as exc:  # an API failure the handler did not word itself: Go tools print `Error: <message>`
        from hops.lab.tools.kubeapi import KubeError  # only now: most tool calls never need the API client

        if not isinstance(exc, KubeError):
            raise
        print(f"Error: {exc.message}", file=sys.stderr)
        code = 1
    finally:
        _record(where, name, args, code, started)
    return code


def process_started() -> float:
    """Wall-clock time this process began (before the interpreter started, and before `mise exec` replaced
    itself with this tool: same process), from /proc; now where /proc is not there."""
    try:
        fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        since_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of stat(5): starttime
        return time.time() - (time.clock_gettime(time.CLOCK_BOOTTIME) - since_boot)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.time()


def _record(where: LabLayout, name: str, args: list[str], code: int, started: float | None = None) -> None:
    """Append the call to calls.jsonl (argv only: hops never puts secrets on a command line): `started` (the
    end when not given) and `ts` (its end) are wall-clock times."""
    try:
        where.root.mkdir(parents=True, exist_ok=True)
        ended = time.time()
        line = json.dumps({"started": ended if started is None else started, "ts": ended, "tool": name,
                           "argv": args, "exit": code, "pid": os.getpid()})
        with open(where.calls_file, "a") as log:
            log.write(line + "\n")
    except OSError:
        pass


def read_calls(where: LabLayout, tool: str | None = None) -> list[dict]:
    """Recorded calls, optionally of one tool (tests count e.g. `talosctl bootstrap` with this)."""
    try:
        lines = where.calls_file.read_text().splitlines()
    except FileNotFoundError:
        return []
    calls = [json.loads(line) for line in lines if line.strip()]
    return [c for c in calls if tool is None or c["tool"] == tool]
