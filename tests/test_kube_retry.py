"""hops.kube.Kube.request's failure policy against the lab's API server over real HTTP: transient answers are
retried until the running step's deadline (or for the configured attempts outside a step), permanent ones
raise at once. The server's fault hook scripts the answers; the back-off's sleep is recorded."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException

from hops import deadlines
from hops.kube import ApiUnavailable, Kube
from hops.lab.apiserver import ApiServer, Store
from tests.test_kube_client import kube_for


class Script:
    """The API server's fault hook: answers the next scripted status (or serves normally when None/empty)."""

    def __init__(self) -> None:
        self.answers: list[int | None] = []
        self.seen: list[tuple[str, str]] = []

    def __call__(self, method: str, path: str) -> int | None:
        self.seen.append((method, path))
        return self.answers.pop(0) if self.answers else None


@pytest.fixture
def served():
    script = Script()
    server = ApiServer(Store(), fault=script).start()
    yield server, script
    server.stop()


def retrying_kube(server: ApiServer, tmp_path: Path, attempts: int = 1,
                  real_time: bool = True) -> tuple[Kube, list[float]]:
    kube = kube_for(server, tmp_path)
    kube.ctx.config.bootstrap.retry = SimpleNamespace(attempts=attempts, delay=5)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if real_time:  # short: the schedule starts at 50 ms; a deadline test needs real time to pass
            time.sleep(seconds)

    kube.sleep = sleep
    return kube, slept


def in_step(seconds: float, call):
    return deadlines.within(seconds, lambda ctx: call(), None)


def test_inside_a_step_transient_answers_are_retried_past_the_attempts(served, tmp_path: Path) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path, attempts=1, real_time=False)  # only the schedule matters
    script.answers = [503, 429, 500, 504, 502]
    namespace = in_step(600, lambda: kube.request("GET", "/api/v1/namespaces/default"))
    assert namespace["metadata"]["name"] == "default"
    assert len(script.seen) == 6
    assert slept == [0.05, 0.1, 0.2, 0.4, 0.8]  # doubling, capped at check_interval (1 s here)


def test_outside_a_step_the_attempts_bound_the_retries(served, tmp_path: Path) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path, attempts=2)
    script.answers = [503, 503, None]
    with pytest.raises(ApiUnavailable) as failed:
        kube.request("GET", "/api/v1/namespaces/default")
    assert "the server is currently unable to handle the request" in str(failed.value)
    assert "after 2 attempt(s)" in str(failed.value) and len(script.seen) == 2 and slept == [0.05]


def test_retries_end_at_the_steps_deadline(served, tmp_path: Path) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path)
    script.answers = [503] * 1000
    with pytest.raises(ApiUnavailable):
        in_step(0.5, lambda: kube.request("GET", "/api/v1/namespaces/default"))
    assert 1 < len(script.seen) < 10 and sum(slept) < 0.5


@pytest.mark.parametrize("status", [403, 401, 404, 422])
def test_a_permanent_answer_raises_at_once(served, tmp_path: Path, status: int) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path, attempts=3)
    script.answers = [status]
    with pytest.raises(ApiException) as failed:
        in_step(600, lambda: kube.request("GET", "/api/v1/namespaces/default"))
    assert failed.value.status == status and len(script.seen) == 1 and slept == []


def test_a_conflict_on_a_write_is_retried(served, tmp_path: Path) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path)
    script.answers = [409]
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
    applied = in_step(600, lambda: kube.apply(namespace))
    assert applied["metadata"]["name"] == "apps" and len(script.seen) == 2


def test_already_exists_is_not_retried(served, tmp_path: Path) -> None:
    server, script = served
    kube, slept = retrying_kube(server, tmp_path, attempts=3)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "once"}}
    kube.request("POST", "/api/v1/namespaces", body=body)
    with pytest.raises(ApiException) as failed:
        in_step(600, lambda: kube.request("POST", "/api/v1/namespaces", body=body))
    assert failed.value.status == 409 and len(script.seen) == 2 and slept == []


def test_an_unreachable_api_inside_a_step_keeps_retrying_after_an_earlier_outage(tmp_path: Path) -> None:
    """The 'try once after an outage' shortcut is for status commands: a step still retries to its deadline."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    kube, slept = retrying_kube(SimpleNamespace(url=f"http://127.0.0.1:{port}"), tmp_path, attempts=2)
    with pytest.raises(ApiUnavailable):
        kube.request("GET", "/api/v1/nodes")  # outside a step: 2 attempts, then the API counts as unreachable
    before = kube.requests
    with pytest.raises(ApiUnavailable):
        in_step(0.3, lambda: kube.request("GET", "/api/v1/nodes"))
    assert kube.requests - before > 2
