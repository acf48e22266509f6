"""Tables that fit the terminal without cutting what users type (step ids, markers, node names).

A rich Table squeezes every column to the terminal's width: at 80 columns a column got zero width and step ids
were cut. Here a report offers layouts from widest to narrowest and the first that fits is printed: the full
table, then aligned lines, then stacked lines (the other columns on an indented line of their own). Nothing is
ever cut: a line longer than a very narrow terminal is left for the terminal to wrap. A pipe or a file gets the
full table at a fixed width (there is no terminal to fit, and scripts read the full layout).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

Cell = tuple[str, str]  # (text, rich style; "" for none)
Layout = Callable[[int], "list[Any]"]  # width -> renderables (a Table, or lines of Text)
PIPE_WIDTH = 200  # a pipe or file: room for the full table


def console() -> Console:
    """The console of stdout; never wraps or cuts a line itself (soft wrap: the terminal wraps)."""
    from rich.console import Console

    return Console(soft_wrap=True)


def terminal_width(out: Console) -> int | None:
    """The terminal's width (COLUMNS wins, as rich reads it), or None when stdout is a pipe or a file."""
    return out.width if out.is_terminal else None


def table_width(table: Any) -> int:
    """The width a rich Table needs to show every cell whole on one line."""
    from rich.console import Console

    return Console(width=10_000).measure(table).maximum


def line(*cells: Cell, gap: str = "  ") -> Text:
    """One line of styled cells joined by `gap`."""
    from rich.text import Text

    text = Text()
    for index, (content, style) in enumerate(cells):
        if index:
            text.append(gap)
        text.append(content, style=style or None)
    return text


def aligned(rows: Sequence[Sequence[Cell]], indent: int = 0, gap: int = 2) -> list[Text]:
    """Rows as lines whose columns line up (every column padded to its widest cell but the last)."""
    widths = [max((len(r[i][0]) for r in rows if i < len(r)), default=0) for i in range(max(map(len, rows),
                                                                                          default=0))]
    lines = []
    for row in rows:
        cells = [(c[0].ljust(widths[i]) if i < len(row) - 1 else c[0], c[1]) for i, c in enumerate(row)]
        text = line(*cells, gap=" " * gap)
        lines.append(_indented(text, indent) if indent else text)
    return lines


def wrapped(pieces: Sequence[Cell], width: int, indent: int, gap: str = "  ") -> list[Text]:
    """Pieces on indented lines of at most `width`, broken between pieces (a piece is never split; one longer
    than the line gets a line of its own)."""
    from rich.text import Text

    lines: list[Text] = []
    current = Text(" " * indent)
    for content, style in pieces:
        fresh = current.plain.strip() == ""
        if not fresh and len(current.plain) + len(gap) + len(content) > width:
            lines.append(current)
            current, fresh = Text(" " * indent), True
        if not fresh:
            current.append(gap)
        current.append(content, style=style or None)
    if current.plain.strip():
        lines.append(current)
    return lines


def words(text: str, width: int, indent: int, style: str = "") -> list[Text]:
    """A sentence on indented lines of at most `width`, broken at spaces only."""
    return wrapped([(w, style) for w in text.split()], width, indent, gap=" ")


def widest(renderables: Sequence[Any]) -> int:
    """The longest line among lines of Text (a Table counts by its measured width)."""
    from rich.text import Text

    return max((len(r.plain) if isinstance(r, Text) else table_width(r) for r in renderables), default=0)


def show(layouts: Sequence[Layout], heading: str = "", out: Console | None = None) -> None:
    """Print the first layout that fits the terminal (the last when none does); a pipe gets the first, at
    PIPE_WIDTH. `heading` is printed above any layout but the first (a table carries its own title) and is not
    measured: it may hold a long path, which the terminal wraps."""
    from rich.console import Console
    from rich.text import Text

    out = out or console()
    width = terminal_width(out)
    if width is None:
        Console(file=out.file, width=PIPE_WIDTH, soft_wrap=True).print(*layouts[0](PIPE_WIDTH))
        return
    chosen = layouts[-1](width)
    for layout in layouts[:-1]:
        candidate = layout(width)
        if widest(candidate) <= width:
            chosen = candidate
            break
    if heading and chosen and not hasattr(chosen[0], "add_row"):
        out.print(*words(heading, width, 0, "italic") or [Text(heading)])
    for renderable in chosen:
        out.print(renderable)


def say(text: str, out: Console | None = None) -> None:
    """Print a sentence, broken at spaces to fit the terminal (as it is into a pipe)."""
    out = out or console()
    width = terminal_width(out)
    if width is None:
        out.file.write(text + "\n")
        return
    for piece in words(text, width, 0):
        out.print(piece)


def _indented(text: Text, indent: int) -> Text:
    from rich.text import Text

    out = Text(" " * indent)
    out.append_text(text)
    return out
