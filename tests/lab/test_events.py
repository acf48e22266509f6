"""The Events a real cluster records, from the lab's controllers: scheduler, kubelet, controller-manager and Flux
events on the objects they concern, each happening once; `kubectl describe pod` lists them."""

from __future__ import annotations

from pathlib import Path

import pytest
from kube_lab import KubeLab

from hops.lab.controllers.cni import CniController
from hops.lab.controllers.events import EventController
from hops.lab.controllers.workloads import WorkloadController
from tests.lab.apiserver_fixtures import Kubectl, kubectl_binary


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path, controllers=[WorkloadController, EventController]).start()
    yield lab
    lab.close()


def events_of(kl: KubeLab, kind: str, name: str) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"], e["message"]) for e in kl.store.list("v1", "Event")
            if e["involvedObject"]["kind"] == kind and e["involvedObject"]["name"] == name]


def deployment(name: str = "web", tolerate: bool = True) -> dict:
    spec: dict = {"containers": [{"name": "web", "image": "nginx:1.25"}]}
    if tolerate:
        spec["tolerations"] = [{"operator": "Exists"}]
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}}


def test_a_rollout_records_controller_scheduler_and_kubelet_events(kl, tmp_path):
    kl.add_nodes(1)
    kl.store.create(deployment())
    pod = kl.wait_for(lambda: next((p for p in kl.store.list("v1", "Pod", "default")
                                    if (p.get("status") or {}).get("phase") == "Running"), None), what="a running pod")
    name = pod["metadata"]["name"]
    kl.wait_for(lambda: len(events_of(kl, "Pod", name)) >= 4, what="the pod's events")
    reasons = [reason for _, reason, _ in events_of(kl, "Pod", name)]
    assert reasons == ["Scheduled", "Pulled", "Created", "Started"]
    assert ("Normal", "Scheduled", f"Successfully assigned default/{name} to talos-cp-1") in events_of(kl, "Pod", name)
    rs = pod["metadata"]["ownerReferences"][0]["name"]
    assert ("Normal", "SuccessfulCreate", f"Created pod: {name}") in events_of(kl, "ReplicaSet", rs)
    assert ("Normal", "ScalingReplicaSet", f"Scaled up replica set {rs} to 1 from 0") in \
        events_of(kl, "Deployment", "web")
    assert ("Normal", "RegisteredNode", "Node talos-cp-1 event: Registered Node talos-cp-1 in Controller") in \
        events_of(kl, "Node", "talos-cp-1")
    binary = kubectl_binary()
    if binary:
        described = Kubectl(binary, kl.server.url, tmp_path / "kubectl")("describe", "pod", name).stdout
        assert "Successfully assigned default/" in described and "Started container web" in described


def test_an_unschedulable_pod_records_failed_scheduling_only(kl):
    kl.add_nodes(1)                                 # NotReady (no CNI): its taint keeps an intolerant pod off
    kl.store.create(deployment("picky", tolerate=False))
    pod = kl.wait_for(lambda: next(iter(kl.store.list("v1", "Pod", "default")), None), what="the pod")
    name = pod["metadata"]["name"]
    kl.wait_for(lambda: events_of(kl, "Pod", name), what="an event")
    (event,) = events_of(kl, "Pod", name)
    assert event[:2] == ("Warning", "FailedScheduling") and "untolerated taint" in event[2]


def test_static_pods_record_nothing(tmp_path):
    lab = KubeLab(tmp_path, controllers=[EventController, CniController]).start()
    try:
        lab.store.create({"apiVersion": "v1", "kind": "Pod",
                          "metadata": {"name": "kube-apiserver-cp", "namespace": "kube-system",
                                       "annotations": {"kubernetes.io/config.source": "file"}},
                          "spec": {"nodeName": "cp", "containers": [{"name": "a", "image": "x:1"}]},
                          "status": {"containerStatuses": [{"name": "a", "state": {"running": {}}}]}})
        lab.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "marker", "namespace": "default"},
                          "spec": {"nodeName": "cp", "containers": [{"name": "a", "image": "x:1"}]}})
        lab.wait_for(lambda: events_of(lab, "Pod", "marker"), what="the marker pod's event")
        assert events_of(lab, "Pod", "kube-apiserver-cp") == []
    finally:
        lab.close()


def test_a_restarted_recorder_records_nothing_twice(kl):
    kl.add_nodes(1)
    kl.store.create(deployment())
    kl.wait_for(lambda: any(e["reason"] == "Started" for e in kl.store.list("v1", "Event")), what="a Started event")
    before = len(kl.store.list("v1", "Event"))
    pod = next(p for p in kl.store.list("v1", "Pod", "default"))
    fresh = EventController(kl.controllers[0].lab)            # a new recorder knows nothing ...
    fresh.handle("MODIFIED", pod)
    assert len(kl.store.list("v1", "Event")) > before          # ... and records the pod's story again
    count = len(kl.store.list("v1", "Event"))
    restarted = EventController(kl.controllers[0].lab)        # a restarted one reads what is stored first
    restarted.seed()
    restarted.handle("MODIFIED", pod)
    assert len(kl.store.list("v1", "Event")) == count
