"""A Helm release left pending, with a real doit on the lab (phases 1-3 converged once for the module): hops frees
what an interrupted run of its own left (a record written the way real helm leaves it, and a doit killed while
helm works), and leaves alone what someone else is working on (waits; fails at the deadline naming it; proceeds
when the other helm finishes)."""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

import converged_lab
from converged_lab import Lab
from hops import helm_recovery
from hops.lab import helm_releases
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls
from hops.lab.tools.kubeapi import KubeClient
from tests.helm_records import leave_pending, mark, statuses
from tests.projects import executed

NS, NAME = "kube-system", "cilium"
STEP = "networking:deploy-cilium"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("helm-recovery"))
    lab.doit("networking", timeout=600)
    yield lab
    lab.down()


@pytest.fixture
def kube(lab: Lab) -> KubeClient:
    return KubeClient(str(lab.dir / "clusterconfig" / "kubeconfig"))


@pytest.fixture(autouse=True)
def _deployed_before(request: pytest.FixtureRequest) -> None:
    """Every scenario on the module's lab starts from a deployed Cilium (the previous one left it so)."""
    if "lab" in request.fixturenames:
        kube = request.getfixturevalue("kube")
        assert statuses(kube, NAME, NS)[-1][1] == "deployed", statuses(kube, NAME, NS)


def helm(lab: Lab, subcommand: str) -> list[list[str]]:
    return [c["argv"] for c in read_calls(LabLayout(lab.dir), "helm") if c["argv"][:1] == [subcommand]]


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def out(done: subprocess.CompletedProcess) -> str:
    return done.stdout + done.stderr


def test_a_pending_upgrade_an_interrupted_run_left_is_rolled_back_and_upgraded_in_one_run(lab: Lab,
                                                                                         kube: KubeClient) -> None:
    pending = leave_pending(kube, NAME, NS, "pending-upgrade")
    before = pending["version"] - 1
    note = helm_recovery.note_path(lab.state, NS, NAME)
    note.parent.mkdir(parents=True, exist_ok=True)
    note.write_text(json.dumps({"pid": dead_pid(), "revision": pending["version"], "started_at": time.time(),
                                "run_id": "an-earlier-run"}))
    lab.doit("forget", STEP)
    run = lab.doit("networking")
    assert executed(run)[0] == STEP
    assert (f"helm release {NS}/{NAME} was left pending-upgrade (revision {pending['version']}) by an interrupted "
            f"run: rolled back to revision {before}") in run.stdout
    assert statuses(kube, NAME, NS)[-3:] == [(pending["version"], "pending-upgrade"), (pending["version"] + 1,
                                             "superseded"), (pending["version"] + 2, "deployed")]
    assert helm(lab, "rollback")[-1][1:3] == [NAME, str(before)]
    assert not note.exists()
    assert executed(lab.doit("networking")) == []


def test_a_stale_pending_upgrade_without_a_note_is_freed_too(lab: Lab, kube: KubeClient) -> None:
    pending = leave_pending(kube, NAME, NS, "pending-upgrade", age_s=3600)
    lab.doit("forget", STEP)
    run = lab.doit("networking")
    assert f"was left pending-upgrade (revision {pending['version']}) for " in run.stdout
    assert "longer than one helm command may take (300s): rolled back to revision" in run.stdout
    assert statuses(kube, NAME, NS)[-1] == (pending["version"] + 2, "deployed")


def test_a_doit_killed_while_helm_upgrades_is_recovered_by_the_next_run(lab: Lab, kube: KubeClient) -> None:
    latest = statuses(kube, NAME, NS)[-1][0]
    lab.fault("hang:helm upgrade:1")
    lab.doit("forget", STEP)
    run = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(lab.project / "dodo.py"), "networking"],
                           cwd=lab.project, env=_env(lab), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    try:
        _wait_for_status(lab, latest + 1, "pending-upgrade", run)
        note = helm_recovery.read_note(helm_recovery.note_path(lab.state, NS, NAME))
        assert note is not None and note["revision"] == latest + 1
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert statuses(kube, NAME, NS)[-1] == (latest + 1, "pending-upgrade")
    resumed = lab.doit("networking")
    assert STEP in executed(resumed)
    assert (f"helm release {NS}/{NAME} was left pending-upgrade (revision {latest + 1}) by an interrupted run: "
            f"rolled back to revision {latest}") in resumed.stdout
    assert statuses(kube, NAME, NS)[-1] == (latest + 3, "deployed")


def test_a_release_someone_else_is_upgrading_is_waited_for_not_touched(lab: Lab, kube: KubeClient) -> None:
    rollbacks = len(helm(lab, "rollback"))
    pending = leave_pending(kube, NAME, NS, "pending-upgrade")     # recent, and no note of ours
    lab.set_timeout("networking", 3)
    lab.doit("forget", STEP)
    try:
        failed = lab.doit("networking", check=False)
    finally:
        lab.set_timeout("networking", 600)
    assert failed.returncode != 0
    text = out(failed)
    assert STEP in text
    assert (f"helm release {NS}/{NAME} is still pending-upgrade (revision {pending['version']}): an operation hops "
            "did not start (a user's helm or Flux's helm-controller) has not finished by the phase deadline") in text
    assert f"`helm history {NAME} -n {NS}`" in text
    assert f"free it with `helm rollback {NAME} {pending['version'] - 1} -n {NS}` (its last deployed revision)" in text
    assert "Traceback" not in text
    assert len(helm(lab, "rollback")) == rollbacks and statuses(kube, NAME, NS)[-1] == (pending["version"],
                                                                                        "pending-upgrade")

    # the true case: the other helm finishes while hops waits, and hops goes on with its upgrade
    run = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(lab.project / "dodo.py"), "networking"],
                           cwd=lab.project, env={**_env(lab), "PYTHONUNBUFFERED": "1"}, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        seen = _read_until(run, "waiting for it to finish", 120)
        mark(kube, helm_releases.latest(kube, NAME, NS), "deployed", "Upgrade complete")
        rest, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert run.returncode == 0, seen + rest
    assert len(helm(lab, "rollback")) == rollbacks
    assert statuses(kube, NAME, NS)[-2:] == [(pending["version"], "superseded"), (pending["version"] + 1, "deployed")]


def test_a_first_install_killed_midway_is_uninstalled_and_installed_afresh(tmp_path: Path) -> None:
    fresh = converged_lab.make(tmp_path)
    try:
        fresh.doit("talos", timeout=600)
        fresh.fault("hang:helm upgrade:1")
        run = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(fresh.project / "dodo.py"), "networking"],
                               cwd=fresh.project, env=_env(fresh), stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            _wait_for_status(fresh, 1, "pending-install", run)
        finally:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
        client = KubeClient(str(fresh.dir / "clusterconfig" / "kubeconfig"))
        assert statuses(client, NAME, NS) == [(1, "pending-install")]
        resumed = fresh.doit("networking")
        assert (f"helm release {NS}/{NAME} was left pending-install (revision 1) by an interrupted run: it was never "
                "deployed, so uninstalled it to install afresh") in resumed.stdout
        assert statuses(client, NAME, NS) == [(1, "deployed")]
        assert len(helm(fresh, "uninstall")) == 1 and helm(fresh, "rollback") == []
    finally:
        fresh.down()


def _env(lab: Lab) -> dict[str, str]:
    return {k: v for k, v in {**os.environ, **lab.env}.items()
            if not (k.startswith("HOPS_") and k not in lab.env)}


def _wait_for_status(lab: Lab, version: int, status: str, run: subprocess.Popen, timeout: float = 120) -> None:
    """Watch the release's records through the lab API (ADDED for what exists, then changes) until revision
    `version` has `status`."""
    client = KubeClient(str(lab.dir / "clusterconfig" / "kubeconfig"))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert run.poll() is None, "doit ended before helm recorded the pending revision"
        for _type, secret in client.watch("v1", "Secret", NS, None, timeout=min(10.0, deadline - time.monotonic())):
            labels = secret.get("metadata", {}).get("labels") or {}
            if (labels.get("name"), labels.get("version"), labels.get("status")) == (NAME, str(version), status):
                return
    raise AssertionError(f"revision {version} of {NS}/{NAME} not {status} within {timeout}s")


def _read_until(run: subprocess.Popen, text: str, timeout: float) -> str:
    """doit's output up to the line containing `text` (read as it comes, bounded by `timeout`)."""
    assert run.stdout is not None
    seen = ""
    deadline = time.monotonic() + timeout
    while text not in seen:
        left = deadline - time.monotonic()
        assert left > 0 and run.poll() is None, f"doit never printed {text!r}:\n{seen}"
        ready, _, _ = select.select([run.stdout], [], [], left)
        if ready:
            line = run.stdout.readline()
            seen += line
    return seen
