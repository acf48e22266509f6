"""Unit tests of the modules every step leans on, through the same in-process world as the step tests:
waiting (polls), the run log, the diagnostics bundle, 1Password reads and stores, the status rows of controls,
and the lab's tasks' refusal paths."""

from __future__ import annotations

import json
import time

import pytest

from hops import controls, diagnostics, lab_tasks, onepassword, secrets, waiting
from hops.errors import StepError, WaitTimeout
from hops.phases import PHASES
from hops.runlog import RunLog
from hops.state import markers
from hops.taskmodel import Model
from tests.steps.harness import World

MODEL = Model.of(PHASES)


# --- waiting.poll_until -----------------------------------------------------------------------------------------
def test_poll_until_returns_once_the_probe_holds_and_says_each_new_status_once(world: World, capsys) -> None:
    answers = iter([(False, "installing"), (False, "installing"), (False, "rebooting"), (True, "up")])
    assert waiting.poll_until(world.ctx, "the node", lambda: next(answers), time.monotonic() + 30) == "up"
    out = capsys.readouterr().out
    assert out.count("waiting for the node: installing") == 1 and out.count("rebooting") == 1


def test_poll_until_fails_at_the_deadline_naming_the_last_status(world: World) -> None:
    with pytest.raises(WaitTimeout, match="timed out waiting for the node: still installing"):
        waiting.poll_until(world.ctx, "the node", lambda: (False, "still installing"), time.monotonic() + 0.2)


# --- runlog -------------------------------------------------------------------------------------------------------
def test_the_run_log_redacts_and_say_prints(tmp_path, capsys) -> None:
    log = RunLog(tmp_path / "logs")
    secrets.register("s3cr3t-value-for-the-log")
    log.say("token s3cr3t-value-for-the-log used")
    log.write("second line")
    text = log.path.read_text()
    assert "s3cr3t-value-for-the-log" not in text and "[redacted]" in text and "second line" in text
    assert capsys.readouterr().out == "token [redacted] used\n"


# --- diagnostics ----------------------------------------------------------------------------------------------------
def test_a_failure_bundle_holds_the_failure_the_commands_and_the_cluster(world: World) -> None:
    world.cluster_exists().holds({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "talos-cp-1"},
                                  "status": {"conditions": [{"type": "Ready", "status": "False",
                                                             "reason": "KubeletNotReady", "message": "cni"}]}})
    world.runner.answer("helm", "upgrade", code=1, stderr="Error: boom")
    world.runner.run("helm", ["upgrade"], check=False)
    folder = diagnostics.collect_on_failure(world.ctx, "networking:wait", "networking:wait: it failed")
    assert folder is not None
    assert (folder / "failure.txt").read_text() == "networking:wait: it failed\n"
    assert "talos-cp-1:  Ready=False KubeletNotReady cni" in (folder / "nodes.txt").read_text()
    assert world.api_writes == []  # a snapshot reads only


def test_a_bundle_holds_the_warning_event_of_the_failed_kustomization(world: World) -> None:
    message = ('HelmRelease/podinfo/podinfo dry-run failed (Invalid): HelmRelease.helm.toolkit.fluxcd.io "podinfo" '
               'is invalid: spec.interval: Invalid value: "five"')
    world.cluster_exists().holds({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "flux-system"}},
                                 {"apiVersion": "v1", "kind": "Event",
                                  "metadata": {"name": "apps.1", "namespace": "flux-system"},
                                  "involvedObject": {"kind": "Kustomization", "name": "apps",
                                                     "namespace": "flux-system"},
                                  "type": "Warning", "reason": "ReconciliationFailed", "message": message})
    folder = diagnostics.collect_on_failure(world.ctx, "applications:ready", "it failed")
    assert folder is not None
    assert (folder / "events.txt").read_text() == \
        f"flux-system/apps.1: Warning ReconciliationFailed Kustomization/apps: {message}\n"


def test_a_bundle_before_the_cluster_exists_has_no_cluster_part(world: World) -> None:
    folder = diagnostics.collect_on_failure(world.ctx, "talos:apply-configs", "it failed")
    assert folder is not None and sorted(p.name for p in folder.iterdir()) == ["commands.json", "failure.txt"]


# --- onepassword --------------------------------------------------------------------------------------------------
def test_read_registers_the_value_and_keeps_it_off_the_command_line(world: World) -> None:
    world.runner.answer("op", "read", stdout="a-connect-token-value-1234")
    assert onepassword.read(world.ctx, "connect_token", "credential") == "a-connect-token-value-1234"
    call = world.runner.calls[-1]
    assert call.args[:3] == ["read", "--no-newline", "op://homelab/1password-connect-token/credential"]
    assert secrets.redact("x a-connect-token-value-1234") == "x [redacted]"


def test_a_failed_read_names_the_reference_and_the_config_key(world: World) -> None:
    world.runner.answer("op", "read", code=1, stderr='[ERROR] "talos-secrets" isn\'t an item in the vault')
    with pytest.raises(StepError, match=r"could not read op://homelab/talos-secrets/bundle \(onepassword.items.talos_secrets\)"):
        onepassword.read(world.ctx, "talos_secrets", "bundle")


def test_store_pipes_the_item_through_stdin(world: World) -> None:
    world.runner.answer("op", "item", "create", stdout="{}")
    onepassword.store(world.ctx, "talos_secrets", {"bundle": "a-talos-bundle-value-xyz"})
    call = world.runner.calls[-1]
    assert "a-talos-bundle-value-xyz" not in " ".join(call.args) and call.args[-1] == "-"
    assert json.loads(call.input or "")["fields"][0]["value"] == "a-talos-bundle-value-xyz"


def test_item_exists_true_and_false(world: World) -> None:
    world.runner.answer("op", "item", "list", stdout=json.dumps([{"title": "github-token"}]))
    assert onepassword.item_exists(world.ctx, "github_token") is True
    assert onepassword.item_exists(world.ctx, "talos_secrets") is False


@pytest.mark.parametrize("printed", ["[ERROR] 2024/11/20 session expired\n", '{"uuid": "x"}', "[1, 2]"])
def test_item_exists_names_the_command_when_op_does_not_print_a_list_of_items(world: World, printed: str) -> None:
    world.runner.answer("op", "item", "list", stdout=printed)
    with pytest.raises(StepError, match=r"^`op item list --vault homelab --account \S+ --format json` did not "
                                        r"print a JSON list of items: .*the 1Password CLI 2\.x"):
        onepassword.item_exists(world.ctx, "github_token")


# --- controls -------------------------------------------------------------------------------------------------------
def test_status_rows_and_the_first_pending_step_follow_the_markers(world: World) -> None:
    state = world.ctx.state_dir
    assert controls.first_pending(world.ctx, MODEL) == "validation:tools"
    markers.write(state / "tools-validated", "validation:tools", 1.5, "r")
    rows = {r["step"]: r for r in controls.status_rows(world.ctx, MODEL, live=False)}
    assert rows["validation:tools"]["done"] and rows["validation:tools"]["duration"] == "1.5s"
    assert not rows["validation:mise"]["done"]
    assert controls.first_pending(world.ctx, MODEL) == "validation:mise"
    assert len(rows) == len(MODEL.step_ids())


def test_live_status_rows_say_why_a_check_fails(world: World) -> None:
    rows = {r["step"]: r for r in controls.status_rows(world.ctx, MODEL, live=True)}
    assert rows["networking:wait"]["live"].startswith("not yet: error: StepError: no kubeconfig")


def test_a_phase_number_outside_the_model_is_refused_naming_the_command(world: World) -> None:
    with pytest.raises(StepError, match=r"--phase must be one of \[1, 2, 3, 4, 5, 6\] \(got 9\); e.g. `doit validate_phase"):
        controls.check_phase(MODEL, 9, "validate_phase")


# --- lab tasks ------------------------------------------------------------------------------------------------------
def test_lab_reset_without_a_terminal_or_yes_is_cancelled(world: World) -> None:
    with pytest.raises(StepError, match="lab_reset cancelled: nothing was changed"):
        lab_tasks.lab_reset(world.ctx, yes=False)


def test_a_bad_fault_spec_is_one_message(world: World) -> None:
    with pytest.raises(StepError, match="fault 'nonsense'"):
        lab_tasks.lab_fault(world.ctx, add="nonsense", clear=False)


# --- what each step would do (doit plan) ------------------------------------------------------------------------
def test_every_step_says_what_it_would_do_from_configuration_alone(world: World) -> None:
    """Intents are computed from configuration: no tool call, no API request, for every step of every phase."""
    for comp, step in MODEL.steps():
        if step.name == "complete":
            continue
        assert step.would_do is not None, comp.step_id(step.name)
        lines = step.intent(world.ctx)
        assert lines and all(isinstance(line, str) and line for line in lines), comp.step_id(step.name)
    assert world.runner.calls == [] and world.api_writes == []
    deploy = MODEL.find("networking:deploy-cilium")[1].intent(world.ctx)
    assert deploy[0].startswith("run `helm upgrade --install cilium cilium --version ")
    apply = MODEL.find("talos:apply-configs")[1].intent(world.ctx)
    assert len(apply) == 3 and "talos-cp-2 (127.0.51.12)" in apply[1]
