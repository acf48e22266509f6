"""The reconcile loop every lab controller builds on.

Store events only wake the controller's own thread (the store calls subscribers outside its lock and they must
never block); the thread then reconciles everything it owns and sleeps until the next timer is due, the next
event, or a change of faults.json. Reconciling the whole (small) lab each time keeps controllers level-based,
like real ones: a missed event never leaves an object stuck.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from hops.lab import clock, faults
from hops.lab.controllers.base import Controller, LabContext

log = logging.getLogger("hops.lab.controllers")

IDLE = 1.0     # seconds between checks for changed files (faults.json, the vault) when nothing else happens


class LoopController(Controller):
    """Subclasses set `kinds` (the kinds whose events wake them) and implement `reconcile() -> seconds|None`."""

    kinds: frozenset[str] = frozenset()

    def __init__(self, lab: LabContext) -> None:
        super().__init__(lab)
        self.store = lab.store
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Any = None
        self._faults: dict = faults.read(lab.layout)
        self._faults_mtime = self._mtime()
        self._since: dict[Any, float] = {}

    # -- lifecycle ------------------------------------------------------------------------------------------
    def start(self) -> None:
        self._unsubscribe = self.store.subscribe(self._on_event, shared=True)  # reads the kind only
        self._thread = threading.Thread(target=self._loop, name=type(self).__name__, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._unsubscribe:
            self._unsubscribe()
        if self._thread:
            self._thread.join(timeout=5)

    def _on_event(self, event_type: str, obj: dict) -> None:
        if not self.kinds or obj.get("kind") in self.kinds:
            self._wake.set()

    def _loop(self) -> None:
        while not (self.lab.stop.is_set() or self._stopped.is_set()):
            self._wake.clear()
            self._refresh_faults()
            try:
                delay = self.reconcile()
            except Exception:                        # a bug must not kill the lab; it shows in daemon.log
                log.exception("%s reconcile failed", type(self).__name__)
                delay = 1.0
            self._wake.wait(timeout=min(IDLE, delay) if delay is not None else IDLE)

    def reconcile(self) -> float | None:
        raise NotImplementedError

    # -- helpers for subclasses -----------------------------------------------------------------------------
    def duration(self, name: str) -> float:
        return clock.duration(name, factor=self.lab.speed)

    def component_delay(self, *names: str | None) -> float | None:
        """Extra wall seconds from a delay fault on any of `names`; None when one of them is blocked."""
        extra = 0.0
        for name in filter(None, names):
            fault = faults.component_fault(self._faults, name)
            if fault.get("block"):
                return None
            extra += float(fault.get("delay", 0.0)) / self.lab.speed
        return extra

    def node_fault(self, node: str) -> str | None:
        return faults.node_fault(self._faults, node)

    def since(self, key: Any) -> float:
        """When `key` was first seen (monotonic); the start of whatever it times."""
        return self._since.setdefault(key, time.monotonic())

    def forget(self, key: Any) -> None:
        self._since.pop(key, None)

    def remaining(self, key: Any, seconds: float) -> float:
        """Seconds left until `seconds` have passed since `key` was first seen (<= 0: done)."""
        return self.since(key) + seconds - time.monotonic()

    def _mtime(self) -> float:
        try:
            return self.lab.layout.faults_file.stat().st_mtime
        except FileNotFoundError:
            return 0.0

    def _refresh_faults(self) -> None:
        mtime = self._mtime()
        if mtime != self._faults_mtime:
            self._faults_mtime = mtime
            self._faults = faults.read(self.lab.layout)


def soonest(current: float | None, candidate: float | None) -> float | None:
    """The earlier of two optional wake-up delays."""
    if candidate is None:
        return current
    candidate = max(candidate, 0.0)
    return candidate if current is None else min(current, candidate)
