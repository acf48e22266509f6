"""Live checks say what they saw: the reasoned checks the task model runs (FAIL/DRIFT lines, plan, status --live)
answer (holds, why), true and false, and agree with the bool checks of the same name."""

from __future__ import annotations

from hops.actions import evaluate
from hops.components import networking, services, talos
from tests.steps import objects_f1 as o
from tests.steps.harness import World
from tests.steps.test_services_steps import eso, store


def converged_networking(world: World) -> World:
    settings = world.ctx.settings
    world.cluster_exists()
    return world.holds(*o.cilium_objects(world.root).values(), *o.nodes(settings), o.coredns(settings),
                       o.kubernetes_service(settings), o.kubernetes_endpoints([a for _, a in o.NODES]))


def test_cilium_ready_says_how_many_agents_are_ready(world: World) -> None:
    converged_networking(world)
    holds, seen = networking.cilium_ready_verdict(world.ctx)
    assert holds is True and networking.cilium_ready(world.ctx) is True and seen
    world.holds({**o.cilium_objects(world.root)["DaemonSet/cilium"], "status": o.daemonset_status(3, 0)})
    holds, seen = networking.cilium_ready_verdict(world.ctx)
    assert holds is False and networking.cilium_ready(world.ctx) is False
    assert "numberReady=0 of 3" in seen and "operator" not in seen  # only what does not hold


def test_cilium_ready_names_a_missing_operator(world: World) -> None:
    converged_networking(world)
    world.store.delete("apps/v1", "Deployment", "cilium-operator", "kube-system")
    world.ctx.kube.invalidate()
    assert networking.cilium_ready_verdict(world.ctx) == (False, "Deployment kube-system/cilium-operator does not exist")


def test_the_fail_line_of_a_step_carries_the_reason(world: World) -> None:
    converged_networking(world)
    world.holds({**o.cilium_objects(world.root)["DaemonSet/cilium"], "status": o.daemonset_status(3, 1)})
    step = networking.COMPONENT.step("wait")
    holds, reason = evaluate("networking:wait", step, step.status[0])
    assert holds is False and "numberReady=1 of 3" in reason and reason != "does not hold"


def test_nodes_ready_names_the_nodes_that_are_not(world: World) -> None:
    world.cluster_exists()
    settings = world.ctx.settings
    world.holds(*o.nodes(settings)[:2])
    holds, seen = networking.nodes_ready_verdict(world.ctx)
    assert holds is False and "talos-cp-3: not registered" in seen
    world.holds(*o.nodes(settings))
    assert networking.nodes_ready_verdict(world.ctx)[0] is True


def test_kube_proxy_replaced_says_what_still_runs_it(world: World) -> None:
    converged_networking(world)
    assert networking.kube_proxy_replaced_verdict(world.ctx)[0] is True
    labels = {"k8s-app": "kube-proxy"}
    world.holds({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace":
                 "kube-system"}, "spec": {"selector": {"matchLabels": labels}, "template": {"metadata": {
                     "labels": labels}, "spec": {"containers": [{"name": "kube-proxy", "image": "kube-proxy"}]}}},
                 "status": o.daemonset_status(3, 3)})
    holds, seen = networking.kube_proxy_replaced_verdict(world.ctx)
    assert holds is False and "DaemonSet kube-system/kube-proxy exists" in seen


def test_talos_health_says_there_is_no_kubeconfig(world: World) -> None:
    holds, seen = talos.healthy_verdict(world.ctx)
    assert holds is False and seen.startswith("no kubeconfig at ") and talos.healthy(world.ctx) is False


def test_cluster_registered_names_the_unregistered_nodes(world: World) -> None:
    world.cluster_exists()
    world.holds(*o.nodes(world.ctx.settings)[:1])
    holds, seen = talos.cluster_registered_verdict(world.ctx)
    assert holds is False and seen == "not registered: talos-cp-2, talos-cp-3"
    world.holds(*o.nodes(world.ctx.settings))
    assert talos.cluster_registered_verdict(world.ctx) == (True, "3 nodes registered")


def test_stores_ready_says_what_the_store_reports(world: World) -> None:
    world.cluster_exists().holds(*eso())
    assert services.stores_ready_verdict(world.ctx) == (False, "ClusterSecretStore onepassword does not exist")
    world.holds(store(ready=False, reason="InvalidProviderConfig", message="could not get provider client"))
    holds, seen = services.stores_ready_verdict(world.ctx)
    assert holds is False and "Ready=False InvalidProviderConfig: could not get provider client" in seen
    world.holds(store())
    assert services.stores_ready_verdict(world.ctx)[0] is True and services.stores_ready(world.ctx) is True
