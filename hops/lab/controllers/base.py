"""The tiny interface every lab controller implements, and what the daemon hands it."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from hops.lab.layout import LabLayout


@dataclass
class LabContext:
    """Everything a controller may use. `store` is the API emulation's object store (hops.lab.apiserver.Store);
    `settings` the resolved hops configuration; `nodes` the Talos node simulator (hops.lab.talos_nodes)."""

    layout: LabLayout
    store: Any
    settings: Any
    nodes: Any
    speed: float
    stop: threading.Event = field(default_factory=threading.Event)


class Controller:
    """Subclasses react to store events and timers; they must never block the thread that calls them."""

    def __init__(self, lab: LabContext) -> None:
        self.lab = lab

    def start(self) -> None:
        """Begin watching; called once by the daemon after the store was restored."""

    def stop(self) -> None:
        """Stop threads; called once when the daemon shuts down."""
