"""How long `lifecycle.up` takes from nothing to a ready lab (lab.json written, readiness line received).

    .venv/bin/python benchmarks/bench_lab_start.py      # exits 1 when a start takes more than 1 s
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hops.lab import lifecycle  # noqa: E402
from hops.lab.layout import LabLayout  # noqa: E402
from tests.projects import copy_project  # noqa: E402

LIMIT_S = 1.0
RUNS = 3


def one_start(work: Path) -> float:
    project = copy_project(work)
    layout = LabLayout(work / "lab")
    started = time.perf_counter()
    lifecycle.up(layout, project)
    elapsed = time.perf_counter() - started
    lifecycle.down(layout)
    return elapsed


def main() -> int:
    os.environ.setdefault("HOPS_LAB_SPEED", "1000")
    times = []
    for _ in range(RUNS):
        with tempfile.TemporaryDirectory() as tmp:
            times.append(one_start(Path(tmp)))
    worst = max(times)
    print("lab start: " + ", ".join(f"{t:.3f}s" for t in times) + f" (worst {worst:.3f}s, limit {LIMIT_S:.1f}s)")
    return 0 if worst <= LIMIT_S else 1


if __name__ == "__main__":
    sys.exit(main())
