"""Scale: a fresh lab bootstrap with the default command against the critical path, and a big cluster (50 nodes,
200 extra applications) against the example's 3 nodes at the same speed — from one run, ratios side by side.

    python benchmarks/bench_parallel.py [--speed 10] [--nodes 50] [--apps 200] [-- <extra doit options>]

1. `doit bootstrap_phased` (the default command: no -n) on a fresh 3-node lab; bound 1.08 × the critical path
   (hops.lab.clock.critical_path(): the chain of simulated durations no orchestrator can overlap).
2. The same on a fresh lab of `--nodes` nodes with `--apps` more HelmReleases (copies of podinfo, each in its
   own namespace, under infrastructure/apps); bound 1.3 × the 3-node run beyond the lab's own simulated
   durations. Those grow with the apps only: helm-controller installs four releases at a time
   (hops.lab.clock.release_queue), so that queue's simulated time is taken off the big run; whatever else grows
   is hops's own cost.
Extra doit options after `--` (e.g. `-- -n 4`) go to both runs. Prints ratios; exits non-zero when a target is
missed. Not part of the test suite."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_bootstrap import as_users_run, doit, lab, make_project  # noqa: E402

from hops.lab import clock  # noqa: E402
from tests.projects import lab_env  # noqa: E402

APP = {
    "namespace.yaml": "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n",
    "helmrelease.yaml": """apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
  namespace: {name}
spec:
  interval: 30m
  releaseName: {name}
  chart:
    spec:
      chart: podinfo
      version: 6.7.1
      sourceRef:
        kind: HelmRepository
        name: podinfo
        namespace: flux-system
      interval: 12h
  values:
    replicaCount: 1
""",
    "kustomization.yaml": "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {name}\n"
                          "resources:\n  - namespace.yaml\n  - helmrelease.yaml\n",
}


def add_apps(project: Path, count: int) -> None:
    """`count` more applications: infrastructure/apps/app-<n>/ (a namespace and a podinfo HelmRelease each)."""
    import yaml

    apps = project / "infrastructure" / "apps"
    index = yaml.safe_load((apps / "kustomization.yaml").read_text())
    for n in range(1, count + 1):
        name = f"app-{n:03d}"
        (apps / name).mkdir()
        for file, text in APP.items():
            (apps / name / file).write_text(text.format(name=name))
        index["resources"].append(name)
    (apps / "kustomization.yaml").write_text(yaml.safe_dump(index, sort_keys=False))


def fresh_bootstrap(speed: float, nodes: int, apps: int, extra: list[str]) -> float:
    """Wall seconds of `doit [extra] bootstrap_phased` on a fresh lab of `nodes` nodes and `apps` more apps."""
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        project, env = make_project(base, nodes), as_users_run(lab_env(base, speed))
        if apps:
            add_apps(project, apps)
        try:
            doit(project, env, "lab_up")
            return doit(project, env, *extra, "bootstrap_phased")
        finally:
            lab(env, project, "down")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--nodes", type=int, default=50)
    parser.add_argument("--apps", type=int, default=200)
    parser.add_argument("extra", nargs="*", help="doit options for both runs (after --)")
    args = parser.parse_args()
    bound = clock.critical_path() / args.speed
    queue = clock.release_queue(args.apps + 1, factor=args.speed)  # with the example's own podinfo release
    small = fresh_bootstrap(args.speed, 3, 0, args.extra)
    big = fresh_bootstrap(args.speed, args.nodes, args.apps, args.extra)
    command = " ".join(["doit", *args.extra, "bootstrap_phased"])
    print(f"`{command}` at speed {args.speed:g}; critical path {bound:.1f} s")
    print(f"  3 nodes:                       {small:6.1f} s   {small / bound:.2f} x critical path (limit 1.08)")
    print(f"  {args.nodes} nodes + {args.apps} apps:          {big:6.1f} s   {big / (bound + queue):.2f} x its critical "
          f"path ({queue:.1f} s more: {args.apps + 1} releases, four at a time); beyond that "
          f"{(big - queue) / small:.2f} x the 3-node run (limit 1.30)")
    return 0 if small / bound <= 1.08 and (big - queue) / small <= 1.30 else 1


if __name__ == "__main__":
    raise SystemExit(main())
