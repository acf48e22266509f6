"""hops.kube.Kube against the lab's API server.

`doit -n` forks its workers from the main process after that process's up-to-date checks opened API
connections. A forked worker must open its own: sharing the parent's keep-alive socket interleaves the two
processes' requests (seen in CI as a 400 "error decoding YAML ... Host: 127.0.0.1" and as a hang).

A real API server leaves kind/apiVersion out of the items of a built-in kind's list; Kube's lists put them back,
since readiness code tells Deployments, DaemonSets and StatefulSets apart by kind."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from hops.lab.apiserver import ApiServer, Store
from hops.lab.apiserver.handler import ApiHandler
from tests.kube_helpers import kube_for


@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch):
    """An API server that records the client port of every request it serves."""
    ports: list[int] = []
    serve_get = ApiHandler.do_GET

    def recording_get(handler: ApiHandler) -> None:
        ports.append(handler.client_address[1])
        serve_get(handler)

    monkeypatch.setattr(ApiHandler, "do_GET", recording_get)
    server = ApiServer(Store()).start()
    yield server, ports
    server.stop()


def in_child(work) -> int:
    """Run work() in a forked child (as doit's multiprocessing workers are); its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if work() else 3
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_forked_process_opens_its_own_connection_and_drops_inherited_lists(api, tmp_path: Path) -> None:
    server, ports = api
    kube = kube_for(server, tmp_path)
    assert "made-after-the-list" not in {ns["metadata"]["name"] for ns in kube.list("Namespace")}
    parent_port = ports[-1]
    kube.request("POST", "/api/v1/namespaces", body={"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": "made-after-the-list"}})

    def child() -> bool:
        names = {ns["metadata"]["name"] for ns in kube.list("Namespace")}  # not the parent's cached list
        return "made-after-the-list" in names

    assert in_child(child) == 0
    assert ports[-1] != parent_port, "the forked process reused its parent's connection"
    kube.request("GET", "/api/v1/namespaces/default")  # the parent's own connection still works
    assert ports[-1] == parent_port


def test_same_process_keeps_its_connection_and_list_cache(api, tmp_path: Path) -> None:
    server, ports = api
    kube = kube_for(server, tmp_path)
    kube.list("Namespace")
    kube.list("Namespace")
    kube.request("GET", "/api/v1/namespaces/default")
    assert len(ports) == 2 and len(set(ports)) == 1


def test_listed_items_carry_their_kind(api, tmp_path: Path) -> None:
    server, _ = api
    kube = kube_for(server, tmp_path)
    raw = kube.request("GET", "/api/v1/namespaces")["items"]
    assert raw and all("kind" not in item for item in raw)  # the server's answer, as a real one
    listed = kube.list("Namespace")
    assert listed and {(item["kind"], item["apiVersion"]) for item in listed} == {("Namespace", "v1")}


def test_an_unreachable_api_costs_the_retries_once(tmp_path: Path) -> None:
    """After one call used up its retries on a refused connection, the next calls try once each (a status
    table of 30 live checks must not back off 30 times), until the API answers again."""
    import socket

    from hops.kube import ApiUnavailable

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kube = kube_for(SimpleNamespace(url=f"http://127.0.0.1:{port}"), tmp_path)
    kube.ctx.config.bootstrap.retry = SimpleNamespace(attempts=3, delay=0.01)
    for expected_attempts in (3, 1, 1):
        before = kube.requests
        with pytest.raises(ApiUnavailable):
            kube.request("GET", "/api/v1/nodes")
        assert kube.requests - before == expected_attempts

    server = ApiServer(Store(), port=port).start()  # the API is back: one call gets through ...
    try:
        assert kube.request("GET", "/api/v1/namespaces/default")["metadata"]["name"] == "default"
    finally:
        server.stop()
    before = kube.requests  # ... and the next outage gets the full retries again
    with pytest.raises(ApiUnavailable):
        kube.request("GET", "/api/v1/nodes")
    assert kube.requests - before == 3


def test_a_wait_ends_at_its_deadline_while_the_server_keeps_the_watch_open(monkeypatch, tmp_path: Path) -> None:
    """The server ends a watch after whole seconds (timeoutSeconds), or later (a proxy); a deadline 0.3 s away
    ends the wait then, naming what the object showed, not the watch's read as a broken API."""
    import time

    from hops.errors import WaitTimeout

    server = ApiServer(Store()).start()
    try:
        server.store.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "default"},
                             "data": {"state": "pending"}})
        kube = kube_for(server, tmp_path)
        original = ApiHandler._watch
        monkeypatch.setattr(ApiHandler, "_watch",
                            lambda self, rt, ns, params: original(self, rt, ns, {**params, "timeoutSeconds": "30"}))
        with pytest.raises(WaitTimeout) as failure:
            kube.wait("ConfigMap", "the config map to be ready",
                      lambda objs: (False, f"state={objs['c']['data']['state']}" if "c" in objs else "none"),
                      time.monotonic() + 0.3, namespace="default", name="c")
        assert str(failure.value) == "timed out waiting for the config map to be ready: state=pending"
    finally:
        server.stop()
