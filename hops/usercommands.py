"""Runs the commands a user configured (bootstrap-config.yaml `hooks:` and `checks:`, hops.config.custom).

Like hops.runner's tools: an argument list (never a shell unless the user wrote ["sh", "-c", ...]), a timeout,
the run lock's descriptor passed on and the process recorded beside the lock, Ctrl-C/SIGTERM passed on, output
to the run log with every secret redacted. Unlike a tool: it runs in the project root (a relative path such as
./scripts/check.sh means the project's), in a process group of its own so that a timeout also ends what a
`sh -c` started, and it is never retried (a hook may not be safe to repeat).

The command's environment is the tool environment hops uses (PATH with the lab's tools in lab mode, KUBECONFIG,
TALOSCONFIG, the override variables) plus HOPS_HOOK, HOPS_PHASE, HOPS_STEP, HOPS_CLUSTER and, for `after` and
`on_failure` hooks, HOPS_RESULT (`success`/`failure`; HOPS_ERROR has the failure, redacted).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hops import interrupts, secrets
from hops.state import lock

if TYPE_CHECKING:
    from hops.config.custom import Command, When
    from hops.context import Context

TAIL_LINES = 15
TAIL_CHARS = 1500


@dataclass(frozen=True)
class Outcome:
    """How one configured command ended: exit code (124 for a timeout, None when it could not start)."""

    argv: list[str]
    code: int | None
    output: str
    problem: str = ""   # why it could not start, or that it timed out

    @property
    def ok(self) -> bool:
        return self.code == 0

    def describe(self) -> str:
        """"`./check.sh` exited 1: <tail of its output>" (redacted), for failure messages."""
        command = f"`{' '.join(self.argv)}`"
        head = f"{command} {self.problem}" if self.problem else f"{command} exited {self.code}"
        tail = tail_of(self.output)
        return secrets.redact(f"{head}:\n{tail}" if tail else head)


def tail_of(output: str) -> str:
    """The last lines of a command's output, redacted (what a failure message shows)."""
    lines = secrets.redact(output).strip().splitlines()[-TAIL_LINES:]
    return "\n".join(lines)[-TAIL_CHARS:]


def applies(ctx: Context, when: When) -> tuple[bool, str]:
    """Whether a `when` holds now (every entry must), and the first entry that does not."""
    from hops.config.custom import config_value, equal

    for name, expected in when.env.items():
        actual = ctx.env.get(name)
        if actual != expected:
            return False, f"environment {name} is {actual!r}, not {expected!r}"
    for dotted, wanted in when.config.items():
        value = config_value(ctx.config, dotted)
        if not equal(value, wanted):
            return False, f"{dotted} is {value!r}, not {wanted!r}"
    return True, ""


def hook_env(ctx: Context, kind: str, step_id: str, **extra: str) -> dict[str, str]:
    """The environment of a configured command: the tool environment plus the HOPS_* variables."""
    env = dict(ctx.endpoints.tool_env)
    env.update({"HOPS_HOOK": kind, "HOPS_PHASE": step_id.partition(":")[0], "HOPS_STEP": step_id,
                "HOPS_CLUSTER": ctx.config.cluster.name})
    env.update(extra)
    return env


def run(ctx: Context, command: Command, env: dict[str, str], what: str) -> Outcome:
    """Run one configured command to its end (or its timeout); `what` names it in the log."""
    argv = list(command.run)
    ctx.log.write(f"{what}: $ {' '.join(argv)}  (in {ctx.root}, timeout {command.timeout:g}s)")
    started = time.monotonic()
    outcome = _execute(argv, ctx, env, command.timeout)
    took = time.monotonic() - started
    ctx.log.write(f"  {outcome.problem or f'exit {outcome.code}'} after {took:.2f}s")
    if outcome.output:
        ctx.log.write(outcome.output)  # RunLog.write redacts
    return outcome


def _execute(argv: list[str], ctx: Context, env: dict[str, str], limit: float) -> Outcome:
    try:
        proc = subprocess.Popen(argv, cwd=ctx.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace", pass_fds=lock.held_fds(),
                                process_group=0)
    except OSError as exc:
        return Outcome(argv, None, "", _start_problem(argv, exc, ctx))
    records = lock.record_tool(proc.pid, argv, interrupts.current_step())
    interrupts.track(proc)
    try:
        out, _ = proc.communicate(timeout=limit)
        interrupts.raise_if_signalled(proc.returncode)
        return Outcome(argv, proc.returncode, out or "")
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        out, _ = proc.communicate()
        return Outcome(argv, 124, out or "", f"timed out after {limit:g}s (its `timeout`) and was killed")
    except KeyboardInterrupt as exc:
        _stop(proc, int(getattr(exc, "signum", signal.SIGINT)))
        raise
    finally:
        interrupts.untrack(proc)
        lock.forget_tool(records)


def _start_problem(argv: list[str], exc: OSError, ctx: Context) -> str:
    if isinstance(exc, FileNotFoundError):
        where = f"relative to the project root {ctx.root}" if "/" in argv[0] else "on PATH"
        return f"could not start: {argv[0]!r} was not found ({where})"
    if isinstance(exc, PermissionError):
        return f"could not start: {argv[0]!r} is not executable (chmod +x it, or run it as [\"sh\", {argv[0]!r}])"
    return f"could not start: {exc.strerror or exc}"


def _signal_group(proc: subprocess.Popen[Any], signum: int) -> None:
    try:
        os.killpg(proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _stop(proc: subprocess.Popen[Any], signum: int) -> None:
    """Ctrl-C/SIGTERM: its own process group does not get the terminal's signal, so pass it on; then kill."""
    _signal_group(proc, signum)
    try:
        proc.wait(timeout=interrupts.GRACE)
    except subprocess.TimeoutExpired:
        _signal_group(proc, signal.SIGKILL)
        proc.wait()
