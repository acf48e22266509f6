"""Runs external command-line tools: argument lists only (never a shell), optional `mise exec --` prefix,
a timeout per call, retries with backoff, output logged with every secret redacted."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Mapping

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
        """Run `tool args`; with retry=True a failure is retried per configuration, doubling the delay.
        secret_output=True keeps stdout out of the log (e.g. `op read`)."""
        attempts = self.attempts if retry else 1
        delay = self.delay
        for attempt in range(1, attempts + 1):
            result = self._once(tool, args, input, env, timeout, secret_output)
            if result.code == 0 or attempt == attempts:
                break
            self.log.say(f"  retrying `{tool} {' '.join(args[:2])}` in {delay:.0f}s (attempt {attempt + 1}/{attempts})")
            time.sleep(delay)  # a retry back-off, not a wait for a condition
            delay *= 2
        if check and result.code != 0:
            raise ToolFailed(result.argv, result.code, result.stdout if not secret_output else "", result.stderr)
        return result

    def _once(self, tool: str, args: list[str], input: str | None, env: Mapping[str, str] | None,
              timeout: float | None, secret_output: bool) -> Result:
        argv = self.argv(tool, args)
        self.log.write(f"$ {' '.join(argv)}")
        started = time.monotonic()
        full_env = {**self.env, **(env or {})}
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=full_env,
                                  timeout=timeout or self.timeout)
            code, out, err = proc.returncode, proc.stdout, proc.stderr
        except subprocess.TimeoutExpired as exc:
            code, out, err = 124, _text(exc.stdout), _text(exc.stderr) + f"\ntimed out after {timeout or self.timeout:.0f}s"
        result = Result(argv, code, out, err, time.monotonic() - started)
        self.calls.append(result)
        self.log.write(f"  exit {code} after {result.duration_s:.2f}s")
        if out and not secret_output:
            self.log.write(out)
        if err:
            self.log.write(err)
        return result


def _text(data: bytes | str | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
