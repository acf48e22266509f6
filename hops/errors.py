"""Errors a step raises to fail with one clear message (shown by doit as the task's failure, no traceback)."""

from __future__ import annotations

from collections.abc import Sequence


class StepError(Exception):
    """A failure the user can act on: says what failed, why, and what to do."""


class ToolMissing(StepError):  # noqa: N818 -- a name steps and tests across the project use
    """A command-line tool is not installed or not on PATH."""


class ToolFailed(StepError):  # noqa: N818 -- a name steps and tests across the project use
    """A command exited non-zero; carries its (redacted) output."""

    def __init__(self, argv: list[str], code: int, stdout: str, stderr: str) -> None:
        self.argv, self.code, self.stdout, self.stderr = argv, code, stdout, stderr
        output = (stderr.strip() or stdout.strip())[-2000:]
        super().__init__(f"`{' '.join(argv)}` exited {code}:\n{output}" if output else f"`{' '.join(argv)}` exited {code}")


class WaitTimeout(StepError):  # noqa: N818 -- a name steps and tests across the project use
    """A deadline passed while waiting for a condition; the message names what was not ready and why."""


def problem_list(title: str, problems: Sequence[str]) -> str:
    """`title:` and one `  - problem` line each: the shape of every multi-problem failure."""
    return f"{title}:\n" + "\n".join(f"  - {p}" for p in problems)


def fail_all(title: str, problems: Sequence[str]) -> None:
    """Fail once naming every problem (a step reports all it found, not only the first); no-op when none."""
    if problems:
        raise StepError(problem_list(title, problems))
