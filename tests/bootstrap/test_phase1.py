"""Phase 1 on the lab with a real doit: every validation step passes, and each fails for its own reason."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.projects import executed

PHASE1_MARKERS = ("tools-validated", "mise-validated", "env-vars-validated", "onepassword-validated",
                  "connectivity-validated", "repository-validated", "phase-1-complete")


def test_phase1_passes_on_the_lab_and_is_then_skipped(doit, state_dir: Path) -> None:
    first = doit("phase1")
    for marker in PHASE1_MARKERS:
        assert (state_dir / marker).exists(), marker
    assert "validation:connectivity" in executed(first)
    second = doit("phase1")
    assert executed(second) == []


def test_missing_tool_is_named_with_install_hint(doit, project: Path, lab_env: dict) -> None:
    doit("lab_up")
    (Path(lab_env["HOPS_LAB_DIR"]) / "bin" / "talhelper").unlink()
    result = doit("validation:tools", check=False)
    assert result.returncode == 1
    assert "`talhelper` is not installed or not on PATH" in result.stdout + result.stderr


def test_wrong_tool_version_names_field(doit, project: Path) -> None:
    doit("lab_up")  # the lab's tools report the versions configured when it started
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace('helm: "3.17.2"', 'helm: "3.99.0"'))
    mise = project / ".mise.toml"
    mise.write_text(mise.read_text().replace('helm = "3.17.2"', 'helm = "3.99.0"'))
    result = doit("validation:tools", check=False)
    assert result.returncode == 1
    assert "tools.required.helm wants 3.99.0" in result.stdout + result.stderr


def test_mise_pin_mismatch_reported(doit, project: Path) -> None:
    mise = project / ".mise.toml"
    mise.write_text(mise.read_text().replace('talosctl = "1.8.3"', 'talosctl = "1.7.0"'))
    result = doit("validation:mise", check=False)
    assert result.returncode == 1
    assert ".mise.toml pins talosctl = 1.7.0, bootstrap-config.yaml tools.required.talosctl = 1.8.3" in result.stdout


def test_onepassword_signed_out_and_missing_item(doit, lab_env: dict, project: Path) -> None:
    doit("lab_up")
    env = {**lab_env, "PATH": f"{lab_env['HOPS_LAB_DIR']}/bin:{lab_env['PATH']}"}
    subprocess.run(["op", "signout", "--account", "my.1password.com"], env=env, check=True, capture_output=True)
    result = doit("validation:onepassword", check=False)
    assert result.returncode == 1 and "not signed in to my.1password.com" in result.stdout
    subprocess.run(["op", "signin", "--account", "my.1password.com"], env=env, check=True, capture_output=True)
    config = project / "bootstrap-config.yaml"
    config.write_text(config.read_text().replace("github_token: github-token", "github_token: no-such-item"))
    result = doit("validation:onepassword", check=False)
    assert result.returncode == 1
    assert "'no-such-item' (onepassword.items.github_token) is not in vault 'homelab'" in result.stdout


def test_connectivity_fails_for_unreachable_node_then_recovers(doit, lab_env: dict) -> None:
    doit("lab_up")
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", "add", "unreachable:talos-cp-2"], env=lab_env,
                   check=True, capture_output=True)
    result = doit("validation:connectivity", check=False)
    assert result.returncode == 1
    assert "node talos-cp-2 (172.29.51.12): Talos API port" in result.stdout
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", "clear"], env=lab_env, check=True)
    doit("validation:connectivity")


def test_repository_reports_every_missing_file(doit, project: Path) -> None:
    (project / ".mise.toml").unlink()
    (project / "infrastructure" / "networking" / "cilium" / "values.yaml").unlink()
    result = doit("validation:repository", check=False)
    assert result.returncode == 1
    assert ".mise.toml is missing" in result.stdout
    assert "infrastructure/networking/cilium/values.yaml is missing" in result.stdout


# `doit validate_phase --phase 1`: phase 1's only live checks, one line each
CONNECTIVITY_OK = "OK   validation:connectivity: nodes reachable — holds"
CONNECTIVITY_FAIL = "FAIL validation:connectivity: nodes reachable — node talos-cp-2 (172.29.51.12): Talos API port"
REPOSITORY_OK = "OK   validation:repository: files present — holds"
MANIFESTS_OK = "OK   validation:repository: HelmReleases well-formed — holds"
REPOSITORY_FAIL = ("FAIL validation:repository: files present — infrastructure/networking/cilium/values.yaml is "
                   "missing")  # a failing check says what it found


def check_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stdout.splitlines() if line.startswith(("OK   ", "FAIL "))]


def matches(lines: list[str], expected: list[str]) -> bool:
    """Each line is the expected one (OK lines whole; FAIL lines begin with the check and what it found)."""
    return len(lines) == len(expected) and all(line == want or (want.startswith("FAIL") and line.startswith(want))
                                               for line, want in zip(lines, expected, strict=True))


def steps_run(result: subprocess.CompletedProcess) -> list[str]:
    return [name for name in executed(result) if ":" in name]


def lab_fault(lab_env: dict, *args: str) -> None:
    subprocess.run([sys.executable, "-m", "hops.lab", "fault", *args], env=lab_env, check=True, capture_output=True)


def test_live_checks_fail_after_phase1_and_only_that_step_reruns(doit, project: Path, lab_env: dict) -> None:
    doit("phase1")
    assert check_lines(doit("validate_phase", "--phase", "1")) == [CONNECTIVITY_OK, REPOSITORY_OK, MANIFESTS_OK]

    lab_fault(lab_env, "add", "unreachable:talos-cp-2")
    failed = doit("validate_phase", "--phase", "1", check=False)
    assert failed.returncode != 0 and matches(check_lines(failed), [CONNECTIVITY_FAIL, REPOSITORY_OK, MANIFESTS_OK]), failed.stdout
    broken = doit("phase1", check=False)
    assert broken.returncode != 0 and steps_run(broken) == ["validation:connectivity"], broken.stdout
    assert "node talos-cp-2 (172.29.51.12): Talos API port" in broken.stdout
    lab_fault(lab_env, "clear")
    assert steps_run(doit("phase1")) == ["validation:connectivity"]

    values = project / "infrastructure" / "networking" / "cilium" / "values.yaml"
    text = values.read_text()
    values.unlink()
    failed = doit("validate_phase", "--phase", "1", check=False)
    assert failed.returncode != 0 and matches(check_lines(failed), [CONNECTIVITY_OK, REPOSITORY_FAIL, MANIFESTS_OK]), failed.stdout
    broken = doit("phase1", check=False)
    assert broken.returncode != 0 and steps_run(broken) == ["validation:repository"], broken.stdout
    assert "infrastructure/networking/cilium/values.yaml is missing from the repository" in broken.stdout
    values.write_text(text)
    assert steps_run(doit("phase1")) == ["validation:repository"]
    assert steps_run(doit("phase1")) == []


def tool_calls(log: list[dict]) -> list[dict]:
    """The tools' own records (not `mise exec` handing over: it execs the tool, whose record starts when the
    process did)."""
    return [c for c in log if c["tool"] != "mise"]


def overlapping(calls: list[dict]) -> bool:
    """Some call started before another one ended (serial calls never do)."""
    spans = sorted((c["started"], c["ts"]) for c in calls)
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


def test_tool_checks_run_at_once_on_the_lab(doit, lab_env: dict) -> None:
    from hops.components.validation import VERSION_ARGS
    from hops.lab.layout import LabLayout
    from hops.lab.tools.common import read_calls

    doit("validation:tools")
    calls = [c for c in tool_calls(read_calls(LabLayout(Path(lab_env["HOPS_LAB_DIR"]))))
             if c["argv"] == VERSION_ARGS[c["tool"]]]
    assert {c["tool"] for c in calls} == {"talosctl", "talhelper", "helm", "flux", "cilium", "op"}
    assert overlapping(calls), calls


def test_overlapping_is_false_for_calls_one_after_the_other() -> None:
    assert not overlapping([{"started": 1.0, "ts": 2.0}, {"started": 2.5, "ts": 3.0}, {"started": 3.0, "ts": 4.0}])
    assert overlapping([{"started": 1.0, "ts": 2.0}, {"started": 1.5, "ts": 3.0}])
