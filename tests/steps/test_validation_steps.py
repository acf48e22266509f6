"""Phase 1's steps in-process: what each asks the tools and the network, that none changes anything, and every
problem each can report (all at once, naming the file/field or the command and its output)."""

from __future__ import annotations

import shutil

import pytest
import yaml

from hops.components import validation
from hops.components.validation import COMPONENT
from hops.config.errors import ConfigError
from hops.errors import StepError
from tests.steps import objects_f1 as o
from tests.steps.harness import World

ACCOUNT = ["--account", "my.1password.com"]


def live(step: str, world: World) -> list[bool | tuple[bool, str]]:
    """Each declared live check of the step as the task model runs it: (holds, what it saw)."""
    return [check.fn(world.ctx) for check in COMPONENT.step(step).live_checks()]


# --- tools ----------------------------------------------------------------------------------------------------
def versions(world: World, **overrides: str) -> None:
    """Every required tool answers its version command (overrides: tool -> its stdout instead)."""
    for tool, text in {**o.VERSION_OUTPUT, **overrides}.items():
        world.runner.answer(tool, *validation.VERSION_ARGS[tool], stdout=text)


def test_tools_asks_each_required_tool_its_version_and_changes_nothing(world: World,
                                                                      capsys: pytest.CaptureFixture) -> None:
    versions(world)
    validation.tools(world.ctx)
    assert sorted(world.runner.lines()) == sorted([  # asked at once (tests/steps/test_parallel_work.py)
        "talosctl version --client --short", "talhelper --version", "helm version --short", "flux --version",
        "cilium version --client", "op --version"])
    assert world.runner.mutating_calls() == []
    assert "6 tools present at the configured versions" in capsys.readouterr().out


def test_tools_reports_every_missing_wrong_and_failing_tool_at_once(world: World) -> None:
    versions(world, talosctl="Client:\nTalos v1.8.2\n")
    world.runner.missing.add("helm")
    world.runner.answer("flux", "--version", code=1, stderr="flux: error while loading shared libraries: "
                                                            "libc.so.6: cannot open shared object file\n")
    with pytest.raises(StepError) as failure:
        validation.tools(world.ctx)
    assert str(failure.value) == (
        "tools are missing or at the wrong version:\n"
        "  - `talosctl` reports '1.8.2', bootstrap-config.yaml tools.required.talosctl wants 1.8.3\n"
        "  - `helm` is not installed or not on PATH\n"
        "  - `flux` failed to report its version (exit 1): flux: error while loading shared libraries: libc.so.6: "
        "cannot open shared object file")


def test_tools_a_version_only_starting_like_the_wanted_one_is_wrong(world: World) -> None:
    versions(world, talhelper="talhelper version 3.0.120\n")
    assert validation.tool_problems(world.ctx) == [
        "`talhelper` reports '3.0.120', bootstrap-config.yaml tools.required.talhelper wants 3.0.12"]


def test_tools_a_pre_release_of_the_wanted_version_is_not_that_version(world: World) -> None:
    versions(world, talosctl="Client:\nTalos v1.8.3-beta.0\n")
    assert validation.tool_problems(world.ctx) == [
        "`talosctl` reports '1.8.3-beta.0', bootstrap-config.yaml tools.required.talosctl wants 1.8.3"]


def test_tools_a_wanted_pre_release_matches_itself_and_build_metadata_is_not_a_version(world: World) -> None:
    o.reconfigure(world, lambda data: data["tools"]["required"].update({"talosctl": "1.9.0-beta.0"}))
    versions(world, talosctl="Client:\nTalos v1.9.0-beta.0\n", helm="v3.17.2+gcc0bbbd\n")
    assert validation.tool_problems(world.ctx) == []


# --- mise -----------------------------------------------------------------------------------------------------
def test_mise_matching_pins_and_a_working_mise_pass_with_one_read_only_call(world: World) -> None:
    world.runner.answer("mise", "--version", stdout=o.MISE_VERSION)
    validation.mise(world.ctx)
    assert world.runner.lines() == ["mise --version"] and world.runner.mutating_calls() == []


def test_mise_names_every_pin_that_differs_or_is_missing_and_a_failing_mise(world: World) -> None:
    mise_toml = world.root / ".mise.toml"
    mise_toml.write_text(mise_toml.read_text().replace('helm = "3.17.2"', 'helm = "3.16.2"')
                         .replace('cilium-cli = "0.16.20"\n', ""))
    world.runner.answer("mise", "--version", code=127, stderr="bash: mise: command not found\n")
    with pytest.raises(StepError) as failure:
        validation.mise(world.ctx)
    assert str(failure.value) == (
        "mise is not set up as configured:\n"
        "  - .mise.toml pins helm = 3.16.2, bootstrap-config.yaml tools.required.helm = 3.17.2\n"
        "  - .mise.toml [tools] has no cilium (bootstrap-config.yaml wants 0.16.20)\n"
        "  - `mise --version` failed (exit 127): bash: mise: command not found")


def test_mise_names_a_missing_or_broken_mise_toml(world: World) -> None:
    world.runner.answer("mise", "--version", stdout=o.MISE_VERSION)
    mise_toml = world.root / ".mise.toml"
    mise_toml.write_text("[tools\nhelm = 3\n")
    problems = validation.mise_problems(world.ctx)
    assert len(problems) == 1 and problems[0].startswith(".mise.toml: not valid TOML (")
    mise_toml.unlink()
    assert validation.mise_problems(world.ctx) == [
        ".mise.toml is missing: create it with a [tools] table pinning the tools in bootstrap-config.yaml"]


def test_mise_step_runs_only_when_tools_use_mise(world: World) -> None:
    assert COMPONENT.step("mise").when is validation.uses_mise
    assert validation.uses_mise(world.ctx) is True
    o.reconfigure(world, lambda data: data["tools"].update(use_mise=False))
    assert validation.uses_mise(world.ctx) is False


# --- env-vars -------------------------------------------------------------------------------------------------
def test_env_vars_passes_and_says_which_settings_came_from_the_environment(world: World,
                                                                          capsys: pytest.CaptureFixture) -> None:
    world.ctx.env = {**world.ctx.env, "OP_VAULT": "lab-vault"}
    world.ctx.__dict__.pop("settings", None)
    validation.env_vars(world.ctx)
    assert "onepassword.vault from environment OP_VAULT" in capsys.readouterr().out
    assert world.runner.calls == []


def test_env_vars_an_empty_setting_is_refused_naming_the_file_and_field(world: World) -> None:
    o.reconfigure(world, lambda data: data["onepassword"].update(vault=""))
    with pytest.raises(ConfigError) as failure:
        validation.env_vars(world.ctx)
    assert "bootstrap-config.yaml" in str(failure.value) and "onepassword.vault" in str(failure.value)


# --- onepassword ----------------------------------------------------------------------------------------------
def op_answers(world: World, titles: tuple[str, ...] = o.REQUIRED_ITEMS) -> None:
    world.runner.answer("op", "whoami", stdout=o.WHOAMI)
    world.runner.answer("op", "vault", "get", "homelab", stdout=o.VAULT)
    world.runner.answer("op", "item", "list", stdout=o.item_list(*titles))


def test_onepassword_signed_in_with_vault_and_items_reads_titles_only(world: World) -> None:
    op_answers(world, (*o.REQUIRED_ITEMS, "talos-secrets"))
    validation.onepassword(world.ctx)
    assert world.runner.lines() == [
        "op whoami --account my.1password.com",
        "op vault get homelab --account my.1password.com --format json",
        "op item list --vault homelab --account my.1password.com --format json"]
    assert world.runner.mutating_calls() == []  # never `op read`: validation reads no secret value


def test_onepassword_not_signed_in_says_how_to_sign_in(world: World) -> None:
    for read in (("whoami",), ("vault", "get"), ("item", "list")):  # signed out, every op read says so
        world.runner.answer("op", *read, code=1, stderr=o.NOT_SIGNED_IN)
    with pytest.raises(StepError) as failure:
        validation.onepassword(world.ctx)
    assert str(failure.value) == (  # one problem, named once: not three
        "1Password is not ready:\n  - 1Password CLI is not signed in to my.1password.com: run `eval $(op signin "
        "--account my.1password.com)` or set OP_SERVICE_ACCOUNT_TOKEN (" + o.NOT_SIGNED_IN.strip() + ")")
    assert sorted(line.split()[1] for line in world.runner.lines()) == ["item", "vault", "whoami"]  # at once


def test_onepassword_names_a_missing_vault(world: World) -> None:
    op_answers(world)
    error = o.op_error('"homelab" isn\'t a vault in this account. Specify the vault with its ID or name.')
    world.runner.answer("op", "vault", "get", code=1, stderr=error)
    assert validation.onepassword_problems(world.ctx) == [
        f"1Password vault 'homelab' (onepassword.vault) not found: {error.strip()}"]


def test_onepassword_names_every_missing_item_with_its_setting(world: World) -> None:
    op_answers(world, ("1password-connect-token",))
    with pytest.raises(StepError) as failure:
        validation.onepassword(world.ctx)
    assert str(failure.value) == (
        "1Password is not ready:\n"
        "  - 1Password item '1password-connect-credentials' (onepassword.items.connect_credentials) is not in vault "
        "'homelab'\n"
        "  - 1Password item 'github-token' (onepassword.items.github_token) is not in vault 'homelab'")


def test_onepassword_failing_item_list_names_the_command_and_ops_error(world: World) -> None:
    op_answers(world)
    error = o.op_error("Get \"https://my.1password.com/api/v1/vaults\": dial tcp: lookup my.1password.com: "
                       "no such host")
    world.runner.answer("op", "item", "list", code=1, stderr=error)
    with pytest.raises(StepError, match=r"`op item list --vault homelab --account my.1password.com --format json` "
                                        r"exited 1:\n\[ERROR\] .* no such host"):
        validation.onepassword(world.ctx)


# --- connectivity ---------------------------------------------------------------------------------------------
def test_connectivity_every_node_answers_before_the_cluster_exists(world: World, talos_apis: dict) -> None:
    validation.connectivity(world.ctx)
    assert live("connectivity", world) == [(True, "")]
    assert world.runner.calls == [] and world.api_writes == []


def test_connectivity_also_reaches_the_kubernetes_api_once_a_kubeconfig_exists(world: World, talos_apis: dict) -> None:
    world.cluster_exists()
    assert validation.connectivity_problems(world.ctx) == []
    world.server.stop()
    host, port = world.endpoints.api
    assert validation.connectivity_problems(world.ctx) == [
        f"Kubernetes API {host}:{port} (from {world.endpoints.kubeconfig}) unreachable: Connection refused"]


def test_connectivity_names_each_node_that_refuses(world: World, talos_apis: dict) -> None:
    talos_apis.pop("talos-cp-2").close()
    world.endpoints.talos_ports.pop("talos-cp-2")  # back to a refusing loopback port
    assert live("connectivity", world) == [(False, "node talos-cp-2 (127.0.51.12): Talos API port 9 unreachable: "
                                                   "Connection refused")]
    with pytest.raises(StepError, match=r"nodes are unreachable:\n  - node talos-cp-2 \(127.0.51.12\): Talos API port "
                                        r"9 unreachable: Connection refused$"):
        validation.connectivity(world.ctx)


# --- repository -----------------------------------------------------------------------------------------------
def test_repository_complete_passes_without_calls(world: World) -> None:
    validation.repository(world.ctx)
    assert live("repository", world) == [(True, ""), (True, "")]
    assert world.runner.calls == []


def test_repository_names_every_missing_file(world: World) -> None:
    (world.root / "infrastructure/networking/cilium/values.yaml").unlink()
    shutil.rmtree(world.root / "infrastructure/clusters/home-ops")
    verdict, _ = live("repository", world)
    assert verdict == (False, "infrastructure/networking/cilium/values.yaml is missing from the repository; "
                              "infrastructure/clusters/home-ops is missing from the repository")
    with pytest.raises(StepError) as failure:
        validation.repository(world.ctx)
    assert str(failure.value) == ("the repository is incomplete:\n"
                                  "  - infrastructure/networking/cilium/values.yaml is missing from the repository\n"
                                  "  - infrastructure/clusters/home-ops is missing from the repository")


def edit_helmrelease(world: World, folder: str, change) -> None:
    path = world.root / folder / "helmrelease.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    change(next(d for d in docs if d.get("kind") == "HelmRelease")["spec"])
    path.write_text(yaml.safe_dump_all(docs))


def misspell_chart(spec: dict) -> None:
    spec["chart"]["spec"]["chrat"] = spec["chart"]["spec"].pop("chart")


def test_repository_names_every_helmrelease_typo_with_file_object_and_field(world: World) -> None:
    edit_helmrelease(world, "infrastructure/apps/podinfo", misspell_chart)
    edit_helmrelease(world, "infrastructure/storage/longhorn", lambda spec: spec.update(interval="five"))
    files, manifests = live("repository", world)
    assert files == (True, "") and manifests[0] is False
    with pytest.raises(StepError) as failure:
        validation.repository(world.ctx)
    assert str(failure.value) == (
        "HelmReleases in the repository have mistakes Flux would refuse (correct them, then re-run):\n"
        "  - infrastructure/apps/podinfo/helmrelease.yaml: HelmRelease podinfo/podinfo: spec.chart.spec.chrat is "
        "not a field of a HelmRelease (did you mean spec.chart.spec.chart?)\n"
        "  - infrastructure/apps/podinfo/helmrelease.yaml: HelmRelease podinfo/podinfo: spec.chart.spec.chart is "
        "required\n"
        "  - infrastructure/storage/longhorn/helmrelease.yaml: HelmRelease longhorn-system/longhorn: spec.interval "
        "'five' is not a duration: digits followed by ms, s, m or h, such as 10m or 1h30m")
    assert manifests[1] == "; ".join(str(failure.value).split(":\n", 1)[1].replace("  - ", "").split("\n"))
    assert world.runner.calls == []


def test_repository_names_a_manifest_that_is_not_yaml(world: World) -> None:
    (world.root / "infrastructure/apps/podinfo/broken.yaml").write_text("kind: [HelmRelease\n")
    with pytest.raises(StepError) as failure:
        validation.repository(world.ctx)
    assert "infrastructure/apps/podinfo/broken.yaml: not valid YAML" in str(failure.value)


def test_mise_step_is_skipped_without_calling_mise_when_tools_do_not_use_it(world: World,
                                                                           capsys: pytest.CaptureFixture) -> None:
    (world.root / ".mise.toml").unlink()  # would be a problem if the step ran
    o.reconfigure(world, lambda data: data["tools"].update(use_mise=False))
    assert o.run_step(world, COMPONENT, "mise") == {}
    assert "[validation:mise] skipped: not applicable to this configuration" in capsys.readouterr().out
    assert world.runner.calls == []
