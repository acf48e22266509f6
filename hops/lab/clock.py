"""Simulated durations, all scaled by one speed factor (HOPS_LAB_SPEED)."""

from __future__ import annotations

import os

# Realistic durations in seconds at speed 1 (what real hardware roughly takes).
DEFAULT_DURATIONS: dict[str, float] = {
    "node.install": 150.0,       # apply-config in maintenance mode -> installer writes the disk
    "node.reboot": 45.0,         # reboot into the installed system, Talos API up with certificates
    "etcd.bootstrap": 30.0,      # talosctl bootstrap -> etcd healthy on the first node
    "kubernetes.api": 40.0,      # etcd healthy -> kube-apiserver answering
    "node.register": 15.0,       # apiserver up -> kubelet registers its Node
    "etcd.join": 20.0,           # further control-plane nodes join etcd
    "rollout.daemonset": 30.0,   # a DaemonSet's pods become ready
    "rollout.deployment": 20.0,  # a Deployment's pods become ready
    "crd.establish": 1.0,        # a CustomResourceDefinition becomes Established
    "cni.node": 10.0,            # cilium agent ready -> node Ready
    "job.run": 5.0,              # a short Job/Pod runs to completion
    "flux.fetch": 5.0,           # source-controller fetches the repository
    "flux.kustomization": 5.0,   # kustomize-controller applies one Kustomization
    "flux.helmrelease": 15.0,    # helm-controller installs/upgrades one release
}


def speed() -> float:
    """The speed factor from HOPS_LAB_SPEED (default 1 = realistic)."""
    raw = os.environ.get("HOPS_LAB_SPEED", "1")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"HOPS_LAB_SPEED={raw!r} is not a number; set it to e.g. 1 (realistic) or 200 (tests)")
    if value <= 0:
        raise SystemExit(f"HOPS_LAB_SPEED={raw!r} must be greater than 0")
    return value


def duration(name: str, factor: float | None = None) -> float:
    """Wall-clock seconds the simulated step `name` takes at the current speed."""
    return DEFAULT_DURATIONS[name] / (factor if factor is not None else speed())
