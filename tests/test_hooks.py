"""Configured commands in-process: the runner (project root, environment, timeout, redaction, start failures),
`when`, hooks around a step (once per invocation, after/on_failure semantics), preconditions and status checks."""

from __future__ import annotations

import os
import select
from pathlib import Path
from typing import Any

import pytest
import yaml

from hops import custom_checks, hooks, secrets, usercommands
from hops.config import targets
from hops.config.custom import Command, When
from hops.context import Context
from hops.errors import StepError
from hops.state import lock
from hops.taskmodel import Check, Component, Model, Step
from tests.projects import write_config

STEPS = ["demo:prepare", "demo:deploy", "demo:complete"]


@pytest.fixture(autouse=True)
def declared() -> Any:
    previous = targets.known_steps()
    targets.declare_steps(STEPS)
    yield
    targets._declared = previous


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_config(tmp_path / "project")
    return tmp_path / "project"


def context(project: Path, hooks_: dict | None = None, checks: dict | None = None, **env: str) -> Context:
    """A context on the project whose bootstrap-config.yaml has these sections."""
    path = project / "bootstrap-config.yaml"
    data = yaml.safe_load(path.read_text())
    data["hooks"], data["checks"] = hooks_ or {}, checks or {}
    path.write_text(yaml.safe_dump(data))
    return Context(project, {"PATH": os.environ["PATH"], "HOME": str(project), **env})


def sh(script: str, **fields: Any) -> dict[str, Any]:
    return {"run": ["sh", "-c", script], **fields}


def log_text(ctx: Context) -> str:
    return ctx.log.path.read_text() if ctx.log.path.exists() else ""


# --- the runner --------------------------------------------------------------------------------------------------
def test_runs_in_the_project_root_with_the_hops_variables(project: Path) -> None:
    ctx = context(project)
    env = usercommands.hook_env(ctx, "after", "demo:deploy", HOPS_RESULT="success")
    outcome = usercommands.run(ctx, Command(run=["sh", "-c", "pwd; env | grep ^HOPS_ | sort"]), env, "test")
    assert outcome.ok
    lines = outcome.output.splitlines()
    assert lines[0] == str(project.resolve())
    for line in ("HOPS_CLUSTER=home-ops", "HOPS_HOOK=after", "HOPS_PHASE=demo", "HOPS_RESULT=success",
                 "HOPS_STEP=demo:deploy"):
        assert line in lines
    assert env["KUBECONFIG"] == str(ctx.endpoints.kubeconfig)  # the tool environment hops uses
    assert "pwd; env" in log_text(ctx) and "HOPS_STEP=demo:deploy" in log_text(ctx)  # output in the run log


def test_failure_shows_the_exit_code_and_the_output_tail(project: Path) -> None:
    ctx = context(project)
    script = "for i in $(seq 1 40); do echo line $i; done; exit 3"
    outcome = usercommands.run(ctx, Command(run=["sh", "-c", script]), {"PATH": os.environ["PATH"]}, "test")
    assert not outcome.ok and outcome.code == 3
    text = outcome.describe()
    assert text.startswith(f"`sh -c {script}` exited 3:") and "line 40" in text
    assert "line 1\n" not in text  # only the tail


def test_a_timeout_kills_the_command_and_what_it_started(project: Path, tmp_path: Path) -> None:
    ctx = context(project)
    pidfile = tmp_path / "child.pid"
    command = Command(run=["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"], timeout=0.5)
    outcome = usercommands.run(ctx, command, {"PATH": os.environ["PATH"]}, "test")
    assert outcome.code == 124 and "timed out after 0.5s" in outcome.describe()
    assert ends(int(pidfile.read_text()))  # the whole group was killed: its output pipe closed as it began to exit


def ends(pid: int, within: float = 10) -> bool:
    """The process has ended or ends within `within` seconds (a pidfd turns readable when it exits; a killed
    process closes its files, and so its output pipe, a moment before it has exited)."""
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        return bool(select.select([handle], [], [], within)[0]) or not alive(pid)
    finally:
        os.close(handle)


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (a killed orphan waits for its new parent to reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def test_a_command_that_cannot_start_says_why(project: Path) -> None:
    ctx = context(project)
    (project / "not-executable.sh").write_text("#!/bin/sh\ntrue\n")
    missing = usercommands.run(ctx, Command(run=["./scripts/nope.sh"]), {"PATH": os.environ["PATH"]}, "t")
    assert missing.code is None and not missing.ok
    assert f"'./scripts/nope.sh' was not found (relative to the project root {project.resolve()})" in missing.problem
    assert "was not found (on PATH)" in usercommands.run(ctx, Command(run=["no-such-tool-x"]), {}, "t").problem
    denied = usercommands.run(ctx, Command(run=["./not-executable.sh"]), {"PATH": os.environ["PATH"]}, "t")
    assert "is not executable (chmod +x it" in denied.problem


def test_secrets_in_the_output_are_redacted_in_log_and_message(project: Path) -> None:
    ctx = context(project)
    secret = secrets.register("s3cr3t-hook-value-1234")
    outcome = usercommands.run(ctx, Command(run=["sh", "-c", "echo token=$TOKEN; exit 1"]), {"TOKEN": secret}, "t")
    assert secret not in outcome.describe() and "[redacted]" in outcome.describe()
    assert secret not in log_text(ctx) and "token=[redacted]" in log_text(ctx)


def test_when_env_and_config(project: Path) -> None:
    ctx = context(project, ENVIRONMENT="production")
    assert usercommands.applies(ctx, When()) == (True, "")
    assert usercommands.applies(ctx, When(env={"ENVIRONMENT": "production"}))[0]
    holds, why = usercommands.applies(ctx, When(env={"ENVIRONMENT": "staging"}))
    assert not holds and why == "environment ENVIRONMENT is 'production', not 'staging'"
    assert not usercommands.applies(ctx, When(env={"UNSET_VARIABLE": ""}))[0]
    assert usercommands.applies(ctx, When(config={"networking.kube_proxy_replacement": True}))[0]
    holds, why = usercommands.applies(ctx, When(env={"ENVIRONMENT": "production"},
                                                config={"cluster.name": "other"}))
    assert not holds and why == "cluster.name is 'home-ops', not 'other'"


# --- hooks around a step ----------------------------------------------------------------------------------------
def test_phase_before_runs_once_per_invocation_then_the_steps(project: Path) -> None:
    ctx = context(project, {"demo": {"before": [sh("echo \"$HOPS_STEP\" >> phase-before.txt")]},
                            "demo:deploy": {"before": [sh("echo deploy >> step-before.txt")]}})
    lock.acquire(ctx.state_dir)
    try:
        hooks.before(ctx, "demo:prepare")
        hooks.before(ctx, "demo:deploy")
    finally:
        lock.release(ctx.state_dir)
    assert (project / "phase-before.txt").read_text() == "demo:prepare\n"  # the first running step's only
    assert (project / "step-before.txt").read_text() == "deploy\n"
    lock.acquire(ctx.state_dir)  # a new invocation (a new holder of the run lock)
    try:
        hooks.before(ctx, "demo:deploy")
    finally:
        lock.release(ctx.state_dir)
    assert (project / "phase-before.txt").read_text() == "demo:prepare\ndemo:deploy\n"


def test_a_failing_before_hook_is_a_step_error_with_its_message(project: Path) -> None:
    ctx = context(project, {"demo": {"before": [sh("echo switch down; exit 2", message="the switch is not up")]}})
    with pytest.raises(StepError) as caught:
        hooks.before(ctx, "demo:prepare")
    text = str(caught.value)
    assert text.startswith("the switch is not up\nbefore hook `sh -c echo switch down; exit 2` exited 2:")
    assert "switch down" in text and "(hooks.demo.before[0] in bootstrap-config.yaml)" in text


def test_a_hook_whose_when_is_false_is_skipped(project: Path) -> None:
    ctx = context(project, {"demo:prepare": {"before": [sh("exit 1", when={"env": {"ENVIRONMENT": "production"}})]}})
    hooks.before(ctx, "demo:prepare")  # would fail if it ran
    assert "skipped, its `when` does not hold (environment ENVIRONMENT is None, not 'production')" in log_text(ctx)
    prod = context(project, {"demo:prepare": {"before": [sh("exit 1", when={"env": {"ENVIRONMENT": "production"}})]}},
                   ENVIRONMENT="production")
    with pytest.raises(StepError):
        hooks.before(prod, "demo:prepare")


def test_phase_after_hooks_run_only_with_the_complete_step(project: Path) -> None:
    ctx = context(project, {"demo": {"after": [sh("echo \"phase $HOPS_STEP $HOPS_RESULT\" >> after.txt")]},
                            "demo:complete": {"after": [sh("echo \"step $HOPS_STEP\" >> after.txt")]}})
    hooks.after(ctx, "demo:deploy")
    assert not (project / "after.txt").exists()
    hooks.after(ctx, "demo:complete")
    assert (project / "after.txt").read_text() == "step demo:complete\nphase demo:complete success\n"


def test_a_failing_after_hook_says_the_step_is_not_complete(project: Path) -> None:
    ctx = context(project, {"demo:deploy": {"after": [sh("exit 1")]}})
    with pytest.raises(StepError) as caught:
        hooks.after(ctx, "demo:deploy")
    assert "the action of demo:deploy ran, but the step is not marked complete: it runs again" in str(caught.value)


def test_on_failure_hooks_see_the_failure_and_never_hide_it(project: Path) -> None:
    ctx = context(project, {"demo:deploy": {"on_failure": [sh("echo \"$HOPS_RESULT: $HOPS_ERROR\" > failed.txt"),
                                                           sh("echo broken hook; exit 9")]},
                            "demo": {"on_failure": [sh("echo phase >> phase-failed.txt")]}})

    def act() -> None:
        raise StepError("helm said no")

    with pytest.raises(StepError, match="^helm said no$"):
        hooks.around(ctx, "demo:deploy", act)
    assert (project / "failed.txt").read_text() == "failure: helm said no\n"
    assert (project / "phase-failed.txt").read_text() == "phase\n"  # after the broken one: all run
    assert "`sh -c echo broken hook; exit 9` exited 9" in log_text(ctx)


def test_no_on_failure_hook_runs_when_the_step_succeeds(project: Path) -> None:
    ctx = context(project, {"demo:deploy": {"on_failure": [sh("touch failed.txt")]}})
    assert hooks.around(ctx, "demo:deploy", lambda: {"ok": 1}) == {"ok": 1}
    assert not (project / "failed.txt").exists()


def test_configured_preconditions(project: Path) -> None:
    ctx = context(project, checks={"demo": {"preconditions": [{"run": ["test", "-e", "disk"], "message": "no disk"}]},
                                   "demo:deploy": {"preconditions": [{"run": ["true"]}]}})
    failures = hooks.precondition_failures(ctx, "demo:deploy")
    assert len(failures) == 1 and failures[0].startswith("no disk (`test -e disk` exited 1")
    assert "checks.demo.preconditions[0] in bootstrap-config.yaml" in failures[0]
    (project / "disk").touch()
    assert hooks.precondition_failures(ctx, "demo:deploy") == []


# --- status checks in the model --------------------------------------------------------------------------------
def _model() -> Model:
    demo = Component("demo", "demo", (Step("prepare", "Prepare", lambda ctx: None, marker="prepared",
                                           status=(Check("built-in", lambda ctx: True),)),
                                      Step("deploy", "Deploy", lambda ctx: None, marker="deployed")))
    return custom_checks.with_configured_checks(Model.of([demo]))


def test_every_step_gets_one_lazy_entry_that_holds_when_none_are_configured(project: Path) -> None:
    ctx = context(project)
    model = _model()
    for comp, step in model.steps():
        entries = [c for c in step.status if custom_checks.is_configured_entry(c)]
        assert len(entries) == 1 and entries[0].name == custom_checks.CONFIGURED
        assert entries[0].fn(ctx) == (True, "none configured")
        assert custom_checks.reported_checks(ctx, comp.step_id(step.name), step) == \
            [c for c in step.status if not custom_checks.is_configured_entry(c)]
    assert custom_checks.with_configured_checks(model) == model  # attaching twice adds nothing


def test_configured_status_checks_decide_and_are_reported_by_name(project: Path) -> None:
    ctx = context(project, checks={"demo:prepare": {"status": [
        {"name": "volume test", "run": ["test", "-e", "volume-ok"], "message": "the volume is not usable"},
        {"name": "prod only", "run": ["false"], "when": {"env": {"ENVIRONMENT": "production"}}}]}})
    _, step = _model().find("demo:prepare")
    entry = next(c for c in step.status if custom_checks.is_configured_entry(c))
    holds, seen = entry.fn(ctx)
    assert not holds and seen.startswith("volume test: the volume is not usable: `test -e volume-ok` exited 1")
    reported = custom_checks.reported_checks(ctx, "demo:prepare", step)
    assert [c.name for c in reported] == ["built-in", "volume test", "prod only"]
    assert reported[2].fn(ctx) == (True, "not applicable (environment ENVIRONMENT is None, not 'production')")
    (project / "volume-ok").touch()
    assert entry.fn(ctx) == (True, "2 hold")


def test_the_lazy_entry_does_not_hold_quietly_when_the_configuration_is_invalid(project: Path) -> None:
    path = project / "bootstrap-config.yaml"
    path.write_text(path.read_text().replace("name: home-ops", "name: Home_Ops", 1))
    ctx = Context(project, {"PATH": os.environ["PATH"]})
    _, step = _model().find("demo:deploy")
    entry = next(c for c in step.status if custom_checks.is_configured_entry(c))
    assert entry.fn(ctx) == (False, "the configuration is invalid (its problems are shown when the step runs)")
