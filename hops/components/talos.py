"""Phase 2 — Talos: secrets, machine configs, apply, etcd bootstrap, kubeconfig, health.

Every step is safe to re-run after an interruption: the secrets bundle lives in 1Password, configs are generated
from files, apply-config picks --insecure only for nodes still in maintenance mode, and the etcd bootstrap waits
through Talos' "not yet" refusals, is guarded by etcd membership before every attempt (and treats talosctl's exact
AlreadyExists answer as done), so it never happens twice.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from hops import onepassword, parallel, port_probe, secrets
from hops.context import Context
from hops.errors import StepError, ToolFailed, fail_all
from hops.prompt import confirm
from hops.state.forget import forget_and_unmark
from hops.taskmodel import YES_PARAM, Check, Component, Operation, Step
from hops.waiting import deadline_for, poll_until

GROUP = "talos"
SECRETS_ITEM, SECRETS_FIELD = "talos_secrets", "secrets"
PROBE_TIMEOUT_S = 30.0
PORT_TIMEOUT_S = 1.0   # a TCP connect that takes longer proves nothing: talosctl is asked
CONTROL_PLANE_PODS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
MAINTENANCE, CONFIGURED = "maintenance", "configured"
EXPECTED_NOISE = ("'connection refused' and 'tls: internal error' answers are expected while a node installs "
                  "Talos and reboots")


# --- paths (module-level callables: the task model calls them with the context) -----------------------------
def secrets_source(ctx: Context) -> list[Path]:
    """The local secrets bundle: a source of generate-config (a new bundle means new machine configs)."""
    return [ctx.endpoints.secrets_file]


def machine_config(ctx: Context, node_name: str) -> Path:
    """talhelper's output name for a node: <clusterName>-<hostname>.yaml (names after ${VAR} substitution)."""
    return ctx.endpoints.cluster_dir / f"{ctx.settings.talconfig.cluster_name}-{node_name}.yaml"


def machine_configs(ctx: Context) -> list[Path]:
    """Every node's generated machine config."""
    return [machine_config(ctx, node.name) for node in ctx.config.network.nodes]


def talosconfig_target(ctx: Context) -> list[Path]:
    """The talosconfig generate-config writes."""
    return [ctx.endpoints.talosconfig]


def first_control_plane(ctx: Context) -> Any:
    """The node etcd is bootstrapped on: the first control-plane node, by its own address (never the VIP)."""
    return ctx.settings.control_plane_nodes[0]


# --- talosctl --------------------------------------------------------------------------------------------------
def talosctl(ctx: Context, node: Any, args: list[str], *, insecure: bool = False, check: bool = False,
             timeout: float | None = PROBE_TIMEOUT_S, retry: bool = False) -> Any:
    """`talosctl <args> -n addr -e addr`: with the talosconfig's certificates, or --insecure (maintenance mode,
    no client certificate). Always the node's own address, never the VIP."""
    address = str(node.address)
    target = ["-n", address, "-e", address]
    auth = ["--insecure"] if insecure else ["--talosconfig", str(ctx.endpoints.talosconfig)]
    return ctx.runner.run("talosctl", [*args, *target, *auth], check=check, timeout=timeout, retry=retry)


def _error_text(result: Any) -> str:
    text = (result.stderr or result.stdout).strip()
    return text.splitlines()[-1][:240] if text else f"exit {result.code}"


# --- bootstrap-secrets -----------------------------------------------------------------------------------------
def write_private(path: Path, text: str) -> None:
    """Write `text` with mode 0600 from the first byte: a temp file created 0600 in the same folder, renamed over
    the destination (an existing file with the same content only gets its mode fixed)."""
    if path.exists() and path.read_text() == text:
        os.chmod(path, 0o600)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f".{path.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the first byte
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def ensure_gitignore(folder: Path) -> None:
    """Create `folder` with a `.gitignore` of `*`: what hops generates there (secrets, configs) is never committed."""
    folder.mkdir(parents=True, exist_ok=True)
    ignore = folder / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")


def _check_bundle(text: str, origin: str) -> None:
    """A talos secrets bundle is a YAML mapping with certs/secrets/trustdinfo; never echo its content."""
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    missing = [k for k in ("cluster", "secrets", "trustdinfo", "certs") if not isinstance(data, dict) or k not in data]
    if missing:
        raise StepError(f"the Talos secrets bundle {origin} is not a talhelper secrets bundle (missing: "
                        f"{', '.join(missing)}); fix or delete the 1Password item and re-run")


def bootstrap_secrets(ctx: Context) -> None:
    """The secrets bundle from 1Password (generated with talhelper and stored there once, if it is missing); local
    copy 0600."""
    title = onepassword.item_title(ctx, SECRETS_ITEM)
    ensure_gitignore(ctx.endpoints.cluster_dir)
    if onepassword.item_exists(ctx, SECRETS_ITEM):
        bundle = onepassword.read(ctx, SECRETS_ITEM, SECRETS_FIELD)
        _check_bundle(bundle, f"in 1Password item {title!r}")
        ctx.log.say(f"  secrets bundle read from 1Password item {title!r}")
    else:
        result = ctx.runner.run("talhelper", ["gensecret"], secret_output=True, retry=False)  # new secrets each call
        bundle = secrets.register_structured(result.stdout)  # by leaf value, never by line
        _check_bundle(bundle, "from `talhelper gensecret`")
        onepassword.store(ctx, SECRETS_ITEM, {SECRETS_FIELD: bundle})
        ctx.log.say(f"  new secrets bundle generated and stored in 1Password item {title!r}")
    if not bundle.endswith("\n"):
        bundle += "\n"
    write_private(ctx.endpoints.secrets_file, bundle)
    ctx.log.say(f"  local copy: {ctx.endpoints.secrets_file} (mode 0600, git-ignored)")


def secrets_file_private(ctx: Context) -> bool:
    """The local secrets copy exists and only its owner can read it (mode 0600)."""
    path = ctx.endpoints.secrets_file
    return path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600


# --- generate-config -------------------------------------------------------------------------------------------
def generate_config(ctx: Context) -> None:
    """`talhelper genconfig` with the overrides in its environment: every node's machine config and the talosconfig."""
    out = ctx.endpoints.cluster_dir
    ctx.runner.run("talhelper", ["genconfig", "-c", str(ctx.cluster.config_file("talconfig.yaml")),
                                 "-s", str(ctx.endpoints.secrets_file), "-o", str(out), "--no-gitignore"],
                   env=ctx.settings.env_for_tools(), retry=True)
    ensure_gitignore(out)
    written = out / "talosconfig"  # talhelper's fixed name; talos.talosconfig may point elsewhere
    if written.exists() and written.resolve() != ctx.endpoints.talosconfig.resolve():
        write_private(ctx.endpoints.talosconfig, written.read_text())
    produced = [*machine_configs(ctx), ctx.endpoints.talosconfig]
    missing = [str(p) for p in produced if not p.exists()]
    if missing:
        raise StepError("talhelper genconfig did not write " + ", ".join(missing) +
                        ": do the node hostnames in talconfig.yaml match network.nodes in bootstrap-config.yaml?")
    for path in produced:  # machine configs and talosconfig hold keys
        os.chmod(path, 0o600)
    ctx.log.say(f"  {len(produced) - 1} machine configs and talosconfig in {out}")


# --- validate-configs ------------------------------------------------------------------------------------------
def validate_configs(ctx: Context) -> None:
    """`talosctl validate --mode metal` on every machine config, all at once (each is a separate process); every
    invalid one is reported, in node order."""
    ctx.runner  # noqa: B018 - created here, once, before the threads share it
    problems = [p for p in parallel.each(lambda node: config_problem(ctx, node), list(ctx.config.network.nodes)) if p]
    fail_all("machine configs are invalid", problems)
    ctx.log.say(f"  {len(ctx.config.network.nodes)} machine configs valid for metal")


def config_problem(ctx: Context, node: Any) -> str | None:
    """Why the node's machine config is invalid for metal (talosctl's own words), or None."""
    path = machine_config(ctx, node.name)
    result = ctx.runner.run("talosctl", ["validate", "--config", str(path), "--mode", "metal"], check=False,
                            timeout=PROBE_TIMEOUT_S, retry=True)
    return None if result.code == 0 else f"{node.name} ({path.name}): " + (result.stderr or result.stdout).strip()


# --- apply-configs ---------------------------------------------------------------------------------------------
def probe_mode(ctx: Context, node: Any) -> tuple[str | None, str]:
    """(MAINTENANCE | CONFIGURED | None, detail). A node in maintenance mode answers only --insecure; a configured
    node answers only with the talosconfig's certificates (and refuses --insecure)."""
    insecure = talosctl(ctx, node, ["version"], insecure=True)
    if insecure.code == 0:
        return MAINTENANCE, "maintenance mode"
    secure = talosctl(ctx, node, ["version"])
    if secure.code == 0:
        return CONFIGURED, "configured"
    secure_error = _error_text(secure)
    if "certificate required" in _error_text(insecure) and \
            any(s in secure_error for s in ("bad certificate", "unknown authority")):
        raise StepError(f"node {node.name} ({node.address}) is configured with other credentials than "
                        f"{ctx.endpoints.talosconfig} ({secure_error}): it belongs to another secrets bundle. "
                        "Restore the matching 1Password item, or wipe the node with `doit talos_reset`")
    return None, secure_error


def wait_for_mode(ctx: Context, node: Any, deadline: float) -> str:
    """Wait until the node answers, in maintenance mode or with the talosconfig's certificates; which one."""
    answer: dict[str, str] = {}

    def probe() -> tuple[bool, str]:
        mode, detail = probe_mode(ctx, node)
        if mode:
            answer["mode"] = mode
        return mode is not None, detail

    poll_until(ctx, f"{node.name} ({node.address}) to answer on the Talos API ({EXPECTED_NOISE})", probe, deadline)
    return answer["mode"]


def apply_one(ctx: Context, node: Any, deadline: float) -> str:
    """Apply the node's machine config (`--insecure` only in maintenance mode); a one-line summary."""
    mode = wait_for_mode(ctx, node, deadline)
    args = ["apply-config", "-f", str(machine_config(ctx, node.name))]
    talosctl(ctx, node, args, insecure=(mode == MAINTENANCE), check=True, timeout=None, retry=True)
    how = "first config (maintenance mode, --insecure): it installs Talos and reboots" if mode == MAINTENANCE \
        else "config updated (with the talosconfig's certificates)"
    ctx.log.say(f"  {node.name} ({node.address}): {how}")
    return mode


def apply_configs(ctx: Context) -> dict:
    """Apply every node's config, nodes in parallel; every failed node is named."""
    from concurrent.futures import ThreadPoolExecutor

    nodes = list(ctx.config.network.nodes)
    deadline = deadline_for(ctx, GROUP)
    failures, modes = [], {}
    with ThreadPoolExecutor(max_workers=len(nodes)) as pool:
        futures = {node.name: pool.submit(apply_one, ctx, node, deadline) for node in nodes}
    for node in nodes:
        try:
            modes[node.name] = futures[node.name].result()
        except StepError as exc:
            failures.append(f"{node.name} ({node.address}): {exc}")
    fail_all(f"apply-config failed on {len(failures)} of {len(nodes)} nodes", failures)
    return {}


# --- wait-nodes-ready ------------------------------------------------------------------------------------------
def wait_nodes_ready(ctx: Context) -> None:
    """Every node's apid answers `talosctl version` with the talosconfig's certificates."""
    # Readiness for the etcd bootstrap is not awaited here: only the first control-plane node is bootstrapped, and
    # the one authoritative answer is the bootstrap call itself (machined checks its container runtime and clock
    # when asked; a separate probe could pass and the call still be refused). bootstrap-etcd waits through that.
    pending = {node.name: node for node in ctx.config.network.nodes}
    last: dict[str, str] = {}
    listening: list[Any] = []   # pending nodes whose port accepted a connection in the gate's last round
    ctx.log.say(f"  waiting for every node's Talos API to answer with the talosconfig's certificates; {EXPECTED_NOISE}")

    def still() -> str:
        return "still installing/rebooting: " + ", ".join(f"{n} ({last.get(n, '')})" for n in pending)

    def gate() -> tuple[bool, str]:
        # A refused connect is as authoritative as talosctl's own "connection refused" and costs no process:
        # a node that installs or reboots has nothing listening. Only nodes that accept are asked with talosctl.
        waiting = list(pending.values())
        why = port_probe.refused_all([ctx.endpoints.talos_api(n.name) for n in waiting], timeout=PORT_TIMEOUT_S)
        listening[:] = [node for node, closed in zip(waiting, why, strict=True) if not closed]
        for node, closed in zip(waiting, why, strict=True):
            if closed:
                last[node.name] = f"installing or rebooting: {closed.lower()}"
        return bool(listening), still()

    def probe() -> tuple[bool, str]:
        asked = list(listening)  # every listening node asked at once: one round costs one call, not N
        for node, result in zip(asked, parallel.each(lambda n: talosctl(ctx, n, ["version"]), asked), strict=True):
            if result.code == 0:
                del pending[node.name]
                ctx.log.say(f"  {node.name} ({node.address}): Talos API up")
            else:
                last[node.name] = _stage_hint(_error_text(result))
        return not pending, still()

    poll_until(ctx, "nodes to finish installing and rebooting", probe, deadline_for(ctx, GROUP), gate=gate)


def _stage_hint(error: str) -> str:
    if "connection refused" in error:
        return "installing or rebooting: connection refused"
    if "tls: internal error" in error:
        return "starting: tls: internal error (apid has no certificates yet)"
    return error[-120:]


# --- bootstrap-etcd --------------------------------------------------------------------------------------------
def etcd_members(ctx: Context, node: Any) -> list[dict] | None:
    """Members as [{hostname, peer_urls}] from `talosctl etcd members`, or None when the node has no etcd yet."""
    result = talosctl(ctx, node, ["etcd", "members"])
    if result.code != 0:
        return None
    lines = [line.split() for line in result.stdout.splitlines() if line.strip()]
    if not lines or lines[0][:2] != ["NODE", "ID"]:
        return None
    return [{"hostname": row[2], "peer_urls": row[3]} for row in lines[1:] if len(row) >= 4]


def etcd_bootstrapped(ctx: Context) -> bool:
    """The once-guard: etcd already has a member. Raises when the node cannot be asked (then nobody can tell)."""
    node = first_control_plane(ctx)
    members = etcd_members(ctx, node)
    if members:
        return True
    reach = talosctl(ctx, node, ["version"])
    if reach.code != 0:
        raise StepError(f"cannot tell whether etcd is bootstrapped: {node.name} ({node.address}) does not answer "
                        f"({_error_text(reach)}); not bootstrapping blindly")
    return False


def bootstrap_etcd(ctx: Context) -> None:
    """Bootstrap etcd exactly once on the first control-plane node. Talos refuses the call for a while after the
    node boots (hops.bootstrap_answers): wait and ask again until the phase deadline, asking etcd for members
    before every new attempt (an attempt whose answer was lost may have bootstrapped it). The runner never
    repeats this call on its own: it is once-only."""
    from hops import bootstrap_answers as answers
    from hops.errors import WaitTimeout

    node = first_control_plane(ctx)
    tried: list[str] = []

    def attempt() -> tuple[bool, str]:
        if tried and etcd_members(ctx, node):
            tried.append("members")
            return True, "etcd has members: an earlier attempt bootstrapped it"
        result = talosctl(ctx, node, ["bootstrap"], timeout=None, retry=False)  # once-only: see the docstring
        answer = answers.classify_result(result)
        if answer.kind == answers.FAILED:
            raise ToolFailed(result.argv, result.code, result.stdout, result.stderr)
        tried.append(answer.kind)
        return answer.kind != answers.NOT_YET, answer.detail

    try:
        detail = poll_until(ctx, f"{node.name} ({node.address}) to accept the etcd bootstrap", attempt,
                            deadline_for(ctx, GROUP))
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}. Talos accepts it once the node's services run and its clock is in sync: check "
                          f"its time servers and `talosctl -n {node.address} dmesg`, then re-run") from None
    if tried[-1] == answers.BOOTSTRAPPED:
        ctx.log.say(f"  etcd bootstrapped on {node.name} ({node.address})")
    elif tried[-1] == answers.ALREADY:
        ctx.log.say(f"  {node.name} answered {detail}: etcd was bootstrapped before")
    else:
        ctx.log.say(f"  {node.name}: {detail}")


# --- cluster-ready ---------------------------------------------------------------------------------------------
def fetch_kubeconfig(ctx: Context) -> Path:
    """Fetch the kubeconfig from the first control-plane node (mode 0600); its path."""
    node = first_control_plane(ctx)
    path = ctx.endpoints.kubeconfig
    path.parent.mkdir(parents=True, exist_ok=True)
    talosctl(ctx, node, ["kubeconfig", str(path), "--force", "--merge=false"], check=True, retry=True)
    os.chmod(path, 0o600)
    ctx.kube.invalidate()
    ctx.log.say(f"  kubeconfig written to {path} (mode 0600)")
    return path


def node_names(ctx: Context) -> list[str]:
    """The configured node names."""
    return [node.name for node in ctx.config.network.nodes]


def nodes_registered(objects: dict[str, dict], names: list[str]) -> tuple[bool, str]:
    """(every named node has a Node object, which are missing)."""
    missing = [n for n in names if n not in objects]
    if missing:
        return False, "not registered yet: " + ", ".join(missing)
    return True, f"all {len(names)} nodes registered"


def cluster_ready(ctx: Context) -> None:
    """Fetch the kubeconfig, then wait until the API lists every configured node."""
    fetch_kubeconfig(ctx)
    names = node_names(ctx)
    ctx.log.say("  waiting for the Kubernetes API and every node's Node object (NotReady is expected until the "
                "CNI is installed in phase 3)")
    ctx.kube.wait("Node", "every configured node to register", lambda objs: nodes_registered(objs, names),
                  deadline_for(ctx, GROUP))


def cluster_registered(ctx: Context) -> bool:
    """The kubeconfig exists and every configured node is registered."""
    return cluster_registered_verdict(ctx)[0]


def cluster_registered_verdict(ctx: Context) -> tuple[bool, str]:
    """The `kubeconfig present and every node registered` live check, naming the nodes that are not."""
    if not ctx.endpoints.kubeconfig.exists():
        return False, f"no kubeconfig at {ctx.endpoints.kubeconfig}"
    present = {obj["metadata"]["name"] for obj in ctx.kube.list("Node")}
    missing = [name for name in node_names(ctx) if name not in present]
    return not missing, (f"not registered: {', '.join(missing)}" if missing else
                         f"{len(present)} nodes registered")


# --- health ----------------------------------------------------------------------------------------------------
def etcd_problem(ctx: Context) -> str | None:
    """None when etcd's members are exactly the control-plane nodes (by name and address)."""
    # Kept a talosctl call (≈0.1 s of a no-op): on Talos etcd is a machine service started before the kubelet,
    # not a static pod, so the Kubernetes API has no etcd pods and no member list; control-plane Node objects
    # say which nodes should be members, not which are (a removed member or a learner looks the same there).
    node = first_control_plane(ctx)
    members = ctx.read_ahead.answer(("etcd members", node.name), lambda: etcd_members(ctx, node))
    if members is None:
        return "etcd members cannot be listed yet"
    wanted = {n.name: str(n.address) for n in ctx.settings.control_plane_nodes}
    names = [m["hostname"] for m in members]
    missing = sorted(set(wanted) - set(names))
    extra = sorted(set(names) - set(wanted))
    wrong = [n for n in names if n in wanted and not _peers_at(next(
        m["peer_urls"] for m in members if m["hostname"] == n), wanted[n])]
    if missing or extra or wrong or len(names) != len(wanted):
        parts = [f"missing {missing}" if missing else "", f"unexpected {extra}" if extra else "",
                 f"wrong address {wrong}" if wrong else "", f"{len(names)} members for {len(wanted)} control-plane "
                 "nodes" if len(names) != len(wanted) else ""]
        return "etcd members differ from the control-plane nodes: " + "; ".join(p for p in parts if p)
    return None


def read_etcd_members_ahead(ctx: Context) -> None:
    """The health check's `talosctl etcd members`, started while the checks before it run (hops.read_ahead)."""
    if not ctx.endpoints.talosconfig.exists():
        return  # the check fails without asking
    node = first_control_plane(ctx)
    ctx.runner  # noqa: B018 - built here, in the caller's thread, not inside the query's
    ctx.read_ahead.start(("etcd members", node.name), lambda: etcd_members(ctx, node))


def _peers_at(peer_urls: str, address: str) -> bool:
    """One of a member's peer URLs (comma-separated) is at `address`. etcd writes an IPv6 host in brackets
    (https://[fd00::11]:2380), so hosts are compared as addresses, not as text."""
    import ipaddress
    from urllib.parse import urlsplit

    for url in peer_urls.split(","):
        try:
            if ipaddress.ip_address(urlsplit(url.strip()).hostname or "") == ipaddress.ip_address(address):
                return True
        except ValueError:  # no IP address as its host: not this node's URL
            continue
    return False


def pods_problem(objects: dict[str, dict], ctx: Context) -> str | None:
    """Which control-plane pods are not Running on which control-plane node (None: all are)."""
    problems = []
    for node in ctx.settings.control_plane_nodes:
        for component in CONTROL_PLANE_PODS:
            pod = objects.get(f"{component}-{node.name}")
            phase = ((pod or {}).get("status") or {}).get("phase")
            if phase != "Running":
                problems.append(f"{component}-{node.name}: {phase or 'absent'}")
    return ("control-plane pods not Running: " + ", ".join(problems)) if problems else None


def health(ctx: Context) -> None:
    """Wait until the etcd members are exactly the control-plane nodes and the control-plane pods are Running."""
    deadline = deadline_for(ctx, GROUP)
    def etcd_probe() -> tuple[bool, str]:
        problem = etcd_problem(ctx)
        return problem is None, problem or ""

    poll_until(ctx, "etcd members to be the control-plane nodes (the other control-plane nodes join after the "
               "bootstrap)", etcd_probe, deadline)
    ctx.log.say(f"  etcd: {len(ctx.settings.control_plane_nodes)} members, exactly the control-plane nodes")

    def predicate(objects: dict[str, dict]) -> tuple[bool, str]:
        problem = pods_problem(objects, ctx)
        return problem is None, problem or "all control-plane pods Running"

    ctx.kube.wait("Pod", "control-plane pods to run", predicate, deadline, namespace="kube-system")
    ctx.log.say("  kube-apiserver, kube-controller-manager and kube-scheduler Running on every control-plane node")


def healthy(ctx: Context) -> bool:
    """etcd membership and control-plane pods as health requires."""
    return healthy_verdict(ctx)[0]


def healthy_verdict(ctx: Context) -> tuple[bool, str]:
    """The `etcd and control-plane pods healthy` live check, with the first problem found."""
    if not ctx.endpoints.kubeconfig.exists():
        return False, f"no kubeconfig at {ctx.endpoints.kubeconfig}"
    etcd = etcd_problem(ctx)
    if etcd is not None:
        return False, etcd
    pods = pods_problem({p["metadata"]["name"]: p for p in ctx.kube.list("Pod", namespace="kube-system")}, ctx)
    return pods is None, pods or "etcd members match the control plane; control-plane pods Running"


# --- operations ------------------------------------------------------------------------------------------------
def node_status(ctx: Context, node: Any, members: set[str], ready: dict[str, bool] | None) -> list[str]:
    """One row of talos_status: the node's Talos API, machine stage, etcd membership and Kubernetes readiness."""
    version = talosctl(ctx, node, ["version"])
    if version.code == 0:
        api, stage = "yes", _machine_stage(ctx, node)
    elif talosctl(ctx, node, ["version"], insecure=True).code == 0:
        api, stage = "maintenance mode (insecure only)", "maintenance"
    else:
        api, stage = "no: " + _stage_hint(_error_text(version)), "?"
    node_ready = "?" if ready is None else ("Ready" if ready.get(node.name) else
                                            "NotReady" if node.name in ready else "not registered")
    etcd = "-" if not node.is_control_plane else ("yes" if node.name in members else "no")
    return [node.name, str(node.address), node.role, api, stage, etcd, node_ready]


def _machine_stage(ctx: Context, node: Any) -> str:
    result = talosctl(ctx, node, ["get", "machinestatus", "-o", "json"])
    if result.code != 0:
        return "?"
    try:
        spec = json.loads(result.stdout)["spec"]
    except (ValueError, KeyError):
        return "?"
    return f"{spec.get('stage')} ({'ready' if (spec.get('status') or {}).get('ready') else 'not ready'})"


def _node_readiness(ctx: Context) -> dict[str, bool] | None:
    from hops.kube import is_true

    if not ctx.endpoints.kubeconfig.exists():
        return None
    try:
        return {n["metadata"]["name"]: is_true(n) for n in ctx.kube.list("Node", fresh=True)}
    except Exception as exc:  # noqa: BLE001 - a status table shows what it can
        ctx.log.write(f"Node list failed: {exc}")
        return None


STATUS_COLUMNS = ("node", "address", "role", "Talos API", "stage", "etcd member", "Kubernetes Node")


def status(ctx: Context) -> None:
    """`talos_status`: one row per node, laid out to fit the terminal (hops.fitting)."""
    members = {m["hostname"] for m in etcd_members(ctx, first_control_plane(ctx)) or []}
    ready = _node_readiness(ctx)
    ctx.runner  # noqa: B018 - created here, once, before the threads share it
    show_node_rows(parallel.each(lambda node: node_status(ctx, node, members, ready),  # every node at once
                                 list(ctx.config.network.nodes)))


def show_node_rows(rows: list[list[str]]) -> None:
    """The full table when it fits (always in a pipe); else each node's name, address and role on one line and
    its state, labelled, on an indented line under it."""
    from rich.table import Table

    from hops import fitting

    def full(width: int) -> list[Any]:
        table = Table(title="Talos nodes")
        for column in STATUS_COLUMNS:
            table.add_column(column, no_wrap=True)
        for row in rows:
            table.add_row(*row)
        return [table]

    def stacked(width: int) -> list[Any]:
        out: list[Any] = []
        for row, first in zip(rows, fitting.aligned([[(c, "") for c in r[:3]] for r in rows]), strict=True):
            out.append(first)
            out += fitting.wrapped([(f"{name}: {value}", "") for name, value in zip(STATUS_COLUMNS[3:], row[3:], strict=False)],
                                   width, 4)
        return out

    fitting.show([full, stacked])


def recover_kubeconfig(ctx: Context) -> None:
    """`talos_recover_kubeconfig`: fetch the kubeconfig again."""
    fetch_kubeconfig(ctx)


def reset(ctx: Context, phase: Component, yes: bool = False) -> None:
    """`talos_reset`: wipe every node (asks first), then forget the phase's steps and remove their markers."""
    nodes = list(ctx.config.network.nodes)
    listed = ", ".join(f"{n.name} ({n.address})" for n in nodes)
    if not confirm(f"WIPE every Talos node ({listed}) and destroy the cluster and its data?", yes):
        raise StepError("talos_reset cancelled: nothing was changed (pass --yes to confirm without a terminal)")
    failures = []
    wiped = parallel.each(lambda node: talosctl(ctx, node, ["reset", "--graceful=false", "--reboot"], timeout=None,
                                                retry=False), nodes)  # every node at once; reported in order
    for node, result in zip(nodes, wiped, strict=True):
        if result.code == 0:
            ctx.log.say(f"  {node.name} ({node.address}): wiped; it reboots into maintenance mode")
        else:
            failures.append(f"{node.name} ({node.address}): {_error_text(result)}")
    ctx.endpoints.kubeconfig.unlink(missing_ok=True)  # its cluster no longer exists
    removed = forget_and_unmark(ctx.state_dir, [phase.step_id(s.name) for s in phase.steps],
                                [s.marker for s in phase.steps if s.marker])
    ctx.log.say(f"  talos phase state cleared ({removed} markers removed); the secrets bundle stays in 1Password")
    fail_all("reset failed on", failures)


# --- what each step would do (`doit plan`) ---------------------------------------------------------------------
def _node_list(ctx: Context) -> str:
    return ", ".join(f"{n.name} ({n.address})" for n in ctx.config.network.nodes)


def bootstrap_secrets_intent(ctx: Context) -> list[str]:
    """Read (or generate once and store) the secrets bundle."""
    item = ctx.config.onepassword.items.talos_secrets
    return [f"read the Talos secrets bundle from 1Password item {item!r} (if it does not exist: `talhelper "
            f"gensecret`, stored there first)", f"write the local copy {ctx.endpoints.secrets_file} (mode 0600)"]


def generate_config_intent(ctx: Context) -> list[str]:
    """talhelper genconfig."""
    return [f"run `talhelper genconfig` into {ctx.endpoints.cluster_dir}: machine configs for {_node_list(ctx)} "
            "and the talosconfig"]


def validate_configs_intent(ctx: Context) -> list[str]:
    """One talosctl validate per machine config."""
    return [f"run `talosctl validate --mode metal` on {machine_config(ctx, n.name).name}" for n in ctx.config.network.nodes]


def apply_configs_intent(ctx: Context) -> list[str]:
    """One apply-config per node."""
    return [f"run `talosctl apply-config` on {n.name} ({n.address}) with {machine_config(ctx, n.name).name} "
            "(--insecure only if it answers in maintenance mode)" for n in ctx.config.network.nodes]


def wait_nodes_ready_intent(ctx: Context) -> list[str]:
    """The Talos API wait."""
    return [f"wait up to {ctx.timeout(GROUP):.0f}s until `talosctl version` answers with the talosconfig's "
            f"certificates on {_node_list(ctx)}"]


def bootstrap_etcd_intent(ctx: Context) -> list[str]:
    """The one etcd bootstrap."""
    node = first_control_plane(ctx)
    return [f"run `talosctl bootstrap` on {node.name} ({node.address}) unless etcd already has a member (once only)"]


def cluster_ready_intent(ctx: Context) -> list[str]:
    """Kubeconfig and node registration."""
    node = first_control_plane(ctx)
    return [f"run `talosctl kubeconfig` on {node.name} into {ctx.endpoints.kubeconfig} (mode 0600)",
            f"wait until the Kubernetes API lists the nodes {', '.join(node_names(ctx))}"]


def health_intent(ctx: Context) -> list[str]:
    """etcd membership and control-plane pods."""
    names = ", ".join(n.name for n in ctx.settings.control_plane_nodes)
    return [f"check that the etcd members are exactly {names} and the control-plane pods are Running"]


COMPONENT = Component(
    group=GROUP,
    needs=("validation",),
    title="Talos cluster",
    steps=(
        Step("bootstrap-secrets", "Talos secrets bundle from 1Password (generated and stored once); local copy 0600",
             bootstrap_secrets, marker="secrets-bootstrapped", would_do=bootstrap_secrets_intent,
             status=(Check("local secrets copy is private", secrets_file_private),)),
        Step("generate-config", "talhelper genconfig: per-node machine configs and talosconfig",
             generate_config, marker="configs-generated", would_do=generate_config_intent, deps=("bootstrap-secrets",),
             sources=("talconfig.yaml", "talos/patches/*.yaml", secrets_source),
             generates=(machine_configs, talosconfig_target)),
        Step("validate-configs", "talosctl validate every machine config (metal)", validate_configs,
             marker="configs-validated",
             would_do=validate_configs_intent, deps=("generate-config",), sources=(machine_configs,)),
        Step("apply-configs", "Apply each node's config (--insecure only in maintenance mode)", apply_configs,
             marker="configs-applied",
             would_do=apply_configs_intent, deps=("validate-configs",), sources=(machine_configs,)),
        Step("wait-nodes-ready", "Every node's Talos API answers with the talosconfig's certificates",
             wait_nodes_ready, marker="nodes-ready",
             would_do=wait_nodes_ready_intent, deps=("apply-configs",), sources=(machine_configs,)),
        Step("bootstrap-etcd", "Bootstrap etcd once, on the first control-plane node's own address",
             bootstrap_etcd, marker="etcd-bootstrapped",
             would_do=bootstrap_etcd_intent, deps=("wait-nodes-ready",), once=etcd_bootstrapped),
        Step("cluster-ready", "Fetch the kubeconfig; the Kubernetes API answers and every node is registered",
             cluster_ready, marker="cluster-ready", would_do=cluster_ready_intent, deps=("bootstrap-etcd",),
             status=(Check("kubeconfig present and every node registered", cluster_registered_verdict),)),
        Step("health", "etcd members are exactly the control-plane nodes; control-plane pods Running", health,
             marker="health-verified", would_do=health_intent, deps=("cluster-ready",),
             status=(Check("etcd and control-plane pods healthy", healthy_verdict,
                           read_ahead=read_etcd_members_ahead),)),
    ),
    operations=(
        Operation("status", "Per node: Talos API reachable, machine stage, etcd member, Kubernetes Node Ready",
                  status, read_only=True),
        Operation("recover_kubeconfig", "Fetch the kubeconfig again from the first control-plane node",
                  recover_kubeconfig),
        Operation("reset", "WIPE every Talos node (talosctl reset) after confirmation, then clear phase 2's state",
                  reset, params=(YES_PARAM,), with_phase=True),
    ),
)
