"""What the tools answer and what the cluster holds, for the step tests of phases 1-3 (validation, talos,
networking). Texts follow the lab's emulated tools (hops/lab/tools/*.py), which follow the real ones; objects come
from the lab's own builders (hops/lab/cluster_seed.py, hops/lab/charts.py) with the status its controllers
(hops/lab/controllers/) give them once converged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hops.lab import charts, cluster_seed
from hops.lab.tools.flags import table
from hops.lab.tools.talhelper import new_secrets

NOW = "2026-12-02T05:00:00Z"
NODES = (("talos-cp-1", "127.0.51.11"), ("talos-cp-2", "127.0.51.12"), ("talos-cp-3", "127.0.51.13"))
NODE_NAMES = tuple(name for name, _ in NODES)

# --- tool versions (phase 1) ----------------------------------------------------------------------------------
VERSION_OUTPUT = {  # `<tool> <VERSION_ARGS>` at the versions bootstrap-config.yaml requires
    "talosctl": "Client:\nTalos v1.8.3\n",
    "talhelper": "talhelper version 3.0.12\n",
    "helm": "v3.17.2+gcc0bbbd\n",
    "flux": "flux version 2.4.0\n",
    "cilium": "cilium-cli: v0.16.20 compiled with go1.23.3 on linux/amd64\ncilium image (default): v1.16.4\n",
    "op": "2.30.3\n",
}
MISE_VERSION = "2024.11.37 linux-x64 (2024-11-30)\n"


# --- 1Password (op v2) ----------------------------------------------------------------------------------------
def op_error(message: str) -> str:
    """op's error line: `[ERROR] YYYY/MM/DD HH:MM:SS <message>`."""
    return f"[ERROR] 2026/12/02 05:00:00 {message}\n"


NOT_SIGNED_IN = op_error("You are not currently signed in. Please run `op signin --help` for instructions")
WHOAMI = json.dumps({"url": "https://my.1password.com", "email": "lab@example.com", "user_uuid": "ABCDEFGHIJKLM",
                     "account_uuid": "NOPQRSTUVWXYZ", "user_type": "HUMAN"}, indent=2)
VAULT = json.dumps({"id": "vaultid0000000000000000000", "name": "homelab", "content_version": 4,
                    "type": "USER_CREATED"}, indent=2)
REQUIRED_ITEMS = ("1password-connect-credentials", "1password-connect-token", "github-token")


def item_list(*titles: str) -> str:
    """`op item list --vault homelab --format json`: summaries (no fields) of the items with these titles."""
    return json.dumps([{"id": f"item{i:022d}", "title": title, "version": 1,
                        "vault": {"id": "vaultid0000000000000000000", "name": "homelab"}, "category": "SECURE_NOTE",
                        "last_edited_by": "ABCDEFGHIJKLM", "created_at": NOW, "updated_at": NOW}
                       for i, title in enumerate(titles)], indent=2)


# --- talhelper / Talos ----------------------------------------------------------------------------------------
def secrets_bundle() -> str:
    """What `talhelper gensecret` prints: a fresh secrets bundle (cluster, secrets, trustdinfo, certs)."""
    return yaml.safe_dump(new_secrets(), sort_keys=False)


def genconfig_writes(out: Path, cluster: str = "home-ops", nodes: tuple[str, ...] = NODE_NAMES) -> Any:
    """An effect for `talhelper genconfig -o <out>`: the files talhelper writes (one machine config per node,
    talosconfig), with its stdout lines as the answer."""
    def effect(call: Any) -> None:
        out.mkdir(parents=True, exist_ok=True)
        for node in nodes:
            (out / f"{cluster}-{node}.yaml").write_text(yaml.safe_dump(
                {"version": "v1alpha1", "machine": {"type": "controlplane", "network": {"hostname": node}},
                 "cluster": {"clusterName": cluster}}))
        (out / "talosconfig").write_text(yaml.safe_dump({"context": cluster, "contexts": {cluster: {
            "endpoints": [a for _, a in NODES], "ca": "Y2E=", "crt": "Y3J0", "key": "a2V5"}}}))
    return effect


def genconfig_stdout(out: Path, cluster: str = "home-ops") -> str:
    lines = [f"generated config for {n} in {out}/{cluster}-{n}.yaml" for n, _ in NODES]
    return "\n".join([*lines, f"generated client config in {out}/talosconfig"]) + "\n"


def talosctl_error(verb: str, text: str) -> str:
    """talosctl's failure line for one node: `error <verb>: <rpc error>`."""
    return f"error {verb}: {text}\n"


def unavailable(desc: str) -> str:
    return f'rpc error: code = Unavailable desc = connection error: desc = "{desc}"'


def refused(address: str) -> str:
    return unavailable(f"transport: Error while dialing: dial tcp {address}:50000: connect: connection refused")


TLS_INTERNAL = unavailable("transport: authentication handshake failed: remote error: tls: internal error")
CERT_REQUIRED = unavailable("error reading server preface: remote error: tls: certificate required")
BAD_CERT = unavailable("error reading server preface: remote error: tls: bad certificate")
UNKNOWN_AUTHORITY = unavailable("transport: authentication handshake failed: tls: failed to verify certificate: "
                                "x509: certificate signed by unknown authority")
NOT_AVAILABLE = "rpc error: code = FailedPrecondition desc = bootstrap is not available yet"
TIME_NOT_SYNCED = "rpc error: code = FailedPrecondition desc = time is not in sync yet"
ALREADY_BOOTSTRAPPED = "rpc error: code = AlreadyExists desc = etcd data directory is not empty"
CONTROL_PLANE_ONLY = ("rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control "
                      "plane node")
NO_ETCD = ('rpc error: code = Unknown desc = failed to create etcd client: error getting kubernetes endpoints: Get '
           '"https://localhost:6443/api/v1/namespaces/default/endpoints/kubernetes": dial tcp [::1]:6443: connect: '
           'connection refused')


def version_output(address: str, maintenance: bool = False) -> str:
    """`talosctl version -n <address>`: client and server blocks."""
    client = ("Client:\n\tTag:         v1.8.3\n\tSHA:         6494aced\n\tBuilt:       \n\tGo version:  go1.22.9\n"
              "\tOS/Arch:     linux/amd64\n")
    server = (f"Server:\n\tNODE:        {address}\n\tTag:         v1.8.3\n\tSHA:         6494aced\n\tBuilt:       \n"
              "\tGo version:  go1.22.9\n\tOS/Arch:     linux/amd64\n")
    return client + server + ("\tEnabled:     maintenance\n" if maintenance else "\tEnabled:     RBAC\n")


def etcd_members(asked: str, members: list[tuple[str, str]]) -> str:
    """`talosctl etcd members -n <asked>`: talosctl's table of (hostname, address) members."""
    rows = [["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]]
    rows += [[asked, f"{0x1f00 + i:016x}", name, f"https://{address}:2380", f"https://{address}:2379", "false"]
             for i, (name, address) in enumerate(members)]
    return table(rows)


def kubeconfig_writes(world: Any) -> Any:
    """An effect for `talosctl kubeconfig <path>`: the kubeconfig of the world's API server appears."""
    return lambda call: world.cluster_exists()


# --- Kubernetes objects ---------------------------------------------------------------------------------------
def node(settings: Any, name: str, address: str, ready: bool = True) -> dict:
    """A Node as its kubelet registers it (NotReady: no CNI yet), or as it is once Cilium runs (Ready)."""
    obj = cluster_seed.node_object(settings, name, address, "controlplane")
    if ready:
        obj["spec"]["taints"] = []
        obj["status"]["conditions"][-1].update(status="True", reason="KubeletReady",
                                               message="kubelet is posting ready status")
    return obj


def nodes(settings: Any, ready: bool = True) -> list[dict]:
    return [node(settings, name, address, ready) for name, address in NODES]


def static_pods(settings: Any, phase: str = "Running") -> list[dict]:
    """kube-apiserver, -controller-manager and -scheduler of every control-plane node (Talos static pods)."""
    pods = []
    for name, address in NODES:
        for component in cluster_seed.STATIC_PODS:
            pod = cluster_seed._static_pod(component, name, address, settings)
            pod["status"]["phase"] = phase
            pods.append(pod)
    return pods


def kubernetes_service(settings: Any) -> dict:
    return cluster_seed._kubernetes_service(settings)


def kubernetes_endpoints(addresses: list[str]) -> dict:
    """Endpoints default/kubernetes (no subsets while the API server has not published itself)."""
    return cluster_seed._kubernetes_endpoints([type("N", (), {"address": a})() for a in addresses])


def deployment_status(desired: int, ready: int, generation: int = 1) -> dict:
    """What the lab's Deployment controller writes for `ready` of `desired` replicas."""
    available = ready >= desired
    conditions = [{"type": "Available", "status": "True" if available else "False",
                   "reason": "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                   "message": "Deployment has minimum availability." if available else
                   "Deployment does not have minimum availability.", "lastTransitionTime": NOW},
                  {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                   "message": "ReplicaSet has successfully progressed.", "lastTransitionTime": NOW}]
    return {"observedGeneration": generation, "replicas": desired, "updatedReplicas": desired, "readyReplicas": ready,
            "availableReplicas": ready, "unavailableReplicas": desired - ready, "conditions": conditions}


def daemonset_status(desired: int, ready: int, generation: int = 1) -> dict:
    return {"observedGeneration": generation, "desiredNumberScheduled": desired, "currentNumberScheduled": desired,
            "updatedNumberScheduled": desired, "numberReady": ready, "numberAvailable": ready,
            "numberMisscheduled": 0, **({"numberUnavailable": desired - ready} if ready < desired else {})}


def coredns(settings: Any, ready: int = 2) -> dict:
    obj = cluster_seed._coredns_deployment(settings)
    obj["status"] = deployment_status(2, ready)
    return obj


def cilium_objects(root: Path, agents_ready: int = 3, operator_ready: int = 2,
                   values_override: dict | None = None) -> dict[str, dict]:
    """Cilium as its chart renders it from the repository's values file, by kind/name, with the status the lab's
    controllers give it (agents_ready of 3 agents, operator_ready of 2 operator replicas). No CRDs: the steps
    never read them."""
    values = yaml.safe_load((root / "infrastructure/networking/cilium/values.yaml").read_text()) or {}
    values = charts.deep_merge(values, values_override or {})
    rendered = charts.render(charts.lookup("cilium"), "cilium", "kube-system", values)
    out = {f"{o['kind']}/{o['metadata']['name']}": o for o in rendered if o["kind"] != "CustomResourceDefinition"}
    out["DaemonSet/cilium"]["status"] = daemonset_status(3, agents_ready)
    out["Deployment/cilium-operator"]["status"] = deployment_status(2, operator_ready)
    return out


def agent_pod(name: str, node_name: str, waiting: tuple[str, str] | None = None) -> dict:
    """A Cilium agent pod; `waiting` = (reason, message) of a container that does not start."""
    state = {"waiting": {"reason": waiting[0], "message": waiting[1]}} if waiting else {"running": {"startedAt": NOW}}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "cilium"}},
            "spec": {"nodeName": node_name, "containers": [{"name": "cilium-agent", "image": "quay.io/cilium/cilium"}]},
            "status": {"phase": "Running" if not waiting else "Pending",
                       "conditions": [{"type": "Ready", "status": "False" if waiting else "True"}],
                       "containerStatuses": [{"name": "cilium-agent", "ready": not waiting, "restartCount": 3,
                                              "image": "quay.io/cilium/cilium", "state": state}]}}


def job_finished(succeeded: bool) -> dict:
    """The status the lab's Job controller writes when the Job's pod ends (backoffLimit reached when failed)."""
    if succeeded:
        return {"succeeded": 1, "active": 0, "completionTime": NOW, "conditions": [
            {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
             "message": "Reached expected number of succeeded pods", "lastTransitionTime": NOW},
            {"type": "Complete", "status": "True", "reason": "", "message": "", "lastTransitionTime": NOW}]}
    return {"failed": 3, "active": 0, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded",
         "message": "Job has reached the specified backoff limit", "lastTransitionTime": NOW}]}


def job_pod(job_name: str, phase: str = "Failed") -> dict:
    """The pod a Job ran (labelled job-name=<job>), ended."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job_name}-x7k2p", "namespace": "hops-checks",
                         "labels": {"job-name": job_name, "batch.kubernetes.io/job-name": job_name}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "dns", "image": "busybox:1.36"}]},
            "status": {"phase": phase}}


# --- helm / cilium --------------------------------------------------------------------------------------------
def helm_history(*revisions: tuple[int, str], updated: str = "2026-12-02T05:00:00.123456789Z") -> str:
    """`helm history cilium -o json`: (revision, status) rows, oldest first."""
    return json.dumps([{"revision": number, "updated": updated, "status": status, "chart": "cilium-1.16.5",
                        "app_version": "1.16.5", "description": "Install complete" if number == 1 else
                        "Upgrade complete"} for number, status in revisions])


HELM_NOT_FOUND = "Error: release: not found\n"
CILIUM_STATUS_OK = """    /¯¯\\
 /¯¯\\__/¯¯\\    Cilium:             OK
 \\__/¯¯\\__/    Operator:           OK
 /¯¯\\__/¯¯\\    Envoy DaemonSet:    disabled (using embedded mode)
 \\__/¯¯\\__/    Hubble Relay:       disabled
    \\__/       ClusterMesh:        disabled

DaemonSet              cilium             Desired: 3, Ready: 3/3, Available: 3/3
Deployment             cilium-operator    Desired: 2, Ready: 2/2, Available: 2/2
Containers:            cilium             Running: 3
                       cilium-operator    Running: 2
"""
CILIUM_STATUS_TIMEOUT = ("Error: Unable to determine status:  timeout while waiting for status to become successful: "
                         "context deadline exceeded\n")


# --- acting while a step waits --------------------------------------------------------------------------------
class OnceWatched:
    """Runs change() in a thread as soon as the step watches `kind` (the "becomes ready while waiting" case: no
    sleep, the store says when the watch is open). join() after the step returned: it re-raises what failed."""

    def __init__(self, world: Any, api_version: str, kind: str, change: Any) -> None:
        import threading

        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(world, api_version, kind, change), daemon=True)
        self.thread.start()

    def _run(self, world: Any, api_version: str, kind: str, change: Any) -> None:
        try:
            if not world.store.wait_for_watch(api_version, kind):
                raise AssertionError(f"the step never watched {kind}")
            change()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread by join()
            self.error = exc

    def join(self) -> None:
        self.thread.join(timeout=10)
        assert not self.thread.is_alive(), "the change never ran"
        if self.error is not None:
            raise self.error


# --- configuration --------------------------------------------------------------------------------------------
def reconfigure(world: Any, edit: Any) -> None:
    """Change the world's bootstrap-config.yaml with edit(data) and make the context load it again (the way a
    user's edit reaches the next run)."""
    path = world.root / "bootstrap-config.yaml"
    data = yaml.safe_load(path.read_text())
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    world.ctx.__dict__.pop("settings", None)


def hurry(world: Any, group: str, seconds: float) -> None:
    """A shorter phase deadline (bootstrap.timeouts.<group>) for a test that waits for it to pass."""
    reconfigure(world, lambda data: data["bootstrap"]["timeouts"].update({group: seconds}))


# --- a whole step as its doit task runs it --------------------------------------------------------------------
def run_step(world: Any, component: Any, name: str) -> Any:
    """hops.actions.StepAction of `group:name` in this process (when, preconditions, once-guard, action, marker),
    on the world's context; the run lock it takes is released afterwards. Returns what doit would get."""
    from hops.actions import StepAction
    from hops.state import lock

    try:
        return StepAction(component.step_id(name), component.step(name))()
    finally:
        lock.release(world.ctx.state_dir)
