"""Contract: the lab's emulated helm answers like the real Helm 3 (v3.17.2) on every call hops and its tests make.

The same sequence runs through both, each against its own in-process lab API (KubeLab) and the lab's chart
repository (hops.lab.chart_repo) on 127.0.0.1: upgrade --install, a second upgrade, status/history/get values/list
as JSON, rollback, the pending-release refusal, uninstall (the real one sends protobuf DeleteOptions bodies), and
the errors for a missing release or chart version. Compared: exit codes, the first line of errors, the key fields of
the JSON. Skipped when the real helm is not installed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kube_lab import KubeLab
from real_helm_helpers import real_helm_or_skip

from hops.lab import faults, real_helm
from hops.lab.chart_repo import ChartRepoServer, local_url
from tests.helm_records import leave_pending

NS = "apps"
IN_PROGRESS = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
Helm = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="module")
def charts_server():
    server = ChartRepoServer()
    server.start()
    yield server
    server.stop()


def _emulated(kl: KubeLab, _tmp: Path) -> Helm:
    return lambda *args: kl.run("helm", *args)


def _real(kl: KubeLab, tmp: Path) -> Helm:
    launcher = tmp / "bin" / "helm"
    launcher.parent.mkdir(parents=True, exist_ok=True)
    launcher.write_text(real_helm.launcher(real_helm_or_skip()))
    launcher.chmod(0o755)
    return lambda *args: subprocess.run([str(launcher), *args], capture_output=True, text=True, env=kl.env(),
                                        cwd=kl.root, timeout=120)


def _first_error(done: subprocess.CompletedProcess) -> str:
    return next((line for line in done.stderr.splitlines() if line.startswith("Error")), "")


def _essentials(done: subprocess.CompletedProcess, pick: Callable[[Any], Any] | None = None) -> dict:
    out: dict = {"exit": done.returncode, "error": _first_error(done)}
    if pick is not None and done.returncode == 0:
        out["json"] = pick(json.loads(done.stdout))
    return out


def _status(doc: dict) -> dict:
    return {"keys": sorted(doc), "info": sorted(doc["info"]), "name": doc["name"], "namespace": doc["namespace"],
            "version": doc["version"], "status": doc["info"]["status"], "config": doc.get("config") or {}}


def _history(rows: list) -> list:
    return [{k: r[k] for k in ("revision", "status", "chart", "app_version", "description")} for r in rows]


def _list(rows: list) -> list:
    return [{k: r[k] for k in ("name", "namespace", "revision", "status", "chart", "app_version")} for r in rows]


def _helm_secrets(kl: KubeLab, name: str) -> list[str]:
    return [s["metadata"]["name"] for s in kl.store.list("v1", "Secret", NS)
            if (s["metadata"].get("labels") or {}).get("name") == name
            and (s["metadata"].get("labels") or {}).get("owner") == "helm"]


def run_sequence(kl: KubeLab, helm: Helm, repo: str, tmp: Path) -> list[tuple[str, Any]]:
    """Every call of the contract, in order, with its essentials (plus what the API holds afterwards)."""
    (tmp / "v2.yaml").write_text("replicaCount: 2\n")
    (tmp / "v3.yaml").write_text("replicaCount: 3\nui:\n  message: hello\n")
    install = ["upgrade", "--install", "podinfo", "podinfo", "--repo", repo, "--version", "6.7.1",
               "--namespace", NS, "--create-namespace"]
    seen: list[tuple[str, Any]] = []

    def step(label: str, done: subprocess.CompletedProcess, pick: Callable | None = None, **extra: Any) -> None:
        seen.append((label, {**_essentials(done, pick), **extra}))

    first = helm(*install, "--values", str(tmp / "v2.yaml"))
    step("install", first, intro='Release "podinfo" does not exist. Installing it now.' in first.stdout,
         deployed="STATUS: deployed" in first.stdout and "REVISION: 1" in first.stdout)
    second = helm(*install, "--values", str(tmp / "v3.yaml"))
    step("upgrade", second, intro='Release "podinfo" has been upgraded. Happy Helming!' in second.stdout,
         revision="REVISION: 2" in second.stdout)
    deployment = kl.store.get("apps/v1", "Deployment", "podinfo", NS)
    seen.append(("deployment", deployment and deployment["spec"]["replicas"]))
    step("status", helm("status", "podinfo", "-n", NS, "-o", "json"), _status)
    step("history", helm("history", "podinfo", "-n", NS, "-o", "json"), _history)
    step("get values", helm("get", "values", "podinfo", "-n", NS, "-o", "json"), lambda v: v)
    step("get values r1", helm("get", "values", "podinfo", "-n", NS, "-o", "json", "--revision", "1"), lambda v: v)
    step("list", helm("list", "-A", "-o", "json"), _list)
    back = helm("rollback", "podinfo", "1", "-n", NS)
    step("rollback", back, success="Rollback was a success! Happy Helming!" in back.stdout)
    step("history after rollback", helm("history", "podinfo", "-n", NS, "-o", "json"), _history)
    leave_pending(kl.store, "podinfo", NS)
    step("pending refusal", helm(*install))
    step("rollback frees it", helm("rollback", "podinfo", "3", "-n", NS))
    gone = helm("uninstall", "podinfo", "-n", NS)
    step("uninstall", gone, said=gone.stdout.strip(), secrets=_helm_secrets(kl, "podinfo"),
         deployment=kl.store.get("apps/v1", "Deployment", "podinfo", NS) is not None)
    step("status of none", helm("status", "podinfo", "-n", NS, "-o", "json"))
    step("history of none", helm("history", "podinfo", "-n", NS, "-o", "json"))
    step("uninstall of none", helm("uninstall", "podinfo", "-n", NS))
    step("no such version", helm("upgrade", "--install", "other", "podinfo", "--repo", repo, "--version", "9.9.9",
                                 "--namespace", NS))
    step("an earlier version", helm("upgrade", "--install", "old", "podinfo", "--repo", repo, "--version", "6.6.0",
                                    "--namespace", NS), deployment=kl.store.get("apps/v1", "Deployment", "old-podinfo",
                                                                                NS) is not None)
    step("history of the earlier", helm("history", "old", "-n", NS, "-o", "json"), _history)
    for values in ("v2", "v3", "v2"):   # three upgrades keeping at most two revisions
        helm("upgrade", "--install", "old", "podinfo", "--repo", repo, "--version", "6.6.0", "--namespace", NS,
             "--history-max", "2", "--values", str(tmp / f"{values}.yaml"))
    step("history pruned to --history-max", helm("history", "old", "-n", NS, "-o", "json"), _history,
         secrets=sorted(_helm_secrets(kl, "old")))
    helm("upgrade", "--install", "old", "podinfo", "--repo", repo, "--version", "6.6.0", "--namespace", NS,
         "--history-max", "1", "--values", str(tmp / "v3.yaml"))
    step("history pruned to one", helm("history", "old", "-n", NS, "-o", "json"), _history)
    step("no namespace", helm("upgrade", "--install", "lost", "podinfo", "--repo", repo, "--namespace", "nowhere"))
    step("no such repo", helm("install", "x", "bitnami/nginx"))
    faults.add(kl.layout, "block:stuck")
    step("wait in vain", helm("upgrade", "--install", "stuck", "podinfo", "--repo", repo, "--namespace", NS,
                              "--wait", "--timeout", "2s"))
    step("history of the stuck", helm("history", "stuck", "-n", NS, "-o", "json"), _history)
    return seen


@pytest.fixture(params=["emulated", "real"])
def answers(request: pytest.FixtureRequest, tmp_path: Path, charts_server: ChartRepoServer) -> list:
    maker = {"emulated": _emulated, "real": _real}[request.param]
    lab = KubeLab(tmp_path).start()
    lab.add_nodes(3)
    try:
        helm = maker(lab, tmp_path)
        repo = local_url(charts_server.url, "https://stefanprodan.github.io/podinfo")
        yield [(label, _scrub(value, repo)) for label, value in run_sequence(lab, helm, repo, tmp_path)]
    finally:
        lab.close()


def _scrub(value: Any, repo: str) -> Any:
    """The repository URL differs per server start: compare the message around it."""
    return json.loads(json.dumps(value).replace(repo, "<repo>"))


EXPECTED_ERRORS = {"pending refusal": IN_PROGRESS, "status of none": "Error: release: not found",
                   "history of none": "Error: release: not found",
                   "uninstall of none": "Error: uninstall: Release not loaded: podinfo: release: not found",
                   "no such version": 'Error: chart "podinfo" version "9.9.9" not found in <repo> repository',
                   "no namespace": 'Error: create: failed to create: namespaces "nowhere" not found',
                   "no such repo": "Error: INSTALLATION FAILED: repo bitnami not found",
                   "wait in vain": "Error: context deadline exceeded"}


def test_each_answer_is_what_helm_3_answers(answers: list) -> None:
    by_label = dict(answers)
    for label, value in by_label.items():
        if label == "deployment":
            assert value == 3
            continue
        assert value["exit"] == (1 if label in EXPECTED_ERRORS else 0), (label, value)
        assert value["error"] == EXPECTED_ERRORS.get(label, ""), (label, value)
    assert by_label["install"]["intro"] and by_label["install"]["deployed"]
    assert by_label["upgrade"]["intro"] and by_label["upgrade"]["revision"]
    assert by_label["status"]["json"] == {
        "keys": ["config", "info", "manifest", "name", "namespace", "version"],
        "info": ["deleted", "description", "first_deployed", "last_deployed", "status"], "name": "podinfo",
        "namespace": NS, "version": 2, "status": "deployed", "config": {"replicaCount": 3, "ui": {"message": "hello"}}}
    assert [(r["revision"], r["status"], r["description"]) for r in by_label["history after rollback"]["json"]] == [
        (1, "superseded", "Install complete"), (2, "superseded", "Upgrade complete"), (3, "deployed", "Rollback to 1")]
    assert by_label["get values r1"]["json"] == {"replicaCount": 2}
    assert by_label["an earlier version"]["deployment"]
    assert [r["chart"] for r in by_label["history of the earlier"]["json"]] == ["podinfo-6.6.0"]
    pruned = by_label["history pruned to --history-max"]
    assert [(r["revision"], r["status"]) for r in pruned["json"]] == [(3, "superseded"), (4, "deployed")]
    assert pruned["secrets"] == ["sh.helm.release.v1.old.v3", "sh.helm.release.v1.old.v4"]
    # --history-max 1: all but the last deployed revision go before the new one is written
    assert [(r["revision"], r["status"]) for r in by_label["history pruned to one"]["json"]] == [
        (4, "superseded"), (5, "deployed")]
    assert [r["status"] for r in by_label["history of the stuck"]["json"]] == ["failed"]
    assert by_label["uninstall"] == {"exit": 0, "error": "", "said": 'release "podinfo" uninstalled', "secrets": [],
                                     "deployment": False}


def test_the_emulated_helm_and_the_real_one_agree(tmp_path: Path, charts_server: ChartRepoServer) -> None:
    """Both sequences side by side: every essential equal."""
    real_helm_or_skip()
    results = {}
    for name, maker in (("emulated", _emulated), ("real", _real)):
        lab = KubeLab(tmp_path / name).start()
        lab.add_nodes(3)
        try:
            repo = local_url(charts_server.url, "https://stefanprodan.github.io/podinfo")
            results[name] = [(label, _scrub(v, repo))
                             for label, v in run_sequence(lab, maker(lab, tmp_path / name), repo, tmp_path / name)]
        finally:
            lab.close()
    for (label, emulated), (_, real) in zip(results["emulated"], results["real"], strict=True):
        assert emulated == real, f"{label}: emulated {emulated} != real {real}"
