"""Contract tests of the Kubernetes API emulation with the real kubectl (skipped when kubectl is absent)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from hops.lab.apiserver import ApiServer, Store

from tests.lab.apiserver_fixtures import (Kubectl, crd, kubectl, kubectl_binary, node,  # noqa: F401
                                          self_signed_cert, server, store)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.25
        ports: [{containerPort: 80}]
"""


def _table(output: str) -> dict[str, list[str]]:
    lines = output.strip().splitlines()
    return {line.split()[0]: line.split() for line in lines[1:]}


def test_get_nodes_prints_a_real_looking_table(kubectl, store):
    store.create(node("talos-cp-1", ready=True, roles=("control-plane",)))
    store.create(node("talos-w-1", ready=False))
    result = kubectl("get", "nodes")
    header = result.stdout.splitlines()[0].split()
    assert header == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    rows = _table(result.stdout)
    assert rows["talos-cp-1"][1:3] == ["Ready", "control-plane"] and rows["talos-cp-1"][4] == "v1.31.4"
    assert rows["talos-w-1"][1:3] == ["NotReady", "<none>"]
    assert "Warning" not in result.stderr
    listing = json.loads(kubectl("get", "nodes", "-o", "json").stdout)
    assert listing["kind"] == "List" and len(listing["items"]) == 2
    assert kubectl("get", "node", "talos-w-1", "-o", "jsonpath={.status.conditions[0].status}").stdout == "False"


def test_get_all_namespaces_and_fallback_columns(kubectl, store):
    store.create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "default"}})
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "kube-system"},
                  "spec": {"containers": [{"name": "c", "image": "x"}]}, "status": {"phase": "Running"}})
    out = kubectl("get", "pods", "-A").stdout
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert _table(out)["kube-system"][1:4] == ["p", "0/1", "Running"]
    out = kubectl("get", "serviceaccounts").stdout
    assert out.splitlines()[0].split() == ["NAME", "AGE"] and "robot" in out


def test_apply_client_side_create_unchanged_configured(kubectl, store, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web created"
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web unchanged"
    manifest.write_text(DEPLOYMENT.replace("nginx:1.25", "nginx:1.26").replace("replicas: 2", "replicas: 3"))
    assert kubectl("apply", "-f", str(manifest)).stdout.strip() == "deployment.apps/web configured"
    stored = store.get("apps/v1", "Deployment", "web", "default")
    assert stored["spec"]["replicas"] == 3 and stored["metadata"]["generation"] == 2
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.26"
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]
    out = kubectl("get", "deployments").stdout
    assert out.splitlines()[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert _table(out)["web"][1] == "0/3"


def test_apply_server_side(kubectl, store, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\n"
                        "data: {a: '1'}\n")
    assert kubectl("apply", "--server-side", "-f", str(manifest)).stdout.strip() == "configmap/settings serverside-applied"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default}\n"
                        "data: {a: '2'}\n")
    kubectl("apply", "--server-side", "--force-conflicts", "-f", str(manifest))
    assert store.get("v1", "ConfigMap", "settings", "default")["data"] == {"a": "2"}
    manifest.write_text(DEPLOYMENT)
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(manifest)).stdout


def test_create_dry_run_piped_into_apply(kubectl, store):
    rendered = kubectl("create", "ns", "flux-system", "--dry-run=client", "-o", "yaml").stdout
    result = kubectl("apply", "-f", "-", input=rendered)
    assert result.stdout.strip() == "namespace/flux-system created"
    assert store.get("v1", "Namespace", "flux-system")["status"]["phase"] == "Active"
    secret = kubectl("create", "secret", "generic", "token", "-n", "flux-system", "--from-literal=k=v",
                     "--dry-run=client", "-o", "yaml").stdout
    kubectl("apply", "-f", "-", input=secret)
    stored = store.get("v1", "Secret", "token", "flux-system")
    assert base64.b64decode(stored["data"]["k"]) == b"v"


def test_wait_for_condition_ready(kubectl, store):
    store.create(node("talos-cp-1", ready=False))
    process = kubectl.popen("wait", "--for=condition=Ready", "node/talos-cp-1", "--timeout=60s")
    try:
        assert store.wait_for_watch("v1", "Node", timeout=30), "kubectl wait never opened its watch"
        store.set_status("v1", "Node", "talos-cp-1", None, {"conditions": [{"type": "Ready", "status": "True"}]})
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, err
    assert out.strip() == "node/talos-cp-1 condition met"


def test_label_and_delete(kubectl, store):
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "apps"}})
    assert kubectl("label", "ns", "apps", "team=core").stdout.strip() == "namespace/apps labeled"
    assert store.get("v1", "Namespace", "apps")["metadata"]["labels"]["team"] == "core"
    assert "apps" in kubectl("get", "ns", "-l", "team=core", "-o", "name").stdout
    kubectl("label", "ns", "apps", "team-")
    assert "team" not in store.get("v1", "Namespace", "apps")["metadata"]["labels"]
    assert kubectl("delete", "configmap", "c", "-n", "apps").stdout.strip() == 'configmap "c" deleted'
    store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "apps"}})
    assert kubectl("delete", "ns", "apps").stdout.strip() == 'namespace "apps" deleted'
    assert store.get("v1", "Namespace", "apps") is None
    assert store.list("v1", "ConfigMap", "apps") == []
    missing = kubectl("delete", "ns", "apps", check=False)
    assert missing.returncode != 0 and 'namespaces "apps" not found' in missing.stderr


def test_scale_logs_and_patch(kubectl, store, tmp_path):
    manifest = tmp_path / "deploy.yaml"
    manifest.write_text(DEPLOYMENT)
    kubectl("apply", "-f", str(manifest))
    assert kubectl("scale", "deployment/web", "--replicas=5").stdout.strip() == "deployment.apps/web scaled"
    assert store.get("apps/v1", "Deployment", "web", "default")["spec"]["replicas"] == 5
    kubectl("patch", "deployment", "web", "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"side",'
                                               '"image":"busybox"}]}}}}')
    names = [c["name"] for c in store.get("apps/v1", "Deployment", "web", "default")
             ["spec"]["template"]["spec"]["containers"]]
    assert names == ["web", "side"]
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "job-1", "namespace": "default"},
                  "spec": {"containers": [{"name": "main", "image": "x"}]}})
    store.set_pod_log("default", "job-1", "starting\ndone\n")
    assert kubectl("logs", "job-1").stdout == "starting\ndone\n"
    assert kubectl("logs", "job-1", "--tail=1").stdout == "done\n"


def test_custom_resources_need_an_established_crd(tmp_path):
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (looked on PATH and at /usr/bin/kubectl)")
    store = Store(crd_establish_delay=3600)          # never established during this test...
    with ApiServer(store) as server:
        run = Kubectl(binary, server.url, tmp_path)
        widget = "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w1, namespace: default}\nspec: {size: 1}\n"
        store.create(crd(columns=[{"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
                                  {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}]))
        early = run("apply", "-f", "-", input=widget, check=False)
        assert early.returncode != 0 and 'no matches for kind "Widget" in version "example.com/v1"' in early.stderr
        store.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
        store.crd_establish_delay = 0                # ...until it is re-created with no delay
        run("apply", "-f", "-", input=json.dumps(crd(columns=[
            {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
            {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}])))
        run("wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=30s")
        # a fresh discovery cache: kubectl caches discovery per server for a while
        fresh = Kubectl(binary, server.url, tmp_path / "fresh")
        assert fresh("apply", "-f", "-", input=widget).stdout.strip() == "widget.example.com/w1 created"
        out = fresh("get", "widgets").stdout
        assert out.splitlines()[0].split() == ["NAME", "SIZE", "AGE"] and _table(out)["w1"][1] == "1"
        fresh("apply", "-f", "-", input=widget.replace("size: 1", "size: 2"))
        assert store.get("example.com/v1", "Widget", "w1", "default")["spec"]["size"] == 2
    store.close()


def test_kubectl_over_tls(tmp_path):
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed (looked on PATH and at /usr/bin/kubectl)")
    cert, key = self_signed_cert(tmp_path)
    store = Store()
    with ApiServer(store, tls=(str(cert), str(key))) as server:
        ca_data = base64.b64encode(cert.read_bytes()).decode()
        run = Kubectl(binary, server.url, tmp_path / "k", ca_data=ca_data)
        assert "kube-system" in run("get", "namespaces").stdout
    store.close()


def test_create_namespace_and_secret_directly(kubectl, store):
    """Plain `kubectl create` (protobuf bodies from kubectl 1.32 on, JSON before)."""
    assert kubectl("create", "namespace", "direct").stdout.strip() == "namespace/direct created"
    assert kubectl("create", "secret", "generic", "creds", "-n", "direct", "--from-literal=token=abc").stdout.strip() \
        == "secret/creds created"
    assert base64.b64decode(store.get("v1", "Secret", "creds", "direct")["data"]["token"]) == b"abc"
    again = kubectl("create", "namespace", "direct", check=False)
    assert again.returncode != 0 and 'namespaces "direct" already exists' in again.stderr
