"""What a no-op costs: against the cluster's size, against doit's own floor, and for the commands that need no
cluster at all. Prints each ratio and whether its target is met; exits non-zero when one is missed.

    unshare -n bash -c 'ip link set lo up; python benchmarks/bench_noop.py [--runs 5]'

1. `doit bootstrap_phased` no-op on a converged lab at 50 nodes (3 control planes + 47 workers) and 208
   Kustomizations vs at 3 nodes and the example's Kustomizations: wall time (target ≤ 1.3×) and Kubernetes API
   requests (equal, ± the number of kinds read).
2. The 3-node no-op vs doit's no-op of the same graph (benchmarks/floor_dodo.py): target ≤ 3×.
3. `doit list --all` vs `python -c "import doit"`: target ≤ 1.25×.
4. `doit info networking:deploy-cilium` without a cluster (its live check fails at once) vs `doit list --all`:
   target ≤ 2×.
Not part of the test suite (tests/test_noop_cost.py checks the request counts and imports, not timings)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_bootstrap import add_nodes  # noqa: E402
from tests.projects import copy_project, lab_env  # noqa: E402

EXTRA_APPS = 198  # with the example's own Kustomizations: 208
KINDS_SLACK = 21  # hops.kube.KINDS: a no-op may read one more kind at one size, never one more object
APPS_FOLDER = "infrastructure/bench-apps"


def add_apps(project: Path, count: int) -> None:
    """`count` more apps Kustomizations in the cluster folder's apps.yaml, each applying one ConfigMap (the lab's
    kustomize-controller builds and applies them, so they become Ready like any app)."""
    import yaml

    apps_file = project / "infrastructure/clusters/home-ops/apps.yaml"
    docs = [d for d in yaml.safe_load_all(apps_file.read_text()) if d]
    for n in range(1, count + 1):
        name = f"bench-app-{n:03d}"
        folder = project / APPS_FOLDER / name
        folder.mkdir(parents=True)
        (folder / "configmap.yaml").write_text(yaml.safe_dump(
            {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "default"},
             "data": {"app": name}}))
        docs.append({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": name, "namespace": "flux-system"},
                     "spec": {"interval": "30m", "path": f"./{APPS_FOLDER}/{name}", "prune": True,
                              "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})
    apps_file.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def run(argv: list[str], cwd: Path, env: dict | None = None, expect: str = "") -> float:
    """Wall time of one command; it must succeed, or (`expect`) print that text (`doit info` of a task that is
    not up to date exits 1)."""
    started = time.perf_counter()
    result = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    took = time.perf_counter() - started
    if (expect not in result.stdout) if expect else result.returncode:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return took


def doit(project: Path, env: dict | None, *args: str) -> list[str]:
    return [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args]


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def api_requests(env: dict) -> int:
    info = json.loads((Path(env["HOPS_LAB_DIR"]) / "lab.json").read_text())
    with urllib.request.urlopen(f"{info['control_url']}/status", timeout=10) as reply:
        return int(json.loads(reply.read())["api_requests"])


def noop(base: Path, nodes: int, apps: int, runs: int) -> tuple[float, int]:
    """(median wall time, API requests) of a converged `doit bootstrap_phased`."""
    project, env = copy_project(base), lab_env(base, 1000)
    if nodes > 3:
        add_nodes(project, nodes)
    if apps:
        add_apps(project, apps)
    argv = doit(project, env, "bootstrap_phased")
    try:
        run(argv, project, env)  # the bootstrap itself
        run(argv, project, env)  # warm: caches of the first no-op (settings, bytecode) are in place
        before = api_requests(env)
        took = median(runs, lambda: run(argv, project, env))
        calls = (api_requests(env) - before) // runs
    finally:
        subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=env, cwd=project, capture_output=True)
    print(f"no-op at {nodes} nodes, {apps} extra apps: median {took:.2f} s, {calls} API requests")
    return took, calls


def floor(base: Path, runs: int) -> float:
    env = {**_plain_env(), "FLOOR_DEP_FILE": str(base / "floor.sqlite3")}
    argv = [sys.executable, "-m", "doit", "-f", str(ROOT / "benchmarks/floor_dodo.py"), "bootstrap_phased"]
    run(argv, base, env)
    took = median(runs, lambda: run(argv, base, env))
    print(f"doit's own no-op (benchmarks/floor_dodo.py): median {took:.2f} s")
    return took


def _plain_env() -> dict:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("HOPS_")}


def without_cluster(base: Path, runs: int) -> tuple[float, float, float]:
    """(import doit, doit list --all, doit info networking:deploy-cilium) on a project whose lab never started."""
    project, env = copy_project(base), lab_env(base, 1000)
    importing = median(runs, lambda: run([sys.executable, "-c", "import doit"], project, env))
    listing = median(runs, lambda: run(doit(project, env, "list", "--all"), project, env))
    info = median(runs, lambda: run(doit(project, env, "info", "networking:deploy-cilium"), project, env,
                                    expect="could not run (StepError: no kubeconfig at"))
    print(f"import doit {importing * 1000:.0f} ms, doit list --all {listing * 1000:.0f} ms, "
          f"doit info networking:deploy-cilium {info * 1000:.0f} ms")
    return importing, listing, info


def verdict(label: str, ratio: float, limit: float) -> bool:
    met = ratio <= limit
    print(f"{label}: {ratio:.2f}× (target ≤ {limit:g}×) {'met' if met else 'MISSED'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in ("small", "big", "floor", "bare"):
            (base / name).mkdir()
        small, small_calls = noop(base / "small", 3, 0, args.runs)
        big, big_calls = noop(base / "big", 50, EXTRA_APPS, args.runs)
        floor_s = floor(base / "floor", args.runs)
        importing, listing, info = without_cluster(base / "bare", args.runs)
    ok = verdict("no-op 50 nodes/208 apps vs 3 nodes", big / small, 1.3)
    same = abs(big_calls - small_calls) <= KINDS_SLACK
    print(f"API requests of a no-op: {big_calls} vs {small_calls} ({'equal ± kinds' if same else 'GROWS'})")
    ok &= same
    ok &= verdict("3-node no-op vs doit's floor", small / floor_s, 3.0)
    ok &= verdict("doit list --all vs import doit", listing / importing, 1.25)
    ok &= verdict("doit info (no cluster) vs doit list --all", info / listing, 2.0)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
