"""Benchmark of the lab's Kubernetes API emulation with the official Python client.

Starts a server, fills it with a small cluster's worth of objects, runs N (default 10,000) mixed get/list
requests, and prints the start-to-ready time plus median/p95 latency of the first and last 1,000 requests and
their ratio. Exits 1 when the overall median exceeds 2 ms or the last/first median ratio exceeds 1.5 (the
server slowing down as it ages), 0 otherwise.

    python benchmarks/bench_apiserver.py [--requests 10000] [--window 1000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hops.lab.apiserver import ApiServer, Store  # noqa: E402

MAX_MEDIAN_MS = 2.0
MAX_RATIO = 1.5


def populate(store: Store) -> None:
    for index in range(3):
        store.create({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": f"talos-cp-{index + 1}",
                                   "labels": {"node-role.kubernetes.io/control-plane": ""}},
                      "status": {"conditions": [{"type": "Ready", "status": "True"}],
                                 "nodeInfo": {"kubeletVersion": "v1.31.4"}}})
    for index in range(40):
        store.create({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": f"config-{index}", "namespace": "kube-system",
                                   "labels": {"app": f"app-{index % 5}"}},
                      "data": {"key": "value" * 10}})
    for index in range(20):
        store.create({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"pod-{index}", "namespace": "default", "labels": {"app": "web"}},
                      "spec": {"containers": [{"name": "main", "image": "nginx:1.25"}]},
                      "status": {"phase": "Running"}})


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000)
    args = parser.parse_args(argv)

    from kubernetes import client   # imported before timing: the import alone takes ~0.4 s

    store = Store()
    populate(store)
    started = time.perf_counter()
    server = ApiServer(store).start()
    while True:
        try:
            with urllib.request.urlopen(server.url + "/readyz", timeout=1) as response:
                if response.status == 200:
                    break
        except OSError:
            time.sleep(0.001)
    ready_ms = (time.perf_counter() - started) * 1000

    config = client.Configuration()
    config.host = server.url
    config.api_key = {"authorization": "bench"}
    config.api_key_prefix = {"authorization": "Bearer"}
    api_client = client.ApiClient(config)
    core = client.CoreV1Api(api_client)
    calls = [
        lambda: core.read_namespaced_config_map("config-7", "kube-system"),
        lambda: core.list_node(),
        lambda: core.read_node("talos-cp-2"),
        lambda: core.list_namespaced_pod("default", label_selector="app=web", limit=5),
        lambda: core.read_namespace("default"),
        lambda: core.list_namespaced_config_map("kube-system", label_selector="app=app-3"),
    ]
    threads_before = threading.active_count()
    count_before = store.request_count
    latencies: list[float] = []
    for index in range(args.requests):
        call = calls[index % len(calls)]
        begin = time.perf_counter()
        call()
        latencies.append((time.perf_counter() - begin) * 1000)
    served = store.request_count - count_before
    threads_after = threading.active_count()
    api_client.close()
    server.stop()
    store.close()

    window = min(args.window, len(latencies))
    first, last = latencies[:window], latencies[-window:]
    median_all = statistics.median(latencies)
    ratio = statistics.median(last) / statistics.median(first)
    print(f"start-to-ready:        {ready_ms:8.2f} ms")
    print(f"requests:              {len(latencies)} (server counted {served})")
    print(f"median (all):          {median_all:8.3f} ms   p95 {percentile(latencies, 0.95):8.3f} ms")
    print(f"first {window:<5} median:    {statistics.median(first):8.3f} ms   p95 {percentile(first, 0.95):8.3f} ms")
    print(f"last {window:<5} median:     {statistics.median(last):8.3f} ms   p95 {percentile(last, 0.95):8.3f} ms")
    print(f"ratio last/first:      {ratio:8.3f}")
    print(f"threads before/after:  {threads_before} / {threads_after}")
    failures = []
    if median_all > MAX_MEDIAN_MS:
        failures.append(f"median {median_all:.3f} ms > {MAX_MEDIAN_MS} ms")
    if ratio > MAX_RATIO:
        failures.append(f"last/first ratio {ratio:.3f} > {MAX_RATIO}")
    if served != len(latencies):
        failures.append(f"the server counted {served} requests for {len(latencies)} calls")
    if threads_after > threads_before + 2:
        failures.append(f"threads grew from {threads_before} to {threads_after}")
    print("FAIL: " + "; ".join(failures) if failures else "OK")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
