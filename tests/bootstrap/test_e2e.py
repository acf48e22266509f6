"""End-to-end on the lab: the whole bootstrap with a real doit, re-runs, resets, kills, faults and secrets."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.projects import executed
from hops.lab.layout import LabLayout
from hops.phases import PHASES
from hops.taskmodel import Model
from hops.lab.tools.common import read_calls

ALL_MARKERS = (
    "tools-validated", "mise-validated", "env-vars-validated", "onepassword-validated", "connectivity-validated",
    "repository-validated", "phase-1-complete",
    "secrets-bootstrapped", "configs-validated", "configs-applied", "nodes-ready", "etcd-bootstrapped",
    "cluster-ready", "health-verified", "phase-2-complete",
    "cilium-ready", "nodes-cni-ready", "pod-networking-tested", "cilium-status-verified",
    "service-connectivity-tested", "phase-3-complete",
    "external-secrets-validated", "onepassword-connect-validated", "longhorn-validated", "phase-4-complete",
    "gitops-prerequisites-validated", "flux-ready", "gitops-sync-verified", "phase-5-complete",
    "infrastructure-ready", "applications-deployed", "applications-ready", "phase-6-complete",
)
MUTATING = {("talosctl", "apply-config"), ("talosctl", "bootstrap"), ("helm", "upgrade"), ("helm", "install"),
            ("flux", "bootstrap"), ("talhelper", "genconfig"), ("op", "item")}


def lab_layout(lab_env: dict) -> LabLayout:
    return LabLayout(Path(lab_env["HOPS_LAB_DIR"]))


def etcd_bootstraps(lab_env: dict) -> int:
    return sum(1 for c in read_calls(lab_layout(lab_env), "talosctl") if "bootstrap" in c["argv"])


def etcd_member_queries(lab_env: dict) -> int:
    return sum(1 for c in read_calls(lab_layout(lab_env), "talosctl") if c["argv"][:2] == ["etcd", "members"])


def mutating_calls(lab_env: dict) -> list[dict]:
    return [c for c in read_calls(lab_layout(lab_env)) if any(c["tool"] == t and s in c["argv"] for t, s in MUTATING)]


def step_tasks(result: subprocess.CompletedProcess) -> list[str]:
    return [name for name in executed(result) if ":" in name]


def step_ids_by_marker() -> dict[str, str]:
    """Every marker of the task model and the step id (`<group>:<name>`, as doit prints it) that writes it."""
    return {step.marker: comp.step_id(step.name) for comp, step in Model.of(PHASES).steps()
            if step.marker}


def status_row(table: str, step_id: str) -> str:
    """The row of `bootstrap_status` for one step (its first line: long cells wrap onto more lines)."""
    rows = [line for line in table.splitlines() if re.match(rf"│ \d\s+│ {re.escape(step_id)}\s+│", line)]
    assert len(rows) == 1, (step_id, table)
    return rows[0]


def node_readiness(lab_env: dict) -> dict[str, str]:
    """Node name -> its Ready condition status, with the real kubectl when installed, else through the API."""
    if shutil.which("kubectl"):
        return {row.split()[0]: row.split()[1] for row in kubectl_nodes(lab_env).splitlines()}
    from kubernetes import client, config

    kubeconfig = str(lab_layout(lab_env).cluster_dir / "kubeconfig")
    api = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
    ready = {}
    for node in api.list_node().items:
        status = next((c.status for c in node.status.conditions or [] if c.type == "Ready"), "Unknown")
        ready[node.metadata.name] = "Ready" if status == "True" else "NotReady"
    return ready


def kubectl_nodes(lab_env: dict) -> str:
    kubeconfig = lab_layout(lab_env).cluster_dir / "kubeconfig"
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "get", "nodes", "--no-headers"],
                          env=lab_env, capture_output=True, text=True, check=True).stdout


def vault_values(lab_env: dict) -> list[str]:
    vault = json.loads(lab_layout(lab_env).vault_file.read_text())
    values = []
    for v in vault["vaults"] if isinstance(vault, dict) and "vaults" in vault else vault:
        for item in v.get("items", []):
            values += [f["value"] for f in item.get("fields", []) if len(str(f.get("value", ""))) >= 8]
    return values


def test_full_bootstrap_converges_and_a_second_run_changes_nothing(doit, state_dir: Path, lab_env: dict) -> None:
    first = doit("bootstrap_phased")
    for marker in ALL_MARKERS:
        assert (state_dir / marker).exists(), marker
    assert etcd_bootstraps(lab_env) == 1
    readiness = node_readiness(lab_env)
    assert readiness == {"talos-cp-1": "Ready", "talos-cp-2": "Ready", "talos-cp-3": "Ready"}, readiness
    calls_before = len(mutating_calls(lab_env))
    members_before = etcd_member_queries(lab_env)
    mtimes = {m: (state_dir / m).stat().st_mtime_ns for m in ALL_MARKERS}
    second = doit("bootstrap_phased")
    assert step_tasks(second) == []
    assert len(mutating_calls(lab_env)) == calls_before
    assert etcd_member_queries(lab_env) == members_before + 1  # read ahead, used by talos:health's check
    assert mtimes == {m: (state_dir / m).stat().st_mtime_ns for m in ALL_MARKERS}
    assert "Bootstrap complete" in first.stdout + second.stdout


def test_gitops_takes_over_cilium_with_the_same_values(doit, lab_env: dict) -> None:
    """Lesson 11: the bootstrap's helm install (revision 1) and Flux's HelmRelease (revision 2) use one values file."""
    doit("bootstrap_phased")
    env = {**lab_env, "PATH": f"{lab_env['HOPS_LAB_DIR']}/bin:{lab_env['PATH']}",
           "KUBECONFIG": str(lab_layout(lab_env).cluster_dir / "kubeconfig")}

    def values(revision: int) -> dict:
        out = subprocess.run(["helm", "get", "values", "cilium", "-n", "kube-system", "--revision", str(revision),
                              "-o", "json"], env=env, capture_output=True, text=True, check=True).stdout
        return json.loads(out)

    history = subprocess.run(["helm", "history", "cilium", "-n", "kube-system"], env=env, capture_output=True,
                             text=True, check=True).stdout
    assert len(history.strip().splitlines()) == 3, history  # header + the bootstrap's install + Flux's upgrade
    assert values(1) == values(2) and values(1)["kubeProxyReplacement"] is True


def test_forget_networking_reruns_exactly_networking(doit) -> None:
    doit("bootstrap_phased")
    doit("forget", "networking")
    rerun = doit("networking")
    ran = step_tasks(rerun)
    assert ran and all(name.startswith("networking:") for name in ran), ran
    assert "networking:deploy-cilium" in ran


def test_talconfig_change_reapplies_but_never_rebootstraps(doit, project: Path, lab_env: dict) -> None:
    doit("phase2")
    talconfig = project / "talconfig.yaml"
    talconfig.write_text(talconfig.read_text().replace("installDisk: /dev/sda", "installDisk: /dev/nvme0n1", 1))
    rerun = doit("phase2")
    ran = step_tasks(rerun)
    for step in ("talos:generate-config", "talos:validate-configs", "talos:apply-configs"):
        assert step in ran, ran
    assert "talos:bootstrap-etcd" not in ran
    assert etcd_bootstraps(lab_env) == 1


def test_sigkill_at_a_random_moment_then_resume(doit, project: Path, lab_env: dict, state_dir: Path) -> None:
    doit("lab_up")
    proc = subprocess.Popen([sys.executable, "-m", "doit", "-f", str(project / "dodo.py"), "bootstrap_phased"],
                            cwd=project, env=lab_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seed = int(os.environ.get("HOPS_KILL_SEED", random.randrange(1_000_000)))
    stop_after = random.Random(seed).randrange(3, 25)  # kill after this many finished tasks
    finished = 0
    for line in proc.stdout:  # wait on doit's own output, not on time
        finished += line.startswith(".  ")
        if finished >= stop_after:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stdout.close()
    steps = step_ids_by_marker()
    assert set(ALL_MARKERS) <= set(steps), set(ALL_MARKERS) - set(steps)
    done_before = {step_id for marker, step_id in steps.items() if (state_dir / marker).exists()}
    rerun = doit("bootstrap_phased")
    for marker in ALL_MARKERS:
        assert (state_dir / marker).exists(), (marker, seed)
    assert etcd_bootstraps(lab_env) == 1, seed
    # a step whose marker was written before the kill is done; only the step in flight (marker written, doit's
    # record of it not yet) may run again
    ran_again = done_before & set(step_tasks(rerun))
    assert len(ran_again) <= 1, (sorted(ran_again), seed)


def test_injected_helm_failure_fails_once_then_resumes(doit, lab_env: dict, state_dir: Path) -> None:
    doit("lab_up", env={"HOPS_LAB_FAULTS": "fail:helm upgrade:1"})
    failed = doit("bootstrap_phased", check=False)
    assert failed.returncode != 0
    out = failed.stdout + failed.stderr
    assert "networking:deploy-cilium" in out and "injected failure" in out
    bundle = Path(re.search(r"diagnostics: (\S+)", out).group(1))
    assert "injected failure" in (bundle / "failure.txt").read_text()
    assert "helm" in (bundle / "commands.json").read_text()
    assert "kube-apiserver" in (bundle / "pods.txt").read_text()
    assert (state_dir / "phase-2-complete").exists() and not (state_dir / "phase-3-complete").exists()
    resumed = doit("bootstrap_phased")
    assert not any(name.startswith(("validation:", "talos:")) for name in step_tasks(resumed))
    assert (state_dir / "phase-6-complete").exists()


def document_leaves(values: list[str]) -> list[str]:
    """The leaf values (16+ characters) of every value that is a YAML/JSON document (the Talos bundle, the Connect
    credentials): a log line may show one leaf without its document."""
    import yaml

    def walk(data) -> list[str]:
        if isinstance(data, dict):
            return [leaf for item in data.values() for leaf in walk(item)]
        if isinstance(data, list):
            return [leaf for item in data for leaf in walk(item)]
        return [str(data)] if isinstance(data, str) and len(data) >= 16 else []

    leaves = []
    for value in values:
        try:
            leaves += walk(yaml.safe_load(value))  # JSON is YAML
        except yaml.YAMLError:
            pass
    return leaves


def test_no_secret_reaches_logs_markers_db_or_output(doit, lab_env: dict, state_dir: Path) -> None:
    result = doit("bootstrap_phased")
    secrets = vault_values(lab_env)
    assert secrets, "the lab vault should hold values"
    leaves = document_leaves(secrets)
    assert len(leaves) > 10, "the Talos bundle and the Connect credentials should be documents with leaves"
    secrets += leaves
    # hops never prints or logs a secret (secret output is not logged), so nothing needs redaction: a "[redacted]"
    # means a key or an ordinary word was registered as a secret (`Kustomization external-[redacted]: Ready=…`)
    shown = result.stdout + result.stderr + "".join(p.read_text() for p in (state_dir / "logs").glob("*.log"))
    redacted = [line for line in shown.splitlines() if "[redacted]" in line]
    assert redacted == [], "ordinary output was redacted:\n" + "\n".join(redacted)
    texts = {"stdout": result.stdout + result.stderr,
             "calls": lab_layout(lab_env).calls_file.read_text()}
    for path in state_dir.rglob("*"):
        if path.is_file() and path.suffix not in (".sqlite-wal", ".sqlite-shm"):
            texts[str(path)] = path.read_bytes().decode(errors="replace")
    with sqlite3.connect(state_dir / "doit.sqlite") as db:
        texts["doit db"] = "\n".join(str(row) for row in db.execute("select * from doit"))
    for where, text in texts.items():
        for value in secrets:
            assert value not in text, f"a 1Password value leaked into {where}"


def test_parallel_bootstrap_converges(doit, state_dir: Path, lab_env: dict) -> None:
    doit("-n", "4", "bootstrap_phased")
    for marker in ALL_MARKERS:
        assert (state_dir / marker).exists(), marker
    assert etcd_bootstraps(lab_env) == 1


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="the real kubectl is not installed here")
def test_status_shows_completion_and_live_drift(doit, lab_env: dict) -> None:
    doit("bootstrap_phased")
    table = doit("bootstrap_status", "--live").stdout
    done, total = map(int, re.search(r"(\d+)/(\d+) steps complete", table).groups())
    assert done == total and "DRIFT" not in table
    for step_id in step_ids_by_marker().values():
        status_row(table, step_id)  # every step id whole on its own row (a table cut to 120 columns lost some)
    kubeconfig = lab_layout(lab_env).cluster_dir / "kubeconfig"
    subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), "-n", "kube-system", "delete", "daemonset",
                    "cilium"], env=lab_env, check=True, capture_output=True)
    drifted = doit("bootstrap_status", "--live").stdout
    # the deleted DaemonSet is the live check of networking:deploy-cilium; a local file check cannot drift
    assert re.search(r"│\s*DRIFT: does not hold\s*│\s*$", status_row(drifted, "networking:deploy-cilium")), drifted
    assert re.search(r"│\s*ok\s*│\s*$", status_row(drifted, "talos:bootstrap-secrets")), drifted
    assert "drift found: the next `doit bootstrap_phased` re-runs the drifted steps" in drifted
