"""What a no-op costs: against the cluster's size, against doit's own floor, and for the commands that need no
cluster at all. Prints each ratio and whether its target is met; exits non-zero when one is missed.

    unshare -n bash -c 'ip link set lo up; python benchmarks/bench_noop.py [--runs 7]'

1. `doit bootstrap_phased` no-op on a converged lab at 50 nodes (3 control planes + 47 workers) and 208
   Kustomizations vs at 3 nodes and the example's Kustomizations: wall time (target ≤ 1.3×) and Kubernetes API
   requests (equal, ± the number of kinds read).
2. The 3-node no-op vs doit's no-op of the same graph (benchmarks/floor_dodo.py): target ≤ 3×.
3. `doit list --all` vs `python -c "import doit"`: target ≤ 1.25×.
4. `doit info networking:deploy-cilium` without a cluster (its live check fails at once) vs `doit list --all`:
   target ≤ 2×.
The commands run in rounds (each once per round, medians compared) so that a change of the machine's load
affects every measurement alike. Not part of the test suite: tests/steps/test_noop_requests.py checks that the
request count does not grow, tests/test_noop_cost.py what is imported and the floor's graph; no timings."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_bootstrap import add_nodes, as_users_run  # noqa: E402
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


def doit(project: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), *args]


def api_requests(env: dict) -> int:
    """Requests the lab's API server has answered so far (its status)."""
    info = json.loads((Path(env["HOPS_LAB_DIR"]) / "lab.json").read_text())
    with urllib.request.urlopen(f"{info['control_url']}/status", timeout=10) as reply:
        return int(json.loads(reply.read())["api_requests"])


@dataclass
class Subject:
    """One command measured; for a no-op on a lab (`counted`), also the API requests it made."""

    label: str
    argv: list[str]
    cwd: Path
    env: dict
    expect: str = ""
    counted: bool = False
    times: list[float] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)

    def measure(self) -> None:
        before = api_requests(self.env) if self.counted else 0
        self.times.append(run(self.argv, self.cwd, self.env, self.expect))
        if self.counted:
            self.requests.append(api_requests(self.env) - before)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def converged(base: Path, nodes: int, apps: int) -> tuple[Path, dict]:
    """A project bootstrapped on its own lab (left running) and warmed up by one no-op."""
    project, env = copy_project(base), as_users_run(lab_env(base, 1000))
    if nodes > 3:
        add_nodes(project, nodes)
    if apps:
        add_apps(project, apps)
    for _ in range(2):  # the bootstrap itself, then a warm-up no-op (bytecode, caches)
        run(doit(project, "bootstrap_phased"), project, env)
    return project, env


def plain_env() -> dict:
    return as_users_run({k: v for k, v in os.environ.items() if not k.startswith("HOPS_")})


def subjects(base: Path) -> list[Subject]:
    small, small_env = converged(base / "small", 3, 0)
    big, big_env = converged(base / "big", 50, EXTRA_APPS)
    bare, bare_env = copy_project(base / "bare"), as_users_run(lab_env(base / "bare", 1000))  # no lab started
    floor_env = {**plain_env(), "FLOOR_DEP_FILE": str(base / "floor" / "floor.sqlite3")}
    floor = [sys.executable, "-m", "doit", "-f", str(ROOT / "benchmarks/floor_dodo.py"), "bootstrap_phased"]
    run(floor, base / "floor", floor_env)  # the first run executes every task; the measured ones are no-ops
    run(doit(bare, "list", "--all"), bare, bare_env)  # bytecode of every module the task list imports
    return [Subject("no-op 3 nodes", doit(small, "bootstrap_phased"), small, small_env, counted=True),
            Subject("no-op 50 nodes", doit(big, "bootstrap_phased"), big, big_env, counted=True),
            Subject("floor no-op", floor, base / "floor", floor_env),
            Subject("import doit", [sys.executable, "-c", "import doit"], bare, bare_env),
            Subject("doit list --all", doit(bare, "list", "--all"), bare, bare_env),
            Subject("doit info", doit(bare, "info", "networking:deploy-cilium"), bare, bare_env,
                    expect="could not run (StepError: no kubeconfig at")]


def labs_down(base: Path) -> None:
    for name in ("small", "big"):
        if (base / name / "project").exists():
            subprocess.run([sys.executable, "-m", "hops.lab", "down"], env=lab_env(base / name, 1000),
                           cwd=base / name / "project", capture_output=True)


def verdict(label: str, ratio: float, limit: float) -> bool:
    met = ratio <= limit
    print(f"{label}: {ratio:.2f}× (target ≤ {limit:g}×) {'met' if met else 'MISSED'}")
    return met


def report(measured: dict[str, Subject], runs: int) -> bool:
    for subject in measured.values():
        extra = f", {statistics.median(subject.requests):.0f} API requests" if subject.requests else ""
        print(f"{subject.label}: median {subject.median * 1000:.0f} ms over {runs} runs{extra}")
    m = {label: subject.median for label, subject in measured.items()}
    ok = verdict("no-op 50 nodes/208 Kustomizations vs 3 nodes", m["no-op 50 nodes"] / m["no-op 3 nodes"], 1.3)
    small_calls, big_calls = (max(measured[k].requests) for k in ("no-op 3 nodes", "no-op 50 nodes"))
    same = abs(big_calls - small_calls) <= KINDS_SLACK
    print(f"API requests of a no-op: {big_calls} at 50 nodes vs {small_calls} at 3 "
          f"({'equal ± kinds: met' if same else 'GROWS: MISSED'})")
    ok &= same
    ok &= verdict("3-node no-op vs doit's floor", m["no-op 3 nodes"] / m["floor no-op"], 3.0)
    ok &= verdict("doit list --all vs import doit", m["doit list --all"] / m["import doit"], 1.25)
    return verdict("doit info (no cluster) vs doit list --all", m["doit info"] / m["doit list --all"], 2.0) and ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        for name in ("small", "big", "floor", "bare"):
            (base / name).mkdir()
        try:
            measured = {s.label: s for s in subjects(base)}
            for _ in range(args.runs):  # rounds, each command once per round: a change of load hits all alike
                for subject in measured.values():
                    subject.measure()
        finally:
            labs_down(base)
    return 0 if report(measured, args.runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
