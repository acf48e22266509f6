"""THE phase order: the six components, first to last. Phase N is the N-th entry; reordering or removing a phase
is a change of this one list (hops.taskmodel.wire checks that every phase's `needs` still come before it)."""

from __future__ import annotations

from hops.components import applications, gitops, networking, services, talos, validation
from hops.taskmodel import Component

PHASES: tuple[Component, ...] = (
    validation.COMPONENT,    # 1 environment: tools, 1Password, connectivity, repository
    talos.COMPONENT,         # 2 Talos cluster: machine configs, etcd, kubeconfig
    networking.COMPONENT,    # 3 networking: Cilium, nodes Ready, DNS, Services
    services.COMPONENT,      # 4 core services: External Secrets + 1Password Connect, Longhorn
    gitops.COMPONENT,        # 5 GitOps: Flux bootstrap and sync
    applications.COMPONENT,  # 6 applications: infrastructure and apps Ready
)
