"""Phase 4 (core services) on the lab with a real doit: converge, no vault value anywhere hops writes, live checks
true and false, version-1 Connect credentials refused before any helm call, and a parallel (-n 3) run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.projects import executed

from hops.components import services
from hops.context import Context
from hops.lab import vault
from hops.lab.layout import LabLayout

MARKERS = ("onepassword-credentials-verified", "external-secrets-deployed", "external-secrets-validated",
           "onepassword-connect-secrets-created", "onepassword-connect-deployed", "onepassword-connect-ready",
           "onepassword-connect-validated", "longhorn-deployed", "longhorn-validated", "phase-4-complete")


@pytest.fixture(autouse=True)
def _lab_dir(lab_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lab layout (used by in-process checks and the vault) reads HOPS_LAB_DIR from the environment."""
    monkeypatch.setenv("HOPS_LAB_DIR", lab_env["HOPS_LAB_DIR"])


def ctx_for(project: Path, lab_env: dict) -> Context:
    return Context(project, lab_env)


def vault_values(lab_env: dict) -> list[str]:
    data = vault.load(_layout(lab_env))
    return [f["value"] for v in data["vaults"] for i in v["items"] for f in i["fields"] if len(f["value"]) >= 6]


def _layout(lab_env: dict) -> LabLayout:
    return LabLayout(Path(lab_env["HOPS_LAB_DIR"]))


def files_under(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file()]


def helm_calls(lab_env: dict) -> list[list[str]]:
    lines = Path(lab_env["HOPS_LAB_DIR"], "calls.jsonl").read_text().splitlines()
    return [c["argv"] for c in map(json.loads, lines) if c["tool"] == "helm" and c["argv"][:1] == ["upgrade"]]


def set_credentials_version(lab_env: dict, project: Path, version: str) -> None:
    title = "1password-connect-credentials"
    with vault.editing(_layout(lab_env)) as data:
        item = next(i for v in data["vaults"] for i in v["items"] if i["title"] == title)
        field = vault.find_field(item, "credentials")
        field["value"] = json.dumps({**json.loads(field["value"]), "version": version})


def test_converges_keeps_secrets_out_and_checks_hold_then_break(doit, project: Path, lab_env: dict,
                                                               state_dir: Path) -> None:
    first = doit("services")
    for marker in MARKERS:
        assert (state_dir / marker).exists(), marker
    assert executed(doit("services")) == []
    status = doit("services_status")
    logs = doit("services_logs")
    assert "ClusterSecretStore onepassword: Ready=True" in status.stdout
    assert "== onepassword-connect (onepassword-connect)" in logs.stdout

    secrets = vault_values(lab_env)
    assert secrets
    outputs = first.stdout + first.stderr + status.stdout + logs.stdout
    for path in files_under(state_dir):  # logs, markers, the doit DB, diagnostics
        outputs += path.read_bytes().decode(errors="replace")
    leaked = [s[:12] for s in secrets if s in outputs]
    assert not leaked, f"vault values found in output/state: {leaked}"

    ctx = ctx_for(project, lab_env)
    checks = (services.external_secrets_installed, services.external_secrets_healthy, services.connect_secrets_exist,
              services.connect_installed, services.connect_available, services.stores_ready,
              services.longhorn_installed, services.longhorn_healthy)
    for check in checks:
        assert check(ctx), check.__name__
    ctx.kube.delete("ClusterSecretStore", "onepassword")
    ctx.kube.delete("Secret", "onepassword-connect-token", "onepassword-connect")
    ctx.kube.delete("Deployment", "onepassword-connect", "onepassword-connect")
    ctx.kube.delete("Deployment", "external-secrets-webhook", "external-secrets")
    ctx.kube.delete("DaemonSet", "longhorn-manager", "longhorn-system")
    ctx.kube.delete("StorageClass", "longhorn")
    broken = ctx_for(project, lab_env)
    for check in checks:
        assert not check(broken), f"{check.__name__} still holds after its objects were deleted"

    ran = executed(doit("services"))
    assert {"services:external-secrets", "services:connect-secrets", "services:connect",
            "services:connect-validated", "services:longhorn"} <= set(ran)
    assert "services:connect-credentials" not in ran
    fresh = ctx_for(project, lab_env)
    for check in checks:
        assert check(fresh), check.__name__


def test_version1_credentials_refused_before_helm_then_parallel_run(doit, project: Path, lab_env: dict,
                                                                   state_dir: Path) -> None:
    doit("networking")
    upgrades_before = len(helm_calls(lab_env))
    set_credentials_version(lab_env, project, "1")
    failed = doit("services", check=False)
    assert failed.returncode != 0
    out = failed.stdout + failed.stderr
    assert "services:connect-credentials" in out
    assert "1Password Connect requires version 2" in out and "'1password-connect-credentials'" in out
    assert len(helm_calls(lab_env)) == upgrades_before  # nothing was deployed
    assert all(s not in out for s in vault_values(lab_env))

    set_credentials_version(lab_env, project, "2")
    doit("-n", "3", "services")
    for marker in MARKERS:
        assert (state_dir / marker).exists(), marker
    assert services.stores_ready(ctx_for(project, lab_env))
    assert services.longhorn_healthy(ctx_for(project, lab_env))
