"""A real doit on a pseudo-terminal: wait for what it prints, type answers, collect the rest and the exit code."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
from pathlib import Path


class Terminal:
    """doit as the session leader of a new pty (stdin, stdout and stderr are the terminal)."""

    def __init__(self, project: Path, *args: str, env: dict[str, str] | None = None,
                 dodo: str = "dodo.py") -> None:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}
        full_env.update(env or {})
        argv = [sys.executable, "-m", "doit", "-f", str(project / dodo), *args]
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child
            try:
                os.chdir(project)
                os.execve(sys.executable, argv, full_env)
            finally:
                os._exit(127)
        self.out = b""
        self.seen = 0  # where the next expect() starts looking

    @property
    def text(self) -> str:
        """Everything the terminal showed so far."""
        return self.out.decode(errors="replace")

    def _read(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            os.kill(self.pid, signal.SIGKILL)
            raise AssertionError(f"doit showed nothing for {timeout}s; so far:\n{self.text}")
        try:
            chunk = os.read(self.fd, 4096)
        except OSError:  # EIO: the other side is closed, doit has ended
            chunk = b""
        self.out += chunk
        return bool(chunk)

    def expect(self, text: str, timeout: float = 60) -> str:
        """Wait until `text` appears after the previous match; the output in between."""
        needle = text.encode()
        while needle not in self.out[self.seen:]:
            if not self._read(timeout):
                raise AssertionError(f"doit ended before showing {text!r}:\n{self.text}")
        start = self.seen
        self.seen = self.out.index(needle, self.seen) + len(needle)
        return self.out[start:self.seen].decode(errors="replace")

    def answer(self, prompt: str, reply: str) -> str:
        """Wait for `prompt`, then type `reply` and Enter; the output up to the prompt."""
        shown = self.expect(prompt)
        os.write(self.fd, reply.encode() + b"\r")
        return shown

    def finish(self, timeout: float = 60) -> tuple[str, int]:
        """The rest of the output and doit's exit code, once it has ended."""
        while self._read(timeout):
            pass
        os.close(self.fd)
        _, status = os.waitpid(self.pid, 0)
        return self.out[self.seen:].decode(errors="replace"), os.waitstatus_to_exitcode(status)
