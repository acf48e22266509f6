"""What a simple container command does when the lab "runs" it: how long, with which exit code and output.

Understood: `sleep N` (N seconds, Ns/Nm/Nh, or `infinity`), `echo ...`, `true`, `false`, `exit N`, joined by
`;`, `&&` or newlines, either as the command itself or inside `sh -c` / `bash -c`. Anything else counts as a
command that ends at once with exit code 0 and no output. Each `echo` is written at the simulated second the
statements before it reach (`echo a; sleep 2; echo b`: a at 0 s, b at 2 s), so a followed log grows as it runs.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass, field

SHELLS = ("sh", "bash", "ash", "/bin/sh", "/bin/bash", "/bin/ash", "/usr/bin/env")
UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Run:
    seconds: float          # simulated seconds until the command exits (inf: never)
    exit_code: int
    output: str
    # (simulated second it is written at, text): `output` as it appears over the run, for `kubectl logs -f`
    lines: tuple[tuple[float, str], ...] = field(default=(), compare=False)

    def written_by(self, second: float) -> str:
        """The output written in the first `second` simulated seconds of the run."""
        return "".join(text for at, text in self.lines if at <= second)

    def next_write(self, second: float) -> float | None:
        """The simulated second of the first output after `second` (None: nothing more is written)."""
        return next((at for at, _ in self.lines if at > second), None)


def script(container: dict) -> str | None:
    """The shell text a container runs (command + args), or None when it runs its image's default process."""
    words = [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    if not words:
        return None
    if words[0] in SHELLS and "-c" in words[:3]:
        return " ".join(words[words.index("-c") + 1:])
    return shlex.join(words)


def simulate(text: str) -> Run:
    """Walk the statements of `text` in order, stopping at the first `exit` or failing `&&` chain."""
    seconds, code, output = 0.0, 0, []
    written: list[tuple[float, str]] = []
    for statement, joiner in _statements(text):
        if joiner == "&&" and code != 0:
            continue
        words = _words(statement)
        if not words:
            continue
        head = words[0].rsplit("/", 1)[-1]
        if head == "sleep":
            seconds += sum(_duration(w) for w in words[1:])
            code = 0
        elif head == "echo":
            output.append(" ".join(words[1:]) + "\n")
            written.append((seconds, output[-1]))
            code = 0
        elif head in ("true", ":"):
            code = 0
        elif head == "false":
            code = 1
        elif head == "exit":
            return Run(seconds, int(words[1]) if len(words) > 1 and words[1].isdigit() else code, "".join(output),
                       tuple(written))
        else:
            code = 0
    return Run(seconds, code, "".join(output), tuple(written))


def _statements(text: str) -> list[tuple[str, str]]:
    """(statement, the operator before it) for `a; b && c`."""
    parts = re.split(r"(;|&&|\n)", text)
    out, joiner = [], ";"
    for part in parts:
        if part in (";", "&&", "\n"):
            joiner = part
        else:
            out.append((part.strip(), joiner))
    return out


def _words(statement: str) -> list[str]:
    try:
        return shlex.split(statement)
    except ValueError:
        return statement.split()


def _duration(word: str) -> float:
    if word == "infinity":
        return math.inf
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", word)
    return float(match.group(1)) * UNITS[match.group(2)] if match else 0.0
