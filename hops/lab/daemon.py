"""The lab process: Kubernetes API emulation + one Talos endpoint per node + controllers, all on 127.0.0.1.

    python -m hops.lab.daemon --dir LABDIR --root PROJECT [--ready-fd N]

Writes `<lab>/lab.json` when ready (then one line to --ready-fd), persists the simulation to sim-state.json
(debounced on every change, and on SIGTERM/SIGINT), and exits cleanly on those signals.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from hops.lab import clock, faults, vault
from hops.lab.chart_repo import ChartRepoServer
from hops.lab.layout import LabLayout
from hops.lab.talos_nodes import NodeEndpoint, TalosCluster

STATE_VERSION = 1
API_DOWN = (503, "etcdserver: request timed out")
FOLDER_CHECK_S = 2.0  # how often the daemon checks that its folder still exists (a lab whose folder is gone ends)
API_REQUEST_TIMEOUT_S = 60.0  # kube-apiserver's --request-timeout default: it answers 504 after that long


class FaultWatch:
    """faults.json, re-read only when its mtime changes (cheap enough for every API request)."""

    def __init__(self, layout: LabLayout) -> None:
        self.layout = layout
        self._stamp: int | None = None
        self._data: dict = faults.read(layout)
        self._lock = threading.Lock()

    def current(self) -> dict:
        try:
            stamp = self.layout.faults_file.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._stamp, self._data = stamp, faults.read(self.layout)
            return self._data

    def api_fault(self, method: str, path: str) -> Any:
        """A 503 or "timeout" for that share of API requests (api-errors / api-timeouts). The 503 is the one an
        overloaded kube-apiserver sends: a Status with retryAfterSeconds and a Retry-After header, which client-go
        (helm, flux, cilium) retries on its own; hops's Python client does not, so hops retries it."""
        api = self.current().get("api", {})
        roll = random.random()
        if roll < float(api.get("error_rate") or 0):
            from hops.lab.apiserver.errors import ApiError

            return ApiError(503, "ServiceUnavailable", "the server is currently unable to handle the request",
                            {"retryAfterSeconds": 1})
        if roll < float(api.get("error_rate") or 0) + float(api.get("timeout_rate") or 0):
            return "timeout"
        return None


def _encode(data: dict) -> bytes:
    """JSON of `data`, whose bytes values are JSON text already."""
    parts = [json.dumps(key).encode() + b": " + (value if isinstance(value, bytes) else json.dumps(value).encode())
             for key, value in data.items()]
    return b"{" + b", ".join(parts) + b"}"


class Persister:
    """Writes sim-state.json shortly after changes (coalescing bursts) and once more on stop.

    A big lab changes all the time (50 kubelets renewing leases) and one write of its store costs tens of
    milliseconds, so the pause after a write grows with what the write cost (at most SAVE_SHARE of the time goes to
    saving) and never falls below the debounce."""

    SAVE_SHARE = 0.1

    def __init__(self, layout: LabLayout, snapshot: Callable[[], dict], debounce: float = 0.2) -> None:
        self.layout, self.snapshot, self.debounce = layout, snapshot, debounce
        self._last_cost = 0.0
        self._dirty, self._stop = threading.Event(), threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="persist", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mark(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._dirty.wait()
            self._stop.wait(self.pause())      # coalesce a burst of changes into one write
            self._dirty.clear()
            started = time.monotonic()
            self.save()
            self._last_cost = time.monotonic() - started

    def pause(self) -> float:
        """Seconds between a change and its write: the debounce, or longer when the last write cost much."""
        return max(self.debounce, self._last_cost / self.SAVE_SHARE)

    def save(self) -> None:
        if not self.layout.root.is_dir():
            return  # the lab's folder was removed (`rm -rf .lab`): nothing to save into; the daemon is stopping
        with self._lock:
            data = {"version": STATE_VERSION, "saved_at": time.time(), **self.snapshot()}
            tmp = self.layout.sim_state_file.with_suffix(".tmp")
            tmp.write_bytes(_encode(data))
            os.replace(tmp, self.layout.sim_state_file)

    def stop(self) -> None:
        self._stop.set()
        self._dirty.set()
        self._thread.join(timeout=5)
        self.save()


def load_state(layout: LabLayout) -> dict:
    try:
        data = json.loads(layout.sim_state_file.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return data if data.get("version") == STATE_VERSION else {}


class LabDaemon:
    def __init__(self, layout: LabLayout, root: Path, settings: Any) -> None:
        from hops.lab.apiserver import Store
        self.layout, self.root, self.settings = layout, root, settings
        self.speed = clock.speed()
        self.faults = FaultWatch(layout)
        saved = load_state(layout)
        self.store = Store.restore(saved["store"]) if saved.get("store") else Store()
        self.persister = Persister(layout, self.snapshot)
        self._nodes_changed = threading.Event()
        self.talos = TalosCluster(settings, self.store, self.speed, self.faults.current,
                                  on_change=self._on_talos_change)
        if saved.get("talos"):
            self.talos.restore(saved["talos"])
        self._last_api_port = saved.get("api_port")
        self.api = self._api_server(self._last_api_port or 0)
        self.endpoints = {name: NodeEndpoint(self.talos, name) for name in self.talos.nodes}
        self.control = ControlServer(self)
        self.charts = ChartRepoServer()
        self.controllers: list[Any] = []
        self._store_events: queue.SimpleQueue = queue.SimpleQueue()

    def _api_server(self, port: int) -> Any:
        from hops.lab.apiserver import ApiServer

        server = ApiServer(self.store, host="127.0.0.1", port=port, gate=self._gate, fault=self.faults.api_fault)
        server.hold_seconds = API_REQUEST_TIMEOUT_S / self.speed  # an api-timeouts hang, in simulated time
        return server

    def _start_api(self) -> None:
        """Serve the API where the last run did, as a real cluster's endpoint stays put: kubeconfigs fetched
        before a lab_down keep working. When that port is taken, take any and repoint those kubeconfigs."""
        try:
            self.api.start()
        except OSError:
            self.api = self._api_server(0)
            self.api.start()
        old = self._last_api_port
        if old and old != self.api.port:
            for kubeconfig in self.layout.cluster_dir.glob("*kubeconfig*"):
                text = kubeconfig.read_text()
                kubeconfig.write_text(text.replace(f"//127.0.0.1:{old}", f"//127.0.0.1:{self.api.port}"))

    def _gate(self) -> tuple[int, str] | None:
        return None if self.talos.api_up else API_DOWN

    def snapshot(self) -> dict:
        """What sim-state.json holds; the store's part is JSON text already (Store.snapshot_json)."""
        return {"store": self.store.snapshot_json(), "talos": self.talos.snapshot(), "api_port": self.api.port}

    def start(self) -> dict:
        if vault.seed(self.layout, self.settings):    # first start: sign in, so `op` works out of the box
            vault.set_signed_in(self.layout, self.settings.config.onepassword.account, True)
        self._start_api()
        self.talos.api_url = self.api.url
        for endpoint in self.endpoints.values():
            endpoint.start()
        self.control.start()
        self.charts.start()
        self.talos.start()
        self.store.subscribe(self._on_store_event, shared=True)  # the object is not read
        threading.Thread(target=self._relay_store_events, name="store-relay", daemon=True).start()
        self.persister.start()
        self._start_controllers()
        self._apply_node_faults()
        threading.Thread(target=self._watch_node_faults, name="node-faults", daemon=True).start()
        return self.write_info()

    def _on_talos_change(self) -> None:
        # Called under the Talos lock: hand the listeners over to their own thread.
        self.persister.mark()
        self._nodes_changed.set()

    def _apply_node_faults(self) -> None:
        nodes = self.faults.current().get("nodes") or {}
        changed = False
        for name, endpoint in self.endpoints.items():
            was = endpoint.listening
            endpoint.set_reachable(nodes.get(name) != "unreachable" and self.talos.listening(name))
            changed = changed or endpoint.listening != was
        if changed:
            self.talos.notify()   # wakes ?listening= waits

    def _watch_node_faults(self) -> None:
        """Open/close node listeners when a node goes down or comes up (install, reboot) at once, and when
        `unreachable` faults change (faults.json is looked at every 0.1 s: the lab's own clock, not a hops wait)."""
        stop = self.context.stop
        while not stop.is_set():
            self._nodes_changed.wait(0.1)
            self._nodes_changed.clear()
            self._apply_node_faults()

    def _on_store_event(self, *event: Any) -> None:
        # Called by the store, possibly under its lock: hand off, never take the Talos lock here.
        self._store_events.put(event)

    def _relay_store_events(self) -> None:
        while self._store_events.get() is not None:
            self.persister.mark()
            self.talos.notify()

    def _start_controllers(self) -> None:
        from hops.lab.controllers import CONTROLLERS, LabContext
        context = LabContext(layout=self.layout, store=self.store, settings=self.settings, nodes=self.talos,
                             speed=self.speed)
        for cls in CONTROLLERS:
            controller = cls(context)
            controller.start()
            self.controllers.append(controller)
        self.context = context

    def write_info(self) -> dict:
        info = {"pid": os.getpid(), "root": str(self.root), "api_url": self.api.url,
                "control_url": self.control.url, "chart_repo_url": self.charts.url, "cluster_name": self.settings.config.cluster.name,
                "cluster_endpoint": str(self.settings.config.cluster.endpoint),
                "nodes": {name: {"address": node.address, "role": node.role,
                                 "endpoint": self.endpoints[name].address}
                          for name, node in self.talos.nodes.items()},
                "tool_versions": {k: str(v) for k, v in self.settings.config.tools.required.items()},
                "talos_version": self.talos.talos_version(), "speed": self.speed, "started_at": datetime.now(UTC).isoformat(timespec="seconds")}
        tmp = self.layout.info_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=1))
        os.replace(tmp, self.layout.info_file)
        return info

    def stop(self) -> None:
        if hasattr(self, "context"):
            self.context.stop.set()
        for controller in self.controllers:
            controller.stop()
        self.talos.stop()
        self._store_events.put(None)
        self.persister.stop()
        # http.server's shutdown() waits for its poll loop: stop all servers at once, not one after another
        stoppers = [threading.Thread(target=s.stop) for s in [*self.endpoints.values(), self.control, self.charts, self.api]]
        for thread in stoppers:
            thread.start()
        for thread in stoppers:
            thread.join(timeout=5)

    def status(self) -> dict:
        summary = self.talos.summary()
        summary["objects"] = self.store.counts_by_kind()
        summary["faults"] = self.faults.current()
        summary["api_requests"] = self.store.request_count
        summary["api_requests_by_method"] = self.store.requests_by_method
        return summary


class ControlServer:
    """GET /healthz (the daemon answers), GET /status (simulation summary), GET /wait?...&timeout=S (blocks
    until the simulation gets there, no polling; see _wait_predicate) and POST /faults (apply faults.json at
    once). Loopback only; used by hops.lab.lifecycle, `python -m hops.lab status` and the tests."""

    def __init__(self, daemon: LabDaemon) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _control_handler(daemon))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), name="control", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _control_handler(daemon: LabDaemon) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/healthz":  # every hops process asks before it uses the lab: answered at once
                self._send(200, {"ok": True})
            elif url.path == "/status":
                self._send(200, daemon.status())
            elif url.path == "/wait":
                self._send(*self._wait(query))
            else:
                self._send(404, {"error": f"unknown path {url.path}"})

        def do_POST(self) -> None:  # noqa: N802
            # POST /faults: apply faults.json now, so `fault add|clear` returns once the nodes are up or down
            if urlparse(self.path).path == "/faults":
                daemon._apply_node_faults()
                self._send(200, {"applied": True})
            else:
                self._send(404, {"error": f"unknown path {self.path}"})

        def _wait(self, query: dict) -> tuple[int, dict]:
            predicate, describe = _wait_predicate(daemon.talos, daemon.endpoints, query)
            if predicate is None:
                return 404, {"error": describe()}
            ok = daemon.talos.wait_for(predicate, float(query.get("timeout", "30")))
            return (200 if ok else 408), {"reached": ok, "now": describe()}

        def _send(self, code: int, body: dict) -> None:
            data = json.dumps(body, default=str).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def _wait_predicate(talos: TalosCluster, endpoints: dict[str, NodeEndpoint],
                    query: dict) -> tuple[Callable[[], bool] | None, Callable[[], Any]]:
    """?node=N&phase=P | ?node=N&registered=1 | ?node=N&listening=0|1 | ?cluster=etcd|api&value=V
    -> (predicate, describe)."""
    name = query.get("node")
    if name is not None:
        if name not in talos.nodes:
            return None, lambda: f"unknown node {name!r}"
        if "listening" in query:
            wanted = query["listening"] == "1"
            return (lambda: endpoints[name].listening == wanted), lambda: {"listening": endpoints[name].listening}
        if "registered" in query:
            return (lambda: talos.nodes[name].registered), lambda: {"registered": talos.nodes[name].registered}
        phase = query.get("phase", "running")
        return (lambda: talos.nodes[name].phase == phase), lambda: {"phase": talos.nodes[name].phase}
    field = query.get("cluster")
    if field in ("etcd", "api"):
        value = query.get("value", "")
        return (lambda: getattr(talos.cluster, field) == value), lambda: {field: getattr(talos.cluster, field)}
    return None, lambda: "expected ?node=N&phase=P, ?node=N&registered=1 or ?cluster=etcd|api&value=V"


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m hops.lab.daemon")
    parser.add_argument("--dir", required=True, type=Path, help="the lab folder")
    parser.add_argument("--root", required=True, type=Path, help="the project root (bootstrap-config.yaml)")
    parser.add_argument("--ready-fd", type=int, default=None, help="write one line here once lab.json is written")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    from hops.config import ConfigError, load_settings
    layout = LabLayout(args.dir.resolve())
    layout.root.mkdir(parents=True, exist_ok=True)
    try:
        settings = load_settings(args.root.resolve())
    except ConfigError as exc:
        print(f"hops lab: the configuration is not valid:\n{exc}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    daemon = LabDaemon(layout, args.root.resolve(), settings)
    info = daemon.start()
    print(f"hops lab ready: api {info['api_url']}, control {info['control_url']}", flush=True)
    _signal_ready(args.ready_fd)
    while not stop.wait(FOLDER_CHECK_S):
        if not layout.root.is_dir():  # removed under it: no lab_down will ever find this daemon again
            print(f"hops lab: {layout.root} was removed; stopping", flush=True)
            break
    daemon.stop()
    layout.info_file.unlink(missing_ok=True)
    print("hops lab stopped; state saved" if layout.root.is_dir() else "hops lab stopped", flush=True)
    return 0


def _signal_ready(fd: int | None) -> None:
    if fd is None:
        return
    os.write(fd, b"ready\n")
    os.close(fd)


if __name__ == "__main__":
    raise SystemExit(main())
