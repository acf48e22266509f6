"""doit's own floor for a no-op of hops's bootstrap graph: the same phases, steps and dependencies as
`doit bootstrap_phased`, each step with a trivial action, `run_once` plus one trivial check, sqlite backend.

    doit -f benchmarks/floor_dodo.py bootstrap_phased    (twice: the second run is the no-op measured)

benchmarks/bench_noop.py compares hops's no-op against this one; tests/test_noop_cost.py keeps GRAPH equal to
hops's real task graph."""

from __future__ import annotations

import os
from collections.abc import Iterator

from doit.tools import run_once

# phase group -> (step, the steps it depends on); a group's first steps depend on the previous group's complete.
GRAPH: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "validation": [("tools", ()), ("mise", ()), ("env-vars", ()), ("onepassword", ()), ("connectivity", ()),
                   ("repository", ())],
    "talos": [("bootstrap-secrets", ()), ("generate-config", ("bootstrap-secrets",)),
              ("validate-configs", ("generate-config",)), ("apply-configs", ("validate-configs",)),
              ("wait-nodes-ready", ("apply-configs",)), ("bootstrap-etcd", ("wait-nodes-ready",)),
              ("cluster-ready", ("bootstrap-etcd",)), ("health", ("cluster-ready",))],
    "networking": [("deploy-cilium", ()), ("wait", ("deploy-cilium",)), ("cilium-status", ("wait",)),
                   ("kube-proxy", ("wait",)), ("nodes", ("wait",)), ("pod-networking", ("nodes",)),
                   ("service-connectivity", ("nodes",))],
    "services": [("connect-credentials", ()), ("external-secrets", ("connect-credentials",)),
                 ("longhorn", ("connect-credentials",)), ("external-secrets-ready", ("external-secrets",)),
                 ("connect-secrets", ("connect-credentials", "external-secrets-ready")),
                 ("connect", ("connect-secrets",)), ("connect-ready", ("connect",)),
                 ("connect-validated", ("connect-ready",)), ("longhorn-ready", ("longhorn",))],
    "gitops": [("prerequisites", ()), ("bootstrap", ("prerequisites",)), ("ready", ("bootstrap",)),
               ("sync", ("ready",))],
    "applications": [("infrastructure", ()), ("deploy", ("infrastructure",)), ("ready", ("deploy",))],
}

DOIT_CONFIG = {"backend": "sqlite3", "dep_file": os.environ.get("FLOOR_DEP_FILE", ".floor-doit.sqlite3"),
               "verbosity": 0}


def _done() -> bool:
    return True


def _check() -> bool:
    """The stand-in for a step's live check: answers at once."""
    return True


def _step_tasks(group: str, previous: str | None) -> Iterator[dict]:
    for step, deps in GRAPH[group]:
        entry = [f"{previous}:complete"] if previous and not deps else []
        yield {"name": step, "actions": [_done], "uptodate": [run_once, _check],
               "task_dep": entry + [f"{group}:{d}" for d in deps], "doc": f"{group} step {step}"}
    steps = [f"{group}:{s}" for s, _ in GRAPH[group]]
    yield {"name": "complete", "actions": [_done], "uptodate": [run_once, _check], "task_dep": steps}


def _make_group(group: str, previous: str | None) -> object:
    def task() -> Iterator[dict]:
        yield from _step_tasks(group, previous)
    task.__doc__ = f"phase {group}"
    return task


def _make_phase(number: int, group: str) -> object:
    def task() -> dict:
        return {"actions": None, "task_dep": ([f"phase{number - 1}"] if number > 1 else []) + [f"{group}:complete"]}
    return task


_previous = None
for _number, _group in enumerate(GRAPH, start=1):
    globals()[f"task_{_group}"] = _make_group(_group, _previous)
    globals()[f"task_phase{_number}"] = _make_phase(_number, _group)
    _previous = _group


def task_bootstrap_phased() -> dict:
    """Every phase in order."""
    return {"actions": [_done], "task_dep": [f"phase{len(GRAPH)}"]}
