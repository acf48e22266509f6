"""Phase 6's steps in-process: which Kustomizations each step waits for (read from the cluster folder of the
copied project), what it writes, that it changes nothing on a converged cluster, every failure message it can give,
and each live check true and false."""

from __future__ import annotations

import pytest

from hops.components import applications
from hops.errors import StepError, WaitTimeout
from tests.steps.harness import World
from tests.steps.objects_f1 import run_step
from tests.steps.objects_late_phases import (
    CLUSTER_PATH,
    FLUX_NS,
    INFRASTRUCTURE,
    OLD_REVISION,
    REVISION,
    Later,
    declared_kustomizations,
    expire_quickly,
    flux_install,
    git_repository,
    held,
    helm_release,
    kustomization_status,
    managed,
    namespace,
    one,
    rendered,
    state_texts,
    sync_kustomization,
    with_status,
)

KS = "kustomize.toolkit.fluxcd.io/v1"
RELEASES = [("cilium", "kube-system"), ("external-secrets", "external-secrets"),
            ("onepassword-connect", "onepassword-connect"), ("longhorn", "longhorn-system"), ("podinfo", "podinfo")]
HEALTH = f"Running health checks for revision {REVISION} with a timeout of 10m0s"


def ks(world: World, name: str, applied: str | None = REVISION, reason: str = "", message: str = "",
       **spec: object) -> dict:
    """Kustomization `name` as declared in the cluster folder, with kustomize-controller's status."""
    obj = kustomization_status(declared_kustomizations(world)[name], applied, reason, message)
    obj["spec"].update(spec)
    return obj


def podinfo(ready: int | None = None) -> dict:
    deploy = one(rendered("podinfo", "podinfo", "podinfo"), "Deployment", "podinfo")
    return managed(with_status(deploy, ready), "podinfo")


def base(world: World) -> list[dict]:
    """Flux running and synced, the namespaces of the releases: what phase 5 leaves."""
    names = {ns for _, ns in RELEASES} - {"kube-system"}
    return [*flux_install(), *(namespace(n) for n in sorted(names)), git_repository(), sync_kustomization()]


def converged(world: World) -> list[dict]:
    """Every declared Kustomization and every HelmRelease Ready, podinfo available."""
    return [*base(world), *(ks(world, n) for n in [*INFRASTRUCTURE, "apps"]),
            *(helm_release(n, ns) for n, ns in RELEASES), podinfo()]


def test_the_infrastructure_is_every_kustomization_outside_apps_yaml(world: World) -> None:
    assert applications.infrastructure_names(world.ctx) == INFRASTRUCTURE
    assert applications.apps_names(world.ctx) == ["apps"]


def test_the_declared_names_kept_between_processes_follow_the_cluster_folder(world: World, monkeypatch) -> None:
    """A new process (the in-process memo cleared) gets the kept names, and sees a Kustomization added since."""
    import yaml

    parsed: list[str] = []
    real = applications.declared
    monkeypatch.setattr(applications, "declared", lambda ctx: parsed.append("parsed") or real(ctx))
    assert applications.apps_names(world.ctx) == ["apps"]
    applications._names.clear()
    assert applications.apps_names(world.ctx) == ["apps"] and parsed == ["parsed"]  # kept: not parsed again
    apps_file = world.root / CLUSTER_PATH / applications.APPS_FILE
    docs = [d for d in yaml.safe_load_all(apps_file.read_text()) if d]
    extra = {**docs[0], "metadata": {**docs[0]["metadata"], "name": "more-apps"}}
    apps_file.write_text(yaml.safe_dump_all([*docs, extra], sort_keys=False))
    applications._names.clear()
    assert applications.apps_names(world.ctx) == ["apps", "more-apps"] and parsed == ["parsed", "parsed"]


# --- infrastructure -------------------------------------------------------------------------------------------
def test_infrastructure_times_out_naming_what_is_in_progress_before_what_waits_on_it(world: World) -> None:
    failure_text = ("Helm install failed for release external-secrets/external-secrets with chart "
                    "external-secrets@0.10.7: context deadline exceeded")
    world.cluster_exists().holds(
        *base(world), ks(world, "sources"), ks(world, "cilium"), ks(world, "longhorn"),
        ks(world, "onepassword-connect", None, "DependencyNotReady",
           "dependency 'flux-system/external-secrets' is not ready"),
        ks(world, "external-secrets", None, "Progressing", HEALTH),
        helm_release("external-secrets", "external-secrets", ready=False, message=failure_text))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        applications.infrastructure(world.ctx)
    first, *report = str(failure.value).splitlines()
    assert first == (
        "timed out waiting for the infrastructure Kustomizations (6) to be Ready: "
        f"Kustomization external-secrets: Ready=Unknown Progressing: {HEALTH}; "
        "Kustomization cluster-secret-store: not created yet (flux-system has not applied it); "
        "Kustomization onepassword-connect: Ready=False DependencyNotReady: dependency 'flux-system/external-secrets' "
        "is not ready")
    # the full report says why: the HelmRelease behind the Kustomization still running its health checks
    assert report[0] == "not ready:"
    assert f"  - HelmRelease external-secrets/external-secrets: Ready=False InstallFailed: {failure_text}" in report
    assert f"  - Kustomization flux-system/external-secrets: Ready=Unknown Progressing: {HEALTH}" in report


def test_infrastructure_timeout_without_other_problems_adds_no_empty_list(world: World) -> None:
    world.cluster_exists().holds(*base(world), *(ks(world, n) for n in INFRASTRUCTURE if n != "longhorn"))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        applications.infrastructure(world.ctx)
    assert str(failure.value) == ("timed out waiting for the infrastructure Kustomizations (6) to be Ready: "
                                  "Kustomization longhorn: not created yet (flux-system has not applied it)")


def test_infrastructure_returns_when_the_kustomizations_become_ready_while_it_waits(world: World, capsys) -> None:
    world.cluster_exists().holds(*base(world), *(ks(world, n) for n in INFRASTRUCTURE if n != "external-secrets"),
                                 ks(world, "external-secrets", None, "Progressing", HEALTH))
    later = Later(world, KS, "Kustomization", ks(world, "external-secrets"))
    applications.infrastructure(world.ctx)
    later.done()
    assert "6 infrastructure Kustomizations Ready" in capsys.readouterr().out


def test_infrastructure_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*converged(world))
    assert applications.infrastructure_ready(world.ctx) is True
    applications.infrastructure(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


@pytest.mark.parametrize("broken", ["suspended", "not created", "an older generation"])
def test_infrastructure_ready_false_and_true(world: World, broken: str) -> None:
    ready = [ks(world, n) for n in INFRASTRUCTURE]
    if broken == "suspended":
        ready[0] = ks(world, "cilium", suspend=True)
    elif broken == "not created":
        ready.pop()
    world.cluster_exists().holds(*base(world), *ready)
    if broken == "an older generation":  # its spec changed; kustomize-controller has not seen it yet
        world.store.patch(KS, "Kustomization", "cilium", FLUX_NS, {"spec": {"interval": "5m"}})
    assert applications.infrastructure_ready(world.ctx) is False
    world.store.delete(KS, "Kustomization", "cilium", FLUX_NS)  # a new object: generation 1 again
    world.holds(*(ks(world, n) for n in INFRASTRUCTURE))
    assert applications.infrastructure_ready(world.ctx) is True


def test_infrastructure_fails_naming_the_file_of_a_nameless_kustomization(world: World) -> None:
    path = world.root / CLUSTER_PATH / "storage.yaml"
    path.write_text(path.read_text().replace("  name: longhorn\n  namespace: flux-system\n",
                                             "  namespace: flux-system\n", 1))
    world.cluster_exists()
    with pytest.raises(StepError) as failure:
        applications.infrastructure(world.ctx)
    assert str(failure.value) == f"{path}: a Kustomization has no metadata.name"


# --- deploy ---------------------------------------------------------------------------------------------------
def test_deploy_asks_flux_to_fetch_and_apply_the_apps_now(world: World) -> None:
    world.cluster_exists().holds(*base(world), *(ks(world, n) for n in INFRASTRUCTURE),
                                 ks(world, "apps", applied=OLD_REVISION))
    assert applications.deploy(world.ctx) == {"apps": ["apps"]}
    assert world.api_writes == [("MODIFIED", "GitRepository", "flux-system/flux-system"),
                                ("MODIFIED", "Kustomization", "flux-system/apps")]
    for kind, name in (("GitRepository", "flux-system"), ("Kustomization", "apps")):
        annotations = held(world, ("source." if kind == "GitRepository" else "kustomize.") + "toolkit.fluxcd.io/v1",
                                kind, name, FLUX_NS)["metadata"]["annotations"]
        assert annotations[applications.REQUESTED]  # the stamp Flux compares with lastHandledReconcileAt
    assert world.runner.calls == []


def test_deploy_run_again_on_a_converged_cluster_only_asks_flux_again(world: World) -> None:
    world.cluster_exists().holds(*converged(world))
    before = held(world, KS, "Kustomization", "apps", FLUX_NS)
    applications.deploy(world.ctx)
    assert world.api_writes == [("MODIFIED", "GitRepository", "flux-system/flux-system"),
                                ("MODIFIED", "Kustomization", "flux-system/apps")]
    apps = held(world, KS, "Kustomization", "apps", FLUX_NS)
    assert (apps["metadata"]["generation"], apps["spec"]) == (before["metadata"]["generation"], before["spec"])
    assert applications.apps_applied(world.ctx) is True


def test_deploy_fails_when_flux_system_has_not_created_the_apps_kustomization(world: World) -> None:
    world.cluster_exists().holds(*base(world), *(ks(world, n) for n in INFRASTRUCTURE))
    with pytest.raises(StepError) as failure:
        applications.deploy(world.ctx)
    assert str(failure.value) == ("Kustomization(s) apps declared in apps.yaml do not exist in flux-system: has "
                                  "flux-system applied infrastructure/clusters/home-ops? (`doit gitops_debug`)")


def test_deploy_fails_when_apps_yaml_declares_no_kustomization(world: World) -> None:
    (world.root / CLUSTER_PATH / "apps.yaml").write_text("# nothing here yet\n")
    world.cluster_exists().holds(*base(world))
    with pytest.raises(StepError) as failure:
        applications.deploy(world.ctx)
    assert str(failure.value) == (f"no Kustomization declared in {CLUSTER_PATH}/apps.yaml: nothing to deploy")
    assert world.api_writes == []


def test_apps_applied_holds_on_a_converged_cluster(world: World) -> None:
    world.cluster_exists().holds(*converged(world))
    assert applications.apps_applied(world.ctx) is True
    assert world.runner.calls == [] and world.api_writes == []


@pytest.mark.parametrize("broken", ["older revision", "suspended", "not created", "source not ready"])
def test_apps_applied_false_and_true(world: World, broken: str) -> None:
    held = [*base(world), *(ks(world, n) for n in INFRASTRUCTURE)]
    held.append({"older revision": ks(world, "apps", applied=OLD_REVISION),
                 "suspended": ks(world, "apps", suspend=True),
                 "not created": namespace("podinfo"),
                 "source not ready": ks(world, "apps")}[broken])
    if broken == "source not ready":
        held.append(git_repository(ready=False))
    world.cluster_exists().holds(*held)
    assert applications.apps_applied(world.ctx) is False
    world.holds(git_repository(), ks(world, "apps", suspend=False))
    assert applications.apps_applied(world.ctx) is True


# --- ready ----------------------------------------------------------------------------------------------------
def everything_but(world: World, *replaced: dict) -> list[dict]:
    """The converged cluster with some objects in another state."""
    keys = {(o["kind"], o["metadata"]["name"]) for o in replaced}
    return [*(o for o in converged(world) if (o["kind"], o["metadata"]["name"]) not in keys), *replaced]


def test_ready_times_out_naming_the_helm_release_that_failed(world: World) -> None:
    message = "Helm install failed for release podinfo/podinfo with chart podinfo@6.7.1: context deadline exceeded"
    world.cluster_exists().holds(*everything_but(world, helm_release("podinfo", "podinfo", ready=False)))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        applications.ready(world.ctx)
    assert str(failure.value) == (
        f"timed out waiting for every HelmRelease to be Ready: HelmRelease podinfo/podinfo: Ready=False "
        f"InstallFailed: {message}\nnot ready:\n  - HelmRelease podinfo/podinfo: Ready=False InstallFailed: {message}")


def test_ready_times_out_naming_a_flux_managed_workload_not_available(world: World) -> None:
    world.cluster_exists().holds(*everything_but(world, podinfo(ready=0)))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        applications.ready(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for every Flux-managed Deployment to be available: Deployment podinfo/podinfo: 0/1 "
        "replicas available\nnot ready:\n  - Deployment podinfo/podinfo: 0/1 replicas available")


def test_ready_returns_when_the_apps_become_ready_while_it_waits(world: World, capsys) -> None:
    world.cluster_exists().holds(*everything_but(world, ks(world, "apps", None, "Progressing", HEALTH)))
    later = Later(world, KS, "Kustomization", ks(world, "apps"))
    assert applications.ready(world.ctx) == {"kustomizations": 8, "helmreleases": 5}
    later.done()
    assert "8 Kustomizations and 5 HelmReleases Ready; workloads available" in capsys.readouterr().out


def test_ready_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*converged(world))
    assert applications.all_ready(world.ctx) is True
    assert applications.ready(world.ctx) == {"kustomizations": 8, "helmreleases": 5}
    assert world.runner.calls == [] and world.api_writes == []


def test_all_ready_ignores_workloads_flux_does_not_manage(world: World) -> None:
    mine = with_status(one(rendered("podinfo", "scratch", "podinfo"), "Deployment", "scratch-podinfo"), ready=0)
    world.cluster_exists().holds(*converged(world), mine)
    assert applications.all_ready(world.ctx) is True


@pytest.mark.parametrize("broken", ["release suspended", "managed DaemonSet not ready", "no Kustomization"])
def test_all_ready_false_and_true(world: World, broken: str) -> None:
    world.cluster_exists()
    if broken == "no Kustomization":
        world.holds(*flux_install())
    elif broken == "release suspended":
        suspended = helm_release("podinfo", "podinfo")
        suspended["spec"]["suspend"] = True
        world.holds(*everything_but(world, suspended))
    else:
        manager = one(rendered("longhorn", "longhorn", "longhorn-system"), "DaemonSet", "longhorn-manager")
        world.holds(*converged(world), managed(with_status(manager, ready=2), "longhorn"))
    assert applications.all_ready(world.ctx) is False
    if broken == "release suspended":
        world.store.delete("helm.toolkit.fluxcd.io/v2", "HelmRelease", "podinfo", "podinfo")
        world.holds(helm_release("podinfo", "podinfo"))
    elif broken == "no Kustomization":
        world.holds(*converged(world))
    else:
        world.holds(managed(with_status(manager), "longhorn"))
    assert applications.all_ready(world.ctx) is True


# --- what the live checks say they saw -------------------------------------------------------------------------
def test_live_checks_name_what_they_saw(world: World) -> None:
    world.cluster_exists().holds(*flux_install())
    assert applications.all_ready_verdict(world.ctx) == (False, "no Flux Kustomization exists")
    world.holds(*everything_but(world, podinfo(ready=0)))
    world.store.delete(KS, "Kustomization", "longhorn", FLUX_NS)
    assert applications.infrastructure_ready_verdict(world.ctx) == (
        False, "Kustomization longhorn: not created yet (flux-system has not applied it)")
    assert applications.all_ready_verdict(world.ctx) == (False, "Deployment podinfo/podinfo: 0/1 replicas available")
    world.holds(ks(world, "longhorn"), podinfo())
    assert applications.infrastructure_ready_verdict(world.ctx) == (True, "6 Kustomizations Ready")
    assert applications.all_ready_verdict(world.ctx) == (True, "every Flux object Ready, every workload available")


# --- through the step's doit action ---------------------------------------------------------------------------
def test_ready_as_a_doit_step_returns_the_counts_doit_keeps(world: World) -> None:
    world.cluster_exists().holds(*converged(world))
    assert run_step(world, applications.COMPONENT, "ready") == {"kustomizations": 8, "helmreleases": 5}
    assert "applications-ready" in state_texts(world)
    assert world.api_writes == []


# --- what this file covers ------------------------------------------------------------------------------------
def test_every_step_and_live_check_of_the_phase_is_the_one_tested_here() -> None:
    """A step or check added to the phase fails here until it has tests in this file."""
    declared = {s.name: (s.action, [c.fn for c in s.live_checks()]) for s in applications.COMPONENT.steps}
    assert declared == {
        "infrastructure": (applications.infrastructure, [applications.infrastructure_ready_verdict]),
        "deploy": (applications.deploy, [applications.apps_applied]),
        "ready": (applications.ready, [applications.all_ready_verdict]),
    }
