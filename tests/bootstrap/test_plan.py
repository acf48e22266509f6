"""`doit plan` on the lab: what would run and why, what each step would do, and that planning changes nothing
(no tool call that mutates, no API write, no marker, no DB record, no lock)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Iterator

import converged_lab
import pytest
from converged_lab import Lab

from hops.lab import lifecycle
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from hops.phases import PHASES
from hops.taskmodel import Model

STEPS = Model.of(PHASES).step_ids()
NETWORKING = [s for s in STEPS if s.startswith("networking:")]
MUTATING_TOOLS = {("talosctl", "apply-config"), ("talosctl", "bootstrap"), ("helm", "upgrade"), ("helm", "install"),
                  ("helm", "rollback"), ("helm", "uninstall"), ("flux", "bootstrap"), ("flux", "reconcile"),
                  ("talhelper", "genconfig"), ("op", "item")}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("plan"))
    lab.doit("lab_up")
    yield lab
    lab.down()


def plan(lab: Lab, *args: str) -> tuple[int, list[dict]]:
    result = lab.doit("plan", "--json", *args, check=False)
    assert result.returncode in (0, 1), result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout)


def world_state(lab: Lab) -> dict:
    """What a plan must not change: tool calls that mutate, API writes, markers, DB records."""
    calls = [c for c in read_calls(LabLayout(lab.dir)) if any(c["tool"] == t and s in c["argv"]
                                                               for t, s in MUTATING_TOOLS)]
    methods = lifecycle.status(LabLayout(lab.dir))["simulation"]["api_requests_by_method"]
    markers = sorted((p.name, p.stat().st_mtime_ns) for p in lab.state.glob("*") if p.is_file()
                     and p.suffix == "" and p.name != "run.lock")
    db = lab.state / "doit.sqlite"
    rows = sorted(sqlite3.connect(db).execute("select task_id, task_data from doit").fetchall()) if db.exists() else []
    writes = {m: n for m, n in methods.items() if m != "GET"}
    return {"calls": len(calls), "writes": writes, "markers": markers, "db": rows}


def test_a_fresh_lab_plans_every_step_with_what_it_would_do(lab: Lab) -> None:
    before = world_state(lab)
    code, steps = plan(lab)
    assert code == 1
    assert [s["step"] for s in steps] == [s for s in STEPS]  # execution order = phase order here
    assert all(s["decision"] in ("run", "skipped") for s in steps)
    deploy = next(s for s in steps if s["step"] == "networking:deploy-cilium")
    assert any("helm upgrade --install cilium" in w for w in deploy["would_do"]), deploy
    assert any(r.startswith("marker missing: ") for r in deploy["reasons"])
    assert world_state(lab) == before


def test_after_forget_networking_exactly_networking_runs_and_says_forgotten(lab: Lab) -> None:
    lab.doit("bootstrap_phased", timeout=900)
    code, steps = plan(lab)
    assert code == 0 and {s["decision"] for s in steps} <= {"up-to-date", "skipped"}
    lab.doit("forget", "networking")
    before = world_state(lab)
    code, steps = plan(lab)
    assert code == 1
    runs = [s["step"] for s in steps if s["decision"] == "run"]
    assert runs == NETWORKING
    assert all("never ran, or forgotten (doit forget)" in s["reasons"] for s in steps if s["decision"] == "run")
    assert all(s["decision"] == "up-to-date" for s in steps if not s["step"].startswith("networking:"))
    assert world_state(lab) == before
    lab.doit("networking")  # leave the lab converged for the next test


def test_a_changed_values_file_is_named(lab: Lab) -> None:
    values = lab.project / "infrastructure/networking/cilium/values.yaml"
    values.write_text(values.read_text() + "\n# tuned\n")
    code, steps = plan(lab, "networking")
    deploy = next(s for s in steps if s["step"] == "networking:deploy-cilium")
    assert code == 1 and deploy["decision"] == "run"
    assert f"changed: {values}" in deploy["reasons"]
    assert all(s["decision"] == "up-to-date" for s in steps if s["step"] != "networking:deploy-cilium")


def test_the_text_plan_and_a_failing_live_check_say_what_they_saw(lab: Lab) -> None:
    subprocess.run(["kubectl", "--kubeconfig", str(lab.dir / "clusterconfig" / "kubeconfig"), "-n", "kube-system",
                    "delete", "daemonset", "cilium", "--wait=false"], check=True, capture_output=True,
                   env={**lab.env, "KUBECACHEDIR": str(lab.dir / "kubecache")})
    result = lab.doit("plan", "networking", check=False)
    assert result.returncode == 1
    assert "RUN         networking:deploy-cilium" in result.stdout
    assert "why: live check 'cilium DaemonSet exists' fails: does not hold" in result.stdout
    assert "up to date  validation:tools" in result.stdout
    assert "status check" not in result.stdout  # each check's reason is in the plan, not printed twice


def test_plan_runs_beside_a_bootstrap_that_holds_the_run_lock(lab: Lab) -> None:
    from hops.state import lock

    lock.acquire(lab.state, command="test holding the lock")
    try:
        result = lab.doit("plan", "networking", check=False)
        assert result.returncode in (0, 1), result.stdout + result.stderr
        assert "another hops run" not in result.stdout + result.stderr
        refused = lab.doit("networking", check=False)  # a run is refused at once, naming the holder
        assert refused.returncode == 3 and "another hops run" in refused.stdout + refused.stderr
    finally:
        lock.release(lab.state)
