"""Characters configuration may not hold: control characters, non-printables and bytes that are not UTF-8.

YAML (and so PyYAML and talhelper's Go parser) refuses these in a file; PyYAML does it with a ReaderError that
names neither the file nor a line. Here they become Problems with the file and line/column, or the override
variable, where it came from and the character index, before any YAML is parsed.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterator

from hops.config.errors import Problem

# What the YAML 1.1 reader accepts in a stream (PyYAML's Reader.NON_PRINTABLE, inverted): tab, line breaks,
# printable ASCII, NEL, and the printable planes. A BOM (U+FEFF) is inside the accepted range.
_NOT_IN_YAML = "[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]"
# A single value (an override variable, a substituted ${VAR}) may not even hold tab or line breaks: substituted
# into talconfig.yaml a line break would add YAML lines, and no configured name, address or URL contains one.
_NOT_IN_VALUE = "[\x00-\x1F\x7F-\x9F\u2028\u2029]|" + _NOT_IN_YAML
# Python decodes undecodable bytes of the environment and command line to these (surrogateescape).
_ESCAPED_BYTES = range(0xDC80, 0xDD00)
MAX_REPORTED = 5  # a binary file pasted by mistake would otherwise give thousands of lines


@functools.cache
def _pattern(source: str) -> re.Pattern[str]:
    """Compiled on first use (the full-Unicode classes cost ~10 ms: too much for `doit list`)."""
    return re.compile(source)


def describe(char: str) -> str:
    """'control character U+0001', 'invalid UTF-8 byte 0xFF', 'non-printable character U+FFFE'."""
    code = ord(char)
    if code in _ESCAPED_BYTES:
        return f"invalid UTF-8 byte 0x{code - 0xDC00:02X}"
    if unicodedata.category(char) == "Cc":
        return f"control character U+{code:04X}"
    return f"non-printable character U+{code:04X}"


def position(text: str, index: int) -> str:
    """'line L, column C' (1-based) of a character index in text."""
    line = text.count("\n", 0, index) + 1
    column = index - (text.rfind("\n", 0, index) + 1) + 1
    return f"line {line}, column {column}"


def file_problems(text: str, file: str) -> list[Problem]:
    """Every character YAML refuses in `text` (the content of `file`), with its line and column."""
    found = [(match.start(), match.group()) for match in _pattern(_NOT_IN_YAML).finditer(text)]
    problems = [Problem(file, position(text, index), f"{describe(char)} is not allowed in a YAML file; "
                        f"remove it{_utf8_hint(char)}") for index, char in found[:MAX_REPORTED]]
    return problems + _more(file, len(found))


def first_not_in_yaml(value: str) -> tuple[int, str] | None:
    """(character index, character) of the first character a YAML file could not hold raw, or None."""
    match = _pattern(_NOT_IN_YAML).search(value)
    return (match.start(), match.group()) if match else None


def value_offenders(value: str) -> Iterator[tuple[int, str]]:
    """(character index, character) of everything a single configuration value may not hold."""
    for match in _pattern(_NOT_IN_VALUE).finditer(value):
        yield match.start(), match.group()


def value_message(value: str, offset: int = 0) -> str | None:
    """'control character U+0001 at character index 1 (counting from 0) is not allowed', or None when clean.
    `offset`: where `value` starts in what the user typed (leading spaces that were stripped)."""
    offenders = list(value_offenders(value))
    if not offenders:
        return None
    parts = [f"{describe(char)} at character index {index + offset}" for index, char in offenders[:MAX_REPORTED]]
    more = f" and {len(offenders) - MAX_REPORTED} more" if len(offenders) > MAX_REPORTED else ""
    return f"{', '.join(parts)}{more} (counting from 0) {'is' if len(offenders) == 1 else 'are'} not allowed"


VALUE_ADVICE = "retype it as plain UTF-8 text without control characters"


def decode(data: bytes, file: str) -> tuple[str | None, list[Problem]]:
    """The UTF-8 text of a file, or None and a problem (line, column) for each byte that is not UTF-8 (and each
    control character, so one run shows everything wrong)."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [Problem(file, "line 1, column 1", "the file is UTF-16 (it starts with a UTF-16 byte order "
                              "mark); save it as UTF-8")]
    try:
        return data.decode("utf-8"), []
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")  # each bad byte becomes one U+DCxx character
        return None, file_problems(text, file)


def _utf8_hint(char: str) -> str:
    if ord(char) in _ESCAPED_BYTES:
        return " (the file must be UTF-8 text: re-save it as UTF-8 or retype the characters around there)"
    return ""


def _more(file: str, count: int) -> list[Problem]:
    if count <= MAX_REPORTED:
        return []
    return [Problem(file, "", f"{count - MAX_REPORTED} more characters like these are not allowed")]
