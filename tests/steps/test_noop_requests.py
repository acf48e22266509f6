"""A no-op's cost is per kind, not per object: the live checks read shared per-kind lists (hops.kube.Kube), so the
number of API requests of checking a converged cluster does not grow with its apps, releases and nodes; the
lists are dropped when they may be out of date (a write, a step's action, a step's marker in the state folder);
outside live checks reads go to the API; and the cluster folder is parsed once per process (hops.helmrelease.documents)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from hops import helmrelease
from hops.components import applications
from hops.state import markers
from tests.steps.harness import World
from tests.steps.objects_late_phases import (
    CLUSTER_PATH,
    FLUX_NS,
    INFRASTRUCTURE,
    REVISION,
    declared_kustomizations,
    flux_install,
    git_repository,
    helm_release,
    kustomization_status,
    namespace,
    sync_kustomization,
)

RELEASES = [("cilium", "kube-system"), ("external-secrets", "external-secrets"),
            ("onepassword-connect", "onepassword-connect"), ("longhorn", "longhorn-system"), ("podinfo", "podinfo")]


def add_apps(world: World, count: int) -> list[str]:
    """`count` more apps Kustomizations declared in the cluster folder's apps.yaml."""
    apps_file = world.root / CLUSTER_PATH / applications.APPS_FILE
    docs = [d for d in yaml.safe_load_all(apps_file.read_text()) if d]
    names = [f"app-{n:03d}" for n in range(count)]
    for name in names:
        docs.append({"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                     "metadata": {"name": name, "namespace": FLUX_NS},
                     "spec": {"interval": "30m", "path": f"./apps/{name}", "prune": True,
                              "sourceRef": {"kind": "GitRepository", "name": "flux-system"}}})
    apps_file.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return names


def converged_with(world: World, apps: int) -> None:
    """Flux synced, every declared Kustomization and HelmRelease Ready, plus `apps` more apps and their releases."""
    extra = add_apps(world, apps)
    declared = declared_kustomizations(world)
    releases = RELEASES + [(name, "apps") for name in extra]
    world.cluster_exists().holds(
        *flux_install(), *(namespace(n) for n in sorted({ns for _, ns in releases} - {"kube-system"})),
        git_repository(), sync_kustomization(),
        *(kustomization_status(declared[n], REVISION) for n in [*INFRASTRUCTURE, "apps", *extra]),
        *(helm_release(n, ns) for n, ns in releases))


def check_everything(world: World) -> int:
    """Run phase 6's live checks as doit's up-to-date checks do (hops.actions.evaluate, one process); the API
    requests they made."""
    from hops import context
    from hops.actions import evaluate

    context._current = world.ctx
    kube = world.ctx.kube
    kube.invalidate()
    before = kube.requests
    try:
        for step in applications.COMPONENT.steps:
            for check in step.status:
                assert evaluate(f"applications:{step.name}", step, check)[0], check.name
    finally:
        context.reset()
    return kube.requests - before


def test_the_checks_requests_do_not_grow_with_the_number_of_apps(tmp_path: Path) -> None:
    counts = []
    for apps in (0, 40):
        world = World(tmp_path / str(apps))
        try:
            converged_with(world, apps)
            counts.append(check_everything(world))
        finally:
            world.close()
    assert counts[0] == counts[1]
    # one list per kind and scope read: Kustomization and GitRepository in flux-system and in every namespace,
    # HelmRepository, HelmRelease, Deployment, DaemonSet, StatefulSet
    assert counts[0] == 9


def test_apps_applied_is_false_when_one_of_many_apps_has_not_applied_the_revision(world: World) -> None:
    converged_with(world, 20)
    stale = kustomization_status(declared_kustomizations(world)["app-007"], "main@sha1:0ld")
    world.holds(stale)
    assert not applications.apps_applied(world.ctx)


def test_gets_in_live_checks_share_one_list_per_kind(world: World) -> None:
    world.cluster_exists().holds(namespace("one"), namespace("two"))
    kube = world.ctx.kube
    before = kube.requests
    with kube.sharing():
        assert kube.get("Namespace", "one") is not None
        assert kube.get("Namespace", "two") is not None
        assert kube.get("Namespace", "three") is None
        assert kube.list("Namespace", fresh=True)
    assert kube.requests - before == 1


def test_a_get_gives_its_own_copy_of_the_listed_object(world: World) -> None:
    world.cluster_exists().holds(namespace("one"))
    with world.ctx.kube.sharing():
        world.ctx.kube.get("Namespace", "one")["metadata"]["name"] = "edited"
        assert world.ctx.kube.get("Namespace", "one")["metadata"]["name"] == "one"


def test_outside_live_checks_reads_go_to_the_api(world: World) -> None:
    """An action (or an operation) may just have changed the cluster through a tool: it reads afresh."""
    world.cluster_exists().holds(namespace("one"))
    kube = world.ctx.kube
    with kube.sharing():
        kube.list("Namespace")
    world.store.apply(namespace("made-by-a-tool"))  # as helm would, behind the client's back
    before = kube.requests
    assert kube.get("Namespace", "made-by-a-tool") is not None
    assert "made-by-a-tool" in {n["metadata"]["name"] for n in kube.list("Namespace", fresh=True)}
    assert kube.requests - before == 2


def test_a_marker_written_into_the_state_folder_drops_the_lists(world: World) -> None:
    world.cluster_exists().holds(namespace("one"))
    kube = world.ctx.kube
    with kube.sharing():
        assert kube.get("Namespace", "later") is None
        world.store.apply(namespace("later"))  # another process's step made it...
        assert kube.get("Namespace", "later") is None  # ...unseen until that step is marked done
        markers.write(world.ctx.state_dir / "applications-deployed", "applications:deploy", 0.1, "run-1")
        assert kube.get("Namespace", "later") is not None


def test_a_marker_rewritten_within_one_clock_tick_drops_the_lists(world: World) -> None:
    """A step run again rewrites its marker (a new inode under the same name), perhaps within the folder's
    mtime granularity: still seen."""
    world.cluster_exists().holds(namespace("one"))
    kube = world.ctx.kube
    marker = world.ctx.state_dir / "applications-deployed"
    markers.write(marker, "applications:deploy", 0.1, "run-1")
    with kube.sharing():
        assert kube.get("Namespace", "later") is None
        world.store.apply(namespace("later"))
        mtime = world.ctx.state_dir.stat().st_mtime_ns
        markers.write(marker, "applications:deploy", 0.1, "run-2")
        os.utime(world.ctx.state_dir, ns=(mtime, mtime))  # the same folder mtime as before
        assert kube.get("Namespace", "later") is not None


def test_a_write_through_the_client_drops_the_lists(world: World) -> None:
    world.cluster_exists().holds(namespace("one"))
    kube = world.ctx.kube
    with kube.sharing():
        assert kube.get("Namespace", "two") is None
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "two"}})
        assert kube.get("Namespace", "two") is not None


def test_a_get_of_a_namespaced_kind_across_namespaces_asks_the_api(world: World) -> None:
    """No namespace given for a namespaced kind: no list to take it from (the object's own path is asked)."""
    world.cluster_exists()
    before = world.ctx.kube.requests
    with world.ctx.kube.sharing():
        assert world.ctx.kube.get("HelmRelease", "nowhere") is None
    assert world.ctx.kube.requests - before == 1


def test_the_cluster_folder_is_parsed_once_per_process(world: World) -> None:
    files = len(list((world.root / CLUSTER_PATH).glob("*.y*ml")))
    applications.declared(world.ctx)  # this test's files are new paths: parsed now
    before = helmrelease.parses
    for _ in range(5):
        applications.infrastructure_names(world.ctx)
        applications.apps_names(world.ctx)
    assert helmrelease.parses == before
    add_apps(world, 1)  # apps.yaml changed (size and mtime): read again, the other files not
    assert "app-000" in applications.apps_names(world.ctx)
    assert helmrelease.parses == before + 1
    assert files > 1


def test_a_parsed_file_is_copied_for_each_caller(world: World) -> None:
    path = world.root / CLUSTER_PATH / applications.APPS_FILE
    helmrelease.documents(path)[0]["metadata"]["name"] = "edited"
    assert helmrelease.documents(path)[0]["metadata"]["name"] == "apps"


def test_a_step_action_drops_the_lists_when_it_returns(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The one invalidation after each step's action (hops.actions.StepAction): a step without a marker changes
    the cluster behind the client's back (as a tool does); this process's next check sees the change. (The
    state-folder watch is switched off here: the run lock and history files the step writes would move it.)"""
    from hops.actions import StepAction
    from hops.kube import Kube
    from hops.state import lock
    from hops.taskmodel import Step

    monkeypatch.setattr(Kube, "_drop_if_state_changed", lambda self: None)
    world.cluster_exists().holds(namespace("one"))
    kube = world.ctx.kube
    with kube.sharing():
        assert kube.get("Namespace", "made-by-the-step") is None

    def action(ctx: object) -> None:
        world.store.apply(namespace("made-by-the-step"))

    step = Step("probe", "A step that changes the cluster through a tool", action)
    try:
        assert StepAction("applications:probe", step)() == {}
    finally:
        lock.release(world.ctx.state_dir)
    with kube.sharing():
        assert kube.get("Namespace", "made-by-the-step") is not None


def test_the_declared_names_are_read_once_while_the_files_are_unchanged(world: World,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    real = applications.declared
    monkeypatch.setattr(applications, "declared", lambda ctx: reads.append(1) or real(ctx))
    for _ in range(3):
        assert applications.apps_names(world.ctx) == ["apps"]
        assert applications.infrastructure_names(world.ctx) == INFRASTRUCTURE
    assert len(reads) == 1
    add_apps(world, 2)
    assert applications.apps_names(world.ctx) == ["apps", "app-000", "app-001"]
    assert len(reads) == 2
