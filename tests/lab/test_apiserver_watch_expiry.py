"""Contract tests: a watch from a compacted resourceVersion answers an ERROR event carrying a 410 Expired Status
(`too old resource version: X (Y)`), by event count and by age as etcd compacts; hops's Kube.wait lists again
and carries on."""

from __future__ import annotations

import json
import time
from pathlib import Path

from hops.lab.apiserver import ApiServer, Store
from hops.lab.apiserver.handler import ApiHandler
from tests.kube_helpers import kube_for
from tests.lab.apiserver_fixtures import raw_request


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cm(name: str, namespace: str = "default") -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace}}


def watch_lines(server: ApiServer, rv: str) -> list[dict]:
    code, _, body = raw_request(f"{server.url}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
                                f"&timeoutSeconds=1")
    assert code == 200
    return [json.loads(line) for line in body.splitlines()]


def test_history_older_than_its_window_is_compacted():
    clock = Clock()
    store = Store(clock=clock)
    with ApiServer(store) as server:
        old = str(store.create(cm("a"))["metadata"]["resourceVersion"])
        store.create(cm("b"))
        recent = watch_lines(server, old)                      # within the window: resumes
        assert [(e["type"], e["object"]["metadata"]["name"]) for e in recent] == [("ADDED", "b")]
        clock.now += 301
        newest = store.create(cm("c"))["metadata"]["resourceVersion"]
        (line,) = watch_lines(server, old)
        assert line["type"] == "ERROR"
        status = line["object"]
        assert (status["kind"], status["code"], status["reason"]) == ("Status", 410, "Expired")
        assert status["message"] == f"too old resource version: {old} ({int(newest)})"
    store.close()


def test_kube_wait_lists_again_after_410(tmp_path: Path, monkeypatch):
    store = Store(history_size=3)
    requests: list[str] = []
    serve_get = ApiHandler.do_GET

    def rolling_get(handler: ApiHandler) -> None:
        requests.append(handler.path)
        if "watch=true" in handler.path and sum("watch=true" in p for p in requests) == 1:
            # between hops's list and its first watch the history rolls over, and the object appears
            for index in range(5):
                store.create(cm(f"noise-{index}", "kube-system"))
            store.create(cm("wanted"))
        serve_get(handler)

    monkeypatch.setattr(ApiHandler, "do_GET", rolling_get)
    with ApiServer(store) as server:
        kube = kube_for(server, tmp_path)
        found = kube.wait("ConfigMap", "the wanted ConfigMap",
                          lambda objs: ("wanted" in objs, "not yet"), time.monotonic() + 20, namespace="default")
    assert "wanted" in found
    lists = [p for p in requests if "watch=true" not in p and "/configmaps" in p]
    watches = [p for p in requests if "watch=true" in p]
    assert len(lists) == 2 and len(watches) >= 1, requests      # the 410 made it list again
    store.close()


