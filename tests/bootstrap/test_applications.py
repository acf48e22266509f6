"""Phase 6 and the full run with a real doit on the lab: `doit bootstrap_phased` converges (talosctl bootstrap
called once), every Kustomization/HelmRelease Ready, a second run executes nothing, live checks true and false,
cluster_health, and a permanently blocked podinfo fails applications:ready at its deadline naming podinfo."""

from __future__ import annotations

import re
from typing import Iterator

import pytest

import converged_lab
from converged_lab import Lab
from tests.projects import executed
from hops.lab.layout import LabLayout
from hops.lab.tools.common import read_calls

MARKERS = ("infrastructure-ready", "applications-deployed", "applications-ready", "phase-6-complete")
KS = "kustomizations.kustomize.toolkit.fluxcd.io"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("apps"))
    lab.doit("bootstrap_phased", timeout=900)
    yield lab
    lab.down()


def test_full_run_converges_once(lab: Lab) -> None:
    for marker in MARKERS:
        assert (lab.state / marker).exists(), marker
    boots = [c for c in read_calls(LabLayout(lab.dir), "talosctl") if "bootstrap" in c["argv"]]
    assert len(boots) == 1
    table = lab.tool("flux", "get", "all", "-A")
    rows = [line.split("\t") for line in table.stdout.splitlines() if line.startswith(("flux-system", "podinfo"))]
    assert rows and all(r[4].strip() == "True" for r in rows if len(r) > 4), table.stdout
    assert executed(lab.doit("applications")) == []
    health = lab.doit("cluster_health").stdout
    assert "no problems" in health and "nodes: 3/3 Ready" in health
    assert "0 problems" in lab.doit("applications_health").stdout


# `doit validate_phase` lines: `OK  |FAIL <step>: <check> — <reason>`
INFRASTRUCTURE_OK = "OK   applications:infrastructure: infrastructure Kustomizations Ready — "
INFRASTRUCTURE_FAIL = "FAIL applications:infrastructure: infrastructure Kustomizations Ready — "
DEPLOY_FAIL = "FAIL applications:deploy: apps applied the current revision — "
READY_FAIL = "FAIL applications:ready: every Flux object Ready and workload available — "


def said(lines: list[str], prefix: str) -> bool:
    """A `validate_phase` line `OK  |FAIL <step>: <check> — <what the check saw>` with this prefix and a reason."""
    return any(line.startswith(prefix) and line[len(prefix):].strip() for line in lines)


def test_live_checks_false_then_true(lab: Lab) -> None:
    assert lab.tool("kubectl", "-n", "flux-system", "patch", KS, "apps", "--type", "merge", "-p",
                    '{"spec":{"suspend":true}}').returncode == 0
    failed = lab.doit("validate_phase", "--phase", "6", check=False).stdout.splitlines()
    assert said(failed, DEPLOY_FAIL) and said(failed, READY_FAIL), failed
    assert said(failed, INFRASTRUCTURE_OK), failed
    assert lab.tool("kubectl", "-n", "flux-system", "patch", KS, "longhorn", "--type", "merge", "-p",
                    '{"spec":{"suspend":true}}').returncode == 0
    failed = lab.doit("validate_phase", "--phase", "6", check=False).stdout.splitlines()
    assert said(failed, INFRASTRUCTURE_FAIL), failed
    unhealthy = lab.doit("cluster_health", check=False)
    assert unhealthy.returncode != 0 and "Kustomization flux-system/longhorn: suspended" in unhealthy.stdout
    text = unhealthy.stdout + unhealthy.stderr  # the problem is listed once, first; the failure only counts them
    assert text.count("Kustomization flux-system/longhorn: suspended") == 1 and "problem(s), listed above" in text
    for name in ("apps", "longhorn"):
        lab.tool("kubectl", "-n", "flux-system", "patch", KS, name, "--type", "merge", "-p",
                 '{"spec":{"suspend":false}}')
    lab.doit("applications", timeout=600)  # resumed: Flux heals it; the steps re-run only if still drifted
    assert "FAIL" not in lab.doit("validate_phase", "--phase", "6").stdout


def test_blocked_podinfo_fails_at_the_deadline_naming_it(lab: Lab) -> None:
    lab.fault("block:podinfo")
    assert lab.tool("kubectl", "-n", "podinfo", "delete", "helmrelease", "podinfo").returncode == 0
    lab.set_timeout("applications", 5)
    lab.doit("forget", "applications:deploy", "applications:ready")
    failed = lab.doit("applications", check=False, timeout=300)
    text = failed.stdout + failed.stderr
    assert failed.returncode != 0
    assert "applications:ready" in text and "timed out waiting for" in text
    # Flux alternates HealthCheckFailed and a new Progressing attempt (retryInterval): either is the named condition
    assert re.search(r"not ready:\n  - Kustomization flux-system/apps: Ready=(False|Unknown) "
                     r"(HealthCheckFailed|Progressing): \S", text), text
    assert "HelmRelease podinfo/podinfo: " in text and "Deployment podinfo/podinfo: 0/2 replicas available" in text
    assert "proceeding anyway" not in text
