"""The lab's controllers on an in-process Store: node readiness follows the CNI, rollouts take (scaled) time,
faults delay or block components, run-to-completion pods depend on CoreDNS, secrets gate 1Password Connect."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from hops.lab import charts, faults, helm_releases
from hops.lab.readiness import check, condition, is_true
from kube_lab import KubeLab


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path).start()
    yield lab
    lab.close()


def install(kl: KubeLab, chart: str, release: str, namespace: str, values: dict | None = None) -> None:
    applied = helm_releases.upgrade_install(kl.store, release, namespace, charts.lookup(chart), values or {},
                                            create_namespace=True)
    helm_releases.finish(kl.store, applied)


def coredns() -> dict:
    labels = {"k8s-app": "kube-dns"}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "coredns", "namespace": "kube-system"},
            "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                     "template": {"metadata": {"labels": labels},
                                  "spec": {"containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3"}],
                                           "tolerations": [{"key": "node-role.kubernetes.io/control-plane",
                                                            "operator": "Exists", "effect": "NoSchedule"}]}}}}


def dns_pod(name: str = "dns-check") -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "dns", "image": "busybox:1.36",
                                     "command": ["nslookup", "kubernetes.default"]}]}}


def deployment_available(kl: KubeLab, name: str, namespace: str) -> bool:
    obj = kl.store.get("apps/v1", "Deployment", name, namespace)
    return bool(obj) and check(obj)[0]


def test_nodes_turn_ready_only_after_cilium_and_coredns_follows(kl: KubeLab) -> None:
    order: list[str] = []  # in the store's event order: the test's own wait would notice cilium late

    def note(_type: str, obj: dict) -> None:
        if obj["kind"] == "Node" and is_true(obj, "Ready"):
            seen = f"node-ready:{obj['metadata']['name']}"
        elif obj["kind"] == "DaemonSet" and obj["metadata"]["name"] == "cilium" and check(obj)[0]:
            seen = "cilium-ready"
        else:
            return
        if seen not in order:
            order.append(seen)

    kl.store.subscribe(note)
    kl.add_nodes(3)
    kl.store.create(coredns())
    # the pods exist before the scheduler has tried them: wait for its verdict, not only for the pods
    kl.wait_for(lambda: [p for p in kl.store.list("v1", "Pod", "kube-system") if condition(p, "PodScheduled")],
                what="coredns pods the scheduler tried")
    pod = next(p for p in kl.store.list("v1", "Pod", "kube-system") if condition(p, "PodScheduled"))
    assert pod["status"]["phase"] == "Pending"
    assert "untolerated taint {node.kubernetes.io/not-ready: }" in condition(pod, "PodScheduled")["message"]
    assert kl.nodes_ready() == [False, False, False]

    install(kl, "cilium", "cilium", "kube-system", {"kubeProxyReplacement": True})
    agent = kl.wait_for(lambda: (d := kl.store.get("apps/v1", "DaemonSet", "cilium", "kube-system")) and
                        check(d)[0] and d, what="cilium DaemonSet ready")
    assert agent["status"]["desiredNumberScheduled"] == 3
    kl.wait_for(lambda: all(kl.nodes_ready()), what="nodes Ready")
    node = kl.store.list("v1", "Node")[0]
    ready = condition(node, "Ready")
    assert (ready["reason"], ready["message"]) == ("KubeletReady", "kubelet is posting ready status")
    assert not any(t["key"] == "node.kubernetes.io/not-ready" for t in node["spec"].get("taints", []))
    assert order.index("cilium-ready") < min(i for i, e in enumerate(order) if e.startswith("node-ready"))
    kl.wait_for(lambda: deployment_available(kl, "coredns", "kube-system"), what="coredns available")
    config = kl.store.get("v1", "ConfigMap", "cilium-config", "kube-system")
    assert config["data"]["kube-proxy-replacement"] == "true"


def test_nodes_turn_not_ready_when_cilium_goes_away(kl: KubeLab) -> None:
    kl.add_nodes(2)
    install(kl, "cilium", "cilium", "kube-system")
    kl.wait_for(lambda: all(kl.nodes_ready()), what="nodes Ready")
    kl.store.delete("apps/v1", "DaemonSet", "cilium", "kube-system")
    kl.wait_for(lambda: not any(kl.nodes_ready()), what="nodes NotReady")
    node = kl.store.list("v1", "Node")[0]
    assert "cni plugin not initialized" in condition(node, "Ready")["message"]


def test_notready_fault_keeps_a_node_not_ready(kl: KubeLab) -> None:
    faults.add(kl.layout, "notready:talos-cp-2")
    kl.add_nodes(3)
    install(kl, "cilium", "cilium", "kube-system")
    kl.wait_for(lambda: sum(kl.nodes_ready()) == 2, what="two nodes Ready")
    node = kl.store.get("v1", "Node", "talos-cp-2")
    assert condition(node, "Ready")["status"] == "Unknown"


def test_deployment_rollout_creates_pods_replicaset_and_endpoints(kl: KubeLab) -> None:
    kl.add_nodes(3)
    install(kl, "cilium", "cilium", "kube-system")
    install(kl, "podinfo", "podinfo", "podinfo", {"replicaCount": 2})
    kl.wait_for(lambda: deployment_available(kl, "podinfo", "podinfo"), what="podinfo available")
    pods = kl.store.list("v1", "Pod", "podinfo")
    assert len(pods) == 2 and all(p["status"]["phase"] == "Running" and is_true(p, "Ready") for p in pods)
    assert pods[0]["metadata"]["ownerReferences"][0]["kind"] == "ReplicaSet"
    assert kl.store.get_pod_log("podinfo", pods[0]["metadata"]["name"])
    endpoints = kl.wait_for(lambda: (e := kl.store.get("v1", "Endpoints", "podinfo", "podinfo")) and
                            e.get("subsets") and len(e["subsets"][0].get("addresses", [])) == 2 and e,
                            what="podinfo endpoints")
    assert {a["ip"] for a in endpoints["subsets"][0]["addresses"]} == {p["status"]["podIP"] for p in pods}
    deploy = kl.store.get("apps/v1", "Deployment", "podinfo", "podinfo")
    assert condition(deploy, "Available")["reason"] == "MinimumReplicasAvailable"


def test_delay_fault_postpones_and_block_fault_stops_a_rollout(kl: KubeLab) -> None:
    kl.add_nodes(1)
    install(kl, "cilium", "cilium", "kube-system")
    kl.wait_for(lambda: all(kl.nodes_ready()), what="node Ready")
    faults.add(kl.layout, "block:podinfo")
    install(kl, "podinfo", "podinfo", "podinfo")
    deploy = kl.wait_for(lambda: (d := kl.store.get("apps/v1", "Deployment", "podinfo", "podinfo")) and
                         (condition(d, "Progressing") or {}).get("reason") == "ProgressDeadlineExceeded" and d,
                         what="progress deadline exceeded")
    assert not check(deploy)[0]
    pod = kl.store.list("v1", "Pod", "podinfo")[0]
    assert pod["status"]["containerStatuses"][0]["state"]["waiting"]["reason"] == "ImagePullBackOff"

    faults.clear(kl.layout)
    faults.add(kl.layout, "delay:podinfo:100")      # 100 simulated seconds = 0.2 s at speed 500
    kl.wait_for(lambda: deployment_available(kl, "podinfo", "podinfo"), what="podinfo available after unblock")
    ready = condition(kl.store.list("v1", "Pod", "podinfo")[0], "Ready")
    assert ready["status"] == "True" and "reason" not in ready and "message" not in ready  # no stale "not ready"


def test_dns_pod_fails_until_coredns_runs_then_succeeds(kl: KubeLab) -> None:
    kl.add_nodes(2)
    faults.add(kl.layout, "block:coredns")
    kl.store.create(coredns())
    install(kl, "cilium", "cilium", "kube-system")
    kl.store.create(dns_pod("dns-early"))
    failed = kl.wait_for(lambda: (p := kl.store.get("v1", "Pod", "dns-early", "default")) and
                         p["status"].get("phase") in ("Failed", "Succeeded") and p, what="dns pod finished")
    assert failed["status"]["phase"] == "Failed"
    assert "nslookup: can't resolve 'kubernetes.default'" in kl.store.get_pod_log("default", "dns-early")

    faults.clear(kl.layout)
    kl.wait_for(lambda: deployment_available(kl, "coredns", "kube-system"), what="coredns available")
    kl.store.create(dns_pod("dns-late"))
    done = kl.wait_for(lambda: (p := kl.store.get("v1", "Pod", "dns-late", "default")) and
                       p["status"].get("phase") in ("Failed", "Succeeded") and p, what="dns pod finished")
    assert done["status"]["phase"] == "Succeeded"


def test_job_completes_when_networking_ready(kl: KubeLab) -> None:
    kl.add_nodes(1)
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hello", "namespace": "default"},
           "spec": {"backoffLimit": 1, "template": {"spec": {"restartPolicy": "Never",
                                                             "containers": [{"name": "c", "image": "busybox"}]}}}}
    kl.store.create(job)
    pod = kl.wait_for(lambda: kl.store.list("v1", "Pod", "default", labels={"job-name": "hello"}), what="job pod")[0]
    kl.wait_for(lambda: (p := kl.store.get("v1", "Pod", pod["metadata"]["name"], "default")) and
                (condition(p, "PodScheduled") or {}).get("reason") == "Unschedulable", what="unschedulable")
    install(kl, "cilium", "cilium", "kube-system")
    done = kl.wait_for(lambda: (j := kl.store.get("batch/v1", "Job", "hello", "default")) and
                       condition(j, "Complete") and j, what="job complete")
    assert done["status"]["succeeded"] == 1


def credentials(version: str) -> str:
    text = json.dumps({"version": version, "deviceUuid": "hops-lab-fake"})
    return base64.b64encode(base64.b64encode(text.encode())).decode()


def test_connect_waits_for_version_2_credentials(kl: KubeLab) -> None:
    kl.add_nodes(1)
    install(kl, "cilium", "cilium", "kube-system")
    install(kl, "connect", "onepassword-connect", "onepassword-connect", {"connect": {"credentialsName": "op-credentials"}})

    def waiting_reason() -> str | None:
        pods = kl.store.list("v1", "Pod", "onepassword-connect")
        state = pods[0]["status"].get("containerStatuses", [{}])[0].get("state", {}) if pods else {}
        return (state.get("waiting") or {}).get("reason")

    kl.wait_for(lambda: waiting_reason() == "CreateContainerConfigError", what="missing secret")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "op-credentials",
                                                                 "namespace": "onepassword-connect"},
              "data": {"1password-credentials.json": credentials("1")}}
    kl.store.create(secret)
    kl.wait_for(lambda: waiting_reason() == "CrashLoopBackOff", what="crash loop")
    pod = kl.store.list("v1", "Pod", "onepassword-connect")[0]
    assert "credentials file is not version 2" in kl.store.get_pod_log("onepassword-connect", pod["metadata"]["name"])
    assert not deployment_available(kl, "onepassword-connect", "onepassword-connect")

    secret["data"]["1password-credentials.json"] = credentials("2")
    kl.store.apply(secret)
    kl.wait_for(lambda: deployment_available(kl, "onepassword-connect", "onepassword-connect"), what="connect up")


def test_cluster_secret_store_and_external_secret(kl: KubeLab) -> None:
    kl.layout.vault_file.parent.mkdir(parents=True)
    kl.layout.vault_file.write_text(json.dumps({"vaults": [{"id": "v1", "name": "homelab", "items": [
        {"id": "i1", "title": "1password-connect-token", "fields": [{"id": "token", "label": "token", "value": "tok"}]},
        {"id": "i2", "title": "podinfo-example", "fields": [{"id": "m", "label": "message", "value": "hi"}]}]}]}))
    kl.add_nodes(1)
    install(kl, "cilium", "cilium", "kube-system")
    install(kl, "external-secrets", "external-secrets", "external-secrets")
    install(kl, "connect", "onepassword-connect", "onepassword-connect")
    kl.store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "op-credentials",
                                                                        "namespace": "onepassword-connect"},
                     "data": {"1password-credentials.json": credentials("2")}})
    kl.wait_for(lambda: kl.store.registry.by_kind("external-secrets.io/v1beta1", "ClusterSecretStore"), what="CRD")
    kl.store.create({"apiVersion": "external-secrets.io/v1beta1", "kind": "ClusterSecretStore",
                     "metadata": {"name": "onepassword"},
                     "spec": {"provider": {"onepassword": {
                         "connectHost": "http://onepassword-connect.onepassword-connect.svc.cluster.local:8080",
                         "vaults": {"homelab": 1},
                         "auth": {"secretRef": {"connectTokenSecretRef": {
                             "name": "onepassword-connect-token", "key": "token",
                             "namespace": "onepassword-connect"}}}}}}})
    store = kl.wait_for(lambda: (s := kl.store.get("external-secrets.io/v1beta1", "ClusterSecretStore",
                                                   "onepassword")) and condition(s, "Ready") and s, what="store status")
    assert condition(store, "Ready")["status"] == "False"
    assert 'secrets "onepassword-connect-token" not found' in condition(store, "Ready")["message"]

    kl.store.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "onepassword-connect-token",
                                                                        "namespace": "onepassword-connect"},
                     "data": {"token": base64.b64encode(b"tok").decode()}})
    kl.wait_for(lambda: kl.ready("external-secrets.io/v1beta1", "ClusterSecretStore", "onepassword"), what="valid")
    assert condition(kl.store.get("external-secrets.io/v1beta1", "ClusterSecretStore", "onepassword"),
                     "Ready")["message"] == "store validated"

    kl.store.create({"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret",
                     "metadata": {"name": "podinfo-example", "namespace": "default"},
                     "spec": {"secretStoreRef": {"kind": "ClusterSecretStore", "name": "onepassword"},
                              "target": {"name": "podinfo-example"},
                              "data": [{"secretKey": "message", "remoteRef": {"key": "podinfo-example",
                                                                              "property": "message"}}]}})
    secret = kl.wait_for(lambda: kl.store.get("v1", "Secret", "podinfo-example", "default"), what="synced secret")
    assert base64.b64decode(secret["data"]["message"]) == b"hi"
