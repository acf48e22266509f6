"""Phase 4's steps in-process: what each step asks 1Password, helm and the API on a fresh cluster, that it changes
nothing on a converged one, every failure message it can give, and each live check true and false."""

from __future__ import annotations

import base64
import json

import pytest
from doit.exceptions import TaskFailed

from hops import helmrelease, onepassword
from hops.components import services
from hops.errors import StepError, WaitTimeout
from tests.projects import REPO
from tests.steps.harness import World
from tests.steps.objects_f1 import run_step
from tests.steps.objects_late_phases import (
    CONNECT_TOKEN,
    Later,
    b64,
    connect_credentials,
    crashing_pod,
    crd_not_established,
    expire_quickly,
    held,
    helm_record,
    helm_status,
    history,
    log_text,
    namespace,
    of_kind,
    one,
    op_error,
    ready_all,
    rendered,
    repo_documents,
    state_texts,
    with_status,
)

ACCOUNT = ["--account", "my.1password.com"]
CREDENTIALS_REF = "op://homelab/1password-connect-credentials/credentials"
TOKEN_REF = "op://homelab/1password-connect-token/token"
CREDENTIALS = connect_credentials()

# (step function, live check, folder, release, namespace, chart, version, app version, repository)
HELM_STEPS = {
    "external-secrets": (services.external_secrets, services.external_secrets_installed,
                         "infrastructure/services/external-secrets", "external-secrets", "external-secrets",
                         "external-secrets", "0.10.7", "v0.10.7", "https://charts.external-secrets.io"),
    "connect": (services.connect, services.connect_installed, "infrastructure/services/onepassword-connect",
                "onepassword-connect", "onepassword-connect", "connect", "1.16.0", "1.7.3",
                "https://1password.github.io/connect-helm-charts"),
    "longhorn": (services.longhorn, services.longhorn_installed, "infrastructure/storage/longhorn", "longhorn",
                 "longhorn-system", "longhorn", "1.7.2", "v1.7.2", "https://charts.longhorn.io"),
}


def answer_op(world: World, credentials: str = CREDENTIALS, token: str = CONNECT_TOKEN) -> None:
    world.runner.answer("op", "read", "--no-newline", CREDENTIALS_REF, stdout=credentials)
    world.runner.answer("op", "read", "--no-newline", TOKEN_REF, stdout=token)


def release_objects(step: str) -> list[dict]:
    """What the step's chart installs (the lab's rendering of it), every workload ready."""
    _, _, folder, release, ns, chart, _, _, _ = HELM_STEPS[step]
    own_namespace = helmrelease.documents(REPO / folder / "namespace.yaml")  # as the step applied it
    return [*own_namespace, *ready_all(rendered(chart, release, ns))]


def eso() -> list[dict]:
    return release_objects("external-secrets")


def connect_secrets(credentials: str = CREDENTIALS, token: str = CONNECT_TOKEN) -> list[dict]:
    """The two Secrets exactly as hops writes them (op-credentials holds the credentials base64-encoded)."""
    labels = {"app.kubernetes.io/managed-by": "hops"}
    return [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
             "metadata": {"name": name, "namespace": "onepassword-connect", "labels": labels}, "data": {key: value}}
            for name, key, value in (("op-credentials", "1password-credentials.json", b64(b64(credentials))),
                                     ("onepassword-connect-token", "token", b64(token)))]


def store(ready: bool = True, reason: str = "Valid", message: str = "store validated") -> dict:
    """The repository's ClusterSecretStore as External Secrets reports it."""
    doc = repo_documents_store()
    doc["status"] = {"capabilities": "ReadOnly", "conditions": [
        {"type": "Ready", "status": "True" if ready else "False", "reason": reason, "message": message,
         "lastTransitionTime": "2026-12-02T05:00:00Z"}]}
    return doc


def repo_documents_store() -> dict:
    return helmrelease.documents(REPO / services.STORE_DIR / "clustersecretstore.yaml")[0]


def not_secret(world: World, capsys: pytest.CaptureFixture[str], *values: str) -> None:
    out = capsys.readouterr()
    for value in values:
        for text in (log_text(world), out.out, out.err):
            assert value not in text and b64(value) not in text


# --- connect-credentials ------------------------------------------------------------------------------------
def test_connect_credentials_reads_both_items_and_changes_nothing(world: World, capsys) -> None:
    answer_op(world)
    services.connect_credentials(world.ctx)
    assert world.runner.lines() == [f"op read --no-newline {CREDENTIALS_REF} {' '.join(ACCOUNT)}",
                                    f"op read --no-newline {TOKEN_REF} {' '.join(ACCOUNT)}"]
    assert world.runner.mutating_calls() == [] and world.api_writes == []
    assert "credentials are version 2" in capsys.readouterr().out
    not_secret(world, capsys, CREDENTIALS, CONNECT_TOKEN)


@pytest.mark.parametrize("credentials, problem", [
    (connect_credentials(version="1"), "its \"version\" is '1', 1Password Connect requires version 2"),
    (connect_credentials(version=None), "its \"version\" is None"),
    ("op-credentials-as-plain-text-not-json", "it is not JSON"),
    ('["a JSON list"]', "it is not a JSON object"),
])
def test_connect_credentials_refuses_unusable_credentials_without_showing_them(world: World, credentials: str,
                                                                               problem: str, capsys) -> None:
    answer_op(world, credentials=credentials)
    with pytest.raises(StepError) as failure:
        services.connect_credentials(world.ctx)
    message = str(failure.value)
    assert problem in message and "item '1password-connect-credentials'" in message
    assert "onepassword.items.connect_credentials" in message and "create a new Connect server" in message
    assert credentials not in message
    assert world.runner.lines() == [f"op read --no-newline {CREDENTIALS_REF} {' '.join(ACCOUNT)}"]  # token not read
    not_secret(world, capsys, credentials)


@pytest.mark.parametrize("reference, key", [(CREDENTIALS_REF, "connect_credentials"), (TOKEN_REF, "connect_token")])
def test_connect_credentials_names_the_item_op_could_not_read(world: World, reference: str, key: str) -> None:
    answer_op(world)
    item = reference.split("/")[3]
    error = op_error(f"could not read secret '{reference}': \"{item}\" isn't an item in the \"homelab\" vault. "
                     "Specify the item with its UUID, name, or domain.")
    world.runner.answer("op", "read", "--no-newline", reference, code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        services.connect_credentials(world.ctx)
    assert str(failure.value).startswith(f"could not read {reference} (onepassword.items.{key}) from 1Password: ")
    assert f"\"{item}\" isn't an item in the \"homelab\" vault" in str(failure.value)


def test_connect_credentials_refuses_an_empty_token_item(world: World) -> None:
    """An empty token would become a Secret the ClusterSecretStore rejects much later: stop at the preflight."""
    answer_op(world, token="")
    with pytest.raises(StepError) as failure:
        services.connect_credentials(world.ctx)
    assert str(failure.value) == (f"{TOKEN_REF} (onepassword.items.connect_token) is empty in 1Password: store the "
                                  "value in that field of the item, then run hops again")


# --- the helm steps: external-secrets, connect, longhorn -------------------------------------------------------
@pytest.mark.parametrize("step", HELM_STEPS)
def test_helm_step_on_a_fresh_cluster_installs_the_chart_flux_manages(world: World, step: str) -> None:
    action, _, folder, release, ns, chart, version, app, repo = HELM_STEPS[step]
    world.cluster_exists()  # no release records: nothing to free, no `helm history` needed
    world.runner.answer("helm", "upgrade", stdout=helm_status(release, ns, 1))
    action(world.ctx)
    kubeconfig = str(world.endpoints.kubeconfig)
    assert world.runner.lines() == [
        f"helm upgrade --install {release} {chart} --repo {repo} --version {version} --namespace {ns} "
        f"--create-namespace --values {world.root / folder / 'values.yaml'} --kubeconfig {kubeconfig}"]
    assert world.api_writes == [("ADDED", "Namespace", ns)]  # the folder's namespace.yaml, before helm
    applied = held(world, "v1", "Namespace", ns)
    expected = repo_documents(world, f"{folder}/namespace.yaml")[0]
    assert expected.get("metadata", {}).get("labels", {}).items() <= applied["metadata"].get("labels", {}).items()


@pytest.mark.parametrize("step", HELM_STEPS)
def test_helm_step_on_a_converged_cluster_only_repeats_helms_upgrade(world: World, step: str) -> None:
    action, installed, folder, release, ns, chart, version, app, repo = HELM_STEPS[step]
    world.cluster_exists().holds(*release_objects(step))
    assert installed(world.ctx) is True  # the live check: doit skips the step
    world.runner.answer("helm", "history", stdout=history(chart, version, app, (1, "deployed", "Install complete")))
    world.runner.answer("helm", "upgrade", stdout=helm_status(release, ns, 2))
    action(world.ctx)
    # run anyway (its values changed, say), it is one `helm upgrade --install` of the same release, nothing else
    assert [line.split()[:4] for line in world.runner.mutating_calls()] == [["helm", "upgrade", "--install", release]]
    assert world.api_writes == []  # namespace.yaml applied again changes nothing


@pytest.mark.parametrize("step", HELM_STEPS)
def test_helm_step_fails_naming_the_chart_the_command_and_helms_output(world: World, step: str) -> None:
    action, _, _, release, ns, chart, version, _, repo = HELM_STEPS[step]
    world.cluster_exists()
    world.runner.answer("helm", "history", code=1, stderr="Error: release: not found")
    error = f'Error: INSTALLATION FAILED: chart "{chart}" version "{version}" not found in {repo} repository'
    world.runner.answer("helm", "upgrade", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        action(world.ctx)
    message = str(failure.value)
    assert message.startswith(f"installing {chart} {version} (release {ns}/{release}) with helm failed: "
                              f"`helm upgrade --install {release} {chart} --repo {repo}")
    assert message.endswith(f"exited 1:\n{error}")
    assert len(world.runner.mutating_calls()) == 1  # a missing chart version is permanent: not retried


def test_helm_step_retries_a_transient_failure_after_reading_the_history_again(world: World) -> None:
    """A webhook not ready yet is transient: the release's records are looked at again (the failed try may have
    left it pending) and the upgrade repeated."""
    world.cluster_exists().holds(*eso())
    world.runner.answer("helm", "history", code=1, stderr="Error: release: not found")
    world.runner.answer("helm", "upgrade", stdout=helm_status("onepassword-connect", "onepassword-connect", 1))
    world.runner.answer("helm", "upgrade", code=1, times=1, stderr=(
        'Error: INSTALLATION FAILED: Internal error occurred: failed calling webhook '
        '"validate.clustersecretstore.external-secrets.io": failed to call webhook: Post '
        '"https://external-secrets-webhook.external-secrets.svc:443/validate-clustersecretstores?timeout=5s": '
        "dial tcp 10.96.12.7:443: connect: connection refused"))
    services.connect(world.ctx)
    assert [line.split()[1] for line in world.runner.lines()] == ["upgrade", "upgrade"]  # no records left pending


def test_helm_step_fails_naming_a_missing_values_file_before_any_call(world: World) -> None:
    world.cluster_exists()
    values = world.root / "infrastructure/storage/longhorn/values.yaml"
    values.unlink()
    with pytest.raises(StepError) as failure:
        services.longhorn(world.ctx)
    assert str(failure.value) == f"values file {values} is missing (the same file Flux uses for longhorn)"
    assert world.runner.calls == [] and world.api_writes == []


def test_helm_step_fails_when_helm_cannot_read_the_release_history(world: World) -> None:
    world.cluster_exists().holds(*eso(), helm_record("external-secrets", "external-secrets", 1, "pending-install"))
    error = ('Error: Kubernetes cluster unreachable: Get "https://127.0.0.1:6443/version": dial tcp 127.0.0.1:6443: '
             "connect: connection refused")
    world.runner.answer("helm", "history", code=1, stderr=error)
    with pytest.raises(StepError) as failure:
        services.external_secrets(world.ctx)
    assert str(failure.value) == ("reading the history of helm release external-secrets/external-secrets failed: "
                                  f"`helm history` exited 1: {error}")
    assert world.runner.mutating_calls() == []


def test_helm_step_rolls_back_a_release_an_interrupted_run_left_pending(world: World, capsys) -> None:
    """A pending-upgrade older than one helm command may take is stale: rolled back, then upgraded."""
    world.cluster_exists().holds(*eso(), helm_record("external-secrets", "external-secrets", 1, "deployed"),
                                 helm_record("external-secrets", "external-secrets", 2, "pending-upgrade"))
    args = ("external-secrets", "0.10.7", "v0.10.7")
    after = history(*args, (1, "superseded", "Install complete"), (2, "failed", "Upgrade failed"),
                    (3, "deployed", "Rollback to 1"))
    pending = history(*args, (1, "deployed", "Install complete"), (2, "pending-upgrade", "Preparing upgrade"),
                      age_s=3600)
    world.runner.answer("helm", "history", stdout=after)
    world.runner.answer("helm", "history", stdout=pending, times=1)
    world.runner.answer("helm", "rollback", stdout="Rollback was a success! Happy Helming!")
    world.runner.answer("helm", "upgrade", stdout=helm_status("external-secrets", "external-secrets", 4))
    services.external_secrets(world.ctx)
    kubeconfig = str(world.endpoints.kubeconfig)
    assert world.runner.mutating_calls()[0] == (f"helm rollback external-secrets 1 -n external-secrets "
                                                f"--kubeconfig {kubeconfig}")
    assert world.runner.mutating_calls()[1].startswith("helm upgrade --install external-secrets ")
    assert "was left pending-upgrade (revision 2)" in capsys.readouterr().out


def longhorn_pending_elsewhere(world: World) -> None:
    """Revision 2 of longhorn pending for seconds, without a note of hops's: someone else's helm is at work."""
    world.cluster_exists().holds(*release_objects("longhorn"),
                                 helm_record("longhorn", "longhorn-system", 1, "deployed"),
                                 helm_record("longhorn", "longhorn-system", 2, "pending-upgrade"))
    args = ("longhorn", "1.7.2", "v1.7.2")
    world.runner.answer("helm", "history", stdout=history(*args, (1, "superseded", "Install complete"),
                                                          (2, "deployed", "Upgrade complete")))
    world.runner.answer("helm", "history", times=1, stdout=history(
        *args, (1, "deployed", "Install complete"), (2, "pending-upgrade", "Preparing upgrade"), age_s=5))


def test_helm_step_waits_for_someone_elses_helm_to_finish_then_upgrades(world: World, capsys) -> None:
    longhorn_pending_elsewhere(world)
    world.runner.answer("helm", "upgrade", stdout=helm_status("longhorn", "longhorn-system", 3))
    later = Later(world, "v1", "Secret", helm_record("longhorn", "longhorn-system", 2, "deployed"))
    services.longhorn(world.ctx)
    later.done()
    assert [c.split()[1] for c in world.runner.mutating_calls()] == ["upgrade"]  # nothing rolled back
    assert "working on it; waiting for it to finish" in capsys.readouterr().out


def test_helm_step_fails_when_someone_elses_helm_stays_pending_past_the_deadline(world: World) -> None:
    longhorn_pending_elsewhere(world)
    expire_quickly(world)
    with pytest.raises(StepError) as failure:
        services.longhorn(world.ctx)
    assert str(failure.value).startswith(
        "helm release longhorn-system/longhorn is still pending-upgrade (revision 2): an operation hops did not "
        "start (a user's helm or Flux's helm-controller) has not finished by the phase deadline. See `helm history "
        "longhorn -n longhorn-system`")
    assert world.runner.mutating_calls() == []


@pytest.mark.parametrize("step, kind, name", [("external-secrets", "Deployment", "external-secrets-webhook"),
                                              ("connect", "Deployment", "onepassword-connect"),
                                              ("longhorn", "DaemonSet", "longhorn-manager")])
def test_helm_step_installed_check_true_and_false(world: World, step: str, kind: str, name: str) -> None:
    installed = HELM_STEPS[step][1]
    world.cluster_exists()
    everything = release_objects(step)
    world.holds(*[o for o in everything if not (o["kind"] == kind and o["metadata"]["name"] == name)])
    assert installed(world.ctx) is False  # one of the chart's workloads was deleted
    world.holds(one(everything, kind, name))
    assert installed(world.ctx) is True
    assert world.runner.calls == [] and world.api_writes == []


# --- external-secrets-ready -----------------------------------------------------------------------------------
def test_external_secrets_ready_times_out_naming_every_crd_not_established(world: World) -> None:
    world.cluster_exists().holds(*[o for o in eso() if o["kind"] != "CustomResourceDefinition"])
    crds = of_kind(eso(), "CustomResourceDefinition")
    world.holds(crd_not_established(one(crds, "CustomResourceDefinition", "secretstores.external-secrets.io")))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.external_secrets_ready(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for the External Secrets CRDs to be Established: externalsecrets.external-secrets.io: "
        "not created; secretstores.external-secrets.io: Established=False NotAccepted: not all names are accepted; "
        "clustersecretstores.external-secrets.io: not created")


def test_external_secrets_ready_times_out_naming_the_deployment_and_its_crashing_pod(world: World) -> None:
    objects = eso()
    webhook = one(objects, "Deployment", "external-secrets-webhook")
    pod = crashing_pod("external-secrets", "external-secrets-webhook-7d9f8b6c5-x2k4q", "webhook",
                       "back-off 2m40s restarting failed container=webhook")
    world.cluster_exists().holds(*[o for o in objects if o is not webhook], with_status(webhook, ready=0), pod)
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.external_secrets_ready(world.ctx)
    message = str(failure.value)
    assert message.startswith("timed out waiting for external-secrets, external-secrets-webhook, "
                              "external-secrets-cert-controller in external-secrets to be Available: Deployment "
                              "external-secrets/external-secrets-webhook: 0/1 available, Available=False "
                              "MinimumReplicasUnavailable: Deployment does not have minimum availability.")
    assert message.endswith("; pods: external-secrets-webhook-7d9f8b6c5-x2k4q/webhook: CrashLoopBackOff back-off "
                            "2m40s restarting failed container=webhook")


def test_external_secrets_ready_returns_when_the_webhook_becomes_available_while_it_waits(world: World,
                                                                                        capsys) -> None:
    objects = eso()
    webhook = one(objects, "Deployment", "external-secrets-webhook")
    world.cluster_exists().holds(*[o for o in objects if o is not webhook], with_status(webhook, ready=0))
    later = Later(world, "apps/v1", "Deployment", with_status(webhook))
    services.external_secrets_ready(world.ctx)
    later.done()
    assert "3 CRDs Established; controller, webhook, cert-controller available" in capsys.readouterr().out
    assert services.external_secrets_healthy(world.ctx) is True


def test_external_secrets_ready_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*eso())
    assert services.external_secrets_healthy(world.ctx) is True
    services.external_secrets_ready(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


@pytest.mark.parametrize("broken", ["CRD not established", "controller unavailable"])
def test_external_secrets_healthy_false_and_true(world: World, broken: str) -> None:
    objects = eso()
    if broken == "CRD not established":
        crd = one(objects, "CustomResourceDefinition", "clustersecretstores.external-secrets.io")
        world.cluster_exists().holds(*[o for o in objects if o is not crd], crd_not_established(crd))
        assert services.external_secrets_healthy(world.ctx) is False
        return  # a CRD the apiserver refused stays refused: the true case is the converged test above
    controller = one(objects, "Deployment", "external-secrets")
    world.cluster_exists().holds(*[o for o in objects if o is not controller], with_status(controller, ready=0))
    assert services.external_secrets_healthy(world.ctx) is False
    world.holds(with_status(controller))
    assert services.external_secrets_healthy(world.ctx) is True


# --- connect-secrets ------------------------------------------------------------------------------------------
def test_connect_secrets_writes_both_secrets_from_1password_through_the_api(world: World, capsys) -> None:
    world.cluster_exists()
    answer_op(world)
    services.connect_secrets(world.ctx)
    assert world.runner.mutating_calls() == []  # only `op read`: the values reach the cluster through the API
    assert world.api_writes == [("ADDED", "Namespace", "onepassword-connect"),
                                ("ADDED", "Secret", "onepassword-connect/op-credentials"),
                                ("ADDED", "Secret", "onepassword-connect/onepassword-connect-token")]
    credentials = held(world, "v1", "Secret", "op-credentials", "onepassword-connect")
    token = held(world, "v1", "Secret", "onepassword-connect-token", "onepassword-connect")
    # OP_SESSION is the credentials file base64-encoded, stored (base64 again) as Secret data
    decoded = base64.b64decode(base64.b64decode(credentials["data"]["1password-credentials.json"]))
    assert json.loads(decoded) == json.loads(CREDENTIALS)
    assert base64.b64decode(token["data"]["token"]).decode() == CONNECT_TOKEN
    assert services.connect_secrets_exist(world.ctx) is True
    for call in world.runner.calls:
        assert CONNECT_TOKEN not in " ".join(call.args) and CREDENTIALS not in " ".join(call.args)
    not_secret(world, capsys, CREDENTIALS, CONNECT_TOKEN)


def test_connect_secrets_uses_the_values_connect_credentials_read_in_this_process(world: World) -> None:
    world.cluster_exists()
    answer_op(world)
    services.connect_credentials(world.ctx)
    services.connect_secrets(world.ctx)
    assert len(world.runner.lines()) == 2  # each value asked of 1Password once
    token = held(world, "v1", "Secret", "onepassword-connect-token", "onepassword-connect")
    assert base64.b64decode(token["data"]["token"]).decode() == CONNECT_TOKEN


def test_a_value_stored_in_1password_is_read_anew(world: World) -> None:
    world.runner.answer("op", "read", code=0, stdout="first")
    assert onepassword.read(world.ctx, "talos_secrets", "secrets") == "first"
    world.runner.answer("op", "item", "create", stdout="{}")
    onepassword.store(world.ctx, "talos_secrets", {"secrets": "second"})
    world.runner.answer("op", "read", code=0, stdout="second")
    assert onepassword.read(world.ctx, "talos_secrets", "secrets") == "second"
    assert world.runner.lines().count(world.runner.lines()[0]) == 2


def test_connect_secrets_on_a_converged_cluster_writes_nothing(world: World) -> None:
    world.cluster_exists().holds(namespace("onepassword-connect"), *connect_secrets())
    assert services.connect_secrets_exist(world.ctx) is True
    answer_op(world)
    services.connect_secrets(world.ctx)
    assert world.runner.mutating_calls() == [] and world.api_writes == []


def test_connect_secrets_refuses_version_1_credentials_before_writing_anything(world: World) -> None:
    world.cluster_exists()
    answer_op(world, credentials=connect_credentials(version="1"))
    with pytest.raises(StepError, match="1Password Connect requires version 2"):
        services.connect_secrets(world.ctx)
    assert world.api_writes == []


def test_connect_secrets_fails_naming_the_token_item_op_could_not_read(world: World) -> None:
    world.cluster_exists()
    answer_op(world)
    world.runner.answer("op", "read", "--no-newline", TOKEN_REF, code=1, stderr=op_error(
        "You are not currently signed in. Please run `op signin --help` for instructions"))
    with pytest.raises(StepError) as failure:
        services.connect_secrets(world.ctx)
    assert str(failure.value).startswith(f"could not read {TOKEN_REF} (onepassword.items.connect_token)")
    assert "You are not currently signed in" in str(failure.value)
    assert world.api_writes == []


@pytest.mark.parametrize("broken", ["token Secret missing", "credentials key empty"])
def test_connect_secrets_exist_false_and_true(world: World, broken: str) -> None:
    creds, token = connect_secrets()
    world.cluster_exists()
    if broken == "token Secret missing":
        world.holds(namespace("onepassword-connect"), creds)
    else:
        empty = {**creds, "data": {"1password-credentials.json": ""}}
        world.holds(namespace("onepassword-connect"), empty, token)
    assert services.connect_secrets_exist(world.ctx) is False
    world.holds(creds, token)
    assert services.connect_secrets_exist(world.ctx) is True


# --- connect-ready --------------------------------------------------------------------------------------------
def connect_deployment(ready: int | None = None) -> dict:
    return with_status(one(rendered("connect", "onepassword-connect", "onepassword-connect"), "Deployment",
                           "onepassword-connect"), ready)


def test_connect_ready_times_out_naming_the_deployment_and_the_waiting_container(world: World) -> None:
    pod = crashing_pod("onepassword-connect", "onepassword-connect-5c9b8d7f4-q7w2e", "connect-api",
                       "back-off 1m20s restarting failed container=connect-api")
    world.cluster_exists().holds(namespace("onepassword-connect"), connect_deployment(ready=0), pod)
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.connect_ready(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for onepassword-connect in onepassword-connect to be Available: Deployment "
        "onepassword-connect/onepassword-connect: 0/1 available, Available=False MinimumReplicasUnavailable: "
        "Deployment does not have minimum availability.; pods: onepassword-connect-5c9b8d7f4-q7w2e/connect-api: "
        "CrashLoopBackOff back-off 1m20s restarting failed container=connect-api")


def test_connect_ready_returns_when_connect_becomes_available_while_it_waits(world: World) -> None:
    world.cluster_exists().holds(namespace("onepassword-connect"), connect_deployment(ready=0))
    later = Later(world, "apps/v1", "Deployment", connect_deployment())
    services.connect_ready(world.ctx)
    later.done()
    assert world.runner.calls == []


def test_connect_available_true_and_false(world: World) -> None:
    world.cluster_exists().holds(namespace("onepassword-connect"), connect_deployment(ready=0))
    assert services.connect_available(world.ctx) is False
    world.holds(connect_deployment())
    assert services.connect_available(world.ctx) is True
    services.connect_ready(world.ctx)  # converged: returns at once, changes nothing
    assert world.runner.calls == [] and world.api_writes == []


# --- connect-validated ----------------------------------------------------------------------------------------
def test_connect_validated_applies_the_repositorys_store_and_waits_for_it(world: World, capsys) -> None:
    world.cluster_exists().holds(*eso())
    later = Later(world, "external-secrets.io/v1beta1", "ClusterSecretStore",
                  change=lambda: world.store.set_status("external-secrets.io/v1beta1", "ClusterSecretStore",
                                                        "onepassword", None, store()["status"]))
    services.connect_validated(world.ctx)
    later.done()
    assert world.api_writes[0] == ("ADDED", "ClusterSecretStore", "onepassword")
    assert held(world, "external-secrets.io/v1beta1", "ClusterSecretStore", "onepassword")["spec"] == \
        repo_documents_store()["spec"]
    assert "ClusterSecretStore onepassword Ready: 1Password Connect works" in capsys.readouterr().out
    assert world.runner.calls == []


def test_connect_validated_times_out_with_the_stores_condition(world: World) -> None:
    message = ('unable to validate store: Get "http://onepassword-connect.onepassword-connect.svc.cluster.local:8080'
               '/v1/vaults": dial tcp: lookup onepassword-connect.onepassword-connect.svc.cluster.local: connection '
               'refused')
    world.cluster_exists().holds(*eso(), store(ready=False, reason="ValidationFailed", message=message))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.connect_validated(world.ctx)
    assert str(failure.value) == ("timed out waiting for ClusterSecretStore onepassword to be Ready: "
                                  f"ClusterSecretStore onepassword: Ready=False ValidationFailed: {message}")


def test_connect_validated_on_a_converged_cluster_writes_nothing(world: World) -> None:
    world.cluster_exists().holds(*eso(), store())
    assert services.stores_ready(world.ctx) is True
    services.connect_validated(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


def test_connect_validated_fails_naming_a_store_without_a_name(world: World) -> None:
    world.cluster_exists().holds(*eso())
    path = world.root / services.STORE_DIR / "clustersecretstore.yaml"
    path.write_text(path.read_text().replace("  name: onepassword\n", "  labels: {}\n", 1))
    with pytest.raises(StepError) as failure:
        services.connect_validated(world.ctx)
    assert str(failure.value) == f"{world.root / services.STORE_DIR}: a ClusterSecretStore has no metadata.name"


def test_stores_ready_false_and_true(world: World) -> None:
    world.cluster_exists().holds(*eso())
    assert services.stores_ready(world.ctx) is False  # not created
    world.holds(store(ready=False, reason="InvalidProviderConfig", message="could not get provider client"))
    assert services.stores_ready(world.ctx) is False
    world.holds(store())
    assert services.stores_ready(world.ctx) is True


# --- longhorn-ready -------------------------------------------------------------------------------------------
def longhorn(manager_ready: int | None = None, desired: int = 3, storage_class: bool = True) -> list[dict]:
    objects = release_objects("longhorn")
    manager = one(objects, "DaemonSet", "longhorn-manager")
    objects = [o for o in objects if o is not manager and (storage_class or o["kind"] != "StorageClass")]
    return [*objects, with_status(manager, manager_ready, desired)]


def test_longhorn_ready_times_out_naming_the_manager_counts_and_a_waiting_pod(world: World) -> None:
    pod = crashing_pod("longhorn-system", "longhorn-manager-8xk2p", "longhorn-manager",
                       "back-off 5m0s restarting failed container=longhorn-manager")
    world.cluster_exists().holds(*longhorn(manager_ready=1), pod)
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.longhorn_ready(world.ctx)
    assert str(failure.value) == (
        "timed out waiting for the Longhorn manager on every node: DaemonSet longhorn-system/longhorn-manager: "
        "desiredNumberScheduled=3 numberReady=1; pods: longhorn-manager-8xk2p/longhorn-manager: CrashLoopBackOff "
        "back-off 5m0s restarting failed container=longhorn-manager")


def test_longhorn_ready_times_out_when_the_storage_class_is_missing(world: World) -> None:
    world.cluster_exists().holds(*longhorn(storage_class=False))
    expire_quickly(world)
    with pytest.raises(WaitTimeout) as failure:
        services.longhorn_ready(world.ctx)
    assert str(failure.value) == "timed out waiting for StorageClass longhorn: StorageClass longhorn not created"


def test_longhorn_ready_returns_when_the_manager_becomes_ready_while_it_waits(world: World, capsys) -> None:
    world.cluster_exists().holds(*longhorn(manager_ready=2))
    manager = one(longhorn(), "DaemonSet", "longhorn-manager")
    later = Later(world, "apps/v1", "DaemonSet", manager)
    services.longhorn_ready(world.ctx)
    later.done()
    assert "Longhorn manager ready; StorageClass longhorn present" in capsys.readouterr().out


def test_longhorn_ready_on_a_converged_cluster_changes_nothing(world: World) -> None:
    world.cluster_exists().holds(*longhorn())
    services.longhorn_ready(world.ctx)
    assert world.runner.calls == [] and world.api_writes == []


@pytest.mark.parametrize("broken", [{"manager_ready": 2}, {"manager_ready": 0, "desired": 0},
                                    {"storage_class": False}])
def test_longhorn_healthy_false_and_true(world: World, broken: dict) -> None:
    world.cluster_exists().holds(*longhorn(**broken))
    assert services.longhorn_healthy(world.ctx) is False
    world.holds(*longhorn())
    assert services.longhorn_healthy(world.ctx) is True


# --- what the live checks say they saw -------------------------------------------------------------------------
def test_live_checks_name_what_they_saw(world: World) -> None:
    objects = eso()
    controller = one(objects, "Deployment", "external-secrets")
    world.cluster_exists().holds(*[o for o in objects if o is not controller], with_status(controller, ready=0),
                                 *longhorn(storage_class=False))
    assert services.external_secrets_healthy_verdict(world.ctx) == (False, (
        "Deployment external-secrets/external-secrets: 0/1 available, Available=False MinimumReplicasUnavailable: "
        "Deployment does not have minimum availability."))
    assert services.connect_available_verdict(world.ctx) == (
        False, "Deployment onepassword-connect/onepassword-connect does not exist")
    assert services.longhorn_healthy_verdict(world.ctx) == (False, "StorageClass longhorn does not exist")
    world.holds(with_status(controller), namespace("onepassword-connect"), connect_deployment(), *longhorn())
    assert services.external_secrets_healthy_verdict(world.ctx) == (True, "healthy")
    assert services.connect_available_verdict(world.ctx) == (True, "available")
    assert services.longhorn_healthy_verdict(world.ctx) == (
        True, "DaemonSet longhorn-system/longhorn-manager: desiredNumberScheduled=3 numberReady=3")


# --- through the step's doit action ---------------------------------------------------------------------------
def test_connect_secrets_as_a_doit_step_leaves_its_marker_and_no_secret_anywhere(world: World, capsys) -> None:
    world.cluster_exists()
    answer_op(world)
    assert run_step(world, services.COMPONENT, "connect-secrets") == {}
    files = state_texts(world)
    assert "onepassword-connect-secrets-created" in files
    for name, text in files.items():
        for value in (CONNECT_TOKEN, CREDENTIALS, b64(CONNECT_TOKEN), b64(CREDENTIALS)):
            assert value not in text, name
    not_secret(world, capsys, CREDENTIALS, CONNECT_TOKEN)


def test_unusable_credentials_fail_the_doit_step_with_its_message_and_no_secret(world: World, capsys) -> None:
    credentials = connect_credentials(version="1")
    answer_op(world, credentials=credentials)
    result = run_step(world, services.COMPONENT, "connect-credentials")
    assert isinstance(result, TaskFailed)  # a failure of the world (exit 1), not a bug in hops
    message = str(result.message)
    assert message.startswith("services:connect-credentials: the 1Password Connect credentials (item "
                              "'1password-connect-credentials', field \"credentials\"")
    assert "Traceback" not in message and message.endswith("re-run the same command to resume from this step")
    files = state_texts(world)
    assert "onepassword-credentials-verified" not in files  # no marker for a failed step
    assert any(name.startswith("diagnostics/") for name in files)
    for name, text in files.items():
        assert credentials not in text, name
    not_secret(world, capsys, credentials)


# --- what this file covers ------------------------------------------------------------------------------------
def test_every_step_and_live_check_of_the_phase_is_the_one_tested_here() -> None:
    """A step or check added to the phase fails here until it has tests in this file."""
    declared = {s.name: (s.action, [c.fn for c in s.live_checks()]) for s in services.COMPONENT.steps}
    assert declared == {
        "connect-credentials": (services.connect_credentials, []),
        "external-secrets": (services.external_secrets, [services.external_secrets_installed]),
        "external-secrets-ready": (services.external_secrets_ready, [services.external_secrets_healthy_verdict]),
        "connect-secrets": (services.connect_secrets, [services.connect_secrets_exist]),
        "connect": (services.connect, [services.connect_installed]),
        "connect-ready": (services.connect_ready, [services.connect_available_verdict]),
        "connect-validated": (services.connect_validated, [services.stores_ready_verdict]),
        "longhorn": (services.longhorn, [services.longhorn_installed]),
        "longhorn-ready": (services.longhorn_ready, [services.longhorn_healthy_verdict]),
    }


def test_connect_validated_sources_are_the_kustomization_and_every_resource_it_lists(world: World) -> None:
    folder = world.root / services.STORE_DIR
    assert services.store_sources(world.ctx) == [folder / "kustomization.yaml", folder / "clustersecretstore.yaml"]
    (folder / "extra.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: extra}\n")
    (folder / "kustomization.yaml").write_text((folder / "kustomization.yaml").read_text() + "  - extra.yaml\n")
    assert services.store_sources(world.ctx)[-1] == folder / "extra.yaml"
