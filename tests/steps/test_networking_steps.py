"""Phase 3's steps in-process: the calls each makes on a fresh cluster and none that change anything on a
converged one, each failure it can report (a tool's output, an object not ready at the deadline) and each live
check true and false. The converged cluster is what the lab's chart and controllers leave (tests/steps/objects_f1)."""

from __future__ import annotations

import pytest

from hops.components import networking
from hops.components.networking import COMPONENT
from hops.errors import StepError, WaitTimeout
from hops.helmrelease import load as load_release
from tests.steps import objects_f1 as o
from tests.steps.harness import World
from tests.steps.objects_late_phases import helm_record

NS = "kube-system"


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


# --- shared ---------------------------------------------------------------------------------------------------
def converged(world: World) -> World:
    """A cluster where phase 3 is done: Cilium ready on the 3 nodes, nodes Ready, CoreDNS up, kubernetes
    Service with endpoints, no kube-proxy."""
    settings = world.ctx.settings
    world.cluster_exists()
    return world.holds(*o.cilium_objects(world.root).values(), *o.nodes(settings), o.coredns(settings),
                       o.kubernetes_service(settings), o.kubernetes_endpoints([a for _, a in o.NODES]))


def live(step: str, world: World) -> list[bool]:
    """Each declared live check of the step, as the task model runs it (bool or (bool, why))."""
    results = [check.fn(world.ctx) for check in COMPONENT.step(step).live_checks()]
    return [r[0] if isinstance(r, tuple) else r for r in results]


def upgrade_line(world: World) -> str:
    release = load_release(world.root, "infrastructure/networking/cilium")
    return (f"helm upgrade --install cilium cilium --repo {release.repo_url} --version 1.16.5 --namespace kube-system "
            f"--create-namespace --values {world.root}/infrastructure/networking/cilium/values.yaml "
            f"--kubeconfig {world.endpoints.kubeconfig}")


# --- deploy-cilium --------------------------------------------------------------------------------------------
def test_deploy_cilium_fresh_reads_helms_records_then_installs_exactly_once(world: World) -> None:
    world.cluster_exists()  # no release records in kube-system: nothing to free, no `helm history` needed
    world.runner.answer("helm", "upgrade", stdout='Release "cilium" does not exist. Installing it now.\n')
    networking.deploy_cilium(world.ctx)
    assert world.runner.lines() == [upgrade_line(world)]
    assert world.api_writes == []  # the cilium folder has no namespace.yaml: helm does it all


def test_deploy_cilium_converged_check_holds_and_a_rerun_only_upgrades_in_place(world: World) -> None:
    converged(world).holds(helm_record("cilium", "kube-system", 1, "deployed"))
    assert live("deploy-cilium", world) == [True]
    world.runner.answer("helm", "upgrade", stdout='Release "cilium" has been upgraded. Happy Helming!\n')
    networking.deploy_cilium(world.ctx)
    assert world.runner.lines() == [upgrade_line(world)]  # no rollback, no uninstall
    assert world.api_writes == []


def test_deploy_cilium_rolls_back_a_release_an_interrupted_run_left_pending(world: World) -> None:
    converged(world).holds(helm_record("cilium", "kube-system", 1, "deployed"),
                           helm_record("cilium", "kube-system", 2, "pending-upgrade"))  # what helm history reads
    world.runner.answer("helm", "history", stdout=o.helm_history((1, "superseded"), (2, "deployed"), (3, "deployed")))
    world.runner.answer("helm", "history", times=1, stdout=o.helm_history(
        (1, "deployed"), (2, "pending-upgrade"), updated="2026-12-01T05:00:00Z"))  # a day old: stale
    world.runner.answer("helm", "rollback", stdout="Rollback was a success! Happy Helming!\n")
    world.runner.answer("helm", "upgrade", stdout='Release "cilium" has been upgraded. Happy Helming!\n')
    networking.deploy_cilium(world.ctx)
    rollback = f"helm rollback cilium 1 -n kube-system --kubeconfig {world.endpoints.kubeconfig}"
    assert world.runner.mutating_calls() == [rollback, upgrade_line(world)]


def test_deploy_cilium_history_failure_names_the_command_and_helms_output(world: World) -> None:
    world.cluster_exists().holds(helm_record("cilium", "kube-system", 1, "pending-install"))  # helm must tell more
    world.runner.answer("helm", "history", code=1, stderr="Error: Kubernetes cluster unreachable: Get "
                        '"https://127.0.51.10:6443/version": dial tcp 127.0.51.10:6443: connect: connection refused\n')
    with pytest.raises(StepError) as failure:
        networking.deploy_cilium(world.ctx)
    text = str(failure.value)
    assert "reading the history of helm release kube-system/cilium failed: `helm history` exited 1" in text
    assert "Kubernetes cluster unreachable" in text
    assert world.runner.mutating_calls() == []


def test_deploy_cilium_missing_values_file_is_named_before_helm_runs(world: World) -> None:
    world.cluster_exists()
    (world.root / "infrastructure/networking/cilium/values.yaml").unlink()
    with pytest.raises(StepError, match=r"values file .*infrastructure/networking/cilium/values.yaml is missing"):
        networking.deploy_cilium(world.ctx)
    assert world.runner.calls == []


def test_deploy_cilium_upgrade_failure_names_the_release_and_the_command(world: World) -> None:
    world.cluster_exists()
    world.runner.answer("helm", "history", code=1, stderr=o.HELM_NOT_FOUND)
    world.runner.answer("helm", "upgrade", code=1, stderr="Error: INSTALLATION FAILED: context deadline exceeded\n")
    with pytest.raises(StepError) as failure:
        networking.deploy_cilium(world.ctx)
    text = str(failure.value)
    assert text.startswith("installing cilium 1.16.5 (release kube-system/cilium) with helm failed: `helm upgrade "
                           "--install cilium cilium")
    assert text.endswith("exited 1:\nError: INSTALLATION FAILED: context deadline exceeded")


# --- wait -----------------------------------------------------------------------------------------------------
def test_wait_details_name_a_missing_daemonset_and_a_missing_or_unavailable_operator(world: World) -> None:
    # what a timed-out wait says after "timed out waiting for <what>: " (one real timeout below goes the whole way)
    assert networking.agents_state(None, 3) == (False, "DaemonSet kube-system/cilium does not exist")
    assert networking.operator_state(None) == (False, "Deployment kube-system/cilium-operator does not exist")
    operator = o.cilium_objects(world.root, operator_ready=1)["Deployment/cilium-operator"]
    assert networking.operator_state(operator) == (False, "Deployment kube-system/cilium-operator: Available=False "
                                                          "MinimumReplicasUnavailable: Deployment does not have "
                                                          "minimum availability.")


def test_wait_returns_when_the_agents_become_ready_while_it_watches(world: World) -> None:
    converged(world)
    world.store.set_status("apps/v1", "DaemonSet", "cilium", "kube-system", o.daemonset_status(3, 1))
    world.api_writes.clear()
    later = o.OnceWatched(world, "apps/v1", "DaemonSet", lambda: world.store.set_status(
        "apps/v1", "DaemonSet", "cilium", "kube-system", o.daemonset_status(3, 3)))
    networking.wait(world.ctx)
    later.join()
    assert world.api_writes == [("MODIFIED", "DaemonSet", "kube-system/cilium")]  # the test's own write only
    assert world.runner.calls == []


def test_wait_converged_makes_no_call_and_no_write(world: World) -> None:
    converged(world)
    assert live("wait", world) == [True]
    networking.wait(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


def test_wait_timeout_names_the_agent_container_that_crash_loops(world: World) -> None:
    converged(world)
    ds = o.cilium_objects(world.root, agents_ready=2)["DaemonSet/cilium"]
    crash = ("CrashLoopBackOff", "back-off 5m0s restarting failed container=cilium-agent pod=cilium-x2bz9")
    world.holds(ds, o.agent_pod("cilium-4kq8d", "talos-cp-1"), o.agent_pod("cilium-x2bz9", "talos-cp-2", crash))
    o.hurry(world, "networking", 0.3)
    with pytest.raises(WaitTimeout) as failure:
        networking.wait(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for Cilium agents ready on all 3 nodes: DaemonSet kube-system/cilium: "
        "desiredNumberScheduled=3 numberReady=2 of 3 nodes; pods: cilium-x2bz9/cilium-agent: CrashLoopBackOff "
        "back-off 5m0s restarting failed container=cilium-agent pod=cilium-x2bz9")


def test_cilium_ready_check_false_for_an_agent_per_node_too_many_or_an_operator_missing(world: World) -> None:
    converged(world)
    assert networking.cilium_ready(world.ctx) is True
    world.holds({**o.cilium_objects(world.root)["DaemonSet/cilium"], "status": o.daemonset_status(4, 4)})
    assert networking.cilium_ready(world.ctx) is False  # exactly one agent per configured node
    world.holds({**o.cilium_objects(world.root)["DaemonSet/cilium"], "status": o.daemonset_status(3, 3)})
    world.store.delete("apps/v1", "Deployment", "cilium-operator", "kube-system")
    assert networking.cilium_ready(world.ctx) is False


# --- nodes ----------------------------------------------------------------------------------------------------
def test_nodes_fresh_times_out_naming_each_node_and_the_kubelets_message(world: World) -> None:
    world.cluster_exists()
    settings = world.ctx.settings
    world.holds(*o.nodes(settings, ready=False)[:2])
    o.hurry(world, "networking", 0.3)
    with pytest.raises(WaitTimeout) as failure:
        networking.nodes(world.ctx)
    text = str(failure.value)
    assert text.startswith("timed out waiting for every configured node to be Ready: talos-cp-1: Ready=False "
                           "KubeletNotReady: container runtime network not ready")
    assert "cni plugin not initialized; talos-cp-2: Ready=False" in text
    assert text.endswith("; talos-cp-3: not registered")
    assert networking.nodes_ready(world.ctx) is False


def test_nodes_return_when_they_turn_ready_while_watched(world: World) -> None:
    world.cluster_exists()
    settings = world.ctx.settings
    world.holds(*o.nodes(settings, ready=False))

    def turn_ready() -> None:
        for node in o.nodes(settings):
            world.store.set_status("v1", "Node", node["metadata"]["name"], None, node["status"])

    later = o.OnceWatched(world, "v1", "Node", turn_ready)
    networking.nodes(world.ctx)
    later.join()
    assert networking.nodes_ready(world.ctx) is True
    assert world.runner.calls == []


def test_nodes_converged_makes_no_call_and_no_write(world: World) -> None:
    converged(world)
    assert live("nodes", world) == [True]
    networking.nodes(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


# --- pod-networking -------------------------------------------------------------------------------------------
def _finish_job(world: World, succeeded: bool, log: str = "") -> None:
    (job,) = world.store.list("batch/v1", "Job", "hops-checks")
    name = job["metadata"]["name"]
    if log:
        world.store.apply(o.job_pod(name))
        world.store.set_pod_log("hops-checks", f"{name}-x7k2p", log)
    world.store.set_status("batch/v1", "Job", name, "hops-checks", o.job_finished(succeeded))


def test_pod_networking_runs_a_dns_job_and_deletes_it(world: World) -> None:
    converged(world)
    later = o.OnceWatched(world, "batch/v1", "Job", lambda: _finish_job(world, succeeded=True))
    networking.pod_networking(world.ctx)
    later.join()
    kinds = [(event, kind) for event, kind, _ in world.api_writes]
    assert kinds[:2] == [("ADDED", "Namespace"), ("ADDED", "Job")] and kinds[-1] == ("DELETED", "Job")
    job = next(name for event, kind, name in world.api_writes if kind == "Job")
    assert job.startswith("hops-checks/dns-check-")
    assert world.store.list("batch/v1", "Job", "hops-checks") == []
    assert world.runner.calls == []


def test_pod_networking_job_spec_resolves_the_cluster_domain(world: World) -> None:
    converged(world)
    seen: dict = {}

    def capture() -> None:
        seen.update(world.store.list("batch/v1", "Job", "hops-checks")[0])
        _finish_job(world, succeeded=True)

    later = o.OnceWatched(world, "batch/v1", "Job", capture)
    networking.pod_networking(world.ctx)
    later.join()
    container = seen["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["nslookup", "kubernetes.default.svc.cluster.local"]
    assert seen["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_pod_networking_failed_job_names_it_with_its_pod_log_and_still_deletes_it(world: World) -> None:
    converged(world)
    log = ";; connection timed out; no servers could be reached\n"
    later = o.OnceWatched(world, "batch/v1", "Job", lambda: _finish_job(world, succeeded=False, log=log))
    with pytest.raises(StepError) as failure:
        networking.pod_networking(world.ctx)
    later.join()
    text = str(failure.value)
    assert text.startswith("pod networking test failed: Job hops-checks/dns-check-")
    assert ("could not resolve kubernetes.default.svc.cluster.local (Failed=True BackoffLimitExceeded: Job has "
            "reached the specified backoff limit); pod log:\n;; connection timed out; no servers could be "
            "reached") in text
    assert world.store.list("batch/v1", "Job", "hops-checks") == []


def test_pod_networking_times_out_naming_the_job_and_its_counts_and_still_deletes_it(world: World) -> None:
    converged(world)
    o.hurry(world, "networking", 0.3)
    with pytest.raises(WaitTimeout, match=r"^timed out waiting for Job hops-checks/dns-check-\d+ to resolve "
                                          r"kubernetes.default.svc.cluster.local: active=0 failed=0$"):
        networking.pod_networking(world.ctx)
    assert world.store.list("batch/v1", "Job", "hops-checks") == []


def test_pod_networking_waits_for_coredns_and_writes_nothing_before_it_is_available(world: World) -> None:
    converged(world)
    world.holds(o.coredns(world.ctx.settings, ready=0))
    o.hurry(world, "networking", 0.3)
    with pytest.raises(WaitTimeout, match="timed out waiting for CoreDNS to be available: Deployment "
                                          "kube-system/coredns: 0/2 available, Available=False"):
        networking.pod_networking(world.ctx)
    assert world.api_writes == []


# --- cilium-status --------------------------------------------------------------------------------------------
def test_cilium_status_waits_with_the_phase_timeout_and_changes_nothing(world: World) -> None:
    converged(world)
    world.runner.answer("cilium", "status", stdout=o.CILIUM_STATUS_OK)
    networking.cilium_status(world.ctx)
    assert world.runner.lines() == ["cilium status --wait --wait-duration 2s"]
    assert world.runner.mutating_calls() == [] and world.api_writes == []


def test_cilium_status_failure_names_the_command_and_its_error(world: World) -> None:
    world.cluster_exists()
    world.runner.answer("cilium", "status", code=1, stdout=o.CILIUM_STATUS_OK.replace("OK", "1 errors"),
                        stderr=o.CILIUM_STATUS_TIMEOUT)
    with pytest.raises(StepError) as failure:
        networking.cilium_status(world.ctx)
    assert str(failure.value) == ("`cilium status --wait --wait-duration 2s` exited 1:\n"
                                  + o.CILIUM_STATUS_TIMEOUT.strip())


# --- service-connectivity -------------------------------------------------------------------------------------
def test_service_connectivity_converged_makes_no_call_and_no_write(world: World) -> None:
    converged(world)
    assert live("service-connectivity", world) == [True]
    networking.service_connectivity(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


def test_service_connectivity_without_the_service_says_the_api_server_serves_none(world: World) -> None:
    world.cluster_exists()
    with pytest.raises(StepError, match="Service default/kubernetes does not exist: the API server is not serving "
                                        "Services"):
        networking.service_connectivity(world.ctx)


def test_service_connectivity_times_out_naming_the_empty_endpoints(world: World) -> None:
    world.cluster_exists()
    world.holds(o.kubernetes_service(world.ctx.settings), o.kubernetes_endpoints([]))
    assert networking.service_has_endpoints(world.ctx) is False
    o.hurry(world, "networking", 0.3)
    with pytest.raises(WaitTimeout, match="timed out waiting for the kubernetes Service to have endpoints: "
                                          "Endpoints default/kubernetes addresses: none"):
        networking.service_connectivity(world.ctx)


# --- kube-proxy -----------------------------------------------------------------------------------------------
def test_kube_proxy_converged_passes_without_calls_or_writes(world: World) -> None:
    converged(world)
    assert live("kube-proxy", world) == [True]
    networking.kube_proxy(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


def test_kube_proxy_names_both_problems_a_daemonset_and_cilium_not_replacing_it(world: World) -> None:
    converged(world)
    labels = {"k8s-app": "kube-proxy"}
    container = {"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.31.4"}
    proxy = {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "kube-proxy", "namespace": NS},
             "spec": {"selector": {"matchLabels": labels},
                      "template": {"metadata": {"labels": labels}, "spec": {"containers": [container]}}},
             "status": o.daemonset_status(3, 3)}
    no_replacement = o.cilium_objects(world.root, values_override={"kubeProxyReplacement": False})
    world.holds(proxy, no_replacement["ConfigMap/cilium-config"])
    assert networking.kube_proxy_replaced(world.ctx) is False
    with pytest.raises(StepError) as failure:
        networking.kube_proxy(world.ctx)
    assert str(failure.value) == (
        "kube-proxy is not replaced by Cilium:\n"
        "  - DaemonSet kube-system/kube-proxy exists: disable it in Talos (cluster.proxy.disabled: true)\n"
        "  - ConfigMap kube-system/cilium-config has kube-proxy-replacement='false', expected 'true' (set "
        "kubeProxyReplacement: true in infrastructure/networking/cilium/values.yaml)")


def test_kube_proxy_step_runs_only_when_configured(world: World) -> None:
    assert COMPONENT.step("kube-proxy").when is networking.replaces_kube_proxy
    assert networking.replaces_kube_proxy(world.ctx) is True
    o.reconfigure(world, lambda data: data["networking"].update(kube_proxy_replacement=False))
    assert networking.replaces_kube_proxy(world.ctx) is False


def test_kube_proxy_step_is_skipped_without_asking_the_cluster_when_not_configured(
        world: World, capsys: pytest.CaptureFixture) -> None:
    converged(world)
    o.reconfigure(world, lambda data: data["networking"].update(kube_proxy_replacement=False))
    requests = world.store.request_count
    assert o.run_step(world, COMPONENT, "kube-proxy") == {}
    assert "[networking:kube-proxy] skipped: not applicable to this configuration" in capsys.readouterr().out
    assert world.store.request_count == requests and world.runner.calls == []
