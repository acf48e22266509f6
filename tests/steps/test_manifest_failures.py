"""Phases 5 and 6 in-process: a Kustomization that cannot apply a manifest stops the wait at once (not at the
phase deadline) with Flux's message and the file that holds the refused object; a stale failure (the fix not
fetched yet) and a transient one (a webhook still starting) do not.

The test plays Flux's controllers (FluxActor): a reconcile request on the GitRepository or a Kustomization is
answered the way source- and kustomize-controller answer it (status.lastHandledReconcileAt, a new revision or
the same failure again)."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hops import context, flux_failures, phase_clock
from hops.components import applications, gitops
from hops.errors import StepError, WaitTimeout
from tests.steps.harness import World
from tests.steps.objects_late_phases import (
    FLUX_NS,
    INFRASTRUCTURE,
    OLD_REVISION,
    REVISION,
    declared_kustomizations,
    expire_quickly,
    flux_condition,
    flux_install,
    git_repository,
    kustomization_status,
    namespace,
    sync_kustomization,
)

KS = "kustomize.toolkit.fluxcd.io/v1"
SOURCE = "source.toolkit.fluxcd.io/v1"
REQUESTED = "reconcile.fluxcd.io/requestedAt"
PATIENT_S = 120  # the phases' deadline here: a test that ends well before it did not wait it out
NOT_CHECKED = ('<nil>: Invalid value: "null": some validation rules were not checked because the object was '
               'invalid; correct the existing errors to complete validation')
LONGHORN_TYPO = ('HelmRelease/longhorn-system/longhorn dry-run failed (Invalid): HelmRelease.helm.toolkit.fluxcd.io '
                 '"longhorn" is invalid: spec.interval: Invalid value: "five": spec.interval in body should match '
                 "'^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$'")


@pytest.fixture
def patient(tmp_path: Path) -> Iterator[World]:
    w = World(tmp_path, timeouts=dict.fromkeys(("networking", "services", "gitops", "applications", "talos"),
                                               PATIENT_S))
    context._current = w.ctx
    phase_clock.reset()
    try:
        yield w
    finally:
        context.reset()
        phase_clock.reset()
        w.close()


def ks(world: World, name: str, message: str = "", revision: str = REVISION, handled: str = "") -> dict:
    """Kustomization `name` of the cluster folder: Ready at `revision`, or failed with `message` there."""
    obj = kustomization_status(declared_kustomizations(world)[name], None if message else revision,
                               "ReconciliationFailed" if message else "", message)
    obj["status"]["lastAttemptedRevision"] = revision
    if handled:
        obj["status"]["lastHandledReconcileAt"] = handled
    return obj


def failed(obj: dict, message: str, revision: str, handled: str) -> dict:
    obj["status"] = {"observedGeneration": 1, "lastAttemptedRevision": revision, "lastHandledReconcileAt": handled,
                     "conditions": flux_condition("False", "ReconciliationFailed", message)}
    return obj


class FluxActor:
    """Answers reconcile requests like Flux: `fetch(repo, stamp)` is the GitRepository after a fetch,
    `apply(ks, stamp, revision)` the Kustomization after it reconciled the source's revision."""

    def __init__(self, world: World, fetch: Callable[[dict, str], dict],
                 apply: Callable[[dict, str, str], dict]) -> None:
        self.world, self.fetch, self.apply = world, fetch, apply
        self.requests: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self._work: queue.SimpleQueue[dict | None] = queue.SimpleQueue()
        self._seen: set[tuple[str, str, str]] = set()
        self._unsubscribe = world.store.subscribe(lambda _event, obj: self._work.put(obj))
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (obj := self._work.get()) is not None:
            stamp = (obj["metadata"].get("annotations") or {}).get(REQUESTED)
            key = (obj["kind"], obj["metadata"]["name"], stamp or "")
            if not stamp or obj["kind"] not in ("GitRepository", "Kustomization") or key in self._seen:
                continue
            self._seen.add(key)
            self.requests.append((obj["kind"], obj["metadata"]["name"]))
            try:
                self._answer(obj, stamp)
            except BaseException as exc:  # noqa: BLE001 - reported by close()
                self.errors.append(exc)

    def _answer(self, obj: dict, stamp: str) -> None:
        meta = obj["metadata"]
        if obj["kind"] == "GitRepository":
            status = self.fetch(obj, stamp)["status"]
        else:
            repo = self.world.store.get(SOURCE, "GitRepository", "flux-system", FLUX_NS)
            status = self.apply(obj, stamp, repo["status"]["artifact"]["revision"])["status"]
        self.world.store.set_status(obj["apiVersion"], obj["kind"], meta["name"], meta["namespace"], status)

    def close(self) -> None:
        self._unsubscribe()
        self._work.put(None)
        self._thread.join(5)
        assert self.errors == []


def fetched(revision: str) -> Callable[[dict, str], dict]:
    def fetch(repo: dict, stamp: str) -> dict:
        answered = git_repository(revision)
        answered["status"]["lastHandledReconcileAt"] = stamp
        return answered
    return fetch


def still_failing(message: str) -> Callable[[dict, str, str], dict]:
    return lambda obj, stamp, revision: failed(obj, message, revision, stamp)


def infrastructure_with(world: World, broken: dict) -> None:
    names = [n for n in INFRASTRUCTURE if n != broken["metadata"]["name"]]
    world.cluster_exists().holds(*flux_install(), namespace("longhorn-system"), git_repository(),
                                 sync_kustomization(), *(ks(world, n) for n in names), broken)


# --- stops at once -------------------------------------------------------------------------------------------
def test_a_manifest_flux_cannot_apply_stops_the_wait_naming_its_file(patient: World) -> None:
    infrastructure_with(patient, ks(patient, "longhorn", LONGHORN_TYPO))
    actor = FluxActor(patient, fetched(REVISION), still_failing(LONGHORN_TYPO))
    started = time.monotonic()
    with pytest.raises(StepError) as failure:
        applications.infrastructure(patient.ctx)
    actor.close()
    assert time.monotonic() - started < PATIENT_S / 4
    assert str(failure.value) == (
        f"Kustomization flux-system/longhorn cannot apply {REVISION}: {LONGHORN_TYPO}\n"
        "HelmRelease/longhorn-system/longhorn is defined in infrastructure/storage/longhorn/helmrelease.yaml\n"
        "correct the manifest, commit and push it, then re-run the same command (Flux retries on its own too)")
    # confirmed first: the source fetched again, then the Kustomization reconciled, as `flux reconcile --with-source`
    assert actor.requests == [("GitRepository", "flux-system"), ("Kustomization", "longhorn")]
    assert patient.runner.calls == []


def test_a_stale_failure_heals_once_flux_fetched_the_fix(patient: World, capsys) -> None:
    old = ("HelmRelease/longhorn-system/longhorn dry-run failed: failed to create typed patch object "
           "(longhorn-system/longhorn; helm.toolkit.fluxcd.io/v2, Kind=HelmRelease): .spec.chart.spec.chrat: field "
           "not declared in schema")
    infrastructure_with(patient, ks(patient, "longhorn", old, revision=OLD_REVISION))
    patient.store.apply(git_repository(OLD_REVISION))

    def applied(obj: dict, stamp: str, revision: str) -> dict:
        return ks(patient, "longhorn", revision=revision, handled=stamp)

    actor = FluxActor(patient, fetched(REVISION), applied)
    applications.infrastructure(patient.ctx)
    actor.close()
    assert "6 infrastructure Kustomizations Ready" in capsys.readouterr().out
    assert actor.requests == [("GitRepository", "flux-system"), ("Kustomization", "longhorn")]


@pytest.mark.parametrize("message", [
    "ExternalSecret/podinfo/podinfo dry-run failed (InternalError): Internal error occurred: failed calling webhook "
    '"validate.externalsecret.external-secrets.io": connect: connection refused',
    'ClusterSecretStore/onepassword dry-run failed: no matches for kind "ClusterSecretStore" in version '
    '"external-secrets.io/v1beta1"',
    "health check failed after 10m0s: timeout waiting for: [HelmRelease/longhorn-system/longhorn status: 'Failed']",
])
def test_a_failure_that_may_heal_is_waited_on(world: World, message: str) -> None:
    infrastructure_with(world, ks(world, "longhorn", message))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        applications.infrastructure(world.ctx)
    assert f"Kustomization longhorn: Ready=False ReconciliationFailed: {message}" in str(failure.value)
    assert world.api_writes == []  # no reconcile asked for: nothing to confirm


def test_sync_stops_on_a_kustomization_of_the_cluster_folder_flux_cannot_apply(patient: World) -> None:
    typo = ('Kustomization/flux-system/apps dry-run failed (Invalid): Kustomization.kustomize.toolkit.fluxcd.io '
            f'"apps" is invalid: [spec.prune: Required value, {NOT_CHECKED}]')
    broken = failed(sync_kustomization(), typo, REVISION, "")
    patient.cluster_exists().holds(*flux_install(), git_repository(), broken)
    actor = FluxActor(patient, fetched(REVISION), still_failing(typo))
    with pytest.raises(StepError) as failure:
        gitops.sync(patient.ctx)
    actor.close()
    lines = str(failure.value).splitlines()
    assert lines[0] == f"Kustomization flux-system/flux-system cannot apply {REVISION}: {typo}"
    assert lines[1] == "Kustomization/flux-system/apps is defined in infrastructure/clusters/home-ops/apps.yaml"


def test_an_object_no_file_defines_is_said_so(patient: World) -> None:
    message = ("ConfigMap/longhorn-system/generated-abc dry-run failed (Invalid): ConfigMap \"generated-abc\" is "
               "invalid: metadata.name: Invalid value")
    obj = ks(patient, "longhorn", message)
    text = flux_failures.report(patient.ctx, obj, message)
    assert text.splitlines()[1] == ("no file under infrastructure/storage/longhorn defines "
                                    "ConfigMap/longhorn-system/generated-abc (a kustomize generator or patch makes it)")


# --- what counts as a manifest failure ------------------------------------------------------------------------
@pytest.mark.parametrize("status, generation, expected", [
    ("False", 1, True),
    ("True", 1, False),      # Ready: nothing to report
    ("False", 2, False),     # the Kustomization's own spec changed since: Flux has not tried it yet
])
def test_manifest_error_true_and_false(world: World, status: str, generation: int, expected: bool) -> None:
    obj = ks(world, "longhorn", LONGHORN_TYPO)
    obj["status"]["conditions"][0]["status"] = status
    obj["metadata"]["generation"] = generation
    assert (flux_failures.manifest_error(obj) == LONGHORN_TYPO) is expected
