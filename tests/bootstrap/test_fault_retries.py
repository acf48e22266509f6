"""The failure policy end to end: a real `doit bootstrap_phased` on the lab converges in ONE run through transient
faults (API errors, hung API requests, one transient failure of each tool), and a permanent failure still fails
at once naming the command and its output.

The project's retry delay is cut to 0.1 s (the example's 5 s is for hardware): the back-off is real time, the
lab's durations are not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hops.lab import faults
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

pytestmark = pytest.mark.lab

TRANSIENT_EACH = ("fail:helm upgrade:1:transient,fail:flux bootstrap:1:transient,"
                  "fail:talosctl apply-config:1:transient,fail:cilium status:1:transient,fail:op read:1:transient")


@pytest.fixture(autouse=True)
def short_retry_delay(project: Path) -> None:
    config = project / "bootstrap-config.yaml"
    text, count = re.subn(r"(\n    delay:) 5\b", r"\1 0.1", config.read_text())
    assert count == 1, "bootstrap-config.yaml no longer sets bootstrap.retry.delay: 5"
    config.write_text(text)


def retry_lines(out: str) -> list[str]:
    return [line.strip() for line in out.splitlines() if line.strip().startswith("retrying ")]


def converged(doit, state_dir: Path, faults: str) -> str:
    doit("lab_up", env={"HOPS_LAB_FAULTS": faults})
    result = doit("bootstrap_phased", check=False, timeout=600)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"did not converge in one run under {faults}:\n{out[-4000:]}"
    assert (state_dir / "phase-6-complete").exists()
    return out


def faults_in_force(lab_env: dict) -> dict:
    return faults.read(LabLayout(Path(lab_env["HOPS_LAB_DIR"])))["api"]


def test_converges_in_one_run_while_a_tenth_of_api_requests_answer_503(doit, state_dir: Path,
                                                                       lab_env: dict) -> None:
    converged(doit, state_dir, "api-errors:0.1")
    assert faults_in_force(lab_env)["error_rate"] == 0.1  # in force for the whole run


def test_converges_in_one_run_while_api_requests_hang(doit, state_dir: Path, lab_env: dict) -> None:
    """1%: a hung request ends in the apiserver's 504 Timeout, which client-go does not retry, so a tool call
    fails when any of its requests hangs and hops repeats the whole call. Longhorn's install makes about a
    hundred requests: at 5% nearly every try of it fails (0.95^100), as it would with the real helm."""
    converged(doit, state_dir, "api-timeouts:0.01")
    assert faults_in_force(lab_env)["timeout_rate"] == 0.01


def test_one_transient_failure_of_each_tool_is_retried_in_the_same_run(doit, state_dir: Path,
                                                                       lab_env: dict) -> None:
    out = converged(doit, state_dir, TRANSIENT_EACH)
    retried = {" ".join(line.split()[1:3]) for line in retry_lines(out)}
    assert {"helm upgrade", "flux bootstrap", "talosctl apply-config", "cilium status", "op read"} <= retried
    calls = read_calls(LabLayout(Path(lab_env["HOPS_LAB_DIR"])))
    failed = [c for c in calls if c["exit"] != 0 and c["tool"] in ("helm", "flux", "talosctl", "cilium", "op")]
    assert len([c for c in failed if c["tool"] == "helm" and "upgrade" in c["argv"]]) == 1


def test_a_permanent_failure_fails_at_once_with_the_command_and_its_output(doit, state_dir: Path,
                                                                           lab_env: dict) -> None:
    doit("lab_up", env={"HOPS_LAB_FAULTS": "fail:helm upgrade:1:permanent"})
    failed = doit("bootstrap_phased", check=False, timeout=600)
    out = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "networking:deploy-cilium" in out and "helm upgrade --install cilium" in out
    assert "ValidationError(DaemonSet.spec)" in out and "Traceback" not in out
    assert not any(line.startswith("retrying helm upgrade") for line in retry_lines(out))
    upgrades = [c for c in read_calls(LabLayout(Path(lab_env["HOPS_LAB_DIR"])), "helm") if "upgrade" in c["argv"]]
    assert len(upgrades) == 1
    assert (state_dir / "phase-2-complete").exists() and not (state_dir / "phase-3-complete").exists()
