"""Runs external command-line tools: argument lists only (never a shell), optional `mise exec --` prefix,
a timeout per call, output logged with every secret redacted, and the one retry policy of every call: a call
declared safe to repeat is retried on a transient failure (hops.failures) with back-off until the step's
deadline; anything else fails at once with the tool's own message."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from hops import deadlines, failures
from hops.errors import ToolFailed, ToolMissing
from hops.runlog import RunLog

INSTALL_HINTS = {
    "talosctl": "https://www.talos.dev/latest/talos-guides/install/talosctl/",
    "talhelper": "https://budimanjojo.github.io/talhelper/latest/installation/",
    "kubectl": "https://kubernetes.io/docs/tasks/tools/",
    "helm": "https://helm.sh/docs/intro/install/",
    "flux": "https://fluxcd.io/flux/installation/#install-the-flux-cli",
    "cilium": "https://github.com/cilium/cilium-cli#installation",
    "op": "https://developer.1password.com/docs/cli/get-started/",
    "mise": "https://mise.jdx.dev/getting-started.html",
}
# The back-off doubles from bootstrap.retry.delay three times, then stays (5 s: 5, 10, 20, 30, 30, ...), never
# above 30 s unless the delay itself is: a call whose every try has a small chance (each of its many API requests
# may fail) needs many tries before the phase deadline, not a few long waits.
MAX_BACKOFF_S = 30.0
BACKOFF_GROWTH = 8


@dataclass(frozen=True)
class Result:
    argv: list[str]
    code: int
    stdout: str
    stderr: str
    duration_s: float


@dataclass
class ToolRunner:
    env: Mapping[str, str]
    log: RunLog
    use_mise: bool = False
    timeout: float = 300.0
    attempts: int = 1
    delay: float = 5.0
    calls: list[Result] = field(default_factory=list)
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    deadline: Callable[[], float | None] = deadlines.current

    def which(self, tool: str) -> str | None:
        return shutil.which(tool, path=self.env.get("PATH"))

    def argv(self, tool: str, args: list[str]) -> list[str]:
        self.require(tool)
        if self.use_mise and tool != "mise":
            self.require("mise")
            return ["mise", "exec", "--", tool, *args]
        return [tool, *args]

    def require(self, tool: str) -> None:
        if self.which(tool) is None:
            hint = INSTALL_HINTS.get(tool)
            via = " (run `mise install` to get the versions pinned in .mise.toml)" if self.use_mise else ""
            raise ToolMissing(f"`{tool}` is not installed or not on PATH: install it{via}"
                              + (f"; see {hint}" if hint else ""))

    def run(self, tool: str, args: list[str], *, input: str | None = None, env: Mapping[str, str] | None = None,
            timeout: float | None = None, check: bool = True, retry: bool = False,
            secret_output: bool = False) -> Result:
        """Run `tool args`. retry=True declares the call safe to repeat (idempotent): a transient failure
        (hops.failures) is then retried with back-off until the step's deadline (hops.deadlines), or for
        `attempts` tries outside a step; a permanent one fails at once. The default never retries.
        secret_output=True keeps stdout out of the log and out of the failure (e.g. `op read`)."""
        def once() -> Result:
            return self._once(tool, args, input, env, timeout, secret_output)

        result = self.retrying(tool, args, once, secret_output=secret_output) if retry else once()
        if check and result.code != 0:
            raise ToolFailed(result.argv, result.code, result.stdout if not secret_output else "", result.stderr)
        return result

    def retrying(self, tool: str, args: list[str], attempt: Callable[[], Result], *,
                 secret_output: bool = False) -> Result:
        """The retry policy around `attempt()` (a call of `tool args` plus whatever must precede each try, e.g.
        freeing a helm release the failed try left pending); returns the last Result, never raises for it."""
        deadline = self.deadline()
        delay = self.delay
        tries = 1
        while True:
            result = attempt()
            if result.code == 0:
                return result
            verdict = failures.classify(tool, args, result.code, "" if secret_output else result.stdout,
                                        result.stderr)
            if not verdict.transient:
                return result
            if not self._may_retry(tries, delay, deadline):
                limit = "the step's deadline is reached" if deadline is not None else "no attempts left"
                self.log.say(f"  giving up on {_command(tool, args)} after {tries} attempt(s) ({limit}); "
                             f"last failure transient: {verdict.reason}")
                return result
            tries += 1
            self.log.say(f"  retrying {_command(tool, args)} (attempt {tries}, transient: {verdict.reason}) "
                         f"in {delay:.3g}s")
            self.sleep(delay)  # a retry back-off: nothing notifies us when the cause has passed
            delay = min(delay * 2, max(self.delay, min(MAX_BACKOFF_S, BACKOFF_GROWTH * self.delay)))

    def _may_retry(self, attempt: int, delay: float, deadline: float | None) -> bool:
        """Inside a step: while the back-off ends before the step's deadline; outside: `attempts` tries."""
        if deadline is not None:
            return self.clock() + delay < deadline
        return attempt < self.attempts

    def _once(self, tool: str, args: list[str], input: str | None, env: Mapping[str, str] | None,
              timeout: float | None, secret_output: bool) -> Result:
        argv = self.argv(tool, args)
        self.log.write(f"$ {' '.join(argv)}")
        started = time.monotonic()
        full_env = {**self.env, **(env or {})}
        code, out, err = _supervised(argv, input, full_env, timeout or self.timeout, self.log)
        result = Result(argv, code, out, err, time.monotonic() - started)
        self.calls.append(result)
        self.log.write(f"  exit {code} after {result.duration_s:.2f}s")
        if out and not secret_output:
            self.log.write(out)
        if err:
            self.log.write(err)
        return result


def _supervised(argv: list[str], input: str | None, env: Mapping[str, str], limit: float,
                log: RunLog) -> tuple[int, str, str]:
    """Run one tool to its end: (exit code, stdout, stderr). It gets the run lock's descriptor, so the lock
    stays held while it lives even if doit dies, and is recorded beside the lock so the next run can name it.
    Ctrl-C/SIGTERM (hops.interrupts) is passed on to it; it gets a grace period, then is killed."""
    from hops import interrupts
    from hops.state import lock

    proc = subprocess.Popen(argv, stdin=subprocess.PIPE if input is not None else None, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(env), pass_fds=lock.held_fds())
    records = lock.record_tool(proc.pid, argv, interrupts.current_step())
    interrupts.track(proc)
    try:
        out, err = proc.communicate(input, timeout=limit)
        interrupts.raise_if_signalled(proc.returncode)  # `-P thread`: the tool ended as the run is interrupted
        return proc.returncode, out, err
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return 124, _text(out), _text(err) + f"\ntimed out after {limit:.0f}s"
    except KeyboardInterrupt as exc:
        interrupts.stop_tool(proc, getattr(exc, "signum", interrupts.signal.SIGINT))
        log.write(f"  interrupted: `{argv[0]}` (pid {proc.pid}) stopped, exit {proc.returncode}")
        raise
    finally:
        interrupts.untrack(proc)
        lock.forget_tool(records)


def _command(tool: str, args: list[str]) -> str:
    """`helm upgrade`, `op item list`: the tool and its leading subcommand words (no flags, no values)."""
    words = []
    for arg in args[:3]:
        if arg.startswith("-"):
            break
        words.append(arg)
    return " ".join([tool, *words[:2]])


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
