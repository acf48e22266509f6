"""Phase 5 with a real doit on the lab (phases 1-4 run first): converges, the GitHub token never leaves 1Password
except through flux's environment, a second run executes nothing, each live check true and false, operations."""

from __future__ import annotations

from typing import Iterator

import pytest

import converged_lab
from converged_lab import Lab
from tests.projects import executed
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

MARKERS = ("gitops-prerequisites-validated", "flux-bootstrapped", "flux-ready", "gitops-sync-verified",
           "phase-5-complete")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("gitops"))
    first = lab.doit("gitops", timeout=600)
    lab.first_run = first  # type: ignore[attr-defined]
    yield lab
    lab.down()


def _token(lab: Lab) -> str:
    done = lab.tool("op", "read", "--no-newline", "op://homelab/github-token/token", "--account", "my.1password.com")
    assert done.returncode == 0 and done.stdout, done.stderr
    return done.stdout


def test_converges_with_every_marker_and_the_bootstrap_flags(lab: Lab) -> None:
    for marker in MARKERS:
        assert (lab.state / marker).exists(), marker
    boots = [c["argv"] for c in read_calls(LabLayout(lab.dir), "flux") if c["argv"][:2] == ["bootstrap", "github"]]
    assert len(boots) == 1
    assert boots[0][2:] == ["--owner", "example-homelab", "--repository", "home-ops", "--branch", "main", "--path",
                            "infrastructure/clusters/home-ops", "--namespace", "flux-system", "--timeout", "600s",
                            "--personal"]


def test_token_appears_nowhere(lab: Lab) -> None:
    token = _token(lab)
    assert token not in (lab.dir / "calls.jsonl").read_text()
    assert token not in lab.first_run.stdout + lab.first_run.stderr  # type: ignore[attr-defined]
    for path in lab.state.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path


def test_second_run_executes_nothing(lab: Lab) -> None:
    assert executed(lab.doit("gitops")) == []


def test_status_and_reconcile_operations(lab: Lab) -> None:
    out = lab.doit("gitops_status").stdout
    assert "kustomization/flux-system" in out and "gitrepository/flux-system" in out
    assert "applied revision main@sha1:" in lab.doit("gitops_reconcile").stdout


def validate_lines(lab: Lab, check: bool = True) -> list[str]:
    """`doit validate_phase --phase 5`: one line per check, `OK  |FAIL <step>: <check> — <reason>`."""
    result = lab.doit("validate_phase", "--phase", "5", check=check)
    assert check or result.returncode != 0, result.stdout
    return result.stdout.splitlines()


SYNC_OK = "OK   gitops:sync: flux-system applied the current revision — "
SYNC_FAIL = "FAIL gitops:sync: flux-system applied the current revision — "
CONFIGURED_OK = "OK   gitops:bootstrap: flux-system syncs the configured repository — "
CONFIGURED_FAIL = "FAIL gitops:bootstrap: flux-system syncs the configured repository — "
INSTALLED_OK = "OK   gitops:bootstrap: Flux controllers installed — "
INSTALLED_FAIL = "FAIL gitops:bootstrap: Flux controllers installed — "
AVAILABLE_OK = "OK   gitops:ready: Flux controllers available — "
AVAILABLE_FAIL = "FAIL gitops:ready: Flux controllers available — "


def said(lines: list[str], prefix: str) -> bool:
    """A `validate_phase` line `OK  |FAIL <step>: <check> — <what the check saw>` with this prefix and a reason."""
    return any(line.startswith(prefix) and line[len(prefix):].strip() for line in lines)


def test_live_checks_false_then_true(lab: Lab) -> None:
    assert said(validate_lines(lab), SYNC_OK)
    lab.doit("gitops_suspend", "--name", "flux-system")
    (lab.project / "infrastructure" / "apps" / "podinfo" / "note.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: note, namespace: podinfo}\ndata: {a: '1'}\n")
    lab.doit("gitops_reconcile", check=False)  # the source fetches the new revision; the suspended ks does not
    failed = validate_lines(lab, check=False)
    assert said(failed, SYNC_FAIL), failed
    lab.doit("gitops_resume", "--name", "flux-system")
    deleted = lab.tool("kubectl", "-n", "flux-system", "delete", "deployment", "notification-controller")
    assert deleted.returncode == 0, deleted.stderr
    failed = validate_lines(lab, check=False)
    assert said(failed, AVAILABLE_FAIL) and said(failed, INSTALLED_FAIL), failed
    assert said(failed, CONFIGURED_OK), failed  # of gitops:bootstrap's two checks, only "installed" fails
    again = lab.doit("gitops", timeout=600)
    assert "gitops:bootstrap" in executed(again)  # a deleted controller is re-installed by flux bootstrap
    assert said(validate_lines(lab), AVAILABLE_OK)


def test_sync_pointed_elsewhere_fails_then_bootstrap_restores_it(lab: Lab) -> None:
    """The flux-system GitRepository following another branch than bootstrap-config.yaml's: gitops:bootstrap's
    "configured repository" check fails (and only it), and the next run's `flux bootstrap` points it back."""
    def branch() -> str:
        got = lab.tool("kubectl", "-n", "flux-system", "get", "gitrepository", "flux-system", "-o",
                       "jsonpath={.spec.ref.branch}")
        assert got.returncode == 0, got.stderr
        return got.stdout

    assert branch() == "main" and said(validate_lines(lab), CONFIGURED_OK)
    patched = lab.tool("kubectl", "-n", "flux-system", "patch", "gitrepository", "flux-system", "--type", "merge",
                       "-p", '{"spec":{"ref":{"branch":"elsewhere"}}}')
    assert patched.returncode == 0, patched.stderr
    failed = validate_lines(lab, check=False)
    assert said(failed, CONFIGURED_FAIL) and said(failed, INSTALLED_OK), failed
    assert said(failed, AVAILABLE_OK), failed
    again = lab.doit("gitops", timeout=600)
    assert "gitops:bootstrap" in executed(again), again.stdout
    assert branch() == "main"
    lines = validate_lines(lab)
    assert said(lines, CONFIGURED_OK) and said(lines, SYNC_OK), lines
