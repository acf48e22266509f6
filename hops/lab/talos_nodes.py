"""The simulated Talos nodes: one state machine per configured node, each behind its own loopback HTTP endpoint.

Life of a node (durations from hops.lab.clock):
    maintenance --insecure apply-config--> installing --node.install--> rebooting --node.reboot--> starting
    --node.apid--> running
While installing and rebooting nothing listens on the node's port (a TCP connect is refused, as from a host that
is down); while starting, apid listens but has no certificates yet (`tls: internal error`). In maintenance a node answers only insecure requests (version, disks, apply-config). Once running it answers only
requests carrying a client certificate issued by the CA of its applied machine config. For a while after each
boot (durations drawn per node and boot, seeded: clock.DURATION_RANGES) `bootstrap` is refused as Talos refuses it:
until the container runtime is up ("bootstrap is not available yet") and, after a short grace, until the clock is
in sync ("time is not in sync yet"); the `notyet` fault stretches that window. `bootstrap` on one
control-plane node starts etcd (etcd.bootstrap), then the Kubernetes API opens (kubernetes.api), then every running
node registers its Node object (node.register); further control-plane nodes join etcd (etcd.join).

The endpoint speaks JSON over HTTP on 127.0.0.1 (POST /rpc/<name>); the emulated talosctl is its only client.
Error strings are the gRPC texts real talosctl prints.
"""

from __future__ import annotations

import heapq
import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from hops.lab import clock, cluster_seed, faults, pki
from hops.lab.machine_config import validate_machine_config

if TYPE_CHECKING:  # the endpoint's server is imported where it starts: `talosctl validate` imports this module too
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAINTENANCE, INSTALLING, REBOOTING, STARTING, RUNNING = "maintenance", "installing", "rebooting", "starting", "running"
DOWN = frozenset({INSTALLING, REBOOTING})   # phases in which nothing listens on the node's Talos API port
TALOS_PORT = 50000
ALREADY_BOOTSTRAPPED = "rpc error: code = AlreadyExists desc = etcd data directory is not empty"
# machined's Bootstrap handler (Talos v1.8): CRI not up yet, a worker, the clock not synced within 5 s
NOT_AVAILABLE = "rpc error: code = FailedPrecondition desc = bootstrap is not available yet"
CONTROL_PLANE_ONLY = ("rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control "
                      "plane node")
TIME_NOT_SYNCED = "rpc error: code = FailedPrecondition desc = time is not in sync yet"
MAINTENANCE_RPCS = {"version", "disks", "apply_config"}


class RpcError(Exception):
    """A failed Talos API call; `str()` is the text talosctl prints after its own prefix."""


# --- state ---------------------------------------------------------------------------------------------------

@dataclass
class NodeState:
    name: str
    address: str
    role: str
    phase: str = MAINTENANCE
    config: str | None = None          # the applied machine config (YAML text)
    hostname: str | None = None        # machine.network.hostname of the applied config
    ca_crt: str | None = None          # PEM of machine.ca.crt: the CA client certificates must come from
    etcd: str = "none"                 # none | joining | member
    member_id: str = ""
    registered: bool = False
    booted_at: float = 0.0
    boots: int = 0                     # boots into the installed system (seeds the drawn durations)
    services_at: float = 0.0           # wall clock: container runtime up (bootstrap available)
    time_synced_at: float = 0.0        # wall clock: time in sync

    @property
    def k8s_name(self) -> str:
        return self.hostname or self.name


@dataclass
class ClusterState:
    bootstrap_calls: int = 0
    bootstrap_node: str | None = None
    etcd: str = "none"                 # none | bootstrapping | healthy
    api: str = "down"                  # down | starting | up
    pending: dict[str, float] = field(default_factory=dict)   # event key -> due (wall clock)


class Scheduler:
    """Runs callbacks at wall-clock times on one thread (simulated durations, no polling)."""

    def __init__(self, fire: Callable[[str, float], None]) -> None:
        self._fire = fire
        self._heap: list[tuple[float, str]] = []
        self._cv = threading.Condition()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="talos-scheduler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, key: str, due: float) -> None:
        with self._cv:
            heapq.heappush(self._heap, (due, key))
            self._cv.notify()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._stopped and (not self._heap or self._heap[0][0] > time.time()):
                    self._cv.wait(None if not self._heap else self._heap[0][0] - time.time())
                if self._stopped:
                    return
                due, key = heapq.heappop(self._heap)
            self._fire(key, due)


class TalosCluster:
    """All simulated nodes plus cluster-wide Talos state (etcd, API). Thread-safe; `changed` fires on changes."""

    def __init__(self, settings: Any, store: Any, speed: float, faults: Callable[[], dict],
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.settings = settings
        self.store = store
        self.speed = speed
        self.faults = faults
        self.on_change = on_change
        self.api_url = ""
        self.cluster = ClusterState()
        self.nodes: dict[str, NodeState] = {
            n.name: NodeState(n.name, str(n.address), n.role) for n in settings.config.network.nodes}
        self.cv = threading.Condition(threading.RLock())
        self.scheduler = Scheduler(self._fire)

    # -- persistence --
    def snapshot(self) -> dict:
        with self.cv:
            return {"cluster": asdict(self.cluster), "nodes": {k: asdict(v) for k, v in self.nodes.items()}}

    def restore(self, data: dict) -> None:
        with self.cv:
            self.cluster = ClusterState(**data.get("cluster", {}))
            for name, saved in data.get("nodes", {}).items():
                if name in self.nodes:    # nodes removed from the configuration are dropped
                    saved.update(name=name, address=self.nodes[name].address, role=self.nodes[name].role)
                    self.nodes[name] = NodeState(**saved)

    def start(self) -> None:
        self.scheduler.start()
        with self.cv:
            for key, due in self.cluster.pending.items():
                self.scheduler.add(key, due)

    def stop(self) -> None:
        self.scheduler.stop()

    @property
    def api_up(self) -> bool:
        return self.cluster.api == "up"

    # -- events --
    def _schedule(self, key: str, step: str) -> None:
        due = time.time() + clock.duration(step, self.speed)
        self.cluster.pending[key] = due
        self.scheduler.add(key, due)

    def _fire(self, key: str, due: float) -> None:
        with self.cv:
            if self.cluster.pending.get(key) != due:
                return          # cancelled or rescheduled (e.g. the node was reset meanwhile)
            del self.cluster.pending[key]
            kind, _, name = key.partition(":")
            getattr(self, f"_on_{kind.replace('-', '_')}")(name)
            self._changed()

    def _changed(self) -> None:
        self.cv.notify_all()
        self.on_change()

    def _on_installed(self, name: str) -> None:
        self.nodes[name].phase = REBOOTING
        self._schedule(f"apid:{name}", "node.reboot")

    def _on_apid(self, name: str) -> None:
        self.nodes[name].phase = STARTING
        self._schedule(f"booted:{name}", "node.apid")

    def _on_booted(self, name: str) -> None:
        node = self.nodes[name]
        node.phase, node.booted_at, node.boots = RUNNING, time.time(), node.boots + 1
        rng = clock.seeded(node.name, node.boots)
        node.services_at = node.booted_at + clock.drawn("node.services", rng, self.speed)
        node.time_synced_at = node.booted_at + clock.drawn("node.timesync", rng, self.speed)
        self._after_running(node)

    def _after_running(self, node: NodeState) -> None:
        if self.cluster.etcd == "healthy" and node.role == "controlplane" and node.etcd == "none":
            node.etcd = "joining"
            self._schedule(f"joined:{node.name}", "etcd.join")
        if self.api_up and not node.registered:
            self._schedule(f"registered:{node.name}", "node.register")

    def _on_etcd_healthy(self, _: str) -> None:
        self.cluster.etcd = "healthy"
        first = self.nodes[self.cluster.bootstrap_node or ""]
        first.etcd, first.member_id = "member", secrets.token_hex(8)
        self.cluster.api = "starting"
        self._schedule("api-up:", "kubernetes.api")
        for node in self.nodes.values():
            if node.phase == RUNNING and node is not first:
                self._after_running(node)

    def _on_api_up(self, _: str) -> None:
        self.cluster.api = "up"
        cluster_seed.seed(self.store, self.settings, self._control_plane_running())
        for node in self.nodes.values():
            if node.phase == RUNNING:
                self._after_running(node)

    def _on_joined(self, name: str) -> None:
        node = self.nodes[name]
        node.etcd, node.member_id = "member", secrets.token_hex(8)

    def _on_registered(self, name: str) -> None:
        node = self.nodes[name]
        node.registered = True
        cluster_seed.register_node(self.store, self.settings, node.k8s_name, node.address, node.role)

    def _control_plane_running(self) -> list[NodeState]:
        return [n for n in self.nodes.values() if n.role == "controlplane" and n.phase == RUNNING]

    # -- lookups --
    def listening(self, name: str) -> bool:
        """Whether anything accepts connections on the node's Talos API port (not while it installs or reboots)."""
        with self.cv:
            return self.nodes[name].phase not in DOWN

    def by_address(self, address: str) -> NodeState | None:
        return next((n for n in self.nodes.values() if address in (n.address, n.name)), None)

    def talos_version(self) -> str:
        talos = getattr(self.settings.config, "talos", None)
        version = getattr(talos, "version", None) or "v" + self.settings.config.tools.required.get("talosctl", "1.8.3")
        return version if version.startswith("v") else "v" + version

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until predicate() (checked under the lock on every change) or timeout; no polling."""
        deadline = time.time() + timeout
        with self.cv:
            while not predicate():
                left = deadline - time.time()
                if left <= 0:
                    return False
                self.cv.wait(left)
            return True

    def notify(self) -> None:
        """Wake waiters (the daemon calls this on Kubernetes store changes, e.g. Node Ready)."""
        with self.cv:
            self.cv.notify_all()

    # -- the Talos API --
    def call(self, name: str, rpc: str, req: dict) -> dict:
        """Handle one Talos API call addressed to node `name`; raises RpcError with the real error text."""
        with self.cv:
            node = self.nodes[name]
            self._admit(node, rpc, req)
            handler = getattr(self, f"_rpc_{rpc}", None)
            if handler is None:
                raise RpcError(f"rpc error: code = Unimplemented desc = unknown method {rpc}")
        if rpc == "health":      # waits without holding the lock
            return self._rpc_health(node, req)
        with self.cv:
            result = handler(node, req)
            self._changed()
            return result

    def _admit(self, node: NodeState, rpc: str, req: dict) -> None:
        """Reject what the node's network stack and TLS would reject in its current phase."""
        dial = f"dial tcp {node.address}:{TALOS_PORT}"
        if (self.faults().get("nodes") or {}).get(node.name) == "unreachable":
            raise RpcError(_unavailable(f"transport: Error while dialing: {dial}: connect: no route to host"))
        if node.phase in DOWN:   # the listener is closed; a call accepted just before it closed gets the same
            raise RpcError(_unavailable(f"transport: Error while dialing: {dial}: connect: connection refused"))
        if node.phase == STARTING:
            raise RpcError(_unavailable("transport: authentication handshake failed: remote error: "
                                        "tls: internal error"))
        if node.phase == MAINTENANCE:
            self._admit_maintenance(rpc, req)
        else:
            self._admit_running(node, req)

    def _admit_maintenance(self, rpc: str, req: dict) -> None:
        if not req.get("insecure"):
            raise RpcError(_unavailable("transport: authentication handshake failed: tls: failed to verify "
                                        "certificate: x509: certificate signed by unknown authority"))
        if rpc not in MAINTENANCE_RPCS:
            raise RpcError("rpc error: code = Unimplemented desc = API is not implemented in maintenance mode")

    def _admit_running(self, node: NodeState, req: dict) -> None:
        if req.get("insecure"):
            raise RpcError(_unavailable("error reading server preface: remote error: tls: certificate required"))
        ca, crt, key = req.get("ca") or "", req.get("crt") or "", req.get("key") or ""
        if not pki.issued_by(crt, node.ca_crt or "") or not pki.key_matches(crt, key):
            raise RpcError(_unavailable("error reading server preface: remote error: tls: bad certificate"))
        if not node.ca_crt or pki.fingerprint(node.ca_crt) != _fingerprint_or_none(ca):
            raise RpcError(_unavailable("transport: authentication handshake failed: tls: failed to verify "
                                        "certificate: x509: certificate signed by unknown authority"))

    def _rpc_version(self, node: NodeState, req: dict) -> dict:
        return {"tag": self.talos_version(), "node": node.address, "maintenance": node.phase == MAINTENANCE}

    def _rpc_disks(self, node: NodeState, req: dict) -> dict:
        return {"disks": node_disks(self.settings, node.name)}

    def _rpc_machinestatus(self, node: NodeState, req: dict) -> dict:
        unmet = [] if node.registered or node.role != "controlplane" else [
            {"name": "nodeReady", "reason": "node not registered"}]
        if node.role == "controlplane" and node.etcd != "member":
            unmet.insert(0, {"name": "etcd", "reason": "service not running"})
        return {"node": node.address, "stage": "running", "ready": not unmet, "unmetConditions": unmet}

    def _rpc_apply_config(self, node: NodeState, req: dict) -> dict:
        doc, problems = validate_machine_config(req.get("config", ""), "metal")
        if problems:
            raise RpcError("rpc error: code = InvalidArgument desc = configuration validation failed: "
                           + "; ".join(problems))
        assert doc is not None  # validate_machine_config returns no document only with problems
        mode = req.get("mode", "auto")
        if req.get("dry_run"):
            return {"message": f"Dry run summary:\nApplied configuration without a reboot (mode {mode}, dry run)"}
        first = node.phase == MAINTENANCE
        node.config = req["config"]
        node.hostname = ((doc.get("machine") or {}).get("network") or {}).get("hostname") or node.hostname
        node.ca_crt = pki.unb64(doc["machine"]["ca"]["crt"])
        if first or mode == "reboot":
            node.phase = INSTALLING if first else REBOOTING
            self._schedule(f"installed:{node.name}" if first else f"apid:{node.name}",
                           "node.install" if first else "node.reboot")
            return {"message": "" if first else "Applied configuration with a reboot"}
        if mode == "staged":
            return {"message": "Staged configuration to be applied after a reboot"}
        return {"message": "Applied configuration without a reboot"}

    def _rpc_bootstrap(self, node: NodeState, req: dict) -> dict:
        """Talos' checks in machined's order: CRI up, a control-plane node, time in sync, etcd data empty."""
        self.cluster.bootstrap_calls += 1
        if time.time() < self._services_due(node):
            raise RpcError(NOT_AVAILABLE)
        if node.role != "controlplane":
            raise RpcError(CONTROL_PLANE_ONLY)
        self._await_time_sync(node)
        if self.cluster.etcd != "none" or node.etcd != "none":
            raise RpcError(ALREADY_BOOTSTRAPPED)
        self.cluster.etcd, self.cluster.bootstrap_node = "bootstrapping", node.name
        self._schedule("etcd-healthy:", "etcd.bootstrap")
        return {}

    def _held_until(self, node: NodeState, stage: str) -> float:
        """End of a `notyet` fault's hold on `stage` of this boot (0 without one; inf until cleared)."""
        held = faults.notyet_fault(self.faults(), node.name)
        return node.booted_at + held[0] / self.speed if held and held[1] == stage else 0.0

    def _services_due(self, node: NodeState) -> float:
        return max(node.services_at, self._held_until(node, "services"))

    def _time_sync_due(self, node: NodeState) -> float:
        return max(node.time_synced_at, self._held_until(node, "time"))

    def _await_time_sync(self, node: NodeState) -> None:
        """Wait (the lock released) for time sync up to Talos' grace, then refuse like Talos."""
        give_up = time.time() + clock.duration("node.timesync-grace", self.speed)
        while (now := time.time()) < self._time_sync_due(node):
            if now >= give_up:
                raise RpcError(TIME_NOT_SYNCED)
            self.cv.wait(min(give_up, self._time_sync_due(node)) - now)
            if self.nodes.get(node.name) is not node or node.phase != RUNNING:   # reset or rebooted meanwhile
                raise RpcError("rpc error: code = Unavailable desc = error reading from server: EOF")

    def bootstrap_window(self, node: NodeState) -> str:
        """Where the node stands in its not-yet window: "services", "time", or "" (bootstrap available)."""
        now = time.time()
        if node.phase != RUNNING:
            return ""
        return "services" if now < self._services_due(node) else "time" if now < self._time_sync_due(node) else ""

    def _require_etcd(self, node: NodeState) -> None:
        if node.role != "controlplane":
            raise RpcError("rpc error: code = Unimplemented desc = etcd is not available on worker nodes")
        if node.etcd != "member":
            raise RpcError('rpc error: code = Unknown desc = failed to create etcd client: error getting '
                           'kubernetes endpoints: Get "https://localhost:6443/api/v1/namespaces/default/'
                           'endpoints/kubernetes": dial tcp [::1]:6443: connect: connection refused')

    def _rpc_etcd_members(self, node: NodeState, req: dict) -> dict:
        self._require_etcd(node)
        return {"members": [{"id": n.member_id, "hostname": n.k8s_name,
                             "peer_urls": [f"https://{n.address}:2380"],
                             "client_urls": [f"https://{n.address}:2379"], "learner": False}
                            for n in self.nodes.values() if n.etcd == "member"]}

    def _rpc_etcd_status(self, node: NodeState, req: dict) -> dict:
        self._require_etcd(node)
        leader = self.nodes[self.cluster.bootstrap_node or node.name]
        members = sum(1 for n in self.nodes.values() if n.etcd == "member")
        return {"member_id": node.member_id, "db_size": 4096 * 1024 + 512 * members,
                "in_use": 2048 * 1024, "leader": leader.member_id, "raft_index": 1000 + 37 * members,
                "raft_term": 2, "raft_applied_index": 1000 + 37 * members, "protocol": "3.5.16",
                "storage": "3.5.0", "errors": []}

    def _rpc_kubeconfig(self, node: NodeState, req: dict) -> dict:
        if node.role != "controlplane":
            raise RpcError("rpc error: code = Unimplemented desc = kubeconfig is only available on "
                           "control plane nodes")
        return {"kubeconfig": kubeconfig_text(self.settings.config.cluster.name, self.api_url)}

    def _rpc_members(self, node: NodeState, req: dict) -> dict:
        return {"members": [{"id": n.k8s_name, "hostname": n.k8s_name, "machine_type": n.role,
                             "os": f"Talos ({self.talos_version()})", "addresses": [n.address]}
                            for n in self.nodes.values() if n.phase == RUNNING]}

    def _rpc_reset(self, node: NodeState, req: dict) -> dict:
        if req.get("graceful", True) and node.etcd == "member" and self._etcd_members() == 1 \
                and self.api_up and len(self._control_plane_running()) > 1:
            raise RpcError("rpc error: code = FailedPrecondition desc = 1 error(s) occurred:\n\tfailed to "
                           "leave etcd: etcd member is the last healthy member")
        for key in [k for k in self.cluster.pending if k.endswith(f":{node.name}")]:
            del self.cluster.pending[key]
        cluster_seed.node_stopped(self.store, node.k8s_name) if node.registered else None
        fresh = NodeState(node.name, node.address, node.role)
        self.nodes[node.name] = fresh
        if self._etcd_members() == 0 and self.cluster.etcd == "healthy":
            self._etcd_lost()
        return {}

    def _etcd_members(self) -> int:
        return sum(1 for n in self.nodes.values() if n.etcd == "member")

    def _etcd_lost(self) -> None:
        """The last etcd member was wiped: the cluster's control plane is gone and may be bootstrapped anew."""
        self.cluster.etcd, self.cluster.api, self.cluster.bootstrap_node = "none", "down", None
        for key in [k for k in self.cluster.pending if k.split(":")[0] in ("api-up", "joined", "registered")]:
            del self.cluster.pending[key]

    def _rpc_dmesg(self, node: NodeState, req: dict) -> dict:
        return {"text": dmesg_text(node, self.talos_version())}

    def _rpc_logs(self, node: NodeState, req: dict) -> dict:
        service = req.get("service", "")
        if service not in ("machined", "apid", "etcd", "kubelet", "containerd", "trustd", "cri"):
            raise RpcError(f'rpc error: code = Unknown desc = service "{service}" is not registered')
        if service == "etcd" and node.etcd != "member":
            raise RpcError('rpc error: code = Unknown desc = log "etcd" was not registered')
        return {"text": f"{node.address}: {service}: service started (hops lab)\n"}

    def _rpc_services(self, node: NodeState, req: dict) -> dict:
        """The service list `talosctl services` shows; etcd waits for bootstrap (or to join) like on Talos."""
        names = ["apid", "containerd", "cri", "kubelet", "machined", "syslogd", "udevd"]
        if node.role == "controlplane":
            names += ["etcd", "trustd"]
        running = {"state": "Running", "health": "OK", "last_change": "1m0s ago",
                   "event": "Health check successful"}
        services = [{"id": n, **running} for n in sorted(names)]
        for service in services:
            if service["id"] == "etcd" and node.etcd != "member":
                service.update(state="Preparing", health="?", event="Running pre state")
            if service["id"] in ("machined", "syslogd"):      # goroutines have no health check
                service.update(health="?", event="Service started as goroutine")
        return {"services": services}

    def _rpc_health(self, node: NodeState, req: dict) -> dict:
        """Run the health checks in order, each waiting (on state changes) until it passes or time runs out."""
        deadline = time.time() + float(req.get("wait_timeout", 1200))
        lines = []
        for title, check in self._health_checks():
            ok = self.wait_for(_passes(check), max(0.0, deadline - time.time()))
            with self.cv:
                reason = check()
            if ok or reason is None:  # None: it passed between the timed-out wait and this look
                lines.append(f"waiting for {title}: OK")
                continue
            lines.append(f"waiting for {title}: {reason}")
            return {"lines": lines, "error": "rpc error: code = DeadlineExceeded desc = context deadline exceeded"}
        return {"lines": lines}

    def _health_checks(self) -> list[tuple[str, Callable[[], str | None]]]:
        cps = [n for n in self.nodes.values() if n.role == "controlplane"]
        everyone = list(self.nodes.values())

        def etcd_healthy() -> str | None:
            return None if self.cluster.etcd == "healthy" else "etcd is not running"

        def etcd_members() -> str | None:
            missing = [n.address for n in cps if n.etcd != "member"]
            return None if not missing else f"expected control plane nodes {missing} to be etcd members"

        def apid_ready() -> str | None:
            down = [n.address for n in everyone if n.phase != RUNNING]
            return None if not down else f"apid not ready on {down}"

        checks = [("etcd to be healthy", etcd_healthy),
                  ("etcd members to be consistent across nodes", etcd_members),
                  ("etcd members to be control plane nodes", etcd_members),
                  ("apid to be ready", apid_ready),
                  ("kubelet to be healthy", apid_ready)]
        return checks + [("all k8s nodes to report", self._nodes_report),
                         ("all k8s nodes to report ready", self._nodes_ready)]

    def _nodes_report(self) -> str | None:
        missing = [n.k8s_name for n in self.nodes.values() if not n.registered]
        return None if not missing else f"expected nodes {missing} to be registered"

    def _nodes_ready(self) -> str | None:
        not_ready = [n.k8s_name for n in self.nodes.values()
                     if not cluster_seed.node_is_ready(self.store, n.k8s_name)]
        return None if not not_ready else f"some nodes are not ready: {not_ready}"

    # -- status for the lab CLI --
    def summary(self) -> dict:
        with self.cv:
            return {"etcd": self.cluster.etcd, "api": self.cluster.api,
                    "bootstrap_calls": self.cluster.bootstrap_calls, "bootstrap_node": self.cluster.bootstrap_node,
                    "nodes": {n.name: {"address": n.address, "role": n.role, "phase": n.phase, "etcd": n.etcd,
                                       "registered": n.registered, "not_yet": self.bootstrap_window(n)}
                              for n in self.nodes.values()}}


def _unavailable(desc: str) -> str:
    return f'rpc error: code = Unavailable desc = connection error: desc = "{desc}"'


def _fingerprint_or_none(pem: str) -> str | None:
    try:
        return pki.fingerprint(pem)
    except pki.PkiError:
        return None


def node_disks(settings: Any, name: str) -> list[dict]:
    """The disks a node reports: its configured install disk (talconfig installDisk, default /dev/sda)."""
    raw_nodes = (getattr(settings.talconfig, "raw", None) or {}).get("nodes", [])
    disk = next((n.get("installDisk") for n in raw_nodes if n.get("hostname") == name), None) or "/dev/sda"
    return [{"dev_path": disk, "model": "QEMU HARDDISK", "serial": f"hops-lab-{name}", "size": 128849018880,
             "type": "SSD", "bus_path": "/pci0000:00/0000:00:05.0/virtio2/host2/target2:0:0/2:0:0:0",
             "system_disk": False}]


def kubeconfig_text(cluster_name: str, api_url: str) -> str:
    """An admin kubeconfig named like Talos' (admin@<cluster>) pointing at the lab's API emulation."""
    user = f"admin@{cluster_name}"
    doc = {"apiVersion": "v1", "kind": "Config", "preferences": {},
           "clusters": [{"name": cluster_name, "cluster": {"server": api_url}}],
           "contexts": [{"name": user, "context": {"cluster": cluster_name, "namespace": "default", "user": user}}],
           "current-context": user,
           "users": [{"name": user, "user": {"token": f"hops-lab-fake-{secrets.token_hex(12)}"}}]}
    return yaml.safe_dump(doc, sort_keys=False)


def _passes(check: Callable[[], str | None]) -> Callable[[], bool]:
    """A predicate for wait_for: the health check reports no problem."""
    return lambda: check() is None


def dmesg_text(node: NodeState, version: str) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(node.booted_at or time.time()))
    return "\n".join(f"{node.address}: kern:    info: [{stamp}.000000Z]: {line}" for line in (
        f"Linux version 6.6.60-talos (hops lab) Talos {version}",
        f'[talos] setting hostname {{"hostname": "{node.k8s_name}"}}',
        f"[talos] phase {node.phase} (hops lab)")) + "\n"


# --- the loopback endpoint -----------------------------------------------------------------------------------

class NodeEndpoint:
    """One node's Talos API on 127.0.0.1:<free port> (never the configured address). While the node is
    `unreachable` (fault) the listener is closed, so even a bare TCP connect is refused, as for a host that is down."""

    def __init__(self, cluster: TalosCluster, name: str, port: int = 0) -> None:
        self.cluster, self.name = cluster, name
        self.server: ThreadingHTTPServer | None = self._serve(port)  # None while the node is down
        self.port = self.server.server_address[1]
        self.listening = False

    def _serve(self, port: int) -> ThreadingHTTPServer:
        from http.server import ThreadingHTTPServer

        server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self.cluster, self.name))
        server.daemon_threads = True
        return server

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.listening:
            return
        if self.server is None:
            self.server = self._serve(self.port)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), name=f"talos-{self.name}",
                         daemon=True).start()
        self.listening = True

    def stop(self) -> None:
        if self.server is not None:
            if self.listening:
                self.server.shutdown()
            self.server.server_close()
        self.server, self.listening = None, False

    def set_reachable(self, reachable: bool) -> None:
        if reachable and not self.listening:
            try:
                self.start()
            except OSError:   # the port is briefly taken (a client's outgoing connection): try on the next change
                self.server = None
        elif not reachable and self.listening:
            self.stop()


def _handler_for(cluster: TalosCluster, name: str) -> type[BaseHTTPRequestHandler]:
    from http.server import BaseHTTPRequestHandler

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            rpc = self.path.rpartition("/")[2]
            length = int(self.headers.get("Content-Length") or 0)
            try:
                req = json.loads(self.rfile.read(length) or b"{}")
                body: dict[str, Any] = {"result": cluster.call(name, rpc, req)}
            except RpcError as exc:
                body = {"error": str(exc)}
            except (ValueError, KeyError) as exc:
                body = {"error": f"rpc error: code = InvalidArgument desc = {exc}"}
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:   # keep daemon.log readable
            pass

    return Handler
