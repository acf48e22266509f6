"""Phase 3's steps in-process: the calls each makes on a fresh cluster and none that change anything on a
converged one."""

from __future__ import annotations

import pytest

from hops.components import networking
from hops.errors import StepError
from tests.steps.harness import World


def cilium_ds(ready: int, desired: int = 3) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "cilium", "namespace": "kube-system",
                                                                      "generation": 1},
            "spec": {"selector": {"matchLabels": {"k8s-app": "cilium"}}, "template": {"metadata": {"labels": {
                "k8s-app": "cilium"}}, "spec": {"containers": [{"name": "agent", "image": "cilium"}]}}},
            "status": {"desiredNumberScheduled": desired, "numberReady": ready, "numberAvailable": ready,
                       "updatedNumberScheduled": desired, "currentNumberScheduled": desired,
                       "observedGeneration": 1}}


def test_deploy_cilium_on_a_fresh_cluster_runs_helm_upgrade_install_with_the_flux_values(world: World) -> None:
    world.cluster_exists()
    world.runner.answer("helm", "history", code=1, stderr="Error: release: not found")
    world.runner.answer("helm", "upgrade", stdout='Release "cilium" has been upgraded. Happy Helming!')
    networking.deploy_cilium(world.ctx)
    upgrade = [c for c in world.runner.calls if c.args[:2] == ["upgrade", "--install"]]
    assert len(upgrade) == 1
    args = upgrade[0].args
    assert args[2:4] == ["cilium", "cilium"] and "--version" in args and "--values" in args
    assert args[args.index("--values") + 1].endswith("infrastructure/networking/cilium/values.yaml")


def test_deploy_cilium_fails_with_helms_message(world: World) -> None:
    world.cluster_exists()
    world.runner.answer("helm", "history", code=1, stderr="Error: release: not found")
    world.runner.answer("helm", "upgrade", code=1, stderr='Error: chart "cilium" matching 9.9.9 not found')
    with pytest.raises(StepError, match='matching 9.9.9 not found'):
        networking.deploy_cilium(world.ctx)


def test_cilium_installed_check_true_and_false(world: World) -> None:
    world.cluster_exists()
    assert networking.cilium_installed(world.ctx) is False
    world.holds(cilium_ds(ready=3))
    assert networking.cilium_installed(world.ctx) is True
    assert world.runner.calls == [] and world.api_writes == []
