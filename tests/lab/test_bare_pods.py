"""Bare Pods run their command for its simulated time (real kubectl run/wait/exec against the lab's API), and
the command simulation itself."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from kube_lab import KubeLab

from hops.lab import charts, helm_releases
from hops.lab.controllers import commands

KUBECTL = "/usr/bin/kubectl"
needs_kubectl = pytest.mark.skipif(shutil.which(KUBECTL) is None, reason=f"the real kubectl ({KUBECTL}) is missing")


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(1)
    applied = helm_releases.upgrade_install(lab.store, "cilium", "kube-system", charts.lookup("cilium"), {},
                                            create_namespace=True)
    helm_releases.finish(lab.store, applied)
    lab.wait_for(lambda: all(lab.nodes_ready()), what="node Ready")
    yield lab
    lab.close()


def kubectl(kl: KubeLab, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    env = kl.env(KUBECACHEDIR=str(kl.layout.root / "kubecache"))
    return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=timeout)


def phase(kl: KubeLab, name: str) -> str | None:
    pod = kl.store.get("v1", "Pod", name, "default")
    return (pod.get("status") or {}).get("phase") if pod else None


@needs_kubectl
def test_sleeping_pod_is_ready_while_it_runs_then_succeeds(kl: KubeLab) -> None:
    # 3000 simulated seconds at lab speed 500: about 6 wall seconds of Running
    ran = kubectl(kl, "run", "sleeper", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "3000")
    assert ran.returncode == 0, ran.stderr
    ready = kubectl(kl, "wait", "--for=condition=Ready", "pod/sleeper", "--timeout=30s")
    assert ready.returncode == 0, ready.stderr
    assert phase(kl, "sleeper") == "Running"
    said = kubectl(kl, "exec", "sleeper", "--", "echo", "hi")
    assert (said.returncode, said.stdout) == (0, "hi\n"), said.stderr
    host = kubectl(kl, "exec", "sleeper", "--", "cat", "/etc/hostname")
    assert host.stdout == "sleeper\n"
    done = kubectl(kl, "wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/sleeper", "--timeout=60s")
    assert done.returncode == 0, done.stderr
    pod = kl.store.get("v1", "Pod", "sleeper", "default")
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["reason"] == "Completed"
    refused = kubectl(kl, "exec", "sleeper", "--", "echo", "hi")
    assert refused.returncode == 1
    assert "cannot exec into a container in a completed pod; current phase is Succeeded" in refused.stderr


@needs_kubectl
def test_exec_exit_codes_and_unknown_commands(kl: KubeLab) -> None:
    assert kubectl(kl, "run", "box", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "infinity").returncode == 0
    assert kubectl(kl, "wait", "--for=condition=Ready", "pod/box", "--timeout=30s").returncode == 0
    failed = kubectl(kl, "exec", "box", "--", "sh", "-c", "echo out; exit 3")
    assert (failed.returncode, failed.stdout) == (3, "out\n")
    assert "command terminated with exit code 3" in failed.stderr
    missing = kubectl(kl, "exec", "box", "--", "frobnicate")
    assert missing.returncode == 126 and 'exec: "frobnicate": executable file not found in $PATH' in missing.stderr
    wrong = kubectl(kl, "exec", "box", "-c", "nope", "--", "true")
    assert wrong.returncode == 1 and "container nope is not valid for pod box" in wrong.stderr


def test_restart_policy_always_restarts_a_finished_command(kl: KubeLab) -> None:
    kl.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "looper", "namespace": "default"},
                     "spec": {"restartPolicy": "Always",
                              "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100"]}]}})
    def restarts() -> int:
        pod = kl.store.get("v1", "Pod", "looper", "default") or {}
        return ((pod.get("status") or {}).get("containerStatuses") or [{}])[0].get("restartCount", 0)

    kl.wait_for(lambda: restarts() >= 2, what="two restarts")
    assert phase(kl, "looper") == "Running"


def test_restart_policy_never_with_a_failing_command_fails(kl: KubeLab) -> None:
    kl.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "oops", "namespace": "default"},
                     "spec": {"restartPolicy": "Never",
                              "containers": [{"name": "c", "image": "busybox",
                                              "command": ["sh", "-c", "echo bye; sleep 10; exit 2"]}]}})
    kl.wait_for(lambda: phase(kl, "oops") in ("Succeeded", "Failed"), what="pod finished")
    assert phase(kl, "oops") == "Failed"
    assert kl.store.get_pod_log("default", "oops") == "bye\n"


def test_command_simulation() -> None:
    assert commands.simulate("sleep 300") == commands.Run(300.0, 0, "")
    assert commands.simulate("echo a; sleep 1m && echo b") == commands.Run(60.0, 0, "a\nb\n")
    assert commands.simulate("false && sleep 5; exit 4") == commands.Run(0.0, 4, "")
    assert math.isinf(commands.simulate("sleep infinity").seconds)
    assert commands.script({"command": ["/bin/sh", "-c", "sleep 2"]}) == "sleep 2"
    assert commands.script({"image": "nginx"}) is None


@needs_kubectl
def test_exec_into_a_pending_pod_is_refused(kl: KubeLab) -> None:
    kl.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "stuck", "namespace": "default"},
                     "spec": {"nodeSelector": {"no-such": "label"},
                              "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "100"]}]}})
    kl.wait_for(lambda: phase(kl, "stuck") == "Pending", what="pod pending")
    refused = kubectl(kl, "exec", "stuck", "--", "echo", "hi")
    assert refused.returncode == 1 and 'unable to upgrade connection: container not found ("c")' in refused.stderr


def test_exec_without_an_upgrade_is_a_bad_request(kl: KubeLab) -> None:
    kl.store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain", "namespace": "default"},
                     "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]}})
    kl.wait_for(lambda: phase(kl, "plain") == "Running", what="pod running")
    url = f"{kl.server.url}/api/v1/namespaces/default/pods/plain/exec?command=true&stdout=true"
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(url, timeout=10)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["message"] == "Upgrade request required"


@needs_kubectl
def test_exec_nslookup_answers_only_once_coredns_runs(kl: KubeLab) -> None:
    from hops.lab.readiness import check

    assert kubectl(kl, "run", "dns", "--image=busybox:1.36", "--restart=Never", "--", "sleep", "infinity").returncode == 0
    assert kubectl(kl, "wait", "--for=condition=Ready", "pod/dns", "--timeout=30s").returncode == 0
    early = kubectl(kl, "exec", "dns", "--", "nslookup", "kubernetes.default")
    assert early.returncode == 1 and "can't resolve 'kubernetes.default'" in early.stdout + early.stderr
    labels = {"k8s-app": "kube-dns"}
    kl.store.create({"apiVersion": "apps/v1", "kind": "Deployment",
                     "metadata": {"name": "coredns", "namespace": "kube-system"},
                     "spec": {"replicas": 1, "selector": {"matchLabels": labels},
                              "template": {"metadata": {"labels": labels},
                                           "spec": {"containers": [{"name": "coredns", "image": "coredns"}]}}}})
    kl.wait_for(lambda: (d := kl.store.get("apps/v1", "Deployment", "coredns", "kube-system")) and check(d)[0],
                what="coredns available")
    late = kubectl(kl, "exec", "dns", "--", "nslookup", "kubernetes.default")
    assert late.returncode == 0, late.stderr
    assert "Name:      kubernetes.default" in late.stdout
