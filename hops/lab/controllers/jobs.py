"""Jobs and bare Pods that run to completion.

A pod runs its command's simulated time (`sleep N`: N lab seconds, see controllers.commands; otherwise
`job.run`) once a node can host it (a Ready node, or any node for hostNetwork pods). A pod that
resolves names (nslookup, dig, host, getent) succeeds only when CoreDNS is available; otherwise it fails with
busybox's "can't resolve" log. Jobs retry failed pods up to spec.backoffLimit, then fail like the job controller.
"""

from __future__ import annotations

import math
import time
from typing import Any

from hops.lab.controllers import commands, pods
from hops.lab.controllers.loop import LoopController, soonest
from hops.lab.controllers.workloads import write_pod_status
from hops.lab.readiness import check, condition

DNS_TOOLS = ("nslookup", "dig", "host ", "getent")
DNS_FAIL_LOG = (";; connection timed out; no servers could be reached\n\n"
                "nslookup: can't resolve '{name}'\n")
DNS_OK_LOG = ("Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\n"
              "Name:      {name}\nAddress 1: 10.96.0.1 kubernetes.default.svc.cluster.local\n")
TERMINAL = ("Succeeded", "Failed")


class JobController(LoopController):
    kinds = frozenset({"Job", "Pod", "Node", "Deployment"})

    def __init__(self, lab: Any) -> None:
        super().__init__(lab)
        self._mine: set[tuple[str, str]] = set()    # bare pods this controller runs
        self._skip: set[tuple[str, str]] = set()    # pods found already running (static / seeded)
        self._restarts: dict[tuple, int] = {}       # container restarts of bare pods (restartPolicy Always/OnFailure)

    def reconcile(self) -> float | None:
        nodes = self.store.peek("v1", "Node")  # read only (peek: shared, not copied)
        wait: float | None = None
        for job in self.store.list("batch/v1", "Job"):
            wait = soonest(wait, self._job(job, nodes))
        for shared in self.store.peek("v1", "Pod"):
            if self._is_bare(shared):  # a few pods among hundreds: only those are copied
                pod = self.store.get("v1", "Pod", shared["metadata"]["name"], shared["metadata"]["namespace"])
                if pod is not None:
                    wait = soonest(wait, self._run(pod, nodes)[1])
        return wait

    def _is_bare(self, pod: dict) -> bool:
        meta = pod["metadata"]
        key = (meta["namespace"], meta["name"])
        if key in self._mine:
            return True
        if key in self._skip or meta.get("ownerReferences") or \
                "kubernetes.io/config.mirror" in (meta.get("annotations") or {}) or \
                (pod.get("status") or {}).get("phase") in ("Running", *TERMINAL):
            self._skip.add(key)
            return False
        self._mine.add(key)
        return True

    # -- jobs -----------------------------------------------------------------------------------------------
    def _job(self, job: dict, nodes: list[dict]) -> float | None:
        meta, status = job["metadata"], job.get("status") or {}
        if condition(job, "Complete") or condition(job, "Failed"):
            return None
        failed = int(status.get("failed", 0))
        pod = self._job_pod(job, failed)
        outcome, wait = self._run(pod, nodes)
        if outcome == "Succeeded":
            self._finish(job, {"succeeded": 1, "failed": failed, "active": 0}, "Complete", "", "")
        elif outcome == "Failed":
            failed += 1
            if failed > int(job.get("spec", {}).get("backoffLimit", 6)):
                self._finish(job, {"failed": failed, "active": 0}, "Failed", "BackoffLimitExceeded",
                             "Job has reached the specified backoff limit")
            else:
                self.store.set_status("batch/v1", "Job", meta["name"], meta["namespace"],
                                      {"failed": failed, "active": 1})
                return 0.0
        elif status.get("active") != 1:
            self.store.set_status("batch/v1", "Job", meta["name"], meta["namespace"],
                                  {"active": 1, "startTime": pods.stamp()})
        return wait

    def _job_pod(self, job: dict, attempt: int) -> dict:
        meta = job["metadata"]
        name = f"{meta['name']}-{pods.short_hash(meta['name'] + str(attempt), 5)}"
        existing = self.store.get("v1", "Pod", name, meta["namespace"])
        if existing is not None:
            return existing
        labels = {"job-name": meta["name"], "batch.kubernetes.io/job-name": meta["name"],
                  "controller-uid": meta.get("uid", ""), "batch.kubernetes.io/controller-uid": meta.get("uid", "")}
        pod = pods.new_pod(name, meta["namespace"], job["spec"].get("template", {}), job, labels)
        return self.store.create(pod)

    def _finish(self, job: dict, counts: dict, kind: str, reason: str, message: str) -> None:
        now = pods.stamp()
        conds = [{"type": kind, "status": "True", "reason": reason, "message": message,
                  "lastProbeTime": now, "lastTransitionTime": now}]
        if kind == "Complete":
            conds.insert(0, {"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                             "message": "Reached expected number of succeeded pods",
                             "lastProbeTime": now, "lastTransitionTime": now})
            counts["completionTime"] = now
        meta = job["metadata"]
        self.store.set_status("batch/v1", "Job", meta["name"], meta["namespace"], {**counts, "conditions": conds})

    # -- one pod run ----------------------------------------------------------------------------------------
    def _run(self, pod: dict, nodes: list[dict]) -> tuple[str, float | None]:
        """Advance a run-to-completion pod; returns (phase, seconds until it changes again)."""
        meta, spec = pod["metadata"], pod["spec"]
        phase = (pod.get("status") or {}).get("phase")
        if phase in TERMINAL:
            return phase, None
        node = self._host(spec, nodes)
        key = ("run", meta["namespace"], meta["name"])
        if node is None:
            self.forget(key)
            msg = pods.NOT_READY_TAINT_MESSAGE.format(n=len(nodes)) if nodes else "no nodes available to schedule pods"
            self._write(pod, pods.status_unschedulable(msg))
            return "Pending", None
        node_ip = pods.node_address(node)
        ip = node_ip if spec.get("hostNetwork") else pods.pod_ip(meta["name"], node["metadata"]["name"], nodes,
                                                                  "10.244.0.0/16")
        if spec.get("nodeName") != node["metadata"]["name"]:
            self.store.patch("v1", "Pod", meta["name"], meta["namespace"], {"spec": {"nodeName": node["metadata"]["name"]}})
        run = _simulated(spec)
        left = self.remaining(key, self._run_seconds(run))
        if left > 0:
            self._write(pod, _restarted(pods.status_running(pod, node_ip, ip, ready=True), self._restarts.get(key, 0)))
            next_write = self._write_output(meta, key, spec, run)
            return "Running", soonest(next_write, None if math.isinf(left) else left)
        policy = spec.get("restartPolicy", "Always")
        if policy == "Always" and run is None:
            return "Running", None                   # the image's own long-running process: it keeps running
        code, log = self._outcome(spec, run)
        self.store.set_pod_log(meta["namespace"], meta["name"], log)
        if (meta["namespace"], meta["name"]) in self._mine and (policy == "Always" or (policy == "OnFailure" and code)):
            self._restarts[key] = self._restarts.get(key, 0) + 1    # the kubelet restarts the container in place
            self.forget(key)
            return "Running", 0.0
        self._write(pod, pods.status_terminated(pod, node_ip, ip, code))
        return ("Succeeded" if code == 0 else "Failed"), None

    def _host(self, spec: dict, nodes: list[dict]) -> dict | None:
        candidates = [n for n in nodes if pods.selects(n, spec)]
        if spec.get("nodeName"):
            candidates = [n for n in candidates if n["metadata"]["name"] == spec["nodeName"]]
        if not pods.tolerates_not_ready(spec):
            candidates = [n for n in candidates if pods.node_ready(n)]
        return candidates[0] if candidates else None

    def _run_seconds(self, run: commands.Run | None) -> float:
        """Wall seconds the command runs: its own `sleep`s scaled by the lab speed, else the drawn job.run."""
        if run is None or run.seconds == 0:
            return self.duration("job.run")
        return run.seconds / self.lab.speed

    def _write_output(self, meta: dict, key: tuple, spec: dict, run: commands.Run | None) -> float | None:
        """Log what the running command has written by now; wall seconds until it writes more (None: never)."""
        if run is None or not run.lines or _resolves_names(spec):
            return None                     # a name lookup's output depends on how it ends: written then
        second = (time.monotonic() - self.since(key)) * self.lab.speed
        written = run.written_by(second)
        if written and self.store.get_pod_log(meta["namespace"], meta["name"]) != written:
            self.store.set_pod_log(meta["namespace"], meta["name"], written)
        upcoming = run.next_write(second)
        return None if upcoming is None else (upcoming - second) / self.lab.speed

    def _outcome(self, spec: dict, run: commands.Run | None = None) -> tuple[int, str]:
        words = _command_words(spec)
        if not _resolves_names(spec):
            return (run.exit_code, run.output) if run else (0, "")
        target = words.split()[-1] if words.split() else "kubernetes.default"
        if self._coredns_ready():
            return 0, DNS_OK_LOG.format(name=target)
        return 1, DNS_FAIL_LOG.format(name=target)

    def _coredns_ready(self) -> bool:
        coredns = self.store.get("apps/v1", "Deployment", "coredns", "kube-system")
        return coredns is not None and check(coredns)[0]

    def _write(self, pod: dict, status: dict) -> None:
        if pods.signature(pod.get("status") or {}) != pods.signature(status):
            write_pod_status(self.store, pod["metadata"]["namespace"], pod["metadata"]["name"], status)


def _command_words(spec: dict) -> str:
    return " ".join(str(x) for c in spec.get("containers", []) for x in (c.get("command") or []) +
                    (c.get("args") or []))


def _resolves_names(spec: dict) -> bool:
    """Whether the pod runs a name lookup (its outcome then depends on CoreDNS)."""
    words = _command_words(spec) + " "
    return any(tool in words for tool in DNS_TOOLS)


def _simulated(spec: dict) -> commands.Run | None:
    """What the pod's first container's command does (None: the image's default process, run by job.run)."""
    containers = spec.get("containers") or [{}]
    text = commands.script(containers[0])
    return None if text is None else commands.simulate(text)


def _restarted(status: dict, restarts: int) -> dict:
    for container in status.get("containerStatuses") or []:
        container["restartCount"] = restarts
    return status
