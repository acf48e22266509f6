"""The helpers the phases share: one failure shape, one readiness definition per workload kind, waiting pods,
and the sources of services:connect-validated. No cluster: plain dicts shaped like API objects."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from hops.components import applications, networking, services
from hops.errors import StepError, WaitTimeout, fail_all
from hops.workloads import (daemonset_ready, daemonset_state, deployment_available, deployment_state,
                            naming_waiting_pods, waiting_pods, workload_ready)


def deployment(replicas: int = 2, available: int = 2, updated: int = 2, generation: int = 1, observed: int = 1,
               condition: str = "True") -> dict:
    return {"kind": "Deployment", "metadata": {"name": "web", "namespace": "apps", "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"availableReplicas": available, "updatedReplicas": updated, "observedGeneration": observed,
                       "conditions": [{"type": "Available", "status": condition, "reason": "R"}]}}


def daemonset(desired: int = 3, ready: int = 3, updated: int = 3, generation: int = 1, observed: int = 1) -> dict:
    return {"kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "kube-system", "generation": generation},
            "status": {"desiredNumberScheduled": desired, "numberReady": ready, "updatedNumberScheduled": updated,
                       "observedGeneration": observed}}


def test_fail_all_names_every_problem_and_passes_without_any() -> None:
    fail_all("nothing wrong", [])
    with pytest.raises(StepError) as caught:
        fail_all("the repository is incomplete", ["a is missing", "b is missing"])
    assert str(caught.value) == "the repository is incomplete:\n  - a is missing\n  - b is missing"


@pytest.mark.parametrize("changes,ready", [
    ({}, True),
    ({"available": 1}, False),
    ({"available": 3}, False),  # a surge's old pod is still there: the rollout has not finished
    ({"updated": 1}, False),
    ({"observed": 0}, False),  # status of an older spec
    ({"condition": "False"}, False),
    ({"replicas": 0, "available": 0, "updated": 0}, True),
])
def test_deployment_available(changes: dict, ready: bool) -> None:
    assert deployment_available(deployment(**changes)) is ready


def test_deployment_state_message() -> None:
    assert deployment_state(None, "apps", "web") == (False, "Deployment apps/web does not exist")
    assert deployment_state(deployment(available=1), "apps", "web") == (False, "Deployment apps/web: 1/2 available, "
                                                                               "Available=True R:")


@pytest.mark.parametrize("ds,kwargs,ready", [
    (daemonset(), {"nodes": 3}, True),
    (daemonset(desired=2, ready=2, updated=2), {"nodes": 3}, False),  # an agent on every configured node
    (daemonset(ready=2), {}, False),
    (daemonset(ready=4), {}, False),
    (daemonset(updated=2), {}, False),
    (daemonset(observed=0), {}, False),
    (daemonset(0, 0, 0), {"minimum": 1}, False),  # storage on no node
    (daemonset(0, 0, 0), {}, True),  # a Flux-managed DaemonSet may target no node of this cluster
])
def test_daemonset_ready(ds: dict, kwargs: dict, ready: bool) -> None:
    assert daemonset_ready(ds, **kwargs) is ready


def test_daemonset_messages_keep_their_format() -> None:
    assert networking.agents_state(daemonset(ready=0), 3) == (
        False, "DaemonSet kube-system/cilium: desiredNumberScheduled=3 numberReady=0 of 3 nodes")
    assert services.manager_state(daemonset(updated=1))[1] == ("DaemonSet longhorn-system/longhorn-manager: "
                                                               "desiredNumberScheduled=3 numberReady=3 "
                                                               "updatedNumberScheduled=1")
    assert daemonset_state(None, "ns", "x") == (False, "DaemonSet ns/x does not exist")


def test_applications_names_workload_counts() -> None:
    assert applications.workload_problem(deployment()) is None
    assert applications.workload_problem(deployment(available=0)) == "Deployment apps/web: 0/2 replicas available"
    assert applications.workload_problem(daemonset(ready=1)) == "DaemonSet kube-system/agent: 1/3 pods ready"
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "apps"}, "spec": {"replicas": 1},
           "status": {"readyReplicas": 1, "observedGeneration": 1}}
    assert workload_ready(sts) and applications.workload_problem(sts) is None


class FakeKube:
    def __init__(self, pods: list[dict]) -> None:
        self.pods, self.asked = pods, []

    def list(self, kind: str, namespace: str | None = None, fresh: bool = False, labels: str | None = None) -> list:
        self.asked.append((kind, namespace, fresh, labels))
        return self.pods


def pod(name: str, container: str, waiting: dict | None) -> dict:
    return {"metadata": {"name": name},
            "status": {"containerStatuses": [{"name": container, "state": {"waiting": waiting}}]}}


def test_waiting_pods_names_container_reason_and_message() -> None:
    kube = FakeKube([pod("a-1", "app", {"reason": "CrashLoopBackOff", "message": "back-off"}),
                     pod("b-1", "app", None), pod("c-1", "agent", {"reason": "ContainerCreating"})])
    assert waiting_pods(kube, "ns", "k8s-app=x") == "; pods: a-1/app: CrashLoopBackOff back-off; " \
                                                    "c-1/agent: ContainerCreating"
    assert kube.asked == [("Pod", "ns", True, "k8s-app=x")]
    assert waiting_pods(FakeKube([]), "ns") == ""


def test_naming_waiting_pods_extends_only_a_timeout() -> None:
    kube = FakeKube([pod("a-1", "app", {"reason": "ImagePullBackOff"})])
    with pytest.raises(WaitTimeout, match=r"^timed out waiting for x: y; pods: a-1/app: ImagePullBackOff$"):
        with naming_waiting_pods(kube, "ns"):
            raise WaitTimeout("timed out waiting for x: y")
    with pytest.raises(StepError, match="^other$"):
        with naming_waiting_pods(kube, "ns"):
            raise StepError("other")


def test_store_sources_are_every_file_the_kustomization_lists(tmp_path: Path) -> None:
    folder = tmp_path / services.STORE_DIR
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text("resources:\n  - clustersecretstore.yaml\n  - extra.yaml\n")
    ctx = SimpleNamespace(root=tmp_path)
    assert services.store_sources(ctx) == [folder / "kustomization.yaml", folder / "clustersecretstore.yaml",
                                           folder / "extra.yaml"]
    step = next(s for s in services.COMPONENT.steps if s.name == "connect-validated")
    assert step.sources == (services.store_sources,)  # a callable: `doit list` reads no YAML
