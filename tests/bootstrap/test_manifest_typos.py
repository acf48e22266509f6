"""A typo in a HelmRelease of infrastructure/, with a real doit on the lab: where hops first meets it, it fails
with one message naming the file, the object and the field (no traceback), and once the file is fixed the same
command converges.

  - a misspelt spec.chart.spec.chart and `interval: five` are caught by phase 1 (validation:repository), before
    anything is installed;
  - a typo deeper in the spec (install.remediation.retries: three) only the CRD's schema knows: phases 1-5 run,
    then Flux's dry-run is refused and phase 6 stops at once with Flux's message and the file; the diagnostics
    bundle of that failure holds the Kustomization's Warning event.
One lab for the module (copy of the project in tmp, never the repository's infrastructure/)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import converged_lab
from converged_lab import Lab

PODINFO = "infrastructure/apps/podinfo/helmrelease.yaml"
RETRIES = ('spec.install.remediation.retries: Invalid value: "string": spec.install.remediation.retries in body '
           'must be of type integer: "string"')


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = converged_lab.make(tmp_path_factory.mktemp("typos"))
    yield lab
    lab.down()


def edit(lab: Lab, change) -> str:
    """Apply change(spec) to podinfo's HelmRelease in the lab's copy; returns the original text."""
    path = lab.project / PODINFO
    original = path.read_text()
    doc = yaml.safe_load(original)
    change(doc["spec"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return original


def misspell(spec: dict) -> None:
    spec["chart"]["spec"]["chrat"] = spec["chart"]["spec"].pop("chart")
    spec["interval"] = "five"


def output(result) -> str:
    return result.stdout + result.stderr


def test_phase_1_names_the_file_object_and_fields_before_anything_is_installed(lab: Lab) -> None:
    original = edit(lab, misspell)
    failed = lab.doit("bootstrap_phased", check=False)
    text = output(failed)
    assert failed.returncode == 1, text
    assert "Traceback" not in text
    assert (f"  - {PODINFO}: HelmRelease podinfo/podinfo: spec.chart.spec.chrat is not a field of a HelmRelease "
            "(did you mean spec.chart.spec.chart?)") in text
    assert f"  - {PODINFO}: HelmRelease podinfo/podinfo: spec.chart.spec.chart is required" in text
    assert f"  - {PODINFO}: HelmRelease podinfo/podinfo: spec.interval 'five' is not a duration" in text
    assert "validation:repository" in text
    assert not (lab.dir / "clusterconfig" / "kubeconfig").exists()   # nothing was installed
    (lab.project / PODINFO).write_text(original)
    assert lab.doit("validation").returncode == 0                    # fixed: the phase converges


def test_a_typo_only_the_crd_knows_stops_phase_6_at_once_naming_the_file(lab: Lab) -> None:
    original = edit(lab, lambda spec: spec["install"]["remediation"].update(retries="three"))
    assert lab.doit("validation").returncode == 0                    # not a field phase 1 checks
    lab.doit("gitops", timeout=900)                                 # phases 1-5 converge with it
    started = time.monotonic()
    failed = lab.doit("applications", check=False, timeout=900)
    elapsed = time.monotonic() - started
    text = output(failed)
    assert failed.returncode == 1, text
    assert "Traceback" not in text
    flux = ('HelmRelease/podinfo/podinfo dry-run failed (Invalid): HelmRelease.helm.toolkit.fluxcd.io "podinfo" is '
            f'invalid: [{RETRIES}, <nil>: Invalid value: "null": some validation rules were not checked because '
            'the object was invalid; correct the existing errors to complete validation]')
    assert re.search(r"Kustomization flux-system/apps cannot apply main@sha1:[0-9a-f]+: " + re.escape(flux), text), text
    assert f"HelmRelease/podinfo/podinfo is defined in {PODINFO}" in text
    # stopped when Flux reported it, not at the phase deadline
    assert elapsed < lab_timeout(lab, "applications") / 2, elapsed

    bundle = Path(re.search(r"diagnostics: (\S+)", text).group(1))
    events = (bundle / "events.txt").read_text()
    assert f"Warning ReconciliationFailed Kustomization/apps: {flux}" in events, events

    (lab.project / PODINFO).write_text(original)
    done = lab.doit("applications", check=False, timeout=900)
    assert done.returncode == 0, output(done)
    assert (lab.state / "applications-ready").exists()


def lab_timeout(lab: Lab, group: str) -> float:
    """The phase's deadline in real seconds (bootstrap-config.yaml's timeout, run at the lab's speed)."""
    config = yaml.safe_load((lab.project / "bootstrap-config.yaml").read_text())
    return float(config["bootstrap"]["timeouts"][group])
