"""The cyclic garbage collector paused while hops imports and builds what lives as long as the process.

Loading the task graph (hops's modules, the configuration, the tasks) and importing the Kubernetes client
allocate many objects that stay alive until the process ends, and almost no reference cycles. Run during that
work, the collector traverses those objects again and again and frees nothing: 40-70 ms of a ~350 ms no-op
(benchmarks/bench_noop.py). Afterwards they are frozen (gc.freeze: later collections skip them, and `doit -n`
workers forked from this process do not copy their pages by touching them), and the collector runs as usual
for everything else, however long the process lives."""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection inside; what was allocated inside is frozen at the end, then collection resumes."""
    if not gc.isenabled():  # nested, or turned off by someone else: leave it as it is
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()


@contextmanager
def importing(module: str) -> Iterator[None]:
    """paused() around the first import of `module` in this process; nothing once it is imported (a process
    that builds many clients, a test session, freezes only what the import made)."""
    if module in sys.modules:
        yield
        return
    with paused():
        yield
