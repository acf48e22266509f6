"""hops.helm_recovery in-process: the decision table (status x who left it pending), ownership, and `prepare` with
a scripted helm (JSON as `helm history -o json` prints it) and a scripted watch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from hops import helm_recovery as hr
from hops.errors import StepError, WaitTimeout
from hops.runner import Result

NOW = 1_800_000_000.0
TIMEOUT = 300.0


def rev(number: int, status: str, updated: float = NOW - 10) -> hr.Revision:
    return hr.Revision(number, status, updated)


# --- decide ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("pending", ["pending-upgrade", "pending-rollback"])
@pytest.mark.parametrize("owner", [hr.OWN, hr.STALE])
def test_a_pending_revision_of_ours_after_a_deployed_one_is_rolled_back_to_it(pending: str, owner: str) -> None:
    revisions = [rev(1, "superseded"), rev(2, "deployed"), rev(3, pending)]
    assert hr.decide(revisions, owner) == hr.Plan("rollback", revisions[-1], 2)


def test_without_a_deployed_revision_the_newest_superseded_one_is_the_target() -> None:
    revisions = [rev(1, "superseded"), rev(2, "failed"), rev(3, "pending-upgrade")]
    assert hr.decide(revisions, hr.OWN).target == 1
    # a deployed one wins over a newer superseded one
    revisions = [rev(1, "deployed"), rev(2, "superseded"), rev(3, "pending-rollback")]
    assert hr.decide(revisions, hr.OWN).target == 1


@pytest.mark.parametrize("owner", [hr.OWN, hr.STALE])
def test_a_never_deployed_pending_install_of_ours_is_uninstalled(owner: str) -> None:
    assert hr.decide([rev(1, "pending-install")], owner).action == "uninstall"
    assert hr.decide([rev(1, "failed"), rev(2, "pending-upgrade")], owner).action == "uninstall"
    assert hr.decide([rev(1, "deployed"), rev(2, "uninstalling")], owner).action == "rollback"


def test_nothing_deployed_in_a_cut_history_is_not_uninstalled() -> None:
    # `helm history --max 256` answered 256 rows, none deployed: a deployed one may be older; hops must not
    # uninstall a live release
    cut = [rev(n, "failed") for n in range(5, 5 + hr.HISTORY_MAX - 1)] + [rev(5 + hr.HISTORY_MAX - 1, "pending-upgrade")]
    assert len(cut) == hr.HISTORY_MAX and hr.decide(cut, hr.OWN).action == "fail"


def test_a_history_helm_pruned_without_a_deployed_revision_is_uninstalled() -> None:
    """helm's --history-max (10) drops the oldest revisions but never the last deployed one: a short history
    without revision 1 and without a deployed revision never deployed (the api-timeouts soak: revisions 8-17,
    all failed and the last pending, after ten failed tries of Longhorn's install)."""
    pruned = [rev(n, "failed") for n in range(8, 17)] + [rev(17, "pending-upgrade")]
    assert hr.decide(pruned, hr.OWN).action == "uninstall"
    assert hr.decide([rev(8, "superseded"), rev(9, "failed"), rev(10, "pending-upgrade")],
                     hr.OWN) == hr.Plan("rollback", rev(10, "pending-upgrade"), 8)


@pytest.mark.parametrize("pending", ["pending-install", "pending-upgrade", "pending-rollback", "uninstalling"])
def test_a_foreign_pending_release_is_waited_for_never_touched(pending: str) -> None:
    revisions = [rev(1, "deployed"), rev(2, pending)]
    assert hr.decide(revisions, hr.FOREIGN) == hr.Plan("wait", revisions[-1])


@pytest.mark.parametrize("status", ["deployed", "failed", "superseded"])
@pytest.mark.parametrize("owner", [None, hr.OWN, hr.STALE, hr.FOREIGN])
def test_deployed_failed_and_superseded_are_simply_upgraded(status: str, owner: str | None) -> None:
    assert hr.decide([rev(1, "deployed"), rev(2, status)], owner).action == "upgrade"


@pytest.mark.parametrize("owner", [None, hr.OWN, hr.FOREIGN])
def test_a_release_that_does_not_exist_is_installed(owner: str | None) -> None:
    assert hr.decide(None, owner) == hr.Plan("install")
    assert hr.decide([], owner) == hr.Plan("install")


# --- ownership ---------------------------------------------------------------------------------------------------
def dead(_pid: int, _since: float | None) -> bool:
    return False


def alive(_pid: int, _since: float | None) -> bool:
    return True


def test_a_note_of_a_dead_process_for_the_pending_revision_makes_it_ours() -> None:
    latest = rev(3, "pending-upgrade", updated=NOW - 5)
    assert hr.ownership(latest, {"pid": 4242, "revision": 3}, NOW, TIMEOUT, dead) == hr.OWN
    # the note's process still runs (a reused pid, or not ours): not proof, and the record is recent
    assert hr.ownership(latest, {"pid": 4242, "revision": 3}, NOW, TIMEOUT, alive) == hr.FOREIGN
    # a note for another revision (someone started revision 3 after our run noted revision 2)
    assert hr.ownership(latest, {"pid": 4242, "revision": 2}, NOW, TIMEOUT, dead) == hr.FOREIGN
    assert hr.ownership(latest, None, NOW, TIMEOUT, dead) == hr.FOREIGN


def test_a_note_of_a_helm_that_failed_makes_it_ours_only_for_a_revision_written_while_it_ran() -> None:
    latest = rev(3, "pending-upgrade", updated=NOW - 5)
    finished = {"pid": os.getpid(), "revision": 3, "started_at": NOW - 20, "finished_at": NOW - 2, "exit": 1}
    assert hr.ownership(latest, finished, NOW, TIMEOUT, alive) == hr.OWN      # finished: its process may live on
    # revision 3 created after that helm had finished, or before the note: someone else's with the same number
    assert hr.ownership(rev(3, "pending-upgrade", updated=NOW - 1 + 5), finished, NOW + 5, TIMEOUT,
                        alive) == hr.FOREIGN
    assert hr.ownership(rev(3, "pending-upgrade", updated=NOW - 30), finished, NOW, TIMEOUT, alive) == hr.FOREIGN
    killed = {"pid": 4242, "revision": 3, "started_at": NOW - 20}
    assert hr.ownership(rev(3, "pending-upgrade", updated=NOW - 30), killed, NOW, TIMEOUT, dead) == hr.FOREIGN


def fake_result(code: int, stderr: str = "") -> Result:
    return Result(["helm", "upgrade"], code, "", stderr, 0.1)


def test_in_flight_keeps_the_note_only_when_helm_failed_after_its_checks(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, [])
    path = hr.note_path(tmp_path, "kube-system", "cilium")
    with hr.in_flight(ctx, "kube-system", "cilium", 4) as flight:
        written = json.loads(path.read_text())
        assert (written["pid"], written["revision"], written["run_id"]) == (os.getpid(), 4, "run-1")
        flight.ended(fake_result(0))
    assert not path.exists()
    with hr.in_flight(ctx, "kube-system", "cilium", 4) as flight:
        flight.ended(fake_result(1, "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in "
                                    "progress"))
    assert not path.exists()                        # refused before writing: nothing of ours is pending
    with hr.in_flight(ctx, "kube-system", "cilium", 4) as flight:
        flight.ended(fake_result(1, "Error: UPGRADE FAILED: Kubernetes cluster unreachable"))
    kept = json.loads(path.read_text())
    assert kept["revision"] == 4 and kept["exit"] == 1 and kept["finished_at"] >= kept["started_at"]
    with pytest.raises(StepError):
        with hr.in_flight(ctx, "kube-system", "cilium", 5):
            raise StepError("`helm` is not installed or not on PATH")
    assert not path.exists()                        # helm never ran
    with pytest.raises(KeyboardInterrupt):
        with hr.in_flight(ctx, "kube-system", "cilium", 5):
            raise KeyboardInterrupt
    assert "finished_at" not in json.loads(path.read_text())    # interrupted: the next run finds its pid gone


def test_prepare_frees_what_a_failed_try_of_this_run_left_pending(tmp_path: Path) -> None:
    note(tmp_path, 3, os.getpid(), finished_at=time.time(), exit=1)
    ctx = fake_ctx(tmp_path, [[row(2, "deployed"), row(3, "pending-upgrade")],
                              [row(3, "pending-upgrade"), row(4, "deployed")]])
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 5
    assert ctx.said == ["  helm release kube-system/cilium was left pending-upgrade (revision 3) by a helm command "
                        "of hops that failed (exit 1): rolled back to revision 2"]


def test_a_pending_revision_older_than_the_command_timeout_is_stale() -> None:
    assert hr.ownership(rev(3, "pending-upgrade", NOW - TIMEOUT - 1), None, NOW, TIMEOUT, alive) == hr.STALE
    assert hr.ownership(rev(3, "pending-upgrade", NOW - TIMEOUT + 1), None, NOW, TIMEOUT, alive) == hr.FOREIGN
    assert hr.ownership(rev(3, "pending-upgrade", None), None, NOW, TIMEOUT, alive) == hr.FOREIGN   # unknown age


def test_pid_alive_tells_running_from_gone_and_zombie_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert hr.pid_alive(child.pid)
        child.kill()
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)   # dead, not reaped yet: a zombie
        assert not hr.pid_alive(child.pid)
    finally:
        child.wait()
    assert not hr.pid_alive(child.pid)
    assert not hr.pid_alive(os.getpid()) and not hr.pid_alive(0)


def test_a_process_that_reused_the_noted_pid_is_not_the_noted_one() -> None:
    parent = os.getppid()          # started before this test
    assert hr.pid_alive(parent, since=time.time())
    assert not hr.pid_alive(parent, since=0.0)    # a note from 1970: the process running now started later
    latest = rev(3, "pending-upgrade", updated=time.time())
    assert hr.ownership(latest, {"pid": parent, "revision": 3, "started_at": 0.0}, time.time(), TIMEOUT,
                        hr.pid_alive) == hr.OWN
    assert hr.ownership(latest, {"pid": parent, "revision": 3, "started_at": time.time()}, time.time(), TIMEOUT,
                        hr.pid_alive) == hr.FOREIGN


def test_parse_history_and_helm_times() -> None:
    text = json.dumps([{"revision": 2, "updated": "2026-12-02T05:21:00.123456789+01:00", "status": "deployed",
                        "chart": "cilium-1.16.5", "app_version": "1.16.5", "description": "Upgrade complete"},
                       {"revision": 1, "updated": "2026-12-02T04:00:00Z", "status": "superseded",
                        "chart": "cilium-1.16.5", "app_version": "1.16.5", "description": "Install complete"}])
    revisions = hr.parse_history(text, "cilium -n kube-system")
    assert [(r.number, r.status) for r in revisions] == [(1, "superseded"), (2, "deployed")]
    assert revisions[1].updated == pytest.approx(revisions[0].updated + 21 * 60 + 0.123456)
    with pytest.raises(StepError, match=r"`helm history cilium -n kube-system -o json` did not answer"):
        hr.parse_history("Error: something", "cilium -n kube-system")


# --- prepare with a scripted helm -----------------------------------------------------------------------------
@dataclass
class ScriptedRunner:
    """Answers `helm history` from a list of histories (one per call) and records every helm call."""

    histories: list[Any]
    calls: list[list[str]] = field(default_factory=list)
    fail: str | None = None     # a subcommand that exits 1

    def run(self, tool: str, args: list[str], check: bool = True, **_: Any) -> Result:
        self.calls.append(args)
        if args[0] == "history":
            answer = self.histories.pop(0)
            if answer is None:
                return Result(["helm", *args], 1, "", "Error: release: not found\n", 0.1)
            return Result(["helm", *args], 0, json.dumps(answer), "", 0.1)
        if args[0] == self.fail:
            raise StepError(f"`helm {args[0]}` exited 1:\nError: boom")
        return Result(["helm", *args], 0, "", "", 0.1)


class ScriptedKube:
    """Helm's records in the API (hops.helm_recovery.next_revision lists them): those of the history helm would
    answer next, so the API and `helm history` tell the same story. `wait` answers `outcome` (None: times out)."""

    def __init__(self, outcome: dict[str, dict] | None) -> None:
        self.outcome, self.waits, self.lists = outcome, [], []
        self.histories: list[Any] = []

    def list(self, kind: str, namespace: str | None = None, fresh: bool = False, labels: str | None = None) -> list:
        self.lists.append((kind, namespace, labels))
        rows = self.histories[0] if self.histories else None
        return [{"metadata": {"name": f"sh.helm.release.v1.cilium.v{r['revision']}", "labels": {
            "owner": "helm", "name": "cilium", "status": r["status"], "version": str(r["revision"])}}}
            for r in rows or []]

    def wait(self, kind: str, what: str, predicate, deadline: float, namespace: str | None = None,
             name: str | None = None) -> dict:
        self.waits.append((kind, what, namespace))
        if self.outcome is None:
            raise WaitTimeout(f"timed out waiting for {what}: revision 3 is pending-upgrade")
        done, _ = predicate(self.outcome)
        assert done
        return self.outcome


def fake_ctx(tmp_path: Path, histories: list[Any], kube: ScriptedKube | None = None) -> Any:
    said: list[str] = []
    kube = kube or ScriptedKube(None)
    kube.histories = histories  # the same list: what helm answers next is what the API holds now
    return SimpleNamespace(runner=ScriptedRunner(histories), state_dir=tmp_path, said=said,
                           log=SimpleNamespace(say=said.append, run_id="run-1"), kube=kube,
                           endpoints=SimpleNamespace(kubeconfig=tmp_path / "kubeconfig"),
                           config=SimpleNamespace(bootstrap=SimpleNamespace(command_timeout=TIMEOUT)))


def row(number: int, status: str, age: float = 5.0) -> dict:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() - age)) + ".5Z"
    return {"revision": number, "updated": stamp, "status": status, "chart": "cilium-1.16.5",
            "app_version": "1.16.5", "description": ""}


def note(tmp_path: Path, revision: int, pid: int, **extra: Any) -> Path:
    """A note written a minute ago (before the rows' revisions, which are 5 s old)."""
    path = hr.note_path(tmp_path, "kube-system", "cilium")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"pid": pid, "revision": revision, "started_at": time.time() - 60, "run_id": "old",
                                **extra}))
    return path


def gone_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def later() -> float:
    return time.monotonic() + 60


def test_prepare_rolls_back_our_interrupted_upgrade_and_says_so(tmp_path: Path) -> None:
    path = note(tmp_path, 3, gone_pid())
    ctx = fake_ctx(tmp_path, [[row(1, "superseded"), row(2, "deployed"), row(3, "pending-upgrade")],
                              [row(2, "deployed"), row(3, "pending-upgrade"), row(4, "deployed")]])
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 5
    # the pending record sends hops to helm's history; after the rollback the records in the API show it free
    assert [c[:3] for c in ctx.runner.calls] == [["history", "cilium", "-n"], ["rollback", "cilium", "2"]]
    assert ctx.kube.lists == [("Secret", "kube-system", "owner=helm,name=cilium")] * 2
    assert ctx.runner.calls[0][3:7] == ["kube-system", "-o", "json", "--max"]
    assert ctx.said == ["  helm release kube-system/cilium was left pending-upgrade (revision 3) by an interrupted "
                        "run: rolled back to revision 2"]
    assert not path.exists()          # the interrupted run's note is gone, and so is the rollback's own


def test_prepare_uninstalls_a_stale_pending_install(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, [[row(1, "pending-install", age=TIMEOUT + 60)], None])
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 1
    assert [c[0] for c in ctx.runner.calls] == ["history", "uninstall"]  # then no records left: install
    assert "--wait" not in ctx.runner.calls[1]
    assert len(ctx.said) == 1 and ctx.said[0].startswith(
        "  helm release kube-system/cilium was left pending-install (revision 1) for ")
    assert ctx.said[0].endswith("longer than one helm command may take (300s): it was never deployed, so "
                                "uninstalled it to install afresh")


def test_prepare_upgrades_failed_and_deployed_releases_untouched(tmp_path: Path) -> None:
    for latest in ("failed", "deployed"):
        ctx = fake_ctx(tmp_path, [[row(1, "deployed"), row(2, latest)]])
        assert hr.prepare(ctx, "kube-system", "cilium", later()) == 3
        # Helm's records in the API say nothing is busy: no helm process needed to decide
        assert ctx.runner.calls == [] and ctx.said == [] and len(ctx.kube.lists) == 1
    ctx = fake_ctx(tmp_path, [None])
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 1 and ctx.runner.calls == []


def test_prepare_waits_for_a_foreign_operation_and_proceeds_when_it_ends(tmp_path: Path) -> None:
    finished = {"kube-system/sh.helm.release.v1.cilium.v3": {"metadata": {"labels": {
        "owner": "helm", "name": "cilium", "version": "3", "status": "deployed"}}}}
    kube = ScriptedKube(finished)
    ctx = fake_ctx(tmp_path, [[row(2, "deployed"), row(3, "pending-upgrade")], [row(2, "superseded"),
                                                                              row(3, "deployed")]], kube)
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 4
    assert [c[0] for c in ctx.runner.calls] == ["history"]       # no rollback, no uninstall
    assert kube.waits == [("Secret", "helm release kube-system/cilium to leave pending-upgrade", "kube-system")]
    assert "waiting for it to finish" in ctx.said[0]


def test_prepare_fails_at_the_deadline_naming_release_status_and_what_to_do(tmp_path: Path) -> None:
    note(tmp_path, 3, 1)       # a note whose process is alive (pid 1 started at boot) is no proof it is ours
    ctx = fake_ctx(tmp_path, [[row(2, "deployed"), row(3, "pending-upgrade")]], ScriptedKube(None))
    with pytest.raises(StepError) as failure:
        hr.prepare(ctx, "kube-system", "cilium", later())
    message = str(failure.value)
    assert message.startswith("helm release kube-system/cilium is still pending-upgrade (revision 3): an operation "
                              "hops did not start")
    assert "`helm history cilium -n kube-system`" in message
    assert "free it with `helm rollback cilium 2 -n kube-system` (its last deployed revision)" in message
    assert [c[0] for c in ctx.runner.calls] == ["history"]


def test_prepare_reports_a_failed_rollback_with_helms_output(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, [[row(2, "deployed"), row(3, "pending-upgrade", age=TIMEOUT * 2)]])
    ctx.runner.fail = "rollback"
    with pytest.raises(StepError, match=r"was left pending-upgrade \(revision 3\) for \d+s.*freeing it failed: "
                                        r"`helm rollback` exited 1:\nError: boom"):
        hr.prepare(ctx, "kube-system", "cilium", later())
    assert not hr.note_path(tmp_path, "kube-system", "cilium").exists()


def test_settled_reads_the_newest_record_of_that_release_only() -> None:
    def secret(name: str, version: int, status: str) -> dict:
        return {"metadata": {"labels": {"owner": "helm", "name": name, "version": str(version), "status": status}}}

    objs = {"a": secret("cilium", 2, "deployed"), "b": secret("cilium", 3, "pending-upgrade"),
            "c": secret("other", 9, "deployed")}
    assert hr._settled(objs, "cilium") == (False, "revision 3 is pending-upgrade")
    objs["d"] = secret("cilium", 4, "deployed")
    assert hr._settled(objs, "cilium") == (True, "revision 4 is deployed")


def test_prepare_refuses_to_guess_when_no_deployed_revision_is_in_sight(tmp_path: Path) -> None:
    rows = [row(n, "failed") for n in range(11, 11 + hr.HISTORY_MAX - 1)]
    last = 11 + hr.HISTORY_MAX - 1
    ctx = fake_ctx(tmp_path, [rows + [row(last, "pending-upgrade", age=TIMEOUT * 2)]])
    with pytest.raises(StepError, match=rf"is still pending-upgrade \(revision {last}\): no deployed revision among its "
                                        r"newest 256, so hops does not know what to roll back to\. See `helm history"):
        hr.prepare(ctx, "kube-system", "cilium", later())
    assert [c[0] for c in ctx.runner.calls] == ["history"]


def test_an_uninstall_of_ours_that_failed_halfway_is_resumed_not_waited_for(tmp_path: Path) -> None:
    """helm marks the revision `uninstalling` in place (its time stays the pending install's), so the note of
    hops's own uninstall is matched by number; found under the api-timeouts soak: the next run waited for 'an
    operation hops did not start' until the phase deadline."""
    latest = rev(4, "uninstalling", updated=NOW - 30)
    failed = {"pid": os.getpid(), "revision": 4, "operation": "uninstall", "started_at": NOW - 10,
              "finished_at": NOW - 9, "exit": 1}
    assert hr.ownership(latest, failed, NOW, TIMEOUT, alive) == hr.OWN
    # the same note does not make an upgrade's pending revision of that number ours (its time is checked)
    assert hr.ownership(rev(4, "pending-upgrade", updated=NOW - 30), failed, NOW, TIMEOUT, alive) == hr.FOREIGN
    note(tmp_path, 4, os.getpid(), operation="uninstall", finished_at=time.time() - 50, exit=1)
    path = hr.note_path(tmp_path, "kube-system", "cilium")
    written = json.loads(path.read_text())
    written["started_at"] = time.time() - 3    # the uninstall started after the revision's time
    path.write_text(json.dumps(written))
    ctx = fake_ctx(tmp_path, [[row(1, "failed", age=40), row(4, "uninstalling", age=40)], None])
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 1
    assert [c[0] for c in ctx.runner.calls] == ["history", "uninstall"]
    assert ctx.said[0].startswith("  helm release kube-system/cilium was left uninstalling (revision 4) by a helm "
                                  "command of hops that failed (exit 1)")


def test_in_flight_notes_which_operation_runs(tmp_path: Path) -> None:
    ctx = fake_ctx(tmp_path, [])
    path = hr.note_path(tmp_path, "kube-system", "cilium")
    with hr.in_flight(ctx, "kube-system", "cilium", 4, operation="uninstall"):
        assert json.loads(path.read_text())["operation"] == "uninstall"
    with hr.in_flight(ctx, "kube-system", "cilium", 5):
        assert json.loads(path.read_text())["operation"] == "upgrade"


# --- the quick look through the API ---------------------------------------------------------------------------
@pytest.mark.parametrize("driver, kind", [("", "Secret"), ("secret", "Secret"), ("Secrets", "Secret"),
                                          ("configmap", "ConfigMap")])
def test_helms_records_are_read_where_its_storage_driver_keeps_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    driver: str, kind: str) -> None:
    monkeypatch.setenv("HELM_DRIVER", driver)
    ctx = fake_ctx(tmp_path, [[row(1, "superseded"), row(2, "deployed")]])
    assert hr.next_revision(ctx, "kube-system", "cilium") == 3
    assert ctx.kube.lists == [(kind, "kube-system", "owner=helm,name=cilium")]


def test_a_driver_without_api_objects_or_an_unreadable_api_leaves_it_to_helm(tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELM_DRIVER", "sql")
    ctx = fake_ctx(tmp_path, [[row(1, "deployed")]])
    assert hr.next_revision(ctx, "kube-system", "cilium") is None and ctx.kube.lists == []
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 2
    assert [c[0] for c in ctx.runner.calls] == ["history"]
    monkeypatch.delenv("HELM_DRIVER")

    def forbidden(*_: Any, **__: Any) -> list:
        raise StepError('secrets is forbidden: User "ci" cannot list resource "secrets"')

    ctx = fake_ctx(tmp_path, [[row(1, "deployed")]])
    ctx.kube.list = forbidden
    assert hr.next_revision(ctx, "kube-system", "cilium") is None

    def refused(*_: Any, **__: Any) -> list:  # a permanent answer comes as the client's ApiException
        from kubernetes.client.exceptions import ApiException

        raise ApiException(status=403, reason="Forbidden")

    ctx.kube.list = refused
    assert hr.next_revision(ctx, "kube-system", "cilium") is None
    assert hr.prepare(ctx, "kube-system", "cilium", later()) == 2  # decided by helm history instead


def test_a_busy_newest_record_sends_hops_to_helms_history(tmp_path: Path) -> None:
    for status in hr.BUSY:
        ctx = fake_ctx(tmp_path, [[row(1, "deployed"), row(2, status)]])
        assert hr.next_revision(ctx, "kube-system", "cilium") is None
    ctx = fake_ctx(tmp_path, [[row(1, "deployed"), row(2, "failed")]])
    assert hr.next_revision(ctx, "kube-system", "cilium") == 3  # failed is not busy: helm upgrades it
