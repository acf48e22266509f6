"""Soak the failure policy: a full lab bootstrap under each fault scenario, N times, each on a fresh lab copy.

    python benchmarks/soak_faults.py [--runs 2] [--speed 1000] [--delay 0.1] [--max-runs 3] [--only api-errors]

For every scenario and repetition, `doit bootstrap_phased` runs (again, up to --max-runs) until it succeeds.
Prints a table: how many repetitions converged in one run, the runs needed (mean / worst), the retries the run
logs record and the time their back-offs cost (the `retrying ... in <s>` lines of hops.runner and hops.kube), and
the median wall time; a run that exceeds --run-timeout is stopped and counted. --delay sets bootstrap.retry.delay in the copies (the example's 5 s is for hardware; 0
keeps it). Exits non-zero when some repetition did not converge within --max-runs. Not part of the test suite."""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.projects import copy_project, lab_env  # noqa: E402

SCENARIOS: dict[str, str] = {
    "api-errors 10%": "api-errors:0.1",
    "api-timeouts 5%": "api-timeouts:0.05",
    "helm upgrade x1": "fail:helm upgrade:1:transient",
    "flux bootstrap x1": "fail:flux bootstrap:1:transient",
    "talosctl apply-config x1": "fail:talosctl apply-config:1:transient",
    "cilium status x1": "fail:cilium status:1:transient",
    "op read x1": "fail:op read:1:transient",
}
RETRY_LINE = re.compile(r"retrying .* in ([0-9.]+)s\s*$")


@dataclass
class Outcome:
    runs: int = 0
    converged: bool = False
    retries: int = 0
    backoff_s: float = 0.0
    wall_s: float = 0.0
    timed_out: int = 0


@dataclass
class Tally:
    outcomes: list[Outcome] = field(default_factory=list)

    def row(self, name: str) -> list[str]:
        runs = [o.runs for o in self.outcomes if o.converged]
        once = sum(1 for o in self.outcomes if o.converged and o.runs == 1)
        n = len(self.outcomes)
        return [name, f"{once}/{n}", f"{statistics.mean(runs):.1f} / {max(runs)}" if runs else "-",
                f"{statistics.mean(o.retries for o in self.outcomes):.0f}",
                f"{statistics.mean(o.backoff_s for o in self.outcomes):.1f}s",
                f"{statistics.median(o.wall_s for o in self.outcomes):.0f}s",
                f"{n - len(runs)}", f"{sum(o.timed_out for o in self.outcomes)}"]


def soak_once(spec: str, speed: str, delay: float, max_runs: int, run_timeout: float) -> Outcome:
    base = Path(tempfile.mkdtemp(prefix="hops-soak-"))
    project = copy_project(base)
    if delay > 0:
        config = project / "bootstrap-config.yaml"
        config.write_text(re.sub(r"(\n    delay:) [0-9.]+", rf"\g<1> {delay}", config.read_text(), count=1))
    env = {**lab_env(base, speed=speed), "HOPS_LAB_FAULTS": spec}
    outcome = Outcome()
    started = time.monotonic()
    try:
        while outcome.runs < max_runs and not outcome.converged:
            outcome.runs += 1
            try:
                result = subprocess.run([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"),
                                         "bootstrap_phased"], cwd=project, env=env, capture_output=True, text=True,
                                        timeout=run_timeout)
            except subprocess.TimeoutExpired:
                outcome.timed_out += 1  # counted as a run that did not converge
                continue
            outcome.converged = result.returncode == 0
        outcome.wall_s = time.monotonic() - started
        for log in (base / "lab" / "state" / "logs").glob("*.log"):
            for line in log.read_text(errors="replace").splitlines():
                found = RETRY_LINE.search(line)
                if found:
                    outcome.retries += 1
                    outcome.backoff_s += float(found.group(1))
    finally:
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], cwd=project, env=env, capture_output=True,
                       timeout=60)
        shutil.rmtree(base, ignore_errors=True)
    return outcome


def table(rows: list[list[str]]) -> str:
    header = ["scenario", "converged in 1 run", "runs needed (mean / worst)", "retries", "back-off", "wall",
              "not converged", "runs timed out"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) for r in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=2, help="repetitions per scenario (default 2)")
    parser.add_argument("--speed", default="1000", help="HOPS_LAB_SPEED (default 1000)")
    parser.add_argument("--delay", type=float, default=0.1, help="bootstrap.retry.delay in the copies; 0 keeps it")
    parser.add_argument("--max-runs", type=int, default=3, help="bootstrap runs allowed per repetition (default 3)")
    parser.add_argument("--only", default="", help="run only scenarios whose name contains this")
    parser.add_argument("--run-timeout", type=float, default=600, help="seconds one bootstrap run may take")
    args = parser.parse_args()
    rows, missed = [], 0
    for name, spec in SCENARIOS.items():
        if args.only and args.only not in name:
            continue
        tally = Tally([soak_once(spec, args.speed, args.delay, args.max_runs, args.run_timeout)
                       for _ in range(args.runs)])
        missed += sum(1 for o in tally.outcomes if not o.converged)
        rows.append(tally.row(name))
        print(f"{name}: done", file=sys.stderr, flush=True)
    print(table(rows))
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
