"""`doit list --all` against `python -c "import doit"`: median wall time of each, measured in the same run.

The target is a ratio of at most 1.25 (issue 9): doit list loads no configuration and no Kubernetes client, and
after its first run it is answered from the kept task list (hops.task_list_cache) without importing a component."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15
LIMIT = 1.25


def median_seconds(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        subprocess.run(argv, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> int:
    subprocess.run([sys.executable, "-m", "doit", "list", "--all"], cwd=ROOT, check=True,
                   stdout=subprocess.DEVNULL)  # keeps the task list (and writes bytecode) for the measured runs
    baseline = median_seconds([sys.executable, "-c", "import doit"])
    listing = median_seconds([sys.executable, "-m", "doit", "list", "--all"])
    ratio = listing / baseline
    print(f"import doit: {baseline * 1000:.0f} ms  doit list --all: {listing * 1000:.0f} ms  ratio {ratio:.2f} "
          f"(limit {LIMIT})")
    heavy = subprocess.run([sys.executable, "-X", "importtime", "-c", "import dodo"], cwd=ROOT,
                           capture_output=True, text=True).stderr
    leaked = [m for m in ("kubernetes", "pydantic", "rich") if f" {m}" in heavy or f"|{m}" in heavy]
    print("modules imported by dodo.py:", ", ".join(leaked) if leaked else "no kubernetes/pydantic/rich")
    return 0 if ratio <= LIMIT and "kubernetes" not in leaked else 1


if __name__ == "__main__":
    raise SystemExit(main())
