"""Phase 2 (talos) on the lab with a real doit: converge, idempotence, the once-only etcd bootstrap, re-runs on
configuration change, --insecure only in maintenance mode, live checks true and false, and a refused reset."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.projects import executed
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

PHASE2_MARKERS = ("secrets-bootstrapped", "configs-generated", "configs-validated", "configs-applied",
                  "nodes-ready", "etcd-bootstrapped", "cluster-ready", "health-verified", "phase-2-complete")
NODES = ("talos-cp-1", "talos-cp-2", "talos-cp-3")


@pytest.fixture
def lab(lab_env: dict) -> Path:
    return Path(lab_env["HOPS_LAB_DIR"])


def talosctl_calls(lab: Path, verb: str) -> list[list[str]]:
    return [c["argv"] for c in read_calls(LabLayout(lab), "talosctl") if c["argv"] and c["argv"][0] == verb]


def bootstrap_calls(lab: Path) -> int:
    return sum(1 for c in read_calls(LabLayout(lab), "talosctl") if "bootstrap" in c["argv"])


def core_api(lab: Path):
    from kubernetes import client, config

    return client.CoreV1Api(config.new_client_from_config(config_file=str(lab / "clusterconfig" / "kubeconfig")))


def vault_values(lab: Path) -> set[str]:
    """Every field value in the lab's vault, and each long line of multi-line values (the secrets bundle)."""
    data = json.loads((lab / "op" / "vault.json").read_text())
    values: set[str] = set()
    for vault in data["vaults"]:
        for item in vault["items"]:
            for field in item.get("fields", []):
                value = str(field.get("value") or "")
                values |= {value} | {line.strip() for line in value.splitlines() if len(line.strip()) >= 20}
    return {v for v in values if len(v) >= 8}


def state_texts(state_dir: Path) -> dict[str, str]:
    return {str(p): p.read_bytes().decode(errors="replace") for p in state_dir.rglob("*") if p.is_file()}


def test_converges_once_keeps_secrets_private_then_skips(project, doit, lab: Path, state_dir: Path) -> None:
    first = doit("talos")
    for marker in PHASE2_MARKERS:
        assert (state_dir / marker).exists(), marker
    assert bootstrap_calls(lab) == 1
    bootstrap = talosctl_calls(lab, "bootstrap")[0]
    assert bootstrap[bootstrap.index("-n") + 1] == bootstrap[bootstrap.index("-e") + 1] == "172.29.51.11"
    assert sorted(n.metadata.name for n in core_api(lab).list_node().items) == list(NODES)
    # every node was in maintenance mode: each first apply is --insecure
    applies = talosctl_calls(lab, "apply-config")
    assert len(applies) == 3 and all("--insecure" in argv for argv in applies)

    titles = [i["title"] for v in json.loads((lab / "op" / "vault.json").read_text())["vaults"] for i in v["items"]]
    assert "talos-secrets" in titles
    local = lab / "clusterconfig" / "talsecret.yaml"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert (lab / "clusterconfig" / ".gitignore").read_text() == "*\n"
    assert stat.S_IMODE((lab / "clusterconfig" / "kubeconfig").stat().st_mode) == 0o600
    secrets = vault_values(lab)
    bundle = yaml.safe_load(local.read_text())
    assert bundle["trustdinfo"]["token"] in secrets | {line.split(": ", 1)[-1] for line in secrets}
    texts = {**state_texts(state_dir), "doit stdout": first.stdout + first.stderr}
    leaks = [(name, value[:12]) for name, text in texts.items() for value in secrets if value in text]
    assert leaks == []

    second = doit("talos")
    assert executed(second) == []
    assert bootstrap_calls(lab) == 1
    assert not (project / "clusterconfig").exists()   # lab mode writes nothing into the project

    refused = doit("talos_reset", check=False)              # no --yes, no terminal
    assert refused.returncode != 0
    assert "cancelled: nothing was changed" in refused.stdout + refused.stderr
    assert talosctl_calls(lab, "reset") == []
    assert all((state_dir / marker).exists() for marker in PHASE2_MARKERS)


def test_forget_reapplies_securely_without_second_bootstrap(project, doit, lab: Path, state_dir: Path,
                                                            lab_env: dict) -> None:
    doit("talos")
    first_applies = len(talosctl_calls(lab, "apply-config"))
    doit("forget", "talos")
    again = doit("talos")
    ran = executed(again)
    for step in ("talos:bootstrap-secrets", "talos:generate-config", "talos:apply-configs", "talos:bootstrap-etcd"):
        assert step in ran
    assert "already done (checked the cluster)" in again.stdout
    assert bootstrap_calls(lab) == 1
    reapplies = talosctl_calls(lab, "apply-config")[first_applies:]
    assert len(reapplies) == 3
    assert all("--insecure" not in argv and "--talosconfig" in argv for argv in reapplies)
    # the secrets came back from 1Password: gensecret ran only once
    assert len([c for c in read_calls(LabLayout(lab), "talhelper") if c["argv"][:1] == ["gensecret"]]) == 1

    (state_dir / "etcd-bootstrapped").unlink()
    doit("forget", "talos:bootstrap-etcd")
    third = doit("talos")
    assert "talos:bootstrap-etcd" in executed(third)
    assert bootstrap_calls(lab) == 1

    # a kill right after `talosctl bootstrap` (before the marker) may repeat the call only while etcd shows no
    # member yet; then the exact AlreadyExists answer counts as done
    script = ("from hops import context; from hops.components import talos; "
              "talos.bootstrap_etcd(context.current()); print('OK')")
    done = subprocess.run([sys.executable, "-c", script], cwd=project,
                          env={**lab_env, "HOPS_ROOT": str(project)}, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert "answered AlreadyExists" in done.stdout and "OK" in done.stdout


def test_talconfig_change_regenerates_and_reapplies_but_never_rebootstraps(project, doit, lab: Path) -> None:
    doit("talos")
    talconfig = project / "talconfig.yaml"
    text = talconfig.read_text()
    marker = "${NODE_2_IP:-172.29.51.12}\n    controlPlane: true\n    installDisk: /dev/sda"
    assert marker in text
    talconfig.write_text(text.replace(marker, marker.replace("/dev/sda", "/dev/sdb")))
    run = doit("talos")
    ran = executed(run)
    for step in ("talos:generate-config", "talos:validate-configs", "talos:apply-configs"):
        assert step in ran
    assert "talos:bootstrap-etcd" not in ran
    assert bootstrap_calls(lab) == 1
    cp2 = yaml.safe_load((lab / "clusterconfig" / "home-ops-talos-cp-2.yaml").read_text())
    assert cp2["machine"]["install"]["disk"] == "/dev/sdb"
    assert executed(doit("talos")) == []


def test_validate_reports_every_failing_node(project, doit) -> None:
    talconfig = project / "talconfig.yaml"
    text = talconfig.read_text()
    for ip in ("NODE_2_IP:-172.29.51.12", "NODE_3_IP:-172.29.51.13"):
        block = "${" + ip + "}\n    controlPlane: true\n    installDisk: /dev/sda\n"
        text = text.replace(block, "${" + ip + "}\n    controlPlane: true\n")
    talconfig.write_text(text)
    result = doit("talos:validate-configs", check=False)
    assert result.returncode == 1
    assert "talos-cp-2 (home-ops-talos-cp-2.yaml)" in result.stdout
    assert "talos-cp-3 (home-ops-talos-cp-3.yaml)" in result.stdout
    assert "install disk" in result.stdout and "talos-cp-1 (" not in result.stdout


def false_uptodate(info: str) -> list[str]:
    """The up-to-date checks `doit info` lists as not holding (`    - <status 'check' of step>`)."""
    heading = " * These up-to-date checks do not hold:"  # hops.info_reasons' wording of doit's list
    lines = info.splitlines()
    if heading not in lines:
        return []
    start = lines.index(heading) + 1
    found = []
    for line in lines[start:]:
        if not line.startswith("    - "):
            break
        found.append(line[len("    - "):].split(" (args=")[0])
    return found


def assert_up_to_date(doit, step: str) -> None:
    info = doit("info", step, check=False)
    assert info.returncode == 0 and re.search(r"^status +: up-to-date$", info.stdout, re.M), info.stdout
    assert false_uptodate(info.stdout) == [], info.stdout


def assert_check_fails(doit, step: str, check: str) -> None:
    """`doit info` says the step would run because of exactly this live check (not doit's own records)."""
    info = doit("info", step, check=False)
    assert info.returncode == 1 and re.search(r"^status +: run$", info.stdout, re.M), info.stdout
    assert false_uptodate(info.stdout) == [f"<status {check!r} of {step}>"], info.stdout


def test_live_checks_hold_and_fail(project, doit, lab: Path) -> None:
    doit("talos")
    for step in ("talos:bootstrap-secrets", "talos:cluster-ready", "talos:health"):
        assert_up_to_date(doit, step)

    local = lab / "clusterconfig" / "talsecret.yaml"
    os.chmod(local, 0o644)
    assert_check_fails(doit, "talos:bootstrap-secrets", "local secrets copy is private")
    run = doit("talos:bootstrap-secrets")
    assert "talos:bootstrap-secrets" in executed(run)
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert_up_to_date(doit, "talos:bootstrap-secrets")

    api = core_api(lab)
    api.delete_namespaced_pod("kube-scheduler-talos-cp-3", "kube-system")
    assert_check_fails(doit, "talos:health", "etcd and control-plane pods healthy")
    api.delete_node("talos-cp-2")
    assert_check_fails(doit, "talos:cluster-ready", "kubeconfig present and every node registered")


def test_reset_with_yes_wipes_and_talos_reconverges(project, doit, lab: Path, state_dir: Path) -> None:
    doit("talos")
    doit("talos_reset", "--yes")
    assert len(talosctl_calls(lab, "reset")) == 3
    assert not (state_dir / "etcd-bootstrapped").exists()
    run = doit("talos")
    assert "talos:bootstrap-etcd" in executed(run)
    assert bootstrap_calls(lab) == 2          # a wiped cluster is bootstrapped anew, once
    applies = talosctl_calls(lab, "apply-config")[3:]
    assert len(applies) == 3 and all("--insecure" in argv for argv in applies)
    status = doit("talos_status").stdout
    for node in NODES:
        row = next(line for line in status.splitlines() if node in line)
        cells = [c.strip() for c in row.strip("│ ").split("│")]
        assert cells[3:6] == ["yes", "running (ready)", "yes"], row
        assert cells[6] in ("NotReady", "Ready"), row
