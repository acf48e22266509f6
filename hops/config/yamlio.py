"""Reading YAML into plain data, with syntax errors and duplicate keys reported as Problems (line, column)."""

from __future__ import annotations

from typing import Any

import yaml

from hops.config import characters
from hops.config.errors import Problem


class _Strict:
    """Records duplicate mapping keys (PyYAML silently keeps the last one) and scalars holding characters YAML
    refuses in a file; mixed into a safe loader (the pure-Python one or libyaml's)."""

    duplicates: list[tuple[str, int, int]]
    escaped: list[tuple[str, int, int]]   # (message, line, column) of scalars with control chars

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self.duplicates = []
        self.escaped = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)  # type: ignore[attr-defined]
            if isinstance(key, (str, int, float, bool)) and key in seen:
                mark = key_node.start_mark
                self.duplicates.append((str(key), mark.line + 1, mark.column + 1))
            elif isinstance(key, (str, int, float, bool)):
                seen.add(key)
        return super().construct_mapping(node, deep=deep)  # type: ignore[misc,no-any-return]

    def construct_scalar(self, node: yaml.ScalarNode | yaml.MappingNode) -> Any:
        """The file was checked for raw control characters, so any here came from an escape such as "\\0"."""
        value = super().construct_scalar(node)  # type: ignore[misc]
        offender = characters.first_not_in_yaml(value) if isinstance(value, str) else None
        if offender:
            index, char = offender
            mark = node.start_mark
            self.escaped.append((f"the value holds {characters.describe(char)} at character index {index} (written "
                                 "as an escape sequence like \\0 or \\x01); it is not allowed, remove it",
                                 mark.line + 1, mark.column + 1))
        return value


class _StrictLoader(_Strict, yaml.SafeLoader):
    """The pure-Python safe loader, strict: its error messages are the ones reported."""


# libyaml's parser with the same (Python) constructor: the same data, duplicates and marks, ≈10× faster on a large
# configuration (50 nodes); a file it refuses is parsed again by the pure loader, whose messages are the ones users
# and tests know. Without libyaml both are the pure loader.
_FastStrictLoader: type = type("_FastStrictLoader", (_Strict, yaml.CSafeLoader), {}) \
    if getattr(yaml, "__with_libyaml__", False) else _StrictLoader


def where(line: int, column: int) -> str:
    """A Problem's position (1-based, as editors count)."""
    return f"line {line}, column {column}"


def parse_yaml(text: str, file: str) -> tuple[Any, list[Problem]]:
    """(data, problems). On a syntax error or a character YAML refuses data is None and the problems give line and
    column."""
    refused = characters.file_problems(text, file)
    if refused:   # PyYAML would raise a ReaderError naming neither the file nor a line
        return None, refused
    fast = _FastStrictLoader(text)
    try:
        data = fast.get_single_data()
        loader = fast
    except yaml.YAMLError:
        loader = None
    finally:
        fast.dispose()
    if loader is None:
        return _refused(text, file)
    return _outcome(loader, data, file)


def _refused(text: str, file: str) -> tuple[Any, list[Problem]]:
    """Parse again with the pure-Python loader for its messages (line and column of the syntax error)."""
    loader = _StrictLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        position = where(mark.line + 1, mark.column + 1) if mark else ""
        detail = " ".join(p for p in (exc.context, exc.problem) if p)
        return None, [Problem(file, position, f"YAML syntax error: {detail}")]
    except yaml.YAMLError as exc:
        return None, [Problem(file, "", f"YAML error: {exc}")]
    finally:
        loader.dispose()
    return _outcome(loader, data, file)


def _outcome(loader: _Strict, data: Any, file: str) -> tuple[Any, list[Problem]]:
    problems = [Problem(file, where(line, col), f"duplicate key {key!r} (the earlier value would be ignored)")
                for key, line, col in loader.duplicates]
    problems += [Problem(file, where(line, col), message) for message, line, col in loader.escaped]
    return (None if loader.escaped else data), problems
