"""How `bootstrap_status` lays out its rows (hops.controls.status_rows) on any terminal width.

Widest first (hops.fitting picks the first that fits): the full table; one line per step under a heading per
phase, with a short completion time; two lines per step (marker and time on an indented line). With --live, a
check that does not hold gets its reason on an indented line of its own under the step. Step ids and markers
are never cut: they are what users type (`doit forget networking:wait`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hops import fitting

Row = dict[str, Any]
INDENT = 6  # where a step's second line starts (under the step id)


def show(title: str, rows: Sequence[Row], titles: dict[int, str], live: bool) -> None:
    """Print the rows in the widest layout that fits; `titles`: phase number -> group name."""
    fitting.show([
        lambda width: [table(title, rows, live)],
        lambda width: lines(rows, titles, live, width, stacked=False),
        lambda width: lines(rows, titles, live, width, stacked=True),
    ], heading=title)


def table(title: str, rows: Sequence[Row], live: bool) -> Any:
    """The full table: every column on one line per step (pipes and wide terminals)."""
    from rich.table import Table

    grid = Table(title=title)
    for column in ("phase", "step", "marker", "completed", "took"):
        grid.add_column(column, no_wrap=True)
    if live:
        grid.add_column("live", no_wrap=False, ratio=1)  # the one column that wraps (in a pipe, at 200)
    for row in rows:
        symbol, style = mark(row)
        cells = [str(row["phase"]), row["step"], f"[{style}]{symbol}[/] {row['marker']}", row["completed_at"],
                 row["duration"]]
        if live:
            cells.append(f"[{live_style(row)}]{row['live']}[/]" if live_style(row) else row["live"])
        grid.add_row(*cells)
    return grid


def lines(rows: Sequence[Row], titles: dict[int, str], live: bool, width: int, stacked: bool) -> list[Any]:
    """Steps under a heading per phase: one aligned line each, or (stacked) the marker and time on a second,
    indented line; a failing live check's reason follows on its own indented line."""
    from rich.text import Text

    out: list[Any] = []
    for phase in dict.fromkeys(r["phase"] for r in rows):
        members = [r for r in rows if r["phase"] == phase]
        out.append(Text(f"phase {phase}: {titles.get(phase, '')}", style="bold"))
        firsts = fitting.aligned([_first(r, live, stacked) for r in members], indent=2)
        for row, first in zip(members, firsts, strict=True):
            out.append(first)
            if stacked:
                out += fitting.wrapped([(row["marker"], "")] + ([(short_time(row), "dim")] if row["done"] else []),
                                       width, INDENT)
            if live and row["live"] and row["live"] != "ok":
                out += fitting.words(row["live"], width, INDENT, live_style(row))
    return out


def _first(row: Row, live: bool, stacked: bool) -> list[fitting.Cell]:
    cells = [mark(row), (row["step"], "")]
    if not stacked:
        cells += [(row["marker"], ""), (short_time(row), "dim")]
    cells.append((row["duration"], "dim"))
    if live and row["live"]:
        cells.append(("ok", "green") if row["live"] == "ok" else (row["live"].split(":")[0], live_style(row)))
    return cells


def mark(row: Row) -> fitting.Cell:
    """✔ for a step with its marker, · for one without."""
    return ("✔", "green") if row["done"] else ("·", "dim")


def live_style(row: Row) -> str:
    """Red for drift (a finished step whose effect no longer holds)."""
    return "red" if row["live"].startswith("DRIFT") else ""


def short_time(row: Row) -> str:
    """`2026-12-02T06:00:41+00:00` -> `12-02 06:00` (the full form is in the marker file and the pipe layout)."""
    stamp = str(row["completed_at"])
    return f"{stamp[5:10]} {stamp[11:16]}" if len(stamp) >= 16 and stamp[10] == "T" else stamp
