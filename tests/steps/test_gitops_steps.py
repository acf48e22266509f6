"""Phase 5's steps in-process: what each step asks flux, 1Password and the API on a fresh cluster, that it changes
nothing on a converged one, every failure message it can give, and each live check true and false."""

from __future__ import annotations

import pytest
import yaml
from doit.exceptions import TaskFailed

from hops.components import gitops
from hops.errors import StepError, ToolFailed, WaitTimeout
from tests.steps.harness import World
from tests.steps.objects_f1 import run_step
from tests.steps.objects_late_phases import (
    GITHUB_TOKEN,
    OLD_REVISION,
    REVISION,
    Later,
    expire_quickly,
    flux_install,
    git_repository,
    log_text,
    of_kind,
    one,
    op_error,
    op_item_list,
    state_texts,
    sync_kustomization,
    with_status,
)

TOKEN_REF = "op://homelab/github-token/token"
ITEM_LIST = "op item list --vault homelab --account my.1password.com --format json"
PRE_OK = "► checking prerequisites\n✔ Kubernetes 1.31.4 >=1.28.0-0\n✔ prerequisites checks passed\n"
BOOTSTRAP = ["bootstrap", "github", "--owner", "example-homelab", "--repository", "home-ops", "--branch", "main",
             "--path", "infrastructure/clusters/home-ops", "--namespace", "flux-system", "--timeout", "2s",
             "--personal"]
BOOTSTRAP_OUT = ("► connecting to github.com\n► cloning branch \"main\" from Git repository "
                 "\"https://github.com/example-homelab/home-ops.git\"\n✔ cloned repository\n"
                 "► generating component manifests\n✔ generated component manifests\n"
                 "► installing components in \"flux-system\" namespace\n✔ installed components\n"
                 "✔ reconciled components\n► applying sync manifests\n✔ reconciled sync configuration\n"
                 "◎ waiting for GitRepository \"flux-system/flux-system\" to be reconciled\n"
                 "✔ GitRepository reconciled successfully\n✔ all components are healthy\n")


def converged() -> list[dict]:
    """What flux bootstrap leaves: controllers available, the sync objects applied the current revision."""
    return [*flux_install(), git_repository(), sync_kustomization()]


def set_gitops(world: World, **fields: object) -> None:
    path = world.root / "bootstrap-config.yaml"
    data = yaml.safe_load(path.read_text())
    data["gitops"].update(fields)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    world.ctx.__dict__.pop("settings", None)


# --- prerequisites --------------------------------------------------------------------------------------------
def test_prerequisites_check_flux_and_the_token_item_and_change_nothing(world: World, capsys) -> None:
    world.cluster_exists()
    world.runner.answer("flux", "check", "--pre", stderr=PRE_OK)
    world.runner.answer("op", "item", "list", stdout=op_item_list("talos-secrets", "github-token"))
    gitops.prerequisites(world.ctx)
    assert world.runner.lines() == ["flux check --pre", ITEM_LIST]
    assert world.runner.mutating_calls() == [] and world.api_writes == []
    assert ("will bootstrap github.com/example-homelab/home-ops branch main path infrastructure/clusters/home-ops"
            in capsys.readouterr().out)


def test_prerequisites_fail_naming_every_problem(world: World) -> None:
    world.cluster_exists()
    set_gitops(world, path="clusters/elsewhere")
    world.runner.answer("flux", "check", "--pre", code=1, stderr=(
        "► checking prerequisites\n✗ Kubernetes version v1.27.3 does not match >=1.28.0-0\n"))
    world.runner.answer("op", "item", "list", stdout=op_item_list("talos-secrets"))
    with pytest.raises(StepError) as failure:
        gitops.prerequisites(world.ctx)
    assert str(failure.value) == (
        "GitOps prerequisites are not met:\n"
        "  - gitops.path 'clusters/elsewhere' is not a folder of this repository\n"
        "  - `flux check --pre` failed: ► checking prerequisites\n"
        "✗ Kubernetes version v1.27.3 does not match >=1.28.0-0\n"
        "  - 1Password item 'github-token' (onepassword.items.github_token) is not in vault 'homelab'")


def test_prerequisites_fail_with_ops_message_when_op_cannot_list_the_vault(world: World) -> None:
    world.runner.answer("flux", "check", "--pre", stderr=PRE_OK)
    error = op_error("You are not currently signed in. Please run `op signin --help` for instructions")
    world.runner.answer("op", "item", "list", code=1, stderr=error)
    with pytest.raises(ToolFailed) as failure:
        gitops.prerequisites(world.ctx)
    assert str(failure.value) == f"`{ITEM_LIST}` exited 1:\n{error}"


# --- bootstrap ------------------------------------------------------------------------------------------------
def test_bootstrap_passes_the_token_only_through_flux_environment(world: World, capsys) -> None:
    world.cluster_exists()
    world.runner.answer("op", "read", "--no-newline", TOKEN_REF, stdout=GITHUB_TOKEN)
    world.runner.answer("flux", "bootstrap", stderr=BOOTSTRAP_OUT)
    gitops.bootstrap(world.ctx)
    assert world.runner.lines() == [f"op read --no-newline {TOKEN_REF} --account my.1password.com",
                                    "flux " + " ".join(BOOTSTRAP)]
    flux = world.runner.calls[1]
    assert flux.env == {"GITHUB_TOKEN": GITHUB_TOKEN}
    assert all(GITHUB_TOKEN not in arg for call in world.runner.calls for arg in call.args)
    assert flux.input is None
    out = capsys.readouterr()
    assert "flux bootstrap github: example-homelab/home-ops@main, path infrastructure/clusters/home-ops" in out.out
    for text in (out.out, out.err, log_text(world)):
        assert GITHUB_TOKEN not in text


def test_bootstrap_of_an_organisation_repository_leaves_out_personal(world: World) -> None:
    set_gitops(world, personal=False)
    world.runner.answer("op", "read", stdout=GITHUB_TOKEN)
    world.runner.answer("flux", "bootstrap", stderr=BOOTSTRAP_OUT)
    gitops.bootstrap(world.ctx)
    assert world.runner.calls[1].args == BOOTSTRAP[:-1]


def test_bootstrap_fails_with_flux_output_and_never_the_token(world: World) -> None:
    world.runner.answer("op", "read", stdout=GITHUB_TOKEN)
    error = ("► connecting to github.com\n"
             "✗ failed to create repository, error: POST https://api.github.com/user/repos: "
             "401 Bad credentials []")
    world.runner.answer("flux", "bootstrap", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        gitops.bootstrap(world.ctx)
    assert str(failure.value) == f"`flux {' '.join(BOOTSTRAP)}` exited 1:\n{error}"
    assert GITHUB_TOKEN not in str(failure.value)


def test_bootstrap_fails_naming_the_token_item_op_could_not_read_and_runs_no_flux(world: World) -> None:
    error = op_error(f"could not read secret '{TOKEN_REF}': \"github-token\" isn't an item in the \"homelab\" "
                     "vault. Specify the item with its UUID, name, or domain.")
    world.runner.answer("op", "read", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        gitops.bootstrap(world.ctx)
    assert str(failure.value).startswith(f"could not read {TOKEN_REF} (onepassword.items.github_token) from "
                                         "1Password: [ERROR]")
    assert [c.tool for c in world.runner.calls] == ["op"]


def test_bootstrap_refuses_an_empty_token_before_flux_would_prompt_for_one(world: World) -> None:
    world.runner.answer("op", "read", stdout="")
    with pytest.raises(StepError, match=f"^{TOKEN_REF} \\(onepassword.items.github_token\\) is empty in 1Password"):
        gitops.bootstrap(world.ctx)
    assert [c.tool for c in world.runner.calls] == ["op"]


def test_bootstrap_checks_hold_on_a_converged_cluster(world: World) -> None:
    world.cluster_exists().holds(*converged())
    assert gitops.sync_configured(world.ctx) is True
    assert gitops.controllers_installed(world.ctx) is True
    assert world.runner.calls == [] and world.api_writes == []


def test_bootstrap_run_again_on_a_converged_cluster_is_only_flux_bootstrap_again(world: World) -> None:
    world.cluster_exists().holds(*converged())
    world.runner.answer("op", "read", stdout=GITHUB_TOKEN)
    world.runner.answer("flux", "bootstrap", stderr=BOOTSTRAP_OUT.replace(
        "✔ installed components", "✔ component manifests are up to date\n✔ installed components"))
    gitops.bootstrap(world.ctx)
    assert world.runner.mutating_calls() == ["flux " + " ".join(BOOTSTRAP)]  # flux's own idempotent re-apply
    assert world.api_writes == []


@pytest.mark.parametrize("url", ["ssh://git@github.com/example-homelab/home-ops",
                                 "https://github.com/example-homelab/home-ops.git",
                                 "ssh://git@github.com/Example-Homelab/Home-Ops"])
def test_sync_configured_true_for_each_url_flux_bootstrap_writes(world: World, url: str) -> None:
    world.cluster_exists().holds(*flux_install(), git_repository(url=url), sync_kustomization())
    assert gitops.sync_configured(world.ctx) is True


@pytest.mark.parametrize("drift", [
    {"branch": "develop"},
    {"url": "ssh://git@github.com/someone-else/home-ops"},
    {"url": "ssh://git@github.com/example-homelab/home-ops-staging"},
    {"url": "https://github.com/not-example-homelab/home-ops.git"},
    {"path": "./infrastructure/clusters/staging"},
    {"missing": "GitRepository"},
    {"missing": "Kustomization"},
])
def test_sync_configured_false_when_flux_system_syncs_something_else(world: World, drift: dict) -> None:
    repo = git_repository(**{k: v for k, v in drift.items() if k in ("branch", "url")})
    ks = sync_kustomization(path=drift.get("path", "./infrastructure/clusters/home-ops"))
    held = [o for o in (repo, ks) if o["kind"] != drift.get("missing")]
    world.cluster_exists().holds(*flux_install(), *held)
    assert gitops.sync_configured(world.ctx) is False


def test_controllers_installed_false_when_one_was_deleted(world: World) -> None:
    world.cluster_exists().holds(*[o for o in converged() if o["metadata"]["name"] != "helm-controller"
                                   or o["kind"] != "Deployment"])
    assert gitops.controllers_installed(world.ctx) is False


# --- ready ----------------------------------------------------------------------------------------------------
def controllers(ready: bool = True) -> list[dict]:
    return of_kind(flux_install(ready), "Deployment")


def test_ready_times_out_naming_each_controller_missing_or_unavailable(world: World) -> None:
    everything = flux_install()
    kustomize = one(everything, "Deployment", "kustomize-controller")
    world.cluster_exists().holds(*[o for o in everything if o["kind"] != "Deployment" or o["metadata"]["name"]
                                   not in ("helm-controller", "kustomize-controller")],
                                 with_status(kustomize, ready=0))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        gitops.ready(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for the Flux controllers in flux-system to be Available: helm-controller: not created "
        "yet; kustomize-controller: Available=False MinimumReplicasUnavailable: Deployment does not have minimum "
        "availability.")


def test_ready_returns_when_the_controllers_become_available_while_it_waits(world: World, capsys) -> None:
    world.cluster_exists().holds(*flux_install(ready=False))
    later = Later(world, "apps/v1", "Deployment", *controllers())
    gitops.ready(world.ctx)
    later.done()
    assert "Flux controllers available in flux-system" in capsys.readouterr().out
    assert world.runner.calls == []


def test_ready_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*converged())
    assert gitops.controllers_ready(world.ctx) is True
    gitops.ready(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


def test_controllers_ready_false_and_true(world: World) -> None:
    world.cluster_exists().holds(*flux_install(ready=False))
    assert gitops.controllers_ready(world.ctx) is False
    world.holds(*controllers())
    assert gitops.controllers_ready(world.ctx) is True


# --- sync -----------------------------------------------------------------------------------------------------
def test_sync_times_out_naming_the_revision_applied_and_the_sources(world: World) -> None:
    world.cluster_exists().holds(*flux_install(), git_repository(), sync_kustomization(applied=OLD_REVISION))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        gitops.sync(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for Flux to apply infrastructure/clusters/home-ops: Kustomization flux-system applied "
        f"{OLD_REVISION}, the source is at {REVISION}")


def test_sync_times_out_with_the_git_repositorys_failure(world: World) -> None:
    world.cluster_exists().holds(*flux_install(), git_repository(ready=False), sync_kustomization(applied=None))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        gitops.sync(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for Flux to apply infrastructure/clusters/home-ops: GitRepository flux-system/flux-system: "
        "Ready=False GitOperationFailed: failed to checkout and determine revision: unable to list remote for "
        "'ssh://git@github.com/example-homelab/home-ops': repository not found")


def test_sync_returns_the_revision_once_flux_applies_it_while_it_waits(world: World, capsys) -> None:
    world.cluster_exists().holds(*flux_install(), git_repository(), sync_kustomization(applied=OLD_REVISION))
    later = Later(world, "kustomize.toolkit.fluxcd.io/v1", "Kustomization", sync_kustomization())
    assert gitops.sync(world.ctx) == {"revision": REVISION}
    later.done()
    assert f"Flux applied revision {REVISION}" in capsys.readouterr().out


def test_sync_notices_the_source_becoming_ready_while_it_waits(world: World) -> None:
    """flux-system already applied the revision, but its GitRepository is still reconciling: its turning Ready is
    not a change of the Kustomization, so the step must watch the GitRepository to see it (else it waits for the
    end of its watch, on a real cluster most of the phase's timeout)."""
    reconciling = git_repository()
    reconciling["status"]["conditions"] = [
        {"type": "Ready", "status": "Unknown", "reason": "Progressing", "message": "building artifact",
         "observedGeneration": 1, "lastTransitionTime": "2026-12-02T05:00:00Z"}]
    world.cluster_exists().holds(*flux_install(), reconciling, sync_kustomization())
    later = Later(world, "source.toolkit.fluxcd.io/v1", "GitRepository", git_repository())
    assert gitops.sync(world.ctx) == {"revision": REVISION}
    later.done()


def test_sync_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*converged())
    assert gitops.sync(world.ctx) == {"revision": REVISION}
    assert world.runner.calls == [] and world.api_writes == []


@pytest.mark.parametrize("held", [
    lambda: [git_repository(), sync_kustomization(applied=OLD_REVISION)],
    lambda: [git_repository(ready=False), sync_kustomization()],
    lambda: [git_repository()],
])
def test_sync_verified_false_and_true(world: World, held) -> None:
    world.cluster_exists().holds(*flux_install(), *held())
    assert gitops.sync_verified(world.ctx) is False
    world.holds(git_repository(), sync_kustomization())
    assert gitops.sync_verified(world.ctx) is True


# --- what the live checks say they saw -------------------------------------------------------------------------
def test_live_checks_name_what_they_saw(world: World) -> None:
    world.cluster_exists().holds(*[o for o in flux_install() if o["metadata"]["name"] != "helm-controller"],
                                 git_repository(), sync_kustomization(applied=OLD_REVISION))
    assert gitops.controllers_ready_verdict(world.ctx) == (False, "helm-controller: not created yet")
    assert gitops.sync_verified_verdict(world.ctx) == (
        False, f"Kustomization flux-system applied {OLD_REVISION}, the source is at {REVISION}")
    world.holds(*converged())
    assert gitops.controllers_ready_verdict(world.ctx) == (True, "4 Flux controllers available")
    assert gitops.sync_verified_verdict(world.ctx) == (True, f"revision {REVISION} applied")


# --- through the step's doit action ---------------------------------------------------------------------------
def test_bootstrap_as_a_doit_step_keeps_the_token_out_of_every_file(world: World, capsys) -> None:
    world.cluster_exists()
    world.runner.answer("op", "read", stdout=GITHUB_TOKEN)
    world.runner.answer("flux", "bootstrap", stderr=BOOTSTRAP_OUT)
    assert run_step(world, gitops.COMPONENT, "bootstrap") == {}
    files = state_texts(world)
    assert "flux-bootstrapped" in files
    assert all(GITHUB_TOKEN not in text for text in files.values())
    assert GITHUB_TOKEN not in capsys.readouterr().out


def test_a_failed_flux_bootstrap_fails_the_doit_step_with_flux_output(world: World) -> None:
    world.cluster_exists()
    world.runner.answer("op", "read", stdout=GITHUB_TOKEN)
    error = "✗ failed to create repository, error: POST https://api.github.com/user/repos: 401 Bad credentials []"
    world.runner.answer("flux", "bootstrap", code=1, stderr=error)
    result = run_step(world, gitops.COMPONENT, "bootstrap")
    assert isinstance(result, TaskFailed)
    assert str(result.message).startswith(f"gitops:bootstrap: `flux {' '.join(BOOTSTRAP)}` exited 1:\n{error}")
    files = state_texts(world)
    assert "flux-bootstrapped" not in files
    assert error in files[next(n for n in files if n.endswith("commands.json"))].replace("\\u2717", "✗")
    assert all(GITHUB_TOKEN not in text for text in files.values())


# --- what this file covers ------------------------------------------------------------------------------------
def test_every_step_and_live_check_of_the_phase_is_the_one_tested_here() -> None:
    """A step or check added to the phase fails here until it has tests in this file."""
    declared = {s.name: (s.action, [c.fn for c in s.live_checks()]) for s in gitops.COMPONENT.steps}
    assert declared == {
        "prerequisites": (gitops.prerequisites, []),
        "bootstrap": (gitops.bootstrap, [gitops.sync_configured, gitops.controllers_installed]),
        "ready": (gitops.ready, [gitops.controllers_ready_verdict]),
        "sync": (gitops.sync, [gitops.sync_verified_verdict]),
    }
