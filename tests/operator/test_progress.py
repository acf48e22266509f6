"""hops.progress in-process: what the live line and the heartbeat say, who owns the terminal, and waits that
print a status once per change (hops.waiting.Wait)."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from hops import history, invocation, progress
from hops.errors import WaitTimeout
from hops.phases import PHASES
from hops.taskmodel import Model
from hops.waiting import Wait, poll_until


class Log:
    def __init__(self) -> None:
        self.said: list[str] = []

    def say(self, text: str) -> None:
        self.said.append(text)


class Ctx:
    def __init__(self) -> None:
        self.log = Log()
        self.config = type("C", (), {"bootstrap": type("B", (), {"check_interval": 0.01})()})()


@pytest.fixture(autouse=True)
def wired() -> None:
    progress.know(Model.of(PHASES))
    yield
    progress.set_current(None)
    history.close()
    invocation.reset()


def step(tmp_path: Path, step_id: str = "talos:wait-nodes-ready", **fields) -> progress.StepState:
    state = progress.StepState(step_id, tmp_path, **fields)
    progress.set_current(state)
    return state


def test_live_line_names_phase_step_timing_and_wait(tmp_path: Path) -> None:
    state = step(tmp_path, started=time.monotonic() - 130, deadline=time.monotonic() + 1670.5, estimate=65)
    progress.wait_started("Cilium agents ready on all 3 nodes", time.monotonic() + 5000)
    progress.wait_status("numberReady=1 of 3")
    names = [s.name for s in Model.of(PHASES).phase(2).steps]
    line = state.line()
    assert line.startswith(f"phase 2/6 step {names.index('wait-nodes-ready') + 1}/{len(names)} talos:wait-nodes-ready ")
    assert "2m10s, 27m50s left, usually ~1m05s │ waiting for Cilium agents ready on all 3 nodes: numberReady=1 of 3" in line


def test_live_line_without_a_wait_deadline_or_history(tmp_path: Path) -> None:
    line = step(tmp_path, step_id="demo:slow").line()
    assert line == "demo:slow 0s │ working"  # not one of the wired phases: no position


def test_heartbeat_while_waiting_and_while_working(tmp_path: Path) -> None:
    state = step(tmp_path, deadline=time.monotonic() + 1670.5)
    assert state.heartbeat(tagged=False).startswith("… still working on talos:wait-nodes-ready (0s, 27m50s left)")
    progress.wait_started("Cilium agents ready on all 3 nodes", time.monotonic() + 9999)
    state.wait_started -= 130
    progress.wait_status("numberReady=1 of 3")
    assert state.heartbeat(tagged=False) == ("… still waiting for Cilium agents ready on all 3 nodes: "
                                             "numberReady=1 of 3 (2m10s, 27m50s left)")
    assert state.heartbeat(tagged=True).startswith("[talos:wait-nodes-ready] … still waiting for")


def test_only_a_terminal_in_the_main_process_gets_the_live_line(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setattr("sys.stdout", Tty())
    invocation.begin("run", ["bootstrap_phased"], records=False)
    assert progress.owns_terminal()
    monkeypatch.setenv("NO_COLOR", "1")
    assert not progress.owns_terminal()
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    assert not progress.owns_terminal()
    monkeypatch.setenv("TERM", "xterm")
    invocation._current = invocation.Invocation(1, time.time(), "run", "doit")  # as a forked `-n` worker
    assert not progress.owns_terminal()
    invocation.begin("run", [], records=False)
    monkeypatch.setattr("sys.stdout", io.StringIO())  # a pipe or file
    assert not progress.owns_terminal()


def test_a_wait_prints_each_status_once_and_records_its_span(tmp_path: Path) -> None:
    ctx = Ctx()
    step(tmp_path)
    with Wait(ctx, "nodes Ready", time.monotonic() + 60) as wait:
        for detail in ("0 of 3", "0 of 3", "1 of 3", "1 of 3", "3 of 3"):
            wait.status(detail)
    assert [s.split(" (")[0] for s in ctx.log.said] == ["  waiting for nodes Ready: 0 of 3",
                                                        "  waiting for nodes Ready: 1 of 3",
                                                        "  waiting for nodes Ready: 3 of 3"]
    invocation_spans = history.connect(tmp_path).execute("select kind, label, result from spans").fetchall()
    assert invocation_spans == [("wait", "nodes Ready: 3 of 3", "done")]


def test_poll_until_times_out_naming_the_last_status_and_records_it(tmp_path: Path) -> None:
    ctx = Ctx()
    step(tmp_path)
    with pytest.raises(WaitTimeout, match="timed out waiting for the Talos API: connection refused"):
        poll_until(ctx, "the Talos API", lambda: (False, "connection refused"), time.monotonic() + 0.05)
    assert len(ctx.log.said) == 1
    assert history.connect(tmp_path).execute("select result from spans").fetchall() == [("timed out",)]


def test_retries_said_by_the_runner_are_counted(tmp_path: Path) -> None:
    state = step(tmp_path)
    progress.logged("  retrying `talosctl health` (attempt 2, transient: connection refused) in 5s")
    progress.logged("  waiting for nodes Ready: 1 of 3 (10s left)")
    progress.logged("  retrying API GET https://127.0.0.1:6443/api/v1/nodes (attempt 2, transient: 503) in 1s")
    assert state.retries == 2
    spans = history.connect(tmp_path).execute("select kind, label from spans").fetchall()
    assert [kind for kind, _ in spans] == ["retry", "retry"] and spans[1][1].startswith("retrying API GET")
