"""A small cobra/pflag-like argument parser for the emulated Go CLIs (talosctl, talhelper, op, mise).

Flags may appear anywhere (before or after positionals), as `--name value`, `--name=value`, `-n value`; booleans
as `--name`, `--name=false`; list flags repeat or take comma-separated values. Errors use cobra's wording.
"""

from __future__ import annotations

from hops.lab.tools.common import ToolExit


class Flag:
    """One flag a command takes (plain classes here: `dataclasses` would cost every tool process ~14 ms)."""

    __slots__ = ("name", "short", "kind", "default")

    def __init__(self, name: str, short: str = "", kind: str = "str", default: object = None) -> None:
        self.name, self.short, self.default = name, short, default
        self.kind = kind           # str | bool | list

    def __repr__(self) -> str:
        return f"Flag({self.name!r}, {self.short!r}, {self.kind!r}, {self.default!r})"


class Parsed:
    """What parse() found: flag values by name, positionals, and everything after a bare `--`."""

    def __init__(self, values: dict[str, object] | None = None, positionals: list[str] | None = None,
                 rest: list[str] | None = None) -> None:
        self.values: dict[str, object] = {} if values is None else values
        self.positionals: list[str] = [] if positionals is None else positionals
        self.rest: list[str] = [] if rest is None else rest

    def get(self, name: str, default: object = None) -> object:
        value = self.values.get(name)
        return default if value is None else value

    def text(self, name: str) -> str | None:
        """A string flag's value; None when it is unset and has no default."""
        value = self.values.get(name)
        return None if value is None else str(value)

    def items(self, name: str) -> list[str]:
        """A list flag's values (given, or its default)."""
        value = self.values.get(name)
        return list(value) if isinstance(value, list) else []


def parse(argv: list[str], flags: list[Flag], tool: str) -> Parsed:
    """Split argv into known flag values and positionals; unknown flags fail like cobra does."""
    by_long = {f.name: f for f in flags}
    by_short = {f.short: f for f in flags if f.short}
    parsed = Parsed(values={f.name: (_default_list(f.default) if f.kind == "list" else f.default) for f in flags})
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            parsed.rest = argv[i + 1:]
            break
        if arg.startswith("--") or (arg.startswith("-") and len(arg) > 1 and not arg[1].isdigit()):
            i = _take_flag(argv, i, by_long, by_short, parsed, tool)
        else:
            parsed.positionals.append(arg)
        i += 1
    return parsed


def _default_list(default: object) -> list[str]:
    """A list flag's starting values: a copy of its default, so repeating the flag never changes the Flag."""
    return [str(v) for v in default] if isinstance(default, list | tuple) else []


def _take_flag(argv: list[str], i: int, by_long: dict, by_short: dict, parsed: Parsed, tool: str) -> int:
    arg = argv[i]
    name, has_value, value = arg.lstrip("-").partition("=")
    flag = by_long.get(name) if arg.startswith("--") else by_short.get(name)
    if flag is None:
        shown = f"--{name}" if arg.startswith("--") else f"-{name}"
        kind = "flag" if arg.startswith("--") else "shorthand flag"
        raise ToolExit(f"Error: unknown {kind}: '{name}' in {shown}" if kind == "shorthand flag"
                       else f"Error: unknown flag: {shown}\nRun '{tool} --help' for usage.", 1)
    if flag.kind == "bool":
        parsed.values[flag.name] = _bool(value, flag.name) if has_value else True
        return i
    if not has_value:
        if i + 1 >= len(argv):
            raise ToolExit(f"Error: flag needs an argument: --{flag.name}", 1)
        i += 1
        value = argv[i]
    if flag.kind == "list":
        current = parsed.values[flag.name]
        assert isinstance(current, list)
        current.extend(v for v in value.split(",") if v)
    else:
        parsed.values[flag.name] = value
    return i


def _bool(value: str, name: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "t"):
        return True
    if lowered in ("false", "0", "f"):
        return False
    raise ToolExit(f'Error: invalid argument "{value}" for "--{name}" flag: strconv.ParseBool: parsing '
                   f'"{value}": invalid syntax', 1)


def table(rows: list[list[str]]) -> str:
    """Columns padded like Go's tabwriter (3 spaces between columns), as talosctl prints them."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = ["   ".join(cell.ljust(widths[c]) for c, cell in enumerate(row)).rstrip() for row in rows]
    return "\n".join(lines) + "\n"
