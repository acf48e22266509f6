"""Phase 3 — networking: Cilium from the same chart, version and values file as its Flux HelmRelease, then proof
that the cluster network works (agents ready on every node, nodes Ready, DNS from a pod, Service endpoints,
kube-proxy replaced when configured)."""

from __future__ import annotations

import time

from hops import helmrelease
from hops.context import Context
from hops.errors import StepError, fail_all
from hops.kube import describe_condition, is_true
from hops.taskmodel import Check, Component, Operation, Step
from hops.waiting import deadline_for
from hops.workloads import daemonset_state, deployment_available, deployment_state, naming_waiting_pods

NS = "kube-system"
CILIUM_DIR = "infrastructure/networking/cilium"
CHECK_NS = "hops-checks"
AGENT, OPERATOR = "cilium", "cilium-operator"
AGENT_LABELS = "k8s-app=cilium"  # the agent pods (kube-system holds other components' pods too)


def _nodes(ctx: Context) -> list[str]:
    return [n.name for n in ctx.config.network.nodes]


# --- deploy ---------------------------------------------------------------------------------------------------
def cilium_release(ctx: Context) -> helmrelease.Release:
    """Cilium's HelmRelease from CILIUM_DIR: the chart, version and repository Flux installs."""
    return helmrelease.load(ctx.root, CILIUM_DIR)


def deploy_cilium(ctx: Context) -> None:
    """helm upgrade --install with the values file Flux's HelmRelease uses (networking.cilium_values)."""
    helmrelease.upgrade_install(ctx, cilium_release(ctx), ctx.root / ctx.config.networking.cilium_values)


def cilium_installed(ctx: Context) -> bool:
    """The Cilium agent DaemonSet exists (the release has been applied)."""
    return ctx.kube.get("DaemonSet", AGENT, NS) is not None


# --- cilium-ready ---------------------------------------------------------------------------------------------
def agents_state(ds: dict | None, nodes: int) -> tuple[bool, str]:
    """Exactly one ready agent per configured node (the pod network needs it on every one of them)."""
    return daemonset_state(ds, NS, AGENT, nodes=nodes)


def operator_state(deploy: dict | None) -> tuple[bool, str]:
    """(Available, what its status says) of the Cilium operator Deployment (None: it does not exist)."""
    if deploy is None:
        return False, f"Deployment {NS}/{OPERATOR} does not exist"
    return deployment_available(deploy), f"Deployment {NS}/{OPERATOR}: {describe_condition(deploy, 'Available')}"


def wait(ctx: Context) -> None:
    """Wait for a ready agent on every configured node, then for the operator to be Available (one deadline)."""
    deadline = deadline_for(ctx, "networking")
    nodes = len(_nodes(ctx))
    with naming_waiting_pods(ctx.kube, NS, labels=AGENT_LABELS):
        ctx.kube.wait("DaemonSet", f"Cilium agents ready on all {nodes} nodes",
                      lambda objs: agents_state(objs.get(AGENT), nodes), deadline, namespace=NS, name=AGENT)
    ctx.kube.wait("Deployment", "the Cilium operator to be Available",
                  lambda objs: operator_state(objs.get(OPERATOR)), deadline, namespace=NS, name=OPERATOR)
    ctx.log.say(f"  Cilium agents ready on {nodes}/{nodes} nodes; operator Available")


def cilium_ready(ctx: Context) -> bool:
    """Whether the `cilium ready` live check passes (see cilium_ready_verdict)."""
    return cilium_ready_verdict(ctx)[0]


def cilium_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `cilium ready` live check: agents on every node and the operator available, or what is not."""
    agents = agents_state(ctx.kube.get("DaemonSet", AGENT, NS), len(_nodes(ctx)))
    operator = operator_state(ctx.kube.get("Deployment", OPERATOR, NS))
    return agents[0] and operator[0], "; ".join(text for ok, text in (agents, operator) if not ok) or agents[1]


# --- nodes-cni-ready ------------------------------------------------------------------------------------------
def nodes_state(ctx: Context, objects: dict[str, dict]) -> tuple[bool, str]:
    """Every configured node (by name) has Ready=True; names each one that has not."""
    pending = []
    for name in _nodes(ctx):
        node = objects.get(name)
        if node is None:
            pending.append(f"{name}: not registered")
        elif not is_true(node):
            pending.append(f"{name}: {describe_condition(node)}")
    return not pending, "; ".join(pending) or "all configured nodes Ready"


def nodes(ctx: Context) -> None:
    """Wait until every configured node is Ready."""
    ctx.kube.wait("Node", "every configured node to be Ready", lambda objs: nodes_state(ctx, objs),
                  deadline_for(ctx, "networking"))
    ctx.log.say(f"  {len(_nodes(ctx))} nodes Ready: {', '.join(_nodes(ctx))}")


def nodes_ready(ctx: Context) -> bool:
    """Whether every configured node is Ready (see nodes_ready_verdict)."""
    return nodes_ready_verdict(ctx)[0]


def nodes_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `configured nodes Ready` live check, naming the nodes that are not."""
    return nodes_state(ctx, {n["metadata"]["name"]: n for n in ctx.kube.list("Node")})


# --- pod-networking-tested ------------------------------------------------------------------------------------
def _dns_job(name: str, target: str) -> dict:
    container = {"name": "dns", "image": "busybox:1.36", "command": ["nslookup", target]}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": CHECK_NS,
                                                                 "labels": {"app.kubernetes.io/managed-by": "hops"}},
            "spec": {"backoffLimit": 2, "ttlSecondsAfterFinished": 300,
                     "template": {"metadata": {"labels": {"app.kubernetes.io/managed-by": "hops"}},
                                  "spec": {"restartPolicy": "Never", "containers": [container]}}}}


def _job_state(job: dict | None) -> tuple[bool, str]:
    if job is None:
        return False, "Job not created yet"
    if is_true(job, "Complete") or is_true(job, "Failed"):
        return True, "finished"
    status = job.get("status") or {}
    return False, f"active={status.get('active', 0)} failed={status.get('failed', 0)}"


def _job_logs(ctx: Context, name: str) -> str:
    pods = ctx.kube.list("Pod", CHECK_NS, fresh=True, labels=f"job-name={name}")
    return "\n".join(ctx.kube.log(p["metadata"]["name"], CHECK_NS, tail=10).strip() for p in pods)


def _delete_job(ctx: Context, name: str) -> None:
    ctx.kube.request("DELETE", f"/apis/batch/v1/namespaces/{CHECK_NS}/jobs/{name}",
                     body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"})


def _wait_coredns(ctx: Context) -> None:
    ctx.kube.wait("Deployment", "CoreDNS to be available",
                  lambda objs: deployment_state(objs.get("coredns"), "kube-system", "coredns"),
                  deadline_for(ctx, "networking"), namespace="kube-system", name="coredns")


def pod_networking(ctx: Context) -> None:
    """A short-lived Job resolves kubernetes.default.svc.<domain> through CoreDNS over the pod network."""
    target = f"kubernetes.default.svc.{ctx.config.cluster.domain}"
    _wait_coredns(ctx)  # CoreDNS rolls out only once nodes are Ready; testing before that proves nothing
    name = f"dns-check-{int(time.time())}"  # unique: never collides with a Job still being deleted
    ctx.kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": CHECK_NS}})
    ctx.kube.apply(_dns_job(name, target))
    try:
        done = ctx.kube.wait("Job", f"Job {CHECK_NS}/{name} to resolve {target}",
                             lambda objs: _job_state(objs.get(name)), deadline_for(ctx, "networking"),
                             namespace=CHECK_NS, name=name)
        if not is_true(done[name], "Complete"):
            raise StepError(f"pod networking test failed: Job {CHECK_NS}/{name} could not resolve {target} "
                            f"({describe_condition(done[name], 'Failed')}); pod log:\n{_job_logs(ctx, name)}")
    finally:
        _delete_job(ctx, name)
    ctx.log.say(f"  a pod resolved {target}")


# --- cilium-status-verified -----------------------------------------------------------------------------------
def cilium_status(ctx: Context) -> None:
    """`cilium status --wait` for up to the networking timeout; fails the step when it does not report OK."""
    seconds = max(1, int(ctx.timeout("networking")))
    ctx.runner.run("cilium", ["status", "--wait", "--wait-duration", f"{seconds}s"], timeout=seconds + 60,
                   retry=True)
    ctx.log.say("  cilium status: OK")


# --- service-connectivity-tested ------------------------------------------------------------------------------
def _endpoint_addresses(endpoints: dict | None) -> list[str]:
    return [a.get("ip", "") for s in (endpoints or {}).get("subsets") or [] for a in s.get("addresses") or []]


def service_connectivity(ctx: Context) -> None:
    """The `kubernetes` Service in default has endpoints with addresses (the API server behind its ClusterIP)."""
    def state(objs: dict[str, dict]) -> tuple[bool, str]:
        addresses = _endpoint_addresses(objs.get("kubernetes"))
        return bool(addresses), f"Endpoints default/kubernetes addresses: {', '.join(addresses) or 'none'}"

    if ctx.kube.get("Service", "kubernetes", "default") is None:
        raise StepError("Service default/kubernetes does not exist: the API server is not serving Services")
    objs = ctx.kube.wait("Endpoints", "the kubernetes Service to have endpoints", state,
                         deadline_for(ctx, "networking"), namespace="default", name="kubernetes")
    ctx.log.say(f"  Service default/kubernetes -> {', '.join(_endpoint_addresses(objs['kubernetes']))}")


def service_has_endpoints(ctx: Context) -> bool:
    """Endpoints default/kubernetes has at least one address."""
    return bool(_endpoint_addresses(ctx.kube.get("Endpoints", "kubernetes", "default")))


# --- kube-proxy-verified --------------------------------------------------------------------------------------
def kube_proxy_problems(ctx: Context) -> list[str]:
    """What still runs or configures kube-proxy (its DaemonSet, cilium-config without
    kube-proxy-replacement=true); empty when Cilium replaces it."""
    problems = []
    if ctx.kube.get("DaemonSet", "kube-proxy", NS) is not None:
        problems.append(f"DaemonSet {NS}/kube-proxy exists: disable it in Talos (cluster.proxy.disabled: true)")
    config = ctx.kube.get("ConfigMap", "cilium-config", NS)
    value = ((config or {}).get("data") or {}).get("kube-proxy-replacement")
    if value != "true":
        problems.append(f"ConfigMap {NS}/cilium-config has kube-proxy-replacement={value!r}, expected 'true' "
                        f"(set kubeProxyReplacement: true in {ctx.config.networking.cilium_values})")
    return problems


def kube_proxy(ctx: Context) -> None:
    """Fail naming every kube_proxy_problems entry; otherwise report that Cilium replaces kube-proxy."""
    fail_all("kube-proxy is not replaced by Cilium", kube_proxy_problems(ctx))
    ctx.log.say("  no kube-proxy; Cilium replaces it")


def kube_proxy_replaced(ctx: Context) -> bool:
    """Whether Cilium replaces kube-proxy (no kube_proxy_problems)."""
    return not kube_proxy_problems(ctx)


def kube_proxy_replaced_verdict(ctx: Context) -> tuple[bool, str]:
    """The `kube-proxy replaced` live check, with what still runs kube-proxy."""
    found = kube_proxy_problems(ctx)
    return not found, "; ".join(found) or "no kube-proxy; Cilium replaces it"


def replaces_kube_proxy(ctx: Context) -> bool:
    """networking.kube_proxy_replacement is set: the kube-proxy step runs only then."""
    return bool(ctx.config.networking.kube_proxy_replacement)


# --- operations -----------------------------------------------------------------------------------------------
def status(ctx: Context) -> None:
    """Print the agent and operator states, each configured node's Ready condition and, when configured,
    the kube-proxy replacement."""
    print(agents_state(ctx.kube.get("DaemonSet", AGENT, NS), len(_nodes(ctx)))[1])
    print(operator_state(ctx.kube.get("Deployment", OPERATOR, NS))[1])
    nodes = {n["metadata"]["name"]: n for n in ctx.kube.list("Node", fresh=True)}
    for name in _nodes(ctx):
        print(f"node {name}: {describe_condition(nodes[name]) if name in nodes else 'not registered'}")
    if replaces_kube_proxy(ctx):
        problems = kube_proxy_problems(ctx)
        print("kube-proxy replacement: " + ("OK" if not problems else "; ".join(problems)))


def redeploy(ctx: Context) -> None:
    """deploy_cilium again, then wait for the agents and the operator."""
    deploy_cilium(ctx)
    wait(ctx)


def debug(ctx: Context) -> None:
    """Print `cilium status` (failing or not), each agent pod with its node and phase, and the last 20 events
    of kube-system objects named cilium*."""
    result = ctx.runner.run("cilium", ["status"], check=False)
    print(result.stdout + result.stderr)
    for pod in ctx.kube.list("Pod", NS, fresh=True, labels=AGENT_LABELS):
        status = pod.get("status") or {}
        print(f"pod {pod['metadata']['name']} on {pod['spec'].get('nodeName', '?')}: {status.get('phase')} "
              f"{describe_condition(pod)}")
    events = [e for e in ctx.kube.list("Event", NS, fresh=True)
              if (e.get("involvedObject") or {}).get("name", "").startswith("cilium")]
    for event in events[-20:]:
        print(f"event {event['involvedObject'].get('kind')}/{event['involvedObject'].get('name')}: "
              f"{event.get('reason', '')} {event.get('message', '')}")


# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def deploy_cilium_intent(ctx: Context) -> list[str]:
    """The helm call."""
    return [helmrelease.describe_upgrade(ctx, cilium_release(ctx), ctx.root / ctx.config.networking.cilium_values)]


def wait_intent(ctx: Context) -> list[str]:
    """The agent and operator wait."""
    return [f"wait until DaemonSet {NS}/{AGENT} has one ready agent on each of the {len(_nodes(ctx))} nodes and "
            f"Deployment {NS}/{OPERATOR} is Available"]


def nodes_intent(ctx: Context) -> list[str]:
    """The node wait."""
    return [f"wait until the nodes {', '.join(_nodes(ctx))} are Ready"]


def pod_networking_intent(ctx: Context) -> list[str]:
    """The DNS Job."""
    return [f"run a Job in namespace {CHECK_NS} that resolves kubernetes.default.svc.{ctx.config.cluster.domain}, "
            "then delete it"]


def cilium_status_intent(ctx: Context) -> list[str]:
    """cilium status."""
    return ["run `cilium status --wait`"]


def service_connectivity_intent(ctx: Context) -> list[str]:
    """The Endpoints check."""
    return ["wait until Service default/kubernetes has endpoint addresses"]


def kube_proxy_intent(ctx: Context) -> list[str]:
    """The kube-proxy replacement check."""
    return [f"check that there is no DaemonSet {NS}/kube-proxy and ConfigMap {NS}/cilium-config has "
            "kube-proxy-replacement=true"]


COMPONENT = Component(
    group="networking",
    needs=("talos",),
    title="networking (Cilium)",
    steps=(
        Step("deploy-cilium", "helm upgrade --install Cilium (chart/version from the HelmRelease, its values file)",
             deploy_cilium, marker="cilium-deployed", would_do=deploy_cilium_intent,
             sources=(f"{CILIUM_DIR}/values.yaml", f"{CILIUM_DIR}/helmrelease.yaml"),
             status=(Check("cilium DaemonSet exists", cilium_installed),)),
        Step("wait", "Cilium agents ready on every node and the operator Available", wait,
             marker="cilium-ready",
             would_do=wait_intent, deps=("deploy-cilium",), status=(Check("cilium ready", cilium_ready_verdict),)),
        # what needs only the agents comes before `nodes`: a serial run takes the declared order (hops.run_order),
        # so these run while the nodes turn Ready instead of after the DNS test
        Step("cilium-status", "`cilium status --wait` reports OK", cilium_status,
             marker="cilium-status-verified", would_do=cilium_status_intent, deps=("wait",)),
        Step("kube-proxy", "No kube-proxy; Cilium's kube-proxy replacement on", kube_proxy,
             marker="kube-proxy-verified", would_do=kube_proxy_intent, deps=("wait",), when=replaces_kube_proxy,
             status=(Check("kube-proxy replaced", kube_proxy_replaced_verdict),)),
        Step("nodes", "Every configured node reports Ready", nodes, marker="nodes-cni-ready",
             would_do=nodes_intent, deps=("wait",),
             status=(Check("configured nodes Ready", nodes_ready_verdict),)),
        Step("pod-networking", "A pod resolves kubernetes.default through cluster DNS", pod_networking,
             marker="pod-networking-tested", would_do=pod_networking_intent, deps=("nodes",)),
        Step("service-connectivity", "The kubernetes Service has endpoints", service_connectivity,
             marker="service-connectivity-tested", would_do=service_connectivity_intent, deps=("nodes",),
             status=(Check("kubernetes Service has endpoints", service_has_endpoints),)),
    ),
    operations=(
        Operation("status", "Cilium agents, operator, nodes and kube-proxy replacement", status, read_only=True),
        Operation("redeploy", "helm upgrade Cilium again with its values file, then wait for it", redeploy),
        Operation("debug", "cilium status, agent pods and recent Cilium events", debug, read_only=True),
    ),
)
