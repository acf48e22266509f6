"""Stored object versions, change events and watchers.

Every stored version is an `Entry`: the object (never modified once stored) and its JSON encoding, made once and
reused by every GET, list and watch that sends it. A `Watcher` is one open watch: the store hands it matching
events under its lock, the HTTP thread serving the watch takes them out.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable

from hops.lab.apiserver.resources import ResourceType

_dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode

Matcher = Callable[[dict], bool]


class Entry:
    """One stored version of an object. `obj` is shared: read it, never change it."""

    __slots__ = ("obj", "_raw", "_item_raw")

    def __init__(self, obj: dict, raw: bytes | None = None) -> None:
        self.obj = obj
        self._raw = raw
        self._item_raw: bytes | None = None

    @property
    def raw(self) -> bytes:
        raw = self._raw
        if raw is None:
            raw = self._raw = _dumps(self.obj).encode()
        return raw

    @property
    def item_raw(self) -> bytes:
        """The object as an item of a built-in kind's list: a real API server leaves kind and apiVersion out
        there (clients must not depend on them), so the lab does too."""
        raw = self._item_raw
        if raw is None:
            raw = self._item_raw = _dumps({k: v for k, v in self.obj.items()
                                           if k not in ("kind", "apiVersion")}).encode()
        return raw

    def copy(self) -> dict:
        """A private deep copy for a Python caller."""
        return json.loads(self.raw)

    @property
    def labels(self) -> dict:
        return (self.obj.get("metadata") or {}).get("labels") or {}

    @property
    def namespace(self) -> str:
        return (self.obj.get("metadata") or {}).get("namespace") or ""


class Event:
    __slots__ = ("rv", "type", "key", "entry", "old", "at")

    def __init__(self, rv: int, type_: str, key: tuple[str, str], entry: Entry, old: Entry | None,
                 at: float = 0.0) -> None:
        self.rv = rv
        self.type = type_
        self.key = key
        self.entry = entry
        self.old = old
        self.at = at            # when it happened (the store's clock): history older than its window is compacted


class Watcher:
    """One open watch on a resource, optionally narrowed by namespace and selectors."""

    def __init__(self, rt: ResourceType, namespace: str | None, labels: Matcher | None, fields: Matcher | None,
                 max_queue: int = 20000) -> None:
        self.rt = rt
        self.namespace = namespace or None
        self._labels = labels
        self._fields = fields
        self._queue: deque[tuple[str, Entry]] = deque()
        self._cond = threading.Condition(threading.Lock())
        self._max_queue = max_queue
        self.closed = False
        self.overflowed = False

    def selects(self, entry: Entry | None) -> bool:
        if entry is None:
            return False
        if self.namespace is not None and entry.namespace != self.namespace:
            return False
        if self._labels is not None and not self._labels(entry.labels):
            return False
        return self._fields is None or self._fields(entry.obj)

    def translate(self, event: Event) -> str | None:
        """The event type this watcher sees: objects moving into / out of its selection appear ADDED / DELETED."""
        now = self.selects(event.entry)
        if event.type == "DELETED":
            return "DELETED" if now else None
        before = self.selects(event.old) if event.old is not None else False
        if now:
            return "MODIFIED" if before else "ADDED"
        return "DELETED" if before else None

    def offer(self, event: Event) -> None:
        """Called by the store (under its lock) for every change of the watched resource."""
        seen = self.translate(event)
        if seen is None:
            return
        with self._cond:
            if self.closed:
                return
            if len(self._queue) >= self._max_queue:
                self.overflowed = True      # a consumer this slow gets its stream closed; it re-watches
                self.closed = True
                self._queue.clear()
            else:
                self._queue.append((seen, event.entry))
            self._cond.notify()

    def preload(self, items: list[tuple[str, Entry]]) -> None:
        with self._cond:
            self._queue.extend(items)

    def take(self, timeout: float) -> list[tuple[str, Entry]]:
        """Queued events, waiting up to `timeout` seconds for one; [] when none came or the watcher closed."""
        with self._cond:
            if not self._queue and not self.closed:
                self._cond.wait(timeout)
            items = list(self._queue)
            self._queue.clear()
            return items

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()
