"""What a no-op imports, and that the floor benchmark measures the same graph as hops's.

A hops API call loads the client's REST layer only (`kubernetes.client.rest` and its configuration; the kubeconfig
is read by hops.kubeconfig): not kubernetes/__init__.py's eager `dynamic` (→ kubernetes_validate → jsonschema,
present with the test extra), watch, stream, leaderelection, informer. A later plain `import kubernetes` in that
process still reaches every submodule."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import REPO

HEAVY = ("kubernetes_validate", "jsonschema", "kubernetes.dynamic", "kubernetes.watch", "kubernetes.stream",
         "kubernetes.leaderelection", "kubernetes.informer", "kubernetes.config", "kubernetes.client.api_client",
         "pydantic")

API_CALL = """
import json, sys
from pathlib import Path
from types import SimpleNamespace
import yaml
from hops.kube import Kube
from hops.lab.apiserver import ApiServer, Store

server = ApiServer(Store()).start()
kubeconfig = Path(sys.argv[1]) / "kubeconfig"
kubeconfig.write_text(yaml.safe_dump({
    "apiVersion": "v1", "kind": "Config", "current-context": "lab",
    "clusters": [{"name": "lab", "cluster": {"server": server.url}}],
    "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
    "users": [{"name": "lab", "user": {"token": "lab-token"}}]}))
retry = SimpleNamespace(attempts=1, delay=0.1)
ctx = SimpleNamespace(endpoints=SimpleNamespace(kubeconfig=kubeconfig),
                      config=SimpleNamespace(bootstrap=SimpleNamespace(retry=retry, check_interval=1)),
                      log=SimpleNamespace(write=print, say=print))
kube = Kube(ctx)
names = [n["metadata"]["name"] for n in kube.list("Namespace")]
loaded = sorted(m for m in sys.modules if m in HEAVY)
import kubernetes
from kubernetes import dynamic
api = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(kube.client.configuration))
later = {"watch": kubernetes.watch.Watch.__name__, "dynamic": dynamic.DynamicClient.__name__,
         "client_namespaces": [n.metadata.name for n in api.list_namespace().items]}
server.stop()
print(json.dumps({"names": names, "loaded": loaded, "later": later}))
"""


def test_a_hops_api_call_imports_no_test_extra_and_kubernetes_still_works_afterwards(tmp_path: Path) -> None:
    script = f"HEAVY = {HEAVY!r}\n{API_CALL}"
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert "default" in seen["names"]  # the call itself worked, through the official client
    assert seen["loaded"] == []
    assert seen["later"]["watch"] == "Watch" and seen["later"]["dynamic"] == "DynamicClient"
    assert seen["later"]["client_namespaces"] == seen["names"]


def test_the_heavy_modules_are_present_so_the_check_above_can_fail() -> None:
    """With the test extra installed a plain `import kubernetes` does pull them in (what hops avoids)."""
    result = subprocess.run([sys.executable, "-c", "import sys, kubernetes; print(sorted(m for m in sys.modules "
                             f"if m in {HEAVY!r}))"], capture_output=True, text=True, timeout=60)
    assert "kubernetes_validate" in result.stdout and "kubernetes.dynamic" in result.stdout


def test_a_missing_kubeconfig_fails_before_the_client_is_imported(tmp_path: Path) -> None:
    script = ("import sys; from types import SimpleNamespace; from pathlib import Path\n"
              "from hops.kube import Kube; from hops.errors import StepError\n"
              "ctx = SimpleNamespace(endpoints=SimpleNamespace(kubeconfig=Path(sys.argv[1]) / 'none'))\n"
              "try:\n    Kube(ctx).list('Node')\nexcept StepError as exc:\n    print(exc)\n"
              "print(sorted(m for m in sys.modules if m.startswith('kubernetes')))")
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path)], cwd=REPO, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    first, modules = result.stdout.splitlines()
    assert first.startswith(f"no kubeconfig at {tmp_path / 'none'}")
    assert modules == "[]"


def hops_graph() -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """hops's phase groups with each step's dependencies inside its group, read from the real task list."""
    from doit.loader import generate_tasks

    from hops.phases import PHASES
    from hops.tasks import load

    tasks = {}
    for name, maker in load(REPO, PHASES).items():
        if name.startswith("task_"):
            tasks.update({t.name: t for t in generate_tasks(name[5:], maker(), maker.__doc__)})
    graph: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for name, task in tasks.items():
        group, _, step = name.partition(":")
        if step and step != "complete" and f"{group}:complete" in tasks:
            inside = tuple(d.partition(":")[2] for d in task.task_dep if d.startswith(f"{group}:"))
            graph.setdefault(group, []).append((step, inside))
    return graph


def test_the_floor_dodo_has_hops_s_graph() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import floor_dodo
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    mine = hops_graph()
    assert list(floor_dodo.GRAPH) == list(mine)
    for group, steps in mine.items():
        assert floor_dodo.GRAPH[group] == steps, group


@pytest.mark.parametrize("command", [["list", "--all"]])
def test_doit_list_imports_neither_kubernetes_nor_pydantic(command: list[str]) -> None:
    script = ("import runpy, sys; sys.argv = ['doit', *sys.argv[1:]]\n"
              "try:\n    runpy.run_module('doit', run_name='__main__')\nexcept SystemExit:\n    pass\n"
              "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'pydantic')))")
    result = subprocess.run([sys.executable, "-c", script, "-f", str(REPO / "dodo.py"), *command], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "applications:ready" in result.stdout
    assert result.stdout.splitlines()[-1] == "LOADED []"


def test_doit_info_without_a_cluster_does_not_import_the_client(tmp_path: Path) -> None:
    """The step's live check fails at once (no kubeconfig yet): the Kubernetes client is never imported."""
    from tests.projects import copy_project, lab_env

    project, env = copy_project(tmp_path), lab_env(tmp_path)
    script = ("import runpy, sys; sys.argv = ['doit', *sys.argv[1:]]\n"
              "try:\n    runpy.run_module('doit', run_name='__main__')\nexcept SystemExit:\n    pass\n"
              "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'kubernetes'))")
    result = subprocess.run([sys.executable, "-c", script, "-f", str(project / "dodo.py"), "info",
                             "networking:deploy-cilium"], cwd=project, env=env, capture_output=True, text=True,
                            timeout=60)
    assert "could not run (StepError: no kubeconfig at" in result.stdout, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "LOADED []"
