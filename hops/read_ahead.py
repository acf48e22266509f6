"""Slow read-only queries a live check will make, started early in a thread so that they overlap the checks before
it. A no-op re-run evaluates some forty checks one after another; the one tool call among them (`talosctl etcd
members`, kept for the reason given in hops.components.talos.etcd_problem) was a fifth of its time.

A check declares its query (taskmodel.Check.read_ahead). In a `doit run`, before the first live check, the query
of every check whose step is marked done is started: on such a re-run that check will be asked. Its answer is
used once, by that check, and only if no step acted since the query started (an action may have changed what it
read: the rule of the shared Kubernetes lists, hops.kube); otherwise the check asks again. A process forked by
`doit -n` asks afresh. The process waits for a query it started before it exits, so no tool outlives it.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hops.context import Context

_declared: list[tuple[Path, Callable[[Context], None]]] = []  # (the step's marker, the check's read_ahead)
_begun = False


def declare(entries: list[tuple[Path, Callable[[Context], None]]]) -> None:
    """hops.tasks.load, for a `doit run`: the read-ahead queries of the loaded checks with their steps' markers."""
    global _begun
    _declared[:] = entries
    _begun = False


def begin(ctx: Context) -> None:
    """Before the first live check of this process: start the declared queries of steps marked done."""
    global _begun
    if _begun:
        return
    _begun = True
    for marker, start in _declared:
        if marker.exists():
            start(ctx)


class _Query:
    def __init__(self, fn: Callable[[], Any]) -> None:
        self.value: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), name="hops-read-ahead", daemon=True)

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.value = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the check that asks, as its own call would raise
            self.error = exc

    def result(self) -> Any:
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.value


class ReadAhead:
    """This process's queries read ahead (one per Context)."""

    def __init__(self) -> None:
        self._queries: dict[Hashable, _Query] = {}
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def start(self, key: Hashable, fn: Callable[[], Any]) -> None:
        """Run fn() in the background; `answer(key, ...)` takes its result. The caller builds what fn uses
        (runner, endpoints) first, in its own thread."""
        with self._lock:
            if key in self._queries:
                return
            query = self._queries[key] = _Query(fn)
        query.thread.start()
        atexit.register(query.thread.join)

    def answer(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        """The result of the query started for `key` if it is still valid, else fn() now."""
        with self._lock:
            query = self._queries.pop(key, None) if self._pid == os.getpid() else None
        return query.result() if query is not None else fn()

    def invalidate(self) -> None:
        """A step acted: what was read ahead may be out of date (a started query still finishes, unused)."""
        with self._lock:
            self._queries.clear()
