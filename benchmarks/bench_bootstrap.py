"""A full lab bootstrap against the critical path of the lab's simulated durations, and a no-op re-run.

    python benchmarks/bench_bootstrap.py [--speed 10] [--runs 5]

1. `doit -n 4 bootstrap_phased` on a fresh lab at a fixed speed factor; the bound is 1.15 × the critical path
   (hops.lab.clock.critical_path(): the chain of simulated durations no orchestrator can overlap).
2. The no-op re-run on the converged lab: median wall time (target < 1 s) and the number of Kubernetes API
   requests it makes, for 3 and for 6 nodes (must not grow with the node count: list once, check many).
Prints ratios; exits non-zero when a target is missed. Not part of the test suite."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hops.lab import clock  # noqa: E402
from tests.projects import copy_project, lab_env  # noqa: E402

def as_users_run(env: dict) -> dict:
    """Without PYTHONDONTWRITEBYTECODE (set in some shells and CI): every module edited since its .pyc was
    written would be compiled again by every process measured, a cost users do not pay."""
    return {k: v for k, v in env.items() if k != "PYTHONDONTWRITEBYTECODE"}


def make_project(base: Path, nodes: int) -> Path:
    project = copy_project(base)
    if nodes > 3:
        add_nodes(project, nodes)
    return project


def add_nodes(project: Path, count: int) -> None:
    """Grow the example to `count` nodes (workers after the three control-plane nodes) in both files."""
    import yaml

    config = yaml.safe_load((project / "bootstrap-config.yaml").read_text())
    tal = yaml.safe_load((project / "talconfig.yaml").read_text())
    for n in range(4, count + 1):
        name, address = f"talos-worker-{n}", f"172.29.51.{10 + n}"
        config["network"]["nodes"].append({"name": name, "address": address, "role": "worker"})
        tal["nodes"].append({"hostname": name, "ipAddress": address, "controlPlane": False, "installDisk": "/dev/sda",
                             "networkInterfaces": [{"interface": "eth0", "dhcp": True}]})
    (project / "bootstrap-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (project / "talconfig.yaml").write_text(yaml.safe_dump(tal, sort_keys=False))


def doit(project: Path, env: dict, *args: str) -> float:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args], cwd=project,
                            env=env, capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"doit {' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return time.perf_counter() - started


def api_requests(env: dict) -> int:
    info = json.loads((Path(env["HOPS_LAB_DIR"]) / "lab.json").read_text())
    with urllib.request.urlopen(f"{info['control_url']}/status", timeout=10) as reply:
        return int(json.loads(reply.read())["api_requests"])


def lab(env: dict, project: Path, command: str) -> None:
    subprocess.run([sys.executable, "-m", "hops.lab", command], env=env, cwd=project, capture_output=True)


def full_bootstrap(speed: float) -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project, env = make_project(base, 3), as_users_run(lab_env(base, speed))
        try:
            doit(project, env, "lab_up")
            took = doit(project, env, "-n", "4", "bootstrap_phased")
        finally:
            lab(env, project, "down")
    bound = clock.critical_path() / speed
    ratio = took / bound
    print(f"full bootstrap at speed {speed:g}: {took:.1f} s; critical path {bound:.1f} s; ratio {ratio:.2f} "
          f"(limit 1.15)")
    return ratio <= 1.15


def noop_reruns(nodes: int, runs: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project, env = make_project(base, nodes), lab_env(base, 1000)
        try:
            doit(project, env, "bootstrap_phased")
            times, requests = [], []
            for _ in range(runs):
                before = api_requests(env)
                times.append(doit(project, env, "bootstrap_phased"))
                requests.append(api_requests(env) - before)
        finally:
            lab(env, project, "down")
    median, calls = statistics.median(times), statistics.median(requests)
    print(f"no-op re-run, {nodes} nodes: median {median:.2f} s over {runs} runs; {calls:.0f} API requests")
    return median, calls


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ok = full_bootstrap(args.speed)
    small_time, small_calls = noop_reruns(3, args.runs)
    _, big_calls = noop_reruns(6, args.runs)
    print(f"no-op re-run: {small_time:.2f} s (limit 1.0); API requests 6 nodes / 3 nodes = "
          f"{big_calls / max(small_calls, 1):.2f} (must be 1.00)")
    ok &= small_time < 1.0 and big_calls == small_calls
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
