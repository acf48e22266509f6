"""`pods/log` with and without `follow`: the real kubectl against the lab's bare-pod simulation, raw HTTP for the
options (tailLines, sinceSeconds, timestamps, limitBytes, container), and the log store itself."""

from __future__ import annotations

import http.client
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
from kube_lab import KubeLab

from hops.lab import charts, helm_releases
from hops.lab.apiserver.podlogs import Cursor, PodLogs

from tests.lab.apiserver_fixtures import (Kubectl, api_client, kubectl, kubectl_binary, server,  # noqa: F401
                                          store)

STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z "


# ------------------------------------------------------------------------------------- real kubectl, real lab

@pytest.fixture
def kl(tmp_path: Path):
    if kubectl_binary() is None:
        pytest.skip("kubectl is not installed (looked on PATH and at /usr/bin/kubectl)")
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(1)
    applied = helm_releases.upgrade_install(lab.store, "cilium", "kube-system", charts.lookup("cilium"), {},
                                            create_namespace=True)
    helm_releases.finish(lab.store, applied)
    lab.wait_for(lambda: all(lab.nodes_ready()), what="node Ready")
    yield lab
    lab.close()


@pytest.fixture
def lab_kubectl(kl: KubeLab, tmp_path: Path) -> Kubectl:
    return Kubectl(kubectl_binary() or "kubectl", kl.server.url, tmp_path / "kubectl")


def _run_pod(kl: KubeLab, run: Kubectl, name: str, script: str) -> None:
    run("run", name, "--image=busybox:1.36", "--restart=Never", "--", "sh", "-c", script)
    run("wait", "--for=condition=Ready", f"pod/{name}", "--timeout=30s")


def test_logs_follow_streams_lines_as_the_container_writes_them_and_ends_with_it(kl, lab_kubectl):
    # 1500 simulated seconds at lab speed 500: b comes about 3 wall seconds after a
    _run_pod(kl, lab_kubectl, "talker", "echo a; sleep 1500; echo b")
    follow = lab_kubectl.popen("logs", "-f", "talker")
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == "a\n"
        assert kl.store.get_pod_log("default", "talker") == "a\n"      # b is not written yet: a was streamed
        out, err = follow.communicate(timeout=60)
    finally:
        follow.kill()
    assert (follow.returncode, out) == (0, "b\n"), err
    assert kl.store.get("v1", "Pod", "talker", "default")["status"]["phase"] == "Succeeded"


def test_logs_without_follow_answer_at_once_with_what_is_written(kl, lab_kubectl):
    _run_pod(kl, lab_kubectl, "sleeper", "echo ready; sleep infinity")
    started = time.monotonic()
    now = lab_kubectl("logs", "sleeper", timeout=20)
    assert now.stdout == "ready\n"
    assert time.monotonic() - started < 15
    assert kl.store.get("v1", "Pod", "sleeper", "default")["status"]["phase"] == "Running"


def test_logs_follow_ends_when_the_pod_is_deleted(kl, lab_kubectl):
    _run_pod(kl, lab_kubectl, "forever", "echo start; sleep infinity")
    follow = lab_kubectl.popen("logs", "-f", "forever")
    try:
        assert kl.store.pod_logs.wait_for_followers(("default", "forever"), 1)
        assert follow.poll() is None                                   # still streaming while the pod runs
        kl.store.delete("v1", "Pod", "forever", "default")
        out, err = follow.communicate(timeout=30)
    finally:
        follow.kill()
    assert (follow.returncode, out) == (0, "start\n"), err
    assert kl.store.pod_logs.wait_for_followers(("default", "forever"), 0)


def test_logs_follow_of_a_wrong_container_is_refused(kl, lab_kubectl):
    _run_pod(kl, lab_kubectl, "single", "sleep infinity")
    refused = lab_kubectl("logs", "-f", "single", "-c", "nope", check=False, timeout=20)
    # kubectl checks the name against the pod it read first; the server's own 400 is tested over raw HTTP below
    assert (refused.returncode, refused.stderr) == (1, "error: container nope is not valid for pod single\n")
    assert lab_kubectl("logs", "single", "-c", "single", timeout=20).returncode == 0


# ------------------------------------------------------------------------------------------ raw HTTP options

def _running_pod(store, name: str = "p", containers: tuple[str, ...] = ("c",)) -> None:
    store.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
                  "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers]}})
    store.set_status("v1", "Pod", name, "default", {"phase": "Running"})


class Stream:
    """One streamed GET read line by line (http.client undoes the chunking)."""

    def __init__(self, url: str, path: str) -> None:
        parts = urlparse(url)
        self.connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=20)
        self.connection.request("GET", path)
        self.response = self.connection.getresponse()

    def line(self) -> str:
        return self.response.readline().decode()

    def rest(self) -> str:
        return self.response.read().decode()

    def close(self) -> None:
        self.connection.close()


def test_follow_honours_tail_and_timestamps_then_streams_appends_until_the_pod_finishes(server, store):
    _running_pod(store)
    store.set_pod_log("default", "p", "one\ntwo\n")
    stream = Stream(server.url, "/api/v1/namespaces/default/pods/p/log?follow=true&tailLines=1&timestamps=true")
    try:
        assert stream.response.status == 200
        assert stream.response.getheader("Transfer-Encoding") == "chunked"
        assert re.fullmatch(STAMP + "two\n", stream.line())
        store.append_pod_log("default", "p", "three\n")
        assert re.fullmatch(STAMP + "three\n", stream.line())
        store.set_pod_log("default", "p", "one\ntwo\nthree\nfour\n")  # the whole text, grown: only the news
        store.set_status("v1", "Pod", "p", "default", {"phase": "Succeeded"})
        assert re.fullmatch(STAMP + "four\n", stream.rest())             # then the stream ends
    finally:
        stream.close()


def test_follow_of_a_finished_pod_sends_its_log_and_ends(server, store):
    _running_pod(store)
    store.set_pod_log("default", "p", "done\n")
    store.set_status("v1", "Pod", "p", "default", {"phase": "Failed"})
    stream = Stream(server.url, "/api/v1/namespaces/default/pods/p/log?follow=true")
    try:
        assert stream.rest() == "done\n"
    finally:
        stream.close()


def test_follow_stops_at_limit_bytes_and_when_a_new_container_replaces_the_log(server, store):
    _running_pod(store)
    store.set_pod_log("default", "p", "hello world\n")
    limited = Stream(server.url, "/api/v1/namespaces/default/pods/p/log?follow=true&limitBytes=5")
    try:
        assert limited.rest() == "hello"
    finally:
        limited.close()
    stream = Stream(server.url, "/api/v1/namespaces/default/pods/p/log?follow=true")
    try:
        assert stream.line() == "hello world\n"
        store.set_pod_log("default", "p", "restarted\n")                  # not an extension: a new container
        assert stream.rest() == ""
    finally:
        stream.close()


def test_since_seconds_leaves_out_older_lines(server, store):
    _running_pod(store)
    store.pod_logs.append(("default", "p"), "old\n", at=time.time() - 3600)
    store.append_pod_log("default", "p", "new\n")
    base = "/api/v1/namespaces/default/pods/p/log"
    recent = Stream(server.url, base + "?sinceSeconds=60")
    every = Stream(server.url, base)
    try:
        assert recent.rest() == "new\n"
        assert every.rest() == "old\nnew\n"
    finally:
        recent.close()
        every.close()


def test_container_must_be_named_and_valid_with_follow_too(server, store):
    _running_pod(store, "two", ("app", "side"))
    base = "/api/v1/namespaces/default/pods/two/log?follow=true"
    for query, message in (("", "a container name must be specified for pod two, choose one of: [app side]"),
                           ("&container=nope", "container nope is not valid for pod two")):
        refused = Stream(server.url, base + query)
        try:
            assert refused.response.status == 400
            assert message in refused.rest()
        finally:
            refused.close()
    store.set_status("v1", "Pod", "two", "default", {"phase": "Succeeded"})
    named = Stream(server.url, base + "&container=side")
    try:
        assert (named.response.status, named.rest()) == (200, "")
    finally:
        named.close()


def test_a_follower_that_goes_away_is_let_go(server, store):
    _running_pod(store)
    stream = Stream(server.url, "/api/v1/namespaces/default/pods/p/log?follow=true")
    assert store.pod_logs.wait_for_followers(("default", "p"), 1)
    stream.close()
    assert store.pod_logs.wait_for_followers(("default", "p"), 0)


# ---------------------------------------------------------------------------------------------- the log store

def test_pod_logs_extend_partial_lines_and_replace_other_text() -> None:
    logs = PodLogs(clock=lambda: 100.0)
    key = ("ns", "p")
    logs.append(key, "par")
    text, cursor, _ = logs.read(key)
    assert (text, cursor) == ("par", Cursor(0, 3))
    logs.append(key, "tial\nnext\n")
    assert logs.read_on(key, cursor) == ("tial\nnext\n", Cursor(0, 13), False)
    assert logs.read(key, tail=1)[0] == "next\n"
    assert logs.read(key, since=101.0)[0] == ""
    logs.set(key, "other\n")
    assert logs.read_on(key, Cursor(0, 13)) == ("", Cursor(0, 13), True)
    assert logs.read(key, timestamps=True)[0] == "1970-01-01T00:01:40.000000000Z other\n"


def test_bare_pod_output_is_written_when_the_command_writes_it() -> None:
    from hops.lab.controllers import commands

    run = commands.simulate("echo a; sleep 2; echo b")
    assert (run.written_by(0), run.written_by(1.9), run.written_by(2)) == ("a\n", "a\n", "a\nb\n")
    assert (run.next_write(0), run.next_write(2)) == (2.0, None)


def test_kubectl_logs_through_the_apiserver_fixture(kubectl, store) -> None:
    _running_pod(store)
    store.set_pod_log("default", "p", "x\ny\n")
    assert kubectl("logs", "p", "--tail=1").stdout == "y\n"
    store.set_status("v1", "Pod", "p", "default", {"phase": "Succeeded"})
    done = subprocess.run([kubectl.binary, "logs", "-f", "p"], env=kubectl.env, capture_output=True, text=True,
                          timeout=30)
    assert (done.returncode, done.stdout) == (0, "x\ny\n")


def test_the_python_client_follows_a_log(api_client, store) -> None:
    from kubernetes import client

    _running_pod(store)
    store.set_pod_log("default", "p", "first\n")
    response = client.CoreV1Api(api_client).read_namespaced_pod_log("p", "default", follow=True,
                                                                    _preload_content=False)
    try:
        chunks = response.stream(64)
        assert next(chunks) == b"first\n"
        store.append_pod_log("default", "p", "second\n")
        assert next(chunks) == b"second\n"
        store.delete("v1", "Pod", "p", "default")
        assert list(chunks) == []
    finally:
        response.release_conn()
