"""Pod logs as the kubelet keeps them: lines with the time each was written, read with the `pods/log` options
(tailLines, sinceSeconds/sinceTime, timestamps, limitBytes) and followed as the simulated container writes them.

Writers replace a pod's text (`set`: a text that extends the current one only appends its new part, so the
controllers may rewrite the whole log as it grows) or `append` to it. Every write, and every change of a pod
(`changed`, called by the store), wakes the followers; they re-read from their cursor and end when the pod is
gone, finished, or its log was replaced by a new container's (a different text, not an extension).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

Key = tuple[str, str]           # (namespace, pod name)
_LINE = re.compile(r"[^\n]*\n|[^\n]+")


@dataclass
class _Log:
    lines: list[tuple[float, str]] = field(default_factory=list)   # (unix time written, text with its newline)
    text: str = ""
    epoch: int = 0                                                 # bumped when a new container's log replaces it


@dataclass(frozen=True)
class Cursor:
    """Where a follower is: the log's epoch and how many characters of it were sent."""

    epoch: int
    offset: int


def stamp(at: float) -> str:
    """The kubelet's `timestamps=true` prefix: RFC 3339 with nanoseconds, UTC."""
    whole = int(at)
    nanos = int(round((at - whole) * 1e9)) % 1_000_000_000
    return datetime.fromtimestamp(whole, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{nanos:09d}Z"


class PodLogs:
    """Every pod's log, with one condition its followers wait on."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self._logs: dict[Key, _Log] = {}
        self._version = 0                   # bumped by every write and pod change
        self._following: dict[Key, int] = {}

    # -- writing ------------------------------------------------------------------------------------------
    def set(self, key: Key, text: str, at: float | None = None) -> None:
        """Make the pod's log `text`: appended when it extends the current text, else replacing it."""
        with self._cond:
            log = self._logs.get(key)
            if log is not None and text.startswith(log.text):
                self._extend(log, text[len(log.text):], at)
            else:
                fresh = _Log(epoch=log.epoch + 1 if log is not None else 0)
                self._extend(fresh, text, at)
                self._logs[key] = fresh
            self._bump()

    def append(self, key: Key, text: str, at: float | None = None) -> None:
        """Add what the container wrote just now (or at `at`) to the end of the pod's log."""
        with self._cond:
            self._extend(self._logs.setdefault(key, _Log()), text, at)
            self._bump()

    def drop(self, key: Key) -> None:
        """The pod is gone: forget its log and wake its followers."""
        with self._cond:
            if self._logs.pop(key, None) is not None or key in self._following:
                self._bump()

    def changed(self) -> None:
        """A pod changed (its phase, its containers): followers look again whether theirs stopped."""
        with self._cond:
            if self._following:
                self._bump()

    def _extend(self, log: _Log, text: str, at: float | None) -> None:
        if not text:
            return
        when = self._clock() if at is None else at
        if log.lines and not log.lines[-1][1].endswith("\n"):        # a partial last line goes on
            head, _, _ = text.partition("\n")
            rest = text[len(head) + 1:] if "\n" in text else ""
            log.lines[-1] = (log.lines[-1][0], log.lines[-1][1] + head + ("\n" if "\n" in text else ""))
            text = rest
        log.lines += [(when, line) for line in _LINE.findall(text)]
        log.text = "".join(line for _, line in log.lines)

    def _bump(self) -> None:
        self._version += 1
        self._cond.notify_all()

    # -- reading ------------------------------------------------------------------------------------------
    def text(self, key: Key) -> str | None:
        log = self._logs.get(key)
        return log.text if log is not None else None

    def items(self) -> list[tuple[Key, str, list[float]]]:
        """(key, text, the time of each line) of every log, for snapshots."""
        with self._cond:
            return [(key, log.text, [at for at, _ in log.lines]) for key, log in self._logs.items()]

    def load(self, key: Key, text: str, times: list[float] | None = None) -> None:
        """A log from a snapshot, lines keeping their times where the snapshot has them."""
        with self._cond:
            log = _Log()
            lines = _LINE.findall(text)
            stamps = times if times and len(times) == len(lines) else [self._clock()] * len(lines)
            log.lines = list(zip(stamps, lines, strict=True))
            log.text = text
            self._logs[key] = log

    def read(self, key: Key, tail: int | None = None, since: float | None = None,
             timestamps: bool = False) -> tuple[str, Cursor, int]:
        """(what a request with these options gets now, the cursor after it, the version it saw)."""
        with self._cond:
            log = self._logs.get(key) or _Log()
            lines = [(at, line) for at, line in log.lines if since is None or at >= since]
            if tail is not None:
                lines = lines[len(lines) - tail:] if tail else []
            out = "".join(_render(at, line, timestamps) for at, line in lines)
            return out, Cursor(log.epoch, len(log.text)), self._version

    def read_on(self, key: Key, cursor: Cursor, timestamps: bool = False) -> tuple[str, Cursor, bool]:
        """(what was written after cursor, the new cursor, whether the log was replaced or dropped since)."""
        with self._cond:
            log = self._logs.get(key)
            if log is None or log.epoch != cursor.epoch or len(log.text) < cursor.offset:
                return "", cursor, True
            out, position = [], 0
            for at, line in log.lines:
                end = position + len(line)
                if end > cursor.offset:
                    start = max(cursor.offset - position, 0)
                    out.append(_render(at, line[start:], timestamps and start == 0))
                position = end
            return "".join(out), Cursor(log.epoch, len(log.text)), False

    # -- following ----------------------------------------------------------------------------------------
    def wait(self, version: int, timeout: float) -> int:
        """Block until anything is written or a pod changes after `version` (or timeout); the version now."""
        with self._cond:
            if self._version == version:
                self._cond.wait(timeout)
            return self._version

    def follow(self, key: Key, delta: int) -> None:
        """Count a follower of `key` in (+1) or out (-1)."""
        with self._cond:
            count = self._following.get(key, 0) + delta
            if count > 0:
                self._following[key] = count
            else:
                self._following.pop(key, None)
            self._cond.notify_all()

    def followers(self, key: Key) -> int:
        return self._following.get(key, 0)

    def wait_for_followers(self, key: Key, count: int = 1, timeout: float = 10.0) -> bool:
        """Block until exactly `count` requests follow the pod's log (tests act once a client follows, or
        check that a follower was let go); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._following.get(key, 0) != count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True


def _render(at: float, line: str, timestamps: bool) -> str:
    return f"{stamp(at)} {line}" if timestamps else line
