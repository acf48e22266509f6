"""In-process Kubernetes side of the lab for tests: a Store + ApiServer, the controllers, Nodes like the kubelets
register them, and a tmp lab dir (lab.json + kubeconfig) so the emulated helm/flux/cilium tools find it.

Waiting is event-driven: `wait_for` re-checks its predicate on every store change (plus a slow safety re-check
for time-based transitions that fire without a new event of their own)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import yaml

from hops.lab.apiserver import ApiServer, Store
from hops.lab.cluster_seed import node_object
from hops.lab.controllers import CONTROLLERS, LabContext
from hops.lab.layout import LabLayout
from hops.lab.readiness import is_true

SPEED = 500.0
NODES = (("talos-cp-1", "172.29.51.11"), ("talos-cp-2", "172.29.51.12"), ("talos-cp-3", "172.29.51.13"))


def fake_settings(root: Path) -> Any:
    """The attributes of hops.config.Settings the controllers read."""
    items = SimpleNamespace(connect_token="1password-connect-token", connect_credentials="1password-connect-credentials",
                            github_token="github-token", talos_secrets="talos-secrets")
    config = SimpleNamespace(network=SimpleNamespace(pod_cidr="10.244.0.0/16", service_cidr="10.96.0.0/12"),
                             onepassword=SimpleNamespace(items=items, vault="homelab", account="my.1password.com"),
                             talos=SimpleNamespace(kubernetes_version="v1.31.4", version="v1.8.3"),
                             tools=SimpleNamespace(required={"helm": "3.16.3", "flux": "2.4.0", "cilium": "0.16.20"}),
                             gitops=SimpleNamespace(owner="example-homelab", repository="home-ops", branch="main",
                                                    path="infrastructure/clusters/home-ops", namespace="flux-system"))
    return SimpleNamespace(root=root, config=config)


class KubeLab:
    def __init__(self, tmp: Path, root: Path | None = None, speed: float = SPEED,
                 controllers: list | None = None) -> None:
        self.layout = LabLayout(tmp / "lab")
        self.layout.root.mkdir(parents=True, exist_ok=True)
        self.root = root or tmp
        self.speed = speed
        self.store = Store(crd_establish_delay=0.0)
        self.server = ApiServer(self.store).start()
        self.stop = threading.Event()
        ctx = LabContext(self.layout, self.store, fake_settings(self.root), None, speed, self.stop)
        self.controllers = [cls(ctx) for cls in (CONTROLLERS if controllers is None else controllers)]
        self._changed = threading.Condition()
        self.store.subscribe(self._notify)
        self.kubeconfig = tmp / "kubeconfig"
        self._write_files()

    def _notify(self, _event: str, _obj: dict) -> None:
        with self._changed:
            self._changed.notify_all()

    def _write_files(self) -> None:
        url = self.server.url
        self.kubeconfig.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "admin@home-ops",
            "clusters": [{"name": "home-ops", "cluster": {"server": url}}],
            "contexts": [{"name": "admin@home-ops", "context": {"cluster": "home-ops", "user": "admin@home-ops"}}],
            "users": [{"name": "admin@home-ops", "user": {"token": "lab-token"}}]}))
        self.layout.info_file.write_text(json.dumps({"pid": os.getpid(), "api_url": url, "speed": self.speed,
                                                     "root": str(self.root), "nodes": {},
                                                     "tool_versions": {"helm": "3.16.3", "flux": "2.4.0",
                                                                       "cilium": "0.16.20"}}))

    def start(self) -> "KubeLab":
        for controller in self.controllers:
            controller.start()
        return self

    def close(self) -> None:
        self.stop.set()
        for controller in self.controllers:
            controller.stop()
        self.server.stop()

    def add_nodes(self, count: int = 3) -> None:
        settings = fake_settings(self.root)
        for name, address in NODES[:count]:
            self.store.create(node_object(settings, name, address, "controlplane"))

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
                self._changed.wait(timeout=min(left, 0.05))

    def ready(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        obj = self.store.get(api_version, kind, name, namespace)
        return bool(obj) and is_true(obj, "Ready")

    def nodes_ready(self) -> list[bool]:
        return [is_true(n, "Ready") for n in self.store.list("v1", "Node")]

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "GITHUB_TOKEN", "HOPS_LAB_FAULTS")}
        env.update(HOPS_LAB_DIR=str(self.layout.root), KUBECONFIG=str(self.kubeconfig),
                   HOPS_LAB_SPEED=str(self.speed), HOME=str(self.layout.root.parent))
        env.update(extra)
        return env

    def run(self, tool: str, *args: str, timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", f"hops.lab.tools.{tool}", *args], capture_output=True, text=True,
                              env=self.env(**env), cwd=self.root, timeout=timeout)
