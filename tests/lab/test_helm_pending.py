"""The emulated helm and interrupted operations, as Helm 3 behaves: the revision is recorded pending before any
object is created, a pending latest revision refuses upgrade/install (helm's exact text, exit 1) while rollback and
uninstall free it, and history/status show pending and failed revisions. Same KubeLab as test_helm."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from hops.lab import faults, helm_releases, real_helm
from kube_lab import KubeLab
from tests.helm_records import leave_pending, statuses

IN_PROGRESS = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
CILIUM = ["cilium", "cilium/cilium", "-n", "kube-system", "--version", "1.16.5"]


@pytest.fixture
def kl(tmp_path: Path):
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(3)
    yield lab
    lab.close()


def ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return done.stdout


def installed(kl: KubeLab) -> None:
    ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io"))
    ok(kl.run("helm", "upgrade", "--install", *CILIUM))


def history(kl: KubeLab, name: str = "cilium", ns: str = "kube-system") -> list[dict]:
    return json.loads(ok(kl.run("helm", "history", name, "-n", ns, "-o", "json")))


def test_the_revision_is_recorded_pending_before_any_object_and_deployed_after(kl: KubeLab) -> None:
    installed(kl)
    events: list[tuple[str, str]] = []

    def seen(_type: str, obj: dict) -> None:
        labels = obj["metadata"].get("labels") or {}
        if obj.get("type") == helm_releases.RELEASE_TYPE and labels.get("version") == "2":
            events.append(("record", labels["status"]))
        elif obj.get("kind") == "Deployment" and obj["metadata"]["name"] == "cilium-operator" and \
                obj["spec"].get("replicas") == 3:      # the upgrade's change (controllers only touch status)
            events.append(("object", "Deployment"))

    stop = kl.store.subscribe(seen)
    ok(kl.run("helm", "upgrade", "--install", *CILIUM, "--set", "operator.replicas=3"))
    kl.wait_for(lambda: ("record", "deployed") in events, what="revision 2 deployed")
    stop()
    first_object = next(i for i, e in enumerate(events) if e[0] == "object")
    assert events[0] == ("record", "pending-upgrade") and first_object > 0
    assert events.index(("record", "deployed")) > first_object
    assert statuses(kl.store, "cilium", "kube-system") == [(1, "superseded"), (2, "deployed")]


def test_a_killed_install_stays_pending_install_and_refuses_until_uninstalled(kl: KubeLab) -> None:
    ok(kl.run("helm", "repo", "add", "cilium", "https://helm.cilium.io"))
    faults.add(kl.layout, "hang:helm upgrade:1")
    helm = subprocess.Popen([sys.executable, "-m", "hops.lab.tools.helm", "upgrade", "--install", *CILIUM],
                            env=kl.env(), cwd=kl.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        kl.wait_for(lambda: statuses(kl.store, "cilium", "kube-system") == [(1, "pending-install")],
                    what="the pending-install record")
        assert kl.store.get("apps/v1", "DaemonSet", "cilium", "kube-system") is None    # no object yet
        assert helm.poll() is None                                                      # still working
    finally:
        os.killpg(helm.pid, signal.SIGKILL)
        helm.communicate()
    assert helm.returncode == -signal.SIGKILL

    again = kl.run("helm", "upgrade", "--install", *CILIUM)
    assert (again.returncode, again.stderr.strip()) == (1, IN_PROGRESS)
    plain = kl.run("helm", "install", *CILIUM)
    assert (plain.returncode, plain.stderr.strip()) == (1, "Error: INSTALLATION FAILED: cannot re-use a name "
                                                           "that is still in use")
    status = json.loads(ok(kl.run("helm", "status", "cilium", "-n", "kube-system", "-o", "json")))
    assert (status["version"], status["info"]["status"]) == (1, "pending-install")
    # `helm list` shows deployed and failed releases unless asked for others
    assert json.loads(ok(kl.run("helm", "list", "-n", "kube-system", "-o", "json"))) == []
    assert [r["status"] for r in json.loads(ok(kl.run("helm", "list", "-n", "kube-system", "--pending", "-o",
                                                      "json")))] == ["pending-install"]
    assert len(json.loads(ok(kl.run("helm", "list", "-A", "-a", "-o", "json")))) == 1
    assert status["info"]["description"] == "Initial install underway"
    [row] = history(kl)
    assert (row["revision"], row["status"], row["chart"], row["description"]) == \
        (1, "pending-install", "cilium-1.16.5", "Initial install underway")
    assert row["updated"].endswith("Z") and "T" in row["updated"]
    assert "pending-install" in ok(kl.run("helm", "history", "cilium", "-n", "kube-system")).splitlines()[1]

    assert ok(kl.run("helm", "uninstall", "cilium", "-n", "kube-system")).strip() == 'release "cilium" uninstalled'
    assert statuses(kl.store, "cilium", "kube-system") == []
    assert "REVISION: 1" in ok(kl.run("helm", "upgrade", "--install", *CILIUM))
    assert kl.store.get("apps/v1", "DaemonSet", "cilium", "kube-system") is not None


def test_a_pending_upgrade_refuses_upgrades_and_a_rollback_frees_it(kl: KubeLab) -> None:
    installed(kl)
    leave_pending(kl.store, "cilium", "kube-system", "pending-upgrade")
    refused = kl.run("helm", "upgrade", "--install", *CILIUM)
    assert (refused.returncode, refused.stderr.strip(), refused.stdout) == (1, IN_PROGRESS, "")
    assert kl.run("helm", "upgrade", *CILIUM).stderr.strip() == IN_PROGRESS
    assert statuses(kl.store, "cilium", "kube-system") == [(1, "deployed"), (2, "pending-upgrade")]

    assert ok(kl.run("helm", "rollback", "cilium", "1", "-n", "kube-system")).strip() == \
        "Rollback was a success! Happy Helming!"
    # like Helm: the interrupted revision stays pending-upgrade in the history; the latest is the rollback
    assert [(r["revision"], r["status"], r["description"]) for r in history(kl)] == [
        (1, "superseded", "Install complete"), (2, "pending-upgrade", "Preparing upgrade"),
        (3, "deployed", "Rollback to 1")]
    assert "REVISION: 4" in ok(kl.run("helm", "upgrade", "--install", *CILIUM))
    assert [r["status"] for r in history(kl)][-2:] == ["superseded", "deployed"]
    assert [r["revision"] for r in json.loads(ok(kl.run("helm", "history", "cilium", "-n", "kube-system",
                                                         "-o", "json", "--max", "2")))] == [3, 4]


def test_an_interrupted_uninstall_leaves_nothing_to_upgrade_from(kl: KubeLab) -> None:
    installed(kl)
    [rel] = helm_releases.history(kl.store, "cilium", "kube-system")
    helm_releases.set_status(kl.store, rel, "uninstalling", "Deletion in progress (or silently failed)")   # killed
    done = kl.run("helm", "upgrade", "--install", *CILIUM)
    assert (done.returncode, done.stderr.strip()) == (1, 'Error: UPGRADE FAILED: "cilium" has no deployed releases')
    ok(kl.run("helm", "uninstall", "cilium", "-n", "kube-system"))      # uninstalling again finishes it
    assert statuses(kl.store, "cilium", "kube-system") == []


def test_rollback_without_revision_and_its_errors(kl: KubeLab) -> None:
    installed(kl)
    ok(kl.run("helm", "upgrade", "--install", *CILIUM))
    leave_pending(kl.store, "cilium", "kube-system", "pending-rollback")
    ok(kl.run("helm", "rollback", "cilium", "-n", "kube-system"))       # one back from revision 3: revision 2
    assert history(kl)[-1]["description"] == "Rollback to 2"
    missing = kl.run("helm", "rollback", "cilium", "9", "-n", "kube-system")
    assert (missing.returncode, missing.stderr.strip()) == (1, "Error: release has no 9 version")
    unknown = kl.run("helm", "rollback", "nope", "1", "-n", "kube-system")
    assert (unknown.returncode, unknown.stderr.strip()) == (1, "Error: release: not found")
    bad = kl.run("helm", "rollback", "cilium", "two", "-n", "kube-system")
    assert bad.stderr.strip() == 'Error: strconv.Atoi: parsing "two": invalid syntax'
    assert kl.run("helm", "rollback").stderr.startswith('Error: "helm rollback" requires at least 1 argument')


def test_a_failed_upgrade_keeps_the_deployed_revision_and_is_upgraded_again(kl: KubeLab) -> None:
    installed(kl)       # pods need the CNI
    ok(kl.run("helm", "repo", "add", "podinfo", "https://stefanprodan.github.io/podinfo"))
    args = ["podinfo", "podinfo/podinfo", "-n", "podinfo", "--create-namespace"]
    ok(kl.run("helm", "upgrade", "--install", *args, "--wait"))
    faults.add(kl.layout, "block:podinfo")
    failed = kl.run("helm", "upgrade", "--install", *args, "--wait", "--timeout", "60s")
    assert (failed.returncode, failed.stderr.strip()) == (1, "Error: UPGRADE FAILED: context deadline exceeded")
    rows = history(kl, "podinfo", "podinfo")
    assert [(r["revision"], r["status"]) for r in rows] == [(1, "deployed"), (2, "failed")]
    assert rows[1]["description"] == 'Upgrade "podinfo" failed: context deadline exceeded'
    status = json.loads(ok(kl.run("helm", "status", "podinfo", "-n", "podinfo", "-o", "json")))
    assert status["info"]["status"] == "failed"
    assert json.loads(ok(kl.run("helm", "status", "podinfo", "-n", "podinfo", "--revision", "1", "-o",
                                "json")))["info"]["status"] == "deployed"
    # --atomic rolls back to the deployed revision
    atomic = kl.run("helm", "upgrade", "--install", *args, "--atomic", "--timeout", "60s")
    assert atomic.stderr.strip() == ("Error: UPGRADE FAILED: release podinfo failed, and has been rolled back due "
                                     "to atomic being set: context deadline exceeded")
    assert statuses(kl.store, "podinfo", "podinfo") == [(1, "superseded"), (2, "failed"), (3, "failed"),
                                                        (4, "deployed")]
    faults.clear(kl.layout)
    assert "REVISION: 5" in ok(kl.run("helm", "upgrade", "--install", *args))
    assert statuses(kl.store, "podinfo", "podinfo")[-2:] == [(4, "superseded"), (5, "deployed")]


def test_hang_fault_spec_parses_and_leaves_fail_faults_alone(kl: KubeLab) -> None:
    faults.add(kl.layout, "hang:helm upgrade:2,fail:helm upgrade:1")
    data = faults.read(kl.layout)
    assert {(f["subcommand"], f["remaining"], f.get("action", "fail")) for f in data["tools"]} == {
        ("upgrade", 2, "hang"), ("upgrade", 1, "fail")}
    assert faults.take_tool_failure(kl.layout, "helm", ["upgrade", "x"]) is not None     # the fail fault
    assert faults.take_tool_failure(kl.layout, "helm", ["upgrade", "x"]) is None         # hangs are not failures
    assert faults.take_tool_failure(kl.layout, "helm", ["upgrade"], action="hang") is not None
    with pytest.raises(faults.FaultSpecError, match="expected hang:<tool> <subcommand>:<count>"):
        faults.parse("hang:helm:1")


REAL_HELM = str(real_helm.installed() or shutil.which("helm") or "")


@pytest.mark.skipif(not REAL_HELM, reason=f"the real helm is not installed: run `{real_helm.INSTALL_COMMAND}`")
def test_real_helm_refuses_a_pending_release_with_the_same_text(kl: KubeLab, tmp_path: Path) -> None:
    """The record leave_pending writes is one real helm reads as pending (storage format and message)."""
    installed(kl)
    leave_pending(kl.store, "cilium", "kube-system", "pending-upgrade")
    env = {**kl.env(), "HELM_CACHE_HOME": str(tmp_path / "hc"), "HELM_CONFIG_HOME": str(tmp_path / "hcfg"),
           "HELM_DATA_HOME": str(tmp_path / "hd")}
    real = subprocess.run([REAL_HELM, "history", "cilium", "-n", "kube-system", "-o", "json",
                           "--kubeconfig", str(kl.kubeconfig)], env=env, capture_output=True, text=True, timeout=60)
    assert real.returncode == 0, real.stderr
    assert [r["status"] for r in json.loads(real.stdout)] == ["deployed", "pending-upgrade"]
    chart = tmp_path / "chart"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: cilium\nversion: 1.16.5\n")
    refused = subprocess.run([REAL_HELM, "upgrade", "--install", "cilium", str(chart), "-n", "kube-system",
                              "--kubeconfig", str(kl.kubeconfig)], env=env, capture_output=True, text=True,
                             timeout=60)
    assert (refused.returncode, refused.stderr.strip()) == (1, IN_PROGRESS)


def test_storage_keeps_history_max_revisions_but_never_the_last_deployed_one() -> None:
    """As Helm 3's storage before it writes a revision (removeLeastRecent): the oldest go first, the last
    deployed one stays however old; with nothing deployed the oldest failures go too."""
    from hops.lab import helm_releases

    class Deleting:
        def __init__(self) -> None:
            self.deleted: list[str] = []

        def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> None:
            self.deleted.append(name)

    def revs(*statuses: str, first: int = 1) -> list[dict]:
        return [{"version": n, "info": {"status": s}} for n, s in enumerate(statuses, start=first)]

    client = Deleting()
    kept = helm_releases.prune_history(client, "longhorn", "longhorn-system", revs("deployed", *["failed"] * 11), 9)
    assert [r["version"] for r in kept] == [1, 5, 6, 7, 8, 9, 10, 11, 12]
    assert client.deleted == [f"sh.helm.release.v1.longhorn.v{n}" for n in (2, 3, 4)]
    never = Deleting()
    kept = helm_releases.prune_history(never, "longhorn", "longhorn-system", revs(*["failed"] * 12), 9)
    assert [r["version"] for r in kept] == list(range(4, 13)) and len(never.deleted) == 3
    untouched = Deleting()
    assert len(helm_releases.prune_history(untouched, "x", "ns", revs("deployed", "failed"), 9)) == 2
    assert untouched.deleted == []
    only = Deleting()   # --history-max 1: nothing is kept before the new revision but the last deployed one
    kept = helm_releases.prune_history(only, "x", "ns", revs("failed", "deployed", "failed"), 0)
    assert [r["version"] for r in kept] == [2] and only.deleted == ["sh.helm.release.v1.x.v1", "sh.helm.release.v1.x.v3"]
