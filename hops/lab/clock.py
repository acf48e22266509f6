"""Simulated durations, all scaled by one speed factor (HOPS_LAB_SPEED)."""

from __future__ import annotations

import os
import random

# Realistic durations in seconds at speed 1 (what real hardware roughly takes).
DEFAULT_DURATIONS: dict[str, float] = {
    "node.install": 150.0,       # apply-config in maintenance mode -> installer writes the disk
    "node.reboot": 40.0,         # reboot into the installed system: the host is down, nothing answers
    "node.apid": 5.0,            # apid listens again, its certificates not issued yet (`tls: internal error`)
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
    "node.timesync-grace": 5.0,  # how long Talos' bootstrap RPC waits for time sync before refusing
}

# Durations that differ from boot to boot: drawn from these ranges (seconds at speed 1) with a seeded generator.
DURATION_RANGES: dict[str, tuple[float, float]] = {
    "node.timesync": (1.0, 10.0),    # booted -> time in sync (NTP answered)
    "node.services": (5.0, 20.0),    # booted -> container runtime (CRI) up: `talosctl bootstrap` is available
}


def speed() -> float:
    """The speed factor from HOPS_LAB_SPEED (default 1 = realistic)."""
    raw = os.environ.get("HOPS_LAB_SPEED", "1")
    try:
        value = float(raw)
    except ValueError:
        raise SystemExit(f"HOPS_LAB_SPEED={raw!r} is not a number; set it to e.g. 1 (realistic) or 200 (tests)") from None
    if value <= 0:
        raise SystemExit(f"HOPS_LAB_SPEED={raw!r} must be greater than 0")
    return value


def duration(name: str, factor: float | None = None) -> float:
    """Wall-clock seconds the simulated step `name` takes at the current speed."""
    return DEFAULT_DURATIONS[name] / (factor if factor is not None else speed())


def drawn(name: str, rng: random.Random, factor: float | None = None) -> float:
    """Wall-clock seconds of one occurrence of the ranged step `name`, drawn from DURATION_RANGES."""
    low, high = DURATION_RANGES[name]
    return rng.uniform(low, high) / (factor if factor is not None else speed())


def seeded(*parts: object) -> random.Random:
    """A generator seeded from HOPS_LAB_SEED (default fixed) and `parts` (e.g. node name, boot number), so the
    same lab run draws the same durations every time."""
    return random.Random(":".join([os.environ.get("HOPS_LAB_SEED", "hops-lab"), *map(str, parts)]))


def fastest(name: str) -> float:
    """Seconds at speed 1 of step `name` at its quickest (a ranged step's lower bound)."""
    return DEFAULT_DURATIONS[name] if name in DEFAULT_DURATIONS else DURATION_RANGES[name][0]


# What a bootstrap must wait for one after another in the simulated cluster (branches that run beside this chain
# and finish earlier, such as Longhorn or the Cilium operator, are left out): the fastest any orchestrator can go.
CRITICAL_PATH: tuple[tuple[str, str], ...] = (
    ("node.install", "phase 2: every node installs from maintenance mode (in parallel)"),
    ("node.reboot", "phase 2: reboot into the installed system"),
    ("node.apid", "phase 2: apid up, waiting for its certificates"),
    # time sync runs beside it and, with the bootstrap RPC's grace, never ends later (10 - 5 <= 5)
    ("node.services", "phase 2: the first control-plane node's container runtime (bootstrap not available yet)"),
    ("etcd.bootstrap", "phase 2: etcd on the first control-plane node"),
    ("kubernetes.api", "phase 2: kube-apiserver answers"),
    ("node.register", "phase 2: kubelets register their Nodes"),
    ("rollout.daemonset", "phase 3: Cilium agents"),
    ("cni.node", "phase 3: nodes turn Ready"),
    ("rollout.deployment", "phase 3: CoreDNS (needs the CNI)"),
    ("job.run", "phase 3: the DNS test pod"),
    ("crd.establish", "phase 4: External Secrets CRDs"),
    ("rollout.deployment", "phase 4: External Secrets controller and webhook"),
    ("rollout.deployment", "phase 4: 1Password Connect (needs External Secrets' CRDs for its store)"),
    ("rollout.deployment", "phase 5: Flux controllers"),
    ("flux.fetch", "phase 5: the first fetch of the repository"),
    ("flux.kustomization", "phase 5: flux-system applied"),
    ("flux.kustomization", "phase 6: sources"),
    # sources has wait: true, so it is Ready (and the Kustomizations depending on it start) only once the
    # HelmRepositories it applied are fetched
    ("flux.fetch", "phase 6: the HelmRepositories sources applied are fetched"),
    ("flux.kustomization", "phase 6: external-secrets"),
    ("flux.helmrelease", "phase 6: external-secrets release adopted"),
    ("flux.kustomization", "phase 6: onepassword-connect"),
    ("flux.helmrelease", "phase 6: onepassword-connect release adopted"),
    ("flux.kustomization", "phase 6: cluster-secret-store"),
    ("flux.kustomization", "phase 6: apps"),
    ("flux.helmrelease", "phase 6: podinfo installed"),
    ("rollout.deployment", "phase 6: podinfo pods"),
)


def critical_path(factor: float = 1.0) -> float:
    """Seconds of the critical path at speed `factor` (1 = realistic); ranged steps at their lower bound, so no
    orchestrator can beat it (a draw adds at most the range's width)."""
    return sum(fastest(name) for name, _ in CRITICAL_PATH) / factor


HELM_CONCURRENT = 4  # helm-controller's default --concurrent: releases installed or upgraded at once


def release_queue(count: int, workers: int = HELM_CONCURRENT, factor: float = 1.0) -> float:
    """Seconds at speed `factor` that `count` HelmReleases applied at once take beyond a single one: the
    helm-controller installs `workers` at a time, each holding its worker through the install and its
    Deployment's rollout (helm's --wait)."""
    rounds = -(-count // workers)
    return (rounds - 1) * (fastest("flux.helmrelease") + fastest("rollout.deployment")) / factor
