"""Configuration problems and the one exception that carries them.

Deliberately free of pydantic and yaml imports: any module may catch ConfigError cheaply.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

BOOTSTRAP_FILE = "bootstrap-config.yaml"
TALCONFIG_FILE = "talconfig.yaml"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration: which file, which dotted field, what was expected."""

    file: str
    field: str
    message: str

    def __str__(self) -> str:
        if self.field:
            return f"{self.file}: {self.field}: {self.message}"
        return f"{self.file}: {self.message}"


class ConfigError(Exception):
    """Raised with every problem found, never just the first."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: list[Problem] = dedupe(problems)
        super().__init__(format_problems(self.problems))

    def __str__(self) -> str:
        return format_problems(self.problems)


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem, in the order they were found."""
    return "\n".join(str(p) for p in problems)


def dedupe(problems: Iterable[Problem]) -> list[Problem]:
    """Drop repeats (the same problem can surface through two checks) but keep order."""
    seen: set[Problem] = set()
    unique: list[Problem] = []
    for problem in problems:
        if problem not in seen:
            seen.add(problem)
            unique.append(problem)
    return unique


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when a candidate is close, else the allowed list; '' when none exist."""
    options = sorted(set(candidates))
    if not options:
        return ""
    import difflib  # only when a name is unknown: most runs never need it

    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (allowed: {', '.join(options)})"


def join_path(parts: Sequence[str | int]) -> str:
    """('network', 'nodes', 1, 'address') -> 'network.nodes[1].address'."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out
