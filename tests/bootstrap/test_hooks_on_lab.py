"""Configured hooks and status checks (bootstrap-config.yaml hooks:/checks:) in a bootstrap on the lab: a failing
phase `before` hook stops phase 3 before Cilium is deployed, an `after` hook sees the result, a configured status
check decides whether its step re-runs and shows in `bootstrap_status --live`."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.projects import executed


def helm_upgrades(lab_env: dict) -> int:
    calls = Path(lab_env["HOPS_LAB_DIR"], "calls.jsonl")
    lines = calls.read_text().splitlines() if calls.exists() else []
    return sum(1 for line in lines if (c := json.loads(line))["tool"] == "helm" and c["argv"][:1] == ["upgrade"])


def configure(project: Path, base: str, **sections: dict) -> None:
    """The project's configuration as it was (`base`) plus these sections."""
    (project / "bootstrap-config.yaml").write_text(base + "\n" + yaml.safe_dump(sections))


def test_hooks_and_a_configured_check_in_phase_3(doit, project: Path, lab_env: dict, state_dir: Path) -> None:
    base = (project / "bootstrap-config.yaml").read_text()
    configure(project, base, hooks={"networking": {"before": [
        {"run": ["sh", "-c", "echo 'port 7 is down' >&2; exit 1"], "message": "the switch is not configured"}]}})
    failed = doit("networking", check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "networking:deploy-cilium: the switch is not configured" in failed.stdout
    assert "port 7 is down" in failed.stdout
    assert (state_dir / "phase-2-complete").exists() and not (state_dir / "cilium-deployed").exists()
    assert helm_upgrades(lab_env) == 0  # stopped before deploy-cilium acted

    env_file = project / "after-env.txt"
    configure(project, base,
              hooks={"networking": {"before": [{"run": ["sh", "-c", "echo switch ok >> before.txt"]}]},
                     "networking:deploy-cilium": {"after": [{"run": ["sh", "-c", f"env > {env_file}"]}]}},
              checks={"networking:deploy-cilium": {"status": [{"name": "cilium flag",
                                                                 "run": ["test", "-e", "cilium-ok"]}]}})
    (project / "cilium-ok").touch()
    resumed = doit("networking")
    assert "networking:deploy-cilium" in executed(resumed) and (state_dir / "phase-3-complete").exists()
    seen = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert seen["HOPS_RESULT"] == "success" and seen["HOPS_STEP"] == "networking:deploy-cilium"
    assert seen["HOPS_PHASE"] == "networking" and seen["HOPS_CLUSTER"] == "home-ops"
    assert seen["KUBECONFIG"].startswith(lab_env["HOPS_LAB_DIR"])  # the tool environment of the lab
    assert (project / "before.txt").read_text() == "switch ok\n"  # once, though eight steps of the phase ran
    assert helm_upgrades(lab_env) == 1

    assert "networking:deploy-cilium" not in executed(doit("networking"))  # the check holds: skipped
    live = doit("bootstrap_status", "--live").stdout
    assert "DRIFT" not in next(line for line in live.splitlines() if "networking:deploy-cilium" in line)

    (project / "cilium-ok").unlink()
    live = doit("bootstrap_status", "--live").stdout
    row = next(line for line in live.splitlines() if "networking:deploy-cilium" in line)
    assert "DRIFT: does not hold: `test -e cilium-ok` exited 1" in row
    rerun = doit("networking")
    assert "networking:deploy-cilium" in executed(rerun) and helm_upgrades(lab_env) == 2  # the check failed
