"""A hops Kube client for an in-process lab API server: a kubeconfig pointing at it and the few context
attributes Kube reads (one attempt, quiet log)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import yaml

from hops.kube import Kube
from hops.lab.apiserver import ApiServer


def kube_for(server: ApiServer, tmp_path: Path) -> Kube:
    """Kube talking to `server` with a token user, as the lab's kubeconfig does."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "lab",
        "clusters": [{"name": "lab", "cluster": {"server": server.url}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "lab"}}],
        "users": [{"name": "lab", "user": {"token": "lab-token"}}]}))
    retry = SimpleNamespace(attempts=1, delay=0.1)
    ctx = SimpleNamespace(endpoints=SimpleNamespace(kubeconfig=kubeconfig),
                          config=SimpleNamespace(bootstrap=SimpleNamespace(retry=retry, check_interval=1)),
                          log=SimpleNamespace(write=lambda text: None, say=lambda text: None))
    return Kube(ctx)  # the attributes Kube reads, not a whole Context
