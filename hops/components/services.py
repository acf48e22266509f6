"""Phase 4 — core services: External Secrets, then 1Password Connect and its ClusterSecretStore (a chain: the
store needs both), and Longhorn independently of both (`doit -n 3 services` runs it in parallel). Every helm call
of the phase waits for the preflight `connect-credentials` (1Password only, no cluster change), so unusable
Connect credentials stop the phase before anything is installed.

Every chart, version and values file comes from infrastructure/ (the same files Flux manages afterwards). The
Connect credentials and token go from 1Password straight into Kubernetes Secrets through the API: never on disk,
a command line, a log or stdout."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from hops import helmrelease, onepassword
from hops.context import Context
from hops.errors import StepError
from hops.kube import describe_condition, is_true
from hops.taskmodel import TAIL_PARAM, Check, Component, Operation, Step
from hops.waiting import deadline_for
from hops.workloads import daemonset_state, deployment_state, naming_waiting_pods, print_pod_logs

ESO_DIR, ESO_NS = "infrastructure/services/external-secrets", "external-secrets"
ESO_DEPLOYMENTS = ("external-secrets", "external-secrets-webhook", "external-secrets-cert-controller")
ESO_CRDS = ("externalsecrets.external-secrets.io", "secretstores.external-secrets.io",
            "clustersecretstores.external-secrets.io")
CONNECT_DIR, CONNECT_NS, CONNECT = "infrastructure/services/onepassword-connect", "onepassword-connect", \
    "onepassword-connect"
STORE_DIR = "infrastructure/services/cluster-secret-store"
CREDENTIALS_SECRET, CREDENTIALS_KEY = "op-credentials", "1password-credentials.json"
TOKEN_SECRET, TOKEN_KEY = "onepassword-connect-token", "token"
LONGHORN_DIR, LONGHORN_NS, LONGHORN_MANAGER = "infrastructure/storage/longhorn", "longhorn-system", "longhorn-manager"


def _deadline(ctx: Context) -> float:
    return deadline_for(ctx, "services")


def _install(ctx: Context, folder: str) -> None:
    helmrelease.upgrade_install(ctx, helmrelease.load(ctx.root, folder), ctx.root / folder / "values.yaml")


def _sources(folder: str) -> tuple[str, str]:
    return f"{folder}/values.yaml", f"{folder}/helmrelease.yaml"


def wait_deployments(ctx: Context, ns: str, names: tuple[str, ...], deadline: float) -> None:
    """Wait until every named Deployment in ns is Available; a timeout names the pods still waiting in ns."""
    def state(objs: dict[str, dict]) -> tuple[bool, str]:
        results = [deployment_state(objs.get(n), ns, n) for n in names]
        pending = [detail for ok, detail in results if not ok]
        return not pending, "; ".join(pending) or "all available"

    with naming_waiting_pods(ctx.kube, ns):
        ctx.kube.wait("Deployment", f"{', '.join(names)} in {ns} to be Available", state, deadline, namespace=ns)


def deployments_ready(ctx: Context, ns: str, names: tuple[str, ...]) -> bool:
    """Whether every named Deployment in ns is available (see deployments_verdict)."""
    return deployments_verdict(ctx, ns, names)[0]


def deployments_verdict(ctx: Context, ns: str, names: tuple[str, ...]) -> tuple[bool, str]:
    """Every named Deployment available, or what each one that is not says."""
    states = [deployment_state(ctx.kube.get("Deployment", n, ns), ns, n) for n in names]
    return all(ok for ok, _ in states), "; ".join(t for ok, t in states if not ok) or "available"


# --- External Secrets -----------------------------------------------------------------------------------------
def external_secrets(ctx: Context) -> None:
    """helm upgrade --install External Secrets with ESO_DIR's HelmRelease and values.yaml."""
    _install(ctx, ESO_DIR)


def external_secrets_installed(ctx: Context) -> bool:
    """Every Deployment of the chart exists (a deleted one means the release must be applied again)."""
    return all(ctx.kube.get("Deployment", name, ESO_NS) is not None for name in ESO_DEPLOYMENTS)


def crds_state(objs: dict[str, dict]) -> tuple[bool, str]:
    """(every External Secrets CRD Established, which are not and why) from the CRDs by name."""
    pending = [f"{name}: {describe_condition(objs[name], 'Established') if name in objs else 'not created'}"
               for name in ESO_CRDS if name not in objs or not is_true(objs[name], "Established")]
    return not pending, "; ".join(pending) or "all Established"


def external_secrets_ready(ctx: Context) -> None:
    """CRDs Established and the webhook available before anything creates a store (lesson 3)."""
    deadline = _deadline(ctx)
    ctx.kube.wait("CustomResourceDefinition", "the External Secrets CRDs to be Established", crds_state, deadline)
    wait_deployments(ctx, ESO_NS, ESO_DEPLOYMENTS, deadline)
    ctx.log.say(f"  External Secrets: {len(ESO_CRDS)} CRDs Established; controller, webhook, cert-controller available")


def external_secrets_healthy(ctx: Context) -> bool:
    """Whether the External Secrets live check passes (see external_secrets_healthy_verdict)."""
    return external_secrets_healthy_verdict(ctx)[0]


def external_secrets_healthy_verdict(ctx: Context) -> tuple[bool, str]:
    """The `CRDs Established and deployments available` live check, naming what is not."""
    crds = crds_state({n: c for n in ESO_CRDS if (c := ctx.kube.get("CustomResourceDefinition", n)) is not None})
    deployments = deployments_verdict(ctx, ESO_NS, ESO_DEPLOYMENTS)
    return crds[0] and deployments[0], "; ".join(t for ok, t in (crds, deployments) if not ok) or "healthy"


# --- 1Password Connect ----------------------------------------------------------------------------------------
def credentials_problem(text: str) -> str | None:
    """Connect accepts only version 2 credentials files (lesson 12). Never includes the value in the message."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return "it is not JSON (expected the contents of 1password-credentials.json)"
    if not isinstance(data, dict):
        return "it is not a JSON object (expected the contents of 1password-credentials.json)"
    if str(data.get("version")) != "2":
        return f"its \"version\" is {data.get('version')!r}, 1Password Connect requires version 2"
    return None


def read_credentials(ctx: Context) -> str:
    """The credentials from 1Password, checked to be version 2 before anything is deployed."""
    text = onepassword.read(ctx, "connect_credentials", "credentials")
    problem = credentials_problem(text)
    if problem:
        item = onepassword.item_title(ctx, "connect_credentials")
        raise StepError(f"the 1Password Connect credentials (item {item!r}, field \"credentials\", "
                        f"onepassword.items.connect_credentials) are not usable: {problem}. 1Password Connect "
                        f"rejects them (\"credentials file is not version 2\"): create a new Connect server in "
                        f"1Password and store its 1password-credentials.json in that item.")
    return text


def connect_values(ctx: Context) -> tuple[str, str]:
    """The Connect credentials (checked first: unusable ones end the step before the token is read) and token."""
    return read_credentials(ctx), onepassword.read(ctx, "connect_token", "token")


def connect_credentials(ctx: Context) -> None:
    """Preflight, no cluster change: the Connect credentials are version 2 and the token item is readable."""
    connect_values(ctx)
    ctx.log.say("  1Password Connect credentials are version 2; the token item is readable")


def _secret(name: str, key: str, value: str) -> dict:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name, "namespace": CONNECT_NS, "labels": {"app.kubernetes.io/managed-by": "hops"}},
            "data": {key: base64.b64encode(value.encode()).decode()}}


def connect_secrets(ctx: Context) -> None:
    """op-credentials (Connect's OP_SESSION: the credentials JSON base64-encoded, as the chart's
    credentials_base64 would store it) and the token Secret the ClusterSecretStore reads."""
    credentials, token = connect_values(ctx)  # read already by connect-credentials when it ran in this process
    for doc in helmrelease.documents(ctx.root / CONNECT_DIR / "namespace.yaml"):
        ctx.kube.apply(doc)
    encoded = base64.b64encode(credentials.encode()).decode()
    ctx.kube.apply(_secret(CREDENTIALS_SECRET, CREDENTIALS_KEY, encoded))
    ctx.kube.apply(_secret(TOKEN_SECRET, TOKEN_KEY, token))
    ctx.log.say(f"  Secrets {CONNECT_NS}/{CREDENTIALS_SECRET} and {CONNECT_NS}/{TOKEN_SECRET} written from 1Password")


def connect_secrets_exist(ctx: Context) -> bool:
    """Both Connect Secrets exist, each with a non-empty value under its key."""
    for name, key in ((CREDENTIALS_SECRET, CREDENTIALS_KEY), (TOKEN_SECRET, TOKEN_KEY)):
        secret = ctx.kube.get("Secret", name, CONNECT_NS)
        if secret is None or not (secret.get("data") or {}).get(key):
            return False
    return True


def connect(ctx: Context) -> None:
    """helm upgrade --install 1Password Connect with CONNECT_DIR's HelmRelease and values.yaml."""
    _install(ctx, CONNECT_DIR)


def connect_installed(ctx: Context) -> bool:
    """The Connect Deployment exists."""
    return ctx.kube.get("Deployment", CONNECT, CONNECT_NS) is not None


def connect_ready(ctx: Context) -> None:
    """Wait until the Connect Deployment is Available."""
    wait_deployments(ctx, CONNECT_NS, (CONNECT,), _deadline(ctx))
    ctx.log.say(f"  Deployment {CONNECT_NS}/{CONNECT} available")


def connect_available(ctx: Context) -> bool:
    """Whether the Connect Deployment is available (see connect_available_verdict)."""
    return deployments_ready(ctx, CONNECT_NS, (CONNECT,))


def connect_available_verdict(ctx: Context) -> tuple[bool, str]:
    """The `Connect available` live check, with the Deployment's state."""
    return deployments_verdict(ctx, CONNECT_NS, (CONNECT,))


def _store_resources(ctx: Context) -> list[Path]:
    """The files STORE_DIR's kustomization.yaml lists: what Flux applies, so what the bootstrap applies."""
    folder = ctx.root / STORE_DIR
    kustomization = next(iter(helmrelease.documents(folder / "kustomization.yaml")), {})
    return [folder / resource for resource in kustomization.get("resources") or []]


def store_sources(ctx: Context) -> list[Path]:
    """Every file connect-validated reads (a callable: `doit list` must not parse YAML): a resource added to the
    kustomization, or an edit of one, makes the step out of date."""
    return [ctx.root / STORE_DIR / "kustomization.yaml", *_store_resources(ctx)]


def _store_manifests(ctx: Context) -> list[dict]:
    return [doc for path in _store_resources(ctx) for doc in helmrelease.documents(path)]


def _stores(ctx: Context) -> list[str]:
    return [helmrelease.name_of(d, ctx.root / STORE_DIR) for d in _store_manifests(ctx)
            if d.get("kind") == "ClusterSecretStore"]


def connect_validated(ctx: Context) -> None:
    """Apply the ClusterSecretStore(s) from infrastructure/ and wait for Ready: Connect answers with the token."""
    names = _stores(ctx)  # every store named before anything is applied (a nameless one: one clear error)
    for doc in _store_manifests(ctx):
        ctx.kube.apply(doc)

    def state(objs: dict[str, dict]) -> tuple[bool, str]:
        pending = [f"ClusterSecretStore {n}: {describe_condition(objs[n]) if n in objs else 'not created'}"
                   for n in names if n not in objs or not is_true(objs[n])]
        return not pending, "; ".join(pending) or "Ready"

    ctx.kube.wait("ClusterSecretStore", f"ClusterSecretStore {', '.join(names)} to be Ready", state, _deadline(ctx))
    ctx.log.say(f"  ClusterSecretStore {', '.join(names)} Ready: 1Password Connect works")


def stores_ready(ctx: Context) -> bool:
    """Whether every declared ClusterSecretStore is Ready (see stores_ready_verdict)."""
    return stores_ready_verdict(ctx)[0]


def stores_ready_verdict(ctx: Context) -> tuple[bool, str]:
    """The `ClusterSecretStore Ready` live check, with what each store that is not says."""
    names = _stores(ctx)
    if not names:
        return False, "no ClusterSecretStore is declared"
    pending = []
    for name in names:
        store = ctx.kube.get("ClusterSecretStore", name)
        if store is None:
            pending.append(f"ClusterSecretStore {name} does not exist")
        elif not is_true(store):
            pending.append(f"ClusterSecretStore {name}: {describe_condition(store, 'Ready')}")
    return not pending, "; ".join(pending) or f"{len(names)} ClusterSecretStore Ready"


# --- Longhorn -------------------------------------------------------------------------------------------------
def longhorn(ctx: Context) -> None:
    """helm upgrade --install Longhorn with LONGHORN_DIR's HelmRelease and values.yaml."""
    _install(ctx, LONGHORN_DIR)


def longhorn_installed(ctx: Context) -> bool:
    """The longhorn-manager DaemonSet exists."""
    return ctx.kube.get("DaemonSet", LONGHORN_MANAGER, LONGHORN_NS) is not None


def manager_state(ds: dict | None) -> tuple[bool, str]:
    """(ready, what its status says) of the longhorn-manager DaemonSet: ready on every node it is scheduled on, but
    at least one (not a count of configured nodes: control-plane nodes may be tainted against it)."""
    return daemonset_state(ds, LONGHORN_NS, LONGHORN_MANAGER, minimum=1)


def longhorn_ready(ctx: Context) -> None:
    """Wait until the Longhorn manager is ready, then until StorageClass longhorn exists (one deadline)."""
    deadline = _deadline(ctx)
    with naming_waiting_pods(ctx.kube, LONGHORN_NS):
        ctx.kube.wait("DaemonSet", "the Longhorn manager on every node",
                      lambda objs: manager_state(objs.get(LONGHORN_MANAGER)), deadline, namespace=LONGHORN_NS,
                      name=LONGHORN_MANAGER)
    ctx.kube.wait("StorageClass", "StorageClass longhorn",
                  lambda objs: ("longhorn" in objs, "StorageClass longhorn " +
                                ("present" if "longhorn" in objs else "not created")), deadline, name="longhorn")
    ctx.log.say("  Longhorn manager ready; StorageClass longhorn present")


def longhorn_healthy(ctx: Context) -> bool:
    """Whether the Longhorn live check passes (see longhorn_healthy_verdict)."""
    return longhorn_healthy_verdict(ctx)[0]


def longhorn_healthy_verdict(ctx: Context) -> tuple[bool, str]:
    """The `Longhorn ready` live check: the manager on its nodes and the StorageClass, or what is missing."""
    manager = manager_state(ctx.kube.get("DaemonSet", LONGHORN_MANAGER, LONGHORN_NS))
    storage = (ctx.kube.get("StorageClass", "longhorn") is not None, "StorageClass longhorn does not exist")
    return manager[0] and storage[0], "; ".join(t for ok, t in (manager, storage) if not ok) or manager[1]


# --- operations -----------------------------------------------------------------------------------------------
SERVICE_NAMESPACES = {"external-secrets": ESO_NS, "onepassword-connect": CONNECT_NS, "longhorn": LONGHORN_NS}


def status(ctx: Context) -> None:
    """Print the External Secrets and Connect Deployments, each declared ClusterSecretStore, the Longhorn
    manager and the StorageClass, one line each."""
    for name in ESO_DEPLOYMENTS:
        print(deployment_state(ctx.kube.get("Deployment", name, ESO_NS), ESO_NS, name)[1])
    print(deployment_state(ctx.kube.get("Deployment", CONNECT, CONNECT_NS), CONNECT_NS, CONNECT)[1])
    for name in _stores(ctx):
        store = ctx.kube.get("ClusterSecretStore", name)
        print(f"ClusterSecretStore {name}: {describe_condition(store) if store else 'does not exist'}")
    print(manager_state(ctx.kube.get("DaemonSet", LONGHORN_MANAGER, LONGHORN_NS))[1])
    print("StorageClass longhorn: " + ("present" if ctx.kube.get("StorageClass", "longhorn") else "missing"))


def logs(ctx: Context, tail: int = 50) -> None:
    """Recent log lines of every container of each core service (--tail N per container)."""
    print_pod_logs(ctx.kube, SERVICE_NAMESPACES, tail)


TAIL = {**TAIL_PARAM, "default": 50, "help": "log lines per container"}  # the same --tail as every logs task

# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def _helm_intent(ctx: Context, folder: str) -> list[str]:
    return [helmrelease.describe_upgrade(ctx, helmrelease.load(ctx.root, folder), ctx.root / folder / "values.yaml")]


def connect_credentials_intent(ctx: Context) -> list[str]:
    """The credentials check."""
    items = ctx.config.onepassword.items
    return [f"read 1Password items {items.connect_credentials!r} and {items.connect_token!r}; check the "
            "credentials file is version 2"]


def external_secrets_intent(ctx: Context) -> list[str]:
    """The External Secrets helm call."""
    return _helm_intent(ctx, ESO_DIR)


def external_secrets_ready_intent(ctx: Context) -> list[str]:
    """CRDs and deployments."""
    return [f"wait until the CRDs {', '.join(ESO_CRDS)} are Established and the Deployments "
            f"{', '.join(ESO_DEPLOYMENTS)} in {ESO_NS} are Available"]


def connect_secrets_intent(ctx: Context) -> list[str]:
    """The two Secrets."""
    return [f"write Secrets {CONNECT_NS}/{CREDENTIALS_SECRET} and {CONNECT_NS}/{TOKEN_SECRET} from 1Password "
            "through the Kubernetes API (never a command line)"]


def connect_intent(ctx: Context) -> list[str]:
    """The Connect helm call."""
    return _helm_intent(ctx, CONNECT_DIR)


def connect_ready_intent(ctx: Context) -> list[str]:
    """The Connect wait."""
    return [f"wait until Deployment {CONNECT_NS}/{CONNECT} is Available"]


def connect_validated_intent(ctx: Context) -> list[str]:
    """The ClusterSecretStore."""
    return [f"apply {STORE_DIR} and wait until its ClusterSecretStore is Ready"]


def longhorn_intent(ctx: Context) -> list[str]:
    """The Longhorn helm call."""
    return _helm_intent(ctx, LONGHORN_DIR)


def longhorn_ready_intent(ctx: Context) -> list[str]:
    """The Longhorn wait."""
    return [f"wait until DaemonSet {LONGHORN_NS}/{LONGHORN_MANAGER} is ready and StorageClass longhorn exists"]


COMPONENT = Component(
    group="services",
    needs=("networking",),
    title="core services (External Secrets, 1Password Connect, Longhorn)",
    # Declared in the order a serial run takes them (hops.run_order): both installs before the first wait, so the
    # cluster rolls out External Secrets while Longhorn installs, and Longhorn's wait last, when it has had the
    # whole Connect chain to become ready.
    steps=(
        Step("connect-credentials", "The 1Password Connect credentials are version 2 and the token is readable",
             connect_credentials, marker="onepassword-credentials-verified",
             would_do=connect_credentials_intent, sources=("bootstrap-config.yaml",)),
        Step("external-secrets", "helm upgrade --install External Secrets (chart/values from infrastructure/)",
             external_secrets, marker="external-secrets-deployed",
             would_do=external_secrets_intent, deps=("connect-credentials",),
             sources=_sources(ESO_DIR), status=(Check("external-secrets installed", external_secrets_installed),)),
        Step("longhorn", "helm upgrade --install Longhorn (chart/values from infrastructure/)", longhorn,
             marker="longhorn-deployed",
             would_do=longhorn_intent, sources=_sources(LONGHORN_DIR), deps=("connect-credentials",),
             status=(Check("longhorn installed", longhorn_installed),)),
        Step("external-secrets-ready", "External Secrets CRDs Established; controller and webhook available",
             external_secrets_ready, marker="external-secrets-validated",
             would_do=external_secrets_ready_intent, deps=("external-secrets",),
             status=(Check("CRDs Established and deployments available", external_secrets_healthy_verdict),)),
        Step("connect-secrets", "Secrets op-credentials and onepassword-connect-token from 1Password (via the API)",
             connect_secrets, marker="onepassword-connect-secrets-created", would_do=connect_secrets_intent,
             deps=("connect-credentials", "external-secrets-ready"),
             status=(Check("Connect Secrets exist", connect_secrets_exist),)),
        Step("connect", "helm upgrade --install 1Password Connect (chart/values from infrastructure/)",
             connect, marker="onepassword-connect-deployed", would_do=connect_intent, deps=("connect-secrets",),
             sources=_sources(CONNECT_DIR), status=(Check("Connect installed", connect_installed),)),
        Step("connect-ready", "1Password Connect Deployment available", connect_ready,
             marker="onepassword-connect-ready", would_do=connect_ready_intent, deps=("connect",),
             status=(Check("Connect available", connect_available_verdict),)),
        Step("connect-validated", "The ClusterSecretStore from infrastructure/ is Ready", connect_validated,
             marker="onepassword-connect-validated", would_do=connect_validated_intent, deps=("connect-ready",),
             sources=(store_sources,),
             status=(Check("ClusterSecretStore Ready", stores_ready_verdict),)),
        Step("longhorn-ready", "Longhorn manager ready on every node; StorageClass longhorn present", longhorn_ready,
             marker="longhorn-validated",
             would_do=longhorn_ready_intent, deps=("longhorn",), status=(Check("Longhorn ready", longhorn_healthy_verdict),)),
    ),
    operations=(
        Operation("status", "External Secrets, Connect, the ClusterSecretStore and Longhorn at a glance", status, read_only=True),
        Operation("logs", "Recent pod logs of each core service", logs, params=(TAIL,), read_only=True),
    ),
)
