"""hops.runner.ToolRunner's retry policy with a scripted tool: a real executable on PATH that answers each call
with the next scripted (exit code, stderr). The back-off's sleep and clock are injected: nothing really sleeps,
and the recorded delays show the schedule."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from hops.errors import ToolFailed
from hops.runlog import RunLog
from hops.runner import ToolRunner

UNAVAILABLE = "Error: UPGRADE FAILED: the server is currently unable to handle the request"
IN_PROGRESS = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"

FAKE_TOOL = """#!{python}
import json, sys
from pathlib import Path
script = Path({script!r})
answers = json.loads(script.read_text())
code, out, err = answers.pop(0) if answers else (0, "ok", "")
script.write_text(json.dumps(answers))
with open(script.with_suffix(".calls"), "a") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
sys.stdout.write(out)
sys.stderr.write(err)
sys.exit(code)
"""


class Clock:
    """A fake monotonic clock that the fake sleep advances; records every delay."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.delays: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def tool(tmp_path: Path):
    """script(answers): install `helm` answering each call with the next (code, stdout, stderr); returns a
    function giving the argv of every call made so far."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = tmp_path / "answers.json"

    def install(answers: list[tuple[int, str, str]]):
        script.write_text(json.dumps(answers))
        exe = bin_dir / "helm"
        exe.write_text(FAKE_TOOL.format(python=sys.executable, script=str(script)))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
        calls = script.with_suffix(".calls")
        return lambda: [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []

    install.path = str(bin_dir)
    return install


def runner_for(tmp_path: Path, path: str, clock: Clock, deadline: float | None, attempts: int = 3,
               delay: float = 2.0) -> ToolRunner:
    return ToolRunner(env={"PATH": f"{path}{os.pathsep}{os.environ['PATH']}"}, log=RunLog(tmp_path / "logs"),
                      attempts=attempts, delay=delay, sleep=clock.sleep, clock=clock,
                      deadline=lambda: deadline)


def log_text(runner: ToolRunner) -> str:
    return runner.log.path.read_text() if runner.log.path.exists() else ""


def test_transient_failures_of_a_retry_safe_call_are_retried_with_doubling_back_off(tmp_path, tool, capsys) -> None:
    calls = tool([(1, "", UNAVAILABLE)] * 3)
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=clock.now + 600)
    result = runner.run("helm", ["upgrade", "--install", "cilium"], retry=True)
    assert result.code == 0 and len(calls()) == 4
    assert clock.delays == [2.0, 4.0, 8.0]
    out = capsys.readouterr().out
    assert ("retrying helm upgrade (attempt 3, transient: API unavailable: " + UNAVAILABLE + ") in 4s") in out
    assert out.count("retrying helm upgrade") == 3


@pytest.mark.parametrize("delay, schedule", [
    (2.0, [2.0, 4.0, 8.0, 16.0, 16.0, 16.0]),     # 8x the delay
    (5.0, [5.0, 10.0, 20.0, 30.0, 30.0, 30.0]),   # ... but at most 30 s
    (45.0, [45.0] * 6),                           # ... unless the delay itself is longer
])
def test_back_off_is_capped(tmp_path, tool, delay: float, schedule: list[float]) -> None:
    tool([(1, "", UNAVAILABLE)] * 6)
    clock = Clock()
    runner_for(tmp_path, tool.path, clock, deadline=clock.now + 3600, delay=delay).run("helm", ["upgrade"], retry=True)
    assert clock.delays == schedule


def test_retries_stop_at_the_steps_deadline_with_the_tools_message(tmp_path, tool, capsys) -> None:
    calls = tool([(1, "", UNAVAILABLE)] * 50)
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=clock.now + 40)
    with pytest.raises(ToolFailed) as failed:
        runner.run("helm", ["upgrade", "--install", "cilium"], retry=True)
    assert UNAVAILABLE in str(failed.value) and "helm upgrade --install cilium" in str(failed.value)
    assert sum(clock.delays) < 40 and clock.delays == [2.0, 4.0, 8.0, 16.0]
    assert len(calls()) == 5
    assert "giving up on helm upgrade after 5 attempt(s) (the step's deadline is reached)" in capsys.readouterr().out


def test_permanent_failure_fails_at_once(tmp_path, tool) -> None:
    calls = tool([(1, "", IN_PROGRESS), (0, "ok", "")])
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=clock.now + 600)
    with pytest.raises(ToolFailed) as failed:
        runner.run("helm", ["upgrade", "--install", "cilium"], retry=True)
    assert IN_PROGRESS in str(failed.value)
    assert len(calls()) == 1 and clock.delays == []


def test_a_call_not_declared_retry_safe_is_never_retried(tmp_path, tool) -> None:
    calls = tool([(1, "", UNAVAILABLE), (0, "ok", "")])
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=clock.now + 600)
    result = runner.run("helm", ["upgrade"], check=False)
    assert result.code == 1 and len(calls()) == 1 and clock.delays == []


def test_outside_a_step_the_configured_attempts_bound_the_retries(tmp_path, tool) -> None:
    calls = tool([(1, "", UNAVAILABLE)] * 10)
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=None, attempts=3)
    result = runner.run("helm", ["upgrade"], retry=True, check=False)
    assert result.code == 1 and len(calls()) == 3 and clock.delays == [2.0, 4.0]


def test_a_retry_within_the_attempts_succeeds_outside_a_step(tmp_path, tool) -> None:
    calls = tool([(1, "", UNAVAILABLE)])
    clock = Clock()
    result = runner_for(tmp_path, tool.path, clock, deadline=None, attempts=2).run("helm", ["list"], retry=True)
    assert result.code == 0 and len(calls()) == 2


def test_secret_output_stays_out_of_retry_lines_and_failures(tmp_path, tool, capsys) -> None:
    secret = "s3cr3t-value-never-shown"
    tool([(1, secret + " connection reset by peer", "")] * 2 + [(1, secret, "[ERROR] not currently signed in")])
    clock = Clock()
    runner = runner_for(tmp_path, tool.path, clock, deadline=clock.now + 600)
    with pytest.raises(ToolFailed) as failed:
        runner.run("helm", ["read"], retry=True, secret_output=True)
    # stdout is secret: it neither decides (no retry on its 'connection reset') nor shows
    assert clock.delays == []
    assert secret not in str(failed.value) and secret not in capsys.readouterr().out
    assert secret not in log_text(runner)


def test_the_default_deadline_is_the_running_steps(tmp_path, tool) -> None:
    from hops import deadlines

    tool([(1, "", UNAVAILABLE)] * 50)
    clock = Clock()
    runner = ToolRunner(env={"PATH": f"{tool.path}{os.pathsep}{os.environ['PATH']}"}, log=RunLog(tmp_path / "l"),
                        attempts=2, delay=2.0, sleep=clock.sleep)
    assert runner.deadline() is None
    seen = deadlines.within(30, lambda ctx: runner.deadline(), None)
    assert seen is not None and runner.deadline() is None


def test_a_thread_started_by_a_step_sees_its_deadline() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from hops import deadlines

    def action(ctx):
        with ThreadPoolExecutor(max_workers=1) as pool:
            return deadlines.current(), pool.submit(deadlines.current).result()

    own, worker = deadlines.within(30, action, None)
    assert own is not None and worker == own
    assert deadlines.current() is None


def test_a_step_action_runs_within_its_phases_timeout(tmp_path: Path) -> None:
    import time

    from types import SimpleNamespace

    from hops import deadlines

    timeouts = SimpleNamespace(networking=600.0)
    ctx = SimpleNamespace(config=SimpleNamespace(bootstrap=SimpleNamespace(timeouts=timeouts)), state_dir=tmp_path,
                          timeout=lambda group: float(getattr(timeouts, group)))
    before = time.monotonic()
    seen = deadlines.step_action(ctx, "networking:deploy-cilium", lambda c: deadlines.current())
    assert seen is not None and before + 600 <= seen <= time.monotonic() + 600
    assert deadlines.step_action(ctx, "demo:step", lambda c: deadlines.current()) is None
