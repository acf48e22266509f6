"""Contract tests: a typo in a HelmRelease is refused by the lab's API in the real apiserver's words, through real
kubectl (client-side and server-side apply) and the Python client, and the lab's kustomize-controller reports it
on the Kustomization the way Flux does (Ready=False ReconciliationFailed, a Warning event, nothing applied).

The texts are kube-apiserver's: the HelmRelease v2 CRD's `interval` is a string with
`pattern: ^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$`, `chart.spec` requires `chart` and `sourceRef`, and the spec carries
the CEL rule "either chart or chartRef must be set" (so a blocking error adds the 'rules not checked' cause).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kube_lab import KubeLab
from kubernetes import client
from kubernetes.client.rest import ApiException

from hops.lab import crd_schemas, helm_releases
from hops.lab.apiserver import cel
from hops.lab.charts import lookup
from hops.lab.readiness import condition
from tests.lab.apiserver_fixtures import api_client, kubectl, server, status_body, store  # noqa: F401
from tests.lab.test_flux import BOOTSTRAP, TOKEN, install_cni
from tests.projects import copy_project

HR = "helm.toolkit.fluxcd.io/v2"
KS = "kustomize.toolkit.fluxcd.io/v1"
INTERVAL = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
NOT_CHECKED = ('<nil>: Invalid value: "null": some validation rules were not checked because the object was '
               'invalid; correct the existing errors to complete validation')
INVALID = 'HelmRelease.helm.toolkit.fluxcd.io "podinfo" is invalid: '
BAD_INTERVAL = f"spec.interval: Invalid value: \"five\": spec.interval in body should match '{INTERVAL}'"


def podinfo() -> dict:
    return {"apiVersion": HR, "kind": "HelmRelease", "metadata": {"name": "podinfo", "namespace": "podinfo"},
            "spec": {"interval": "30m", "chart": {"spec": {
                "chart": "podinfo", "version": "6.7.1",
                "sourceRef": {"kind": "HelmRepository", "name": "podinfo", "namespace": "flux-system"}}}}}


def misspelt_chart() -> dict:
    doc = podinfo()
    chart = doc["spec"]["chart"]["spec"]
    chart["chrat"] = chart.pop("chart")
    return doc


def bad_interval() -> dict:
    doc = podinfo()
    doc["spec"]["interval"] = "five"
    return doc


@pytest.fixture
def crds(store):
    applied = helm_releases.upgrade_install(store, "flux", "flux-system", lookup("flux2"), {}, create_namespace=True)
    helm_releases.finish(store, applied)
    store.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "podinfo"}})
    return store


def stored(store) -> dict | None:
    return store.get(HR, "HelmRelease", "podinfo", "podinfo")


# ------------------------------------------------------------------------------------------------ kubectl

def test_kubectl_client_side_apply(kubectl, crds):
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(bad_interval()), check=False)
    assert refused.returncode == 1
    # kubectl words a 422 with causes itself, from the Status details (kind, name, causes)
    assert refused.stderr == f'The HelmRelease "podinfo" is invalid: {BAD_INTERVAL}\n'
    # kubectl's default --validate=strict: the unknown field is refused before the schema is checked
    refused = kubectl("apply", "-f", "-", input=yaml.safe_dump(misspelt_chart()), check=False)
    assert refused.returncode == 1
    assert ('Error from server (BadRequest): error when creating "STDIN": HelmRelease in version "v2" cannot be '
            'handled as a HelmRelease: strict decoding error: unknown field "spec.chart.spec.chrat"') in refused.stderr
    # --validate=warn: the field is dropped with a warning, and the missing required one is refused
    warned = kubectl("apply", "--validate=warn", "-f", "-", input=yaml.safe_dump(misspelt_chart()), check=False)
    assert warned.returncode == 1
    assert 'Warning: unknown field "spec.chart.spec.chrat"' in warned.stderr
    assert ('The HelmRelease "podinfo" is invalid: \n* spec.chart.spec.chart: Required value\n'
            f'* {NOT_CHECKED}\n') in warned.stderr
    assert stored(crds) is None
    created = kubectl("apply", "-f", "-", input=yaml.safe_dump(podinfo()))
    assert created.stdout.strip() == "helmrelease.helm.toolkit.fluxcd.io/podinfo created"
    assert stored(crds)["spec"]["chart"]["spec"]["chart"] == "podinfo"


def test_kubectl_server_side_apply(kubectl, crds):
    refused = kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(bad_interval()), check=False)
    assert refused.returncode == 1
    assert refused.stderr == f'The HelmRelease "podinfo" is invalid: {BAD_INTERVAL}\n'
    refused = kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(misspelt_chart()), check=False)
    assert refused.returncode == 1
    assert ("failed to create typed patch object (podinfo/podinfo; helm.toolkit.fluxcd.io/v2, Kind=HelmRelease): "
            ".spec.chart.spec.chrat: field not declared in schema") in refused.stderr
    assert stored(crds) is None
    applied = kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(podinfo()))
    assert applied.stdout.strip() == "helmrelease.helm.toolkit.fluxcd.io/podinfo serverside-applied"
    assert stored(crds) is not None


# ------------------------------------------------------------------------------------------ Python client

def create(api_client, body: dict) -> dict:
    return client.CustomObjectsApi(api_client).create_namespaced_custom_object(
        "helm.toolkit.fluxcd.io", "v2", "podinfo", "helmreleases", body)


def refusal(api_client, body: dict) -> dict:
    with pytest.raises(ApiException) as info:
        create(api_client, body)
    assert info.value.status == 422
    return status_body(info.value)


def test_python_client_gets_the_invalid_status_with_its_causes(api_client, crds):
    status = refusal(api_client, bad_interval())
    assert (status["reason"], status["message"]) == ("Invalid", INVALID + BAD_INTERVAL)
    assert status["details"]["causes"] == [{"reason": "FieldValueInvalid", "field": "spec.interval", "message":
                                            f"Invalid value: \"five\": spec.interval in body should match '{INTERVAL}'"}]
    # no fieldValidation sent: Warn, the unknown field is pruned and the required one is missing
    status = refusal(api_client, misspelt_chart())
    assert status["message"] == f"{INVALID}[spec.chart.spec.chart: Required value, {NOT_CHECKED}]"
    assert [c["field"] for c in status["details"]["causes"]] == ["spec.chart.spec.chart", "<nil>"]
    assert stored(crds) is None
    assert create(api_client, podinfo())["metadata"]["generation"] == 1


def test_the_cel_rule_chart_or_chartref(api_client, crds):
    neither = podinfo()
    del neither["spec"]["chart"]
    status = refusal(api_client, neither)
    assert status["message"] == f'{INVALID}spec: Invalid value: "object": either chart or chartRef must be set'
    both = podinfo()
    both["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "podinfo"}
    assert refusal(api_client, both)["message"] == status["message"]
    only_ref = podinfo()
    del only_ref["spec"]["chart"]
    only_ref["spec"]["chartRef"] = {"kind": "OCIRepository", "name": "podinfo"}
    assert create(api_client, only_ref)["spec"]["chartRef"]["name"] == "podinfo"


def _rules(node: object) -> list[str]:
    if isinstance(node, dict):
        own = [r["rule"] for r in node.get("x-kubernetes-validations") or []]
        return own + [rule for value in node.values() for rule in _rules(value)]
    return [rule for value in node for rule in _rules(value)] if isinstance(node, list) else []


def test_every_rule_the_lab_declares_is_evaluated():
    rules = _rules(list(crd_schemas.SCHEMAS.values()))
    assert rules, "the HelmRelease CRD declares its CEL rule"
    assert all(cel.compile_rule(rule) is not None for rule in rules)
    assert cel.compile_rule("self.size() > 2") is None           # outside the subset: not evaluated
    assert cel.compile_rule("has(self.a) &&") is None


# ----------------------------------------------------------------------------------- kustomize-controller

@pytest.fixture
def flux_lab(tmp_path: Path):
    project = copy_project(tmp_path)
    lab = KubeLab(tmp_path, root=project).start()
    lab.add_nodes(3)
    yield lab
    lab.close()


def _write_app(folder: Path, release: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "namespace.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "podinfo"}}))
    (folder / "config.yaml").write_text(yaml.safe_dump(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "podinfo-extra", "namespace": "podinfo"},
         "data": {"a": "1"}}))
    path = folder / "helmrelease.yaml"
    path.write_text(yaml.safe_dump(release))
    return path


def _failure(lab: KubeLab) -> dict:
    def failed() -> dict | None:
        ks = lab.store.get(KS, "Kustomization", "typo", "flux-system")
        return ks if ks and (condition(ks, "Ready") or {}).get("reason") == "ReconciliationFailed" else None
    return lab.wait_for(failed, what="the Kustomization's failure")


def test_kustomize_controller_reports_the_dry_run_failure(flux_lab: KubeLab):
    project = flux_lab.root
    cluster = project / "clusters/typo"
    cluster.mkdir(parents=True)
    (cluster / "typo.yaml").write_text(yaml.safe_dump({
        "apiVersion": KS, "kind": "Kustomization", "metadata": {"name": "typo", "namespace": "flux-system"},
        "spec": {"interval": "10m", "retryInterval": "1m", "path": "./apps/typo", "prune": True,
                 "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}}))
    release = _write_app(project / "apps/typo", bad_interval())
    install_cni(flux_lab)
    done = flux_lab.run("flux", *BOOTSTRAP, "--path", "clusters/typo", GITHUB_TOKEN=TOKEN)
    assert done.returncode == 0, done.stderr
    ks = _failure(flux_lab)
    ready = condition(ks, "Ready")
    assert ready["status"] == "False"
    assert ready["message"] == f"HelmRelease/podinfo/podinfo dry-run failed (Invalid): {INVALID}{BAD_INTERVAL}"
    assert ks["status"]["observedGeneration"] == ks["metadata"]["generation"]
    assert ks["status"]["lastAttemptedRevision"].startswith("main@sha1:")
    # the namespace stage went through; the stage holding the refused object was not applied at all
    assert flux_lab.store.get("v1", "Namespace", "podinfo") is not None
    assert flux_lab.store.get("v1", "ConfigMap", "podinfo-extra", "podinfo") is None
    assert flux_lab.store.get(HR, "HelmRelease", "podinfo", "podinfo") is None
    warning = flux_lab.wait_for(lambda: next(
        (e for e in flux_lab.store.list("v1", "Event", "flux-system")
         if e["involvedObject"].get("kind") == "Kustomization" and e["involvedObject"]["name"] == "typo"
         and e["reason"] == "ReconciliationFailed"), None), what="the Warning event")
    assert (warning["type"], warning["message"], warning["source"]["component"]) == \
        ("Warning", ready["message"], "kustomize-controller")

    # the unknown field, as kustomize-controller's server-side apply dry-run meets it
    release.write_text(yaml.safe_dump(misspelt_chart()))
    out = flux_lab.run("flux", "reconcile", "ks", "typo", "--with-source")
    assert out.returncode != 0
    ks = _failure(flux_lab)
    assert condition(ks, "Ready")["message"] == (
        "HelmRelease/podinfo/podinfo dry-run failed: failed to create typed patch object (podinfo/podinfo; "
        "helm.toolkit.fluxcd.io/v2, Kind=HelmRelease): .spec.chart.spec.chrat: field not declared in schema")

    # fixed: the whole folder is applied
    release.write_text(yaml.safe_dump(podinfo()))
    out = flux_lab.run("flux", "reconcile", "ks", "typo", "--with-source")
    assert out.returncode == 0, out.stdout + out.stderr
    ks = flux_lab.store.get(KS, "Kustomization", "typo", "flux-system")
    assert condition(ks, "Ready")["reason"] == "ReconciliationSucceeded"
    assert flux_lab.store.get("v1", "ConfigMap", "podinfo-extra", "podinfo") is not None
    assert flux_lab.store.get(HR, "HelmRelease", "podinfo", "podinfo")["spec"]["interval"] == "30m"

